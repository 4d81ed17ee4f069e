/**
 * Who is calling, and whether they may, as nice-grpc server middleware. Every call gets a Caller
 * in its context (the identity its token or client certificate gives it, its role, its address).
 * With a tokens file, BledfuService calls need a bearer token whose role allows the method; other
 * services (health, reflection) stay open so probes and tooling work without a token. Whose jobs a
 * caller may act on is jobAccess.ts.
 */
import type { CallContext, ServerMiddleware, ServerMiddlewareCall } from 'nice-grpc-common';
import { BledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { CLIENT_CERTIFICATE_KEY } from './clientCertificate.js';
import { toServerError } from './status.js';
import type { Role, TokenTable } from './tokens.js';

export { parseTokens, ROLES, type Role, type TokenHolder, type TokenTable } from './tokens.js';

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
  // Where a production run stands (a line's dashboard), like the jobs it started.
  'ListCampaigns',
  'GetCampaign',
  'WatchCampaign',
]);

/** The caller of one RPC, as the server authenticated it. */
export interface Caller {
  /**
   * Who: the token's name (`token:<fingerprint>` for a token the file does not name), or
   * `cert:<name>` from a verified client certificate; undefined when the server authenticates
   * nobody (no tokens file, no mutual TLS). A named token wins over a certificate, and a
   * certificate over a token's fingerprint.
   */
  readonly identity: string | undefined;
  /** The token's role; undefined when the server has no tokens file (then there are no roles). */
  readonly role: Role | undefined;
  /** host:port the call came from. */
  readonly peer: string;
}

/** What callerMiddleware adds to every call's context. */
export interface CallerContext {
  readonly caller: Caller;
}

export function mayCall(role: Role, method: string): boolean {
  return role !== 'observe' || OBSERVE_METHODS.has(method);
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
  const holder = token === undefined ? undefined : tokens.holderOf(token);
  if (holder === undefined) {
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
  if (!mayCall(holder.role, method)) {
    log({ method, peer, caller: holder.name, role: holder.role }, 'call refused: role may not call this method');
    return new BledfuError('PERMISSION_DENIED', `${method} needs the operate role; this token has ${holder.role}`, {
      layer: 'rpc',
      remedy: 'use a token with the operate or admin role',
      facts: { context: { method, role: holder.role } },
    });
  }
  return undefined;
}

/**
 * Builds each call's Caller and, with `tokens`, refuses BledfuService calls without a valid token
 * (UNAUTHENTICATED) or whose role may not call the method (PERMISSION_DENIED). Put it inside
 * errorDetailsServerMiddleware so its ErrorInfo reaches the client.
 */
export function callerMiddleware(tokens: TokenTable | undefined, logger: Logger): ServerMiddleware<CallerContext> {
  return async function* identify<Request, Response>(
    call: ServerMiddlewareCall<Request, Response, CallerContext>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    const authorization = context.metadata.getAll('authorization');
    if (tokens !== undefined && call.method.path.startsWith(SERVICE_PREFIX)) {
      const method = call.method.path.slice(SERVICE_PREFIX.length);
      const refusal = accessRefusal(tokens, method, authorization, context.peer, (f, m) => logger.warn(f, m));
      if (refusal !== undefined) throw toServerError(refusal, logger);
    }
    const certificate = context.metadata.get(CLIENT_CERTIFICATE_KEY);
    const certIdentity = certificate === undefined || certificate === '' ? undefined : `cert:${certificate}`;
    const token = tokens === undefined ? undefined : bearerToken(authorization);
    const holder = token === undefined ? undefined : tokens?.holderOf(token);
    const identity = holder?.named === true ? holder.name : (certIdentity ?? holder?.name);
    const caller: Caller = { identity, role: holder?.role, peer: context.peer };
    return yield* call.next(call.request, { ...context, caller });
  };
}
