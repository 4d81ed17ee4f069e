/**
 * Bearer-token access control for BledfuService as nice-grpc server middleware. Two roles:
 * observe (read the service's state) and operate (everything, including changing devices).
 * Other services (health, reflection) stay open so probes and tooling work without a token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';
import { BledfuError } from '../common/errors.js';
import { toServerError } from './status.js';
import type { Logger } from '../common/logger.js';

export const ROLES = ['observe', 'operate'] as const;
export type Role = (typeof ROLES)[number];

export const SERVICE_PREFIX = '/bledfu.v1.BledfuService/';

/**
 * The methods an observe token may call. GetJobCapture is not among them: a capture holds every
 * byte sent over the air, firmware image included, so it is as sensitive as the package itself.
 * A method missing here (e.g. one added later) needs operate: new methods are closed by default.
 */
export const OBSERVE_METHODS: ReadonlySet<string> = new Set([
  'ListAdapters',
  'ListSerialPorts',
  'Scan',
  'ListJobs',
  'GetJob',
  'WatchJob',
  // Who updated what and how it ended: the record an auditor with a read-only token exists for.
  'ListAuditRecords',
]);

/** One accepted token; only its digest is kept, so comparisons run on equal-length values. */
interface TokenEntry {
  readonly role: Role;
  readonly digest: Buffer;
}

export interface TokenTable {
  /** The role of `token`, or undefined if it is not one of ours. */
  roleOf(token: string): Role | undefined;
  readonly size: number;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function tokenFileError(where: string, message: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', `tokens file ${where}: ${message}`, {
    layer: 'config',
    remedy: 'each line is "<role> <token>" with role observe or operate; blank lines and lines starting with # are ignored',
  });
}

/** Parses a tokens file: lines `<role> <token>`, `#` comments and blank lines ignored. */
export function parseTokens(text: string, where: string): TokenTable {
  const entries: TokenEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const parts = line.split(/\s+/);
    const [role, token] = parts;
    if (parts.length !== 2 || role === undefined || token === undefined) throw tokenFileError(`${where}:${i + 1}`, 'expected "<role> <token>"');
    if (!(ROLES as readonly string[]).includes(role)) throw tokenFileError(`${where}:${i + 1}`, `unknown role "${role}"`);
    // Short tokens can be guessed online; 16 characters is the least a generated token has.
    if (token.length < 16) throw tokenFileError(`${where}:${i + 1}`, 'token shorter than 16 characters');
    entries.push({ role: role as Role, digest: digest(token) });
  });
  if (entries.length === 0) throw tokenFileError(where, 'holds no token');
  return {
    size: entries.length,
    roleOf(token) {
      const d = digest(token);
      let found: Role | undefined;
      // Every entry is compared, so the time taken does not tell which one matched.
      for (const e of entries) if (timingSafeEqual(d, e.digest) && (found === undefined || e.role === 'operate')) found = e.role;
      return found;
    },
  };
}

export function mayCall(role: Role, method: string): boolean {
  return role === 'operate' || OBSERVE_METHODS.has(method);
}

/**
 * The bearer token of a call's `authorization` values. More than one value is no token at all:
 * a proxy in front may have judged another one than we would.
 */
export function bearerToken(authorization: readonly (string | Buffer)[]): string | undefined {
  if (authorization.length !== 1) return undefined;
  const [header] = authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** Fields a refusal is logged with: never the token itself. */
export type RefusalLog = (fields: Record<string, unknown>, message: string) => void;

/**
 * Why a call to BledfuService `method` with these `authorization` values may not proceed
 * (UNAUTHENTICATED or PERMISSION_DENIED), or undefined when it may. The middleware below and
 * the transport gate (callGate.ts, which refuses package uploads before reading them) share it,
 * so both answer alike.
 */
export function accessRefusal(
  tokens: TokenTable,
  method: string,
  authorization: readonly (string | Buffer)[],
  peer: string,
  log: RefusalLog,
): BledfuError | undefined {
  const token = bearerToken(authorization);
  const role = token === undefined ? undefined : tokens.roleOf(token);
  if (role === undefined) {
    const problem = authorization.length === 0 ? 'missing' : authorization.length > 1 ? 'repeated' : token === undefined ? 'malformed' : 'unknown';
    log({ method, peer, token: problem }, 'call refused: not authenticated');
    const message =
      problem === 'missing'
        ? 'this server requires a bearer token'
        : problem === 'repeated'
          ? 'the call carries more than one authorization header'
          : 'the bearer token is not valid';
    return new BledfuError('UNAUTHENTICATED', message, {
      layer: 'rpc',
      remedy: 'pass one token from the server\'s tokens file (CLI: --token or BLEDFU_TOKEN) as "authorization: Bearer <token>"',
    });
  }
  if (!mayCall(role, method)) {
    log({ method, peer, role }, 'call refused: role may not call this method');
    return new BledfuError('PERMISSION_DENIED', `${method} needs the operate role; this token has ${role}`, {
      layer: 'rpc',
      remedy: 'use a token with the operate role',
      facts: { context: { method, role } },
    });
  }
  return undefined;
}

/** The middleware; put it inside errorDetailsServerMiddleware so its ErrorInfo reaches the client. */
export function tokenAuthMiddleware(tokens: TokenTable, logger: Logger) {
  return async function* auth<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    if (call.method.path.startsWith(SERVICE_PREFIX)) {
      const method = call.method.path.slice(SERVICE_PREFIX.length);
      const refusal = accessRefusal(tokens, method, context.metadata.getAll('authorization'), context.peer, (f, m) => logger.warn(f, m));
      if (refusal !== undefined) throw toServerError(refusal, logger);
    }
    return yield* call.next(call.request, context);
  };
}
