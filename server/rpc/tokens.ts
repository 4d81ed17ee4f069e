/**
 * The tokens file: one bearer token a line, `<role> <token> [<name>]`. The name is who holds the
 * token (a person, a station, a CI job): it becomes the identity jobs and audit records carry.
 * Files of the first format (`<role> <token>`, no name) still load; their tokens are named by a
 * fingerprint, `token:<8 hex digits>` (the start of the token's SHA-256), which tells tokens apart
 * in the audit log without revealing them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BledfuError } from '../common/errors.js';
import { tokenWeakness } from './tokenStrength.js';

/**
 * observe reads the service's state; operate also changes devices (and cancels or downloads the
 * capture of its own jobs); admin may do all that to anyone's jobs.
 */
export const ROLES = ['observe', 'operate', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A token's name: letters, digits and `. _ @ -`, up to 64 characters (no `:`, kept for derived names). */
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** Who a valid token belongs to. */
export interface TokenHolder {
  readonly role: Role;
  /** The name from the file, or `token:<fingerprint>` for a token without one. */
  readonly name: string;
  /** True when the file named the token (false: the name is a fingerprint). */
  readonly named: boolean;
}

export interface TokenTable {
  /** The holder of `token`, or undefined if it is not one of ours. */
  holderOf(token: string): TokenHolder | undefined;
  /** The role of `token`, or undefined if it is not one of ours. */
  roleOf(token: string): Role | undefined;
  readonly size: number;
}

/** One accepted token; only its digest is kept, so comparisons run on equal-length values. */
interface TokenEntry extends TokenHolder {
  readonly digest: Buffer;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

const FORMAT = 'each line is "<role> <token> [<name>]" with role observe, operate or admin; blank lines and lines starting with # are ignored';

function tokenFileError(where: string, message: string, remedy = FORMAT): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', `tokens file ${where}: ${message}`, { layer: 'config', remedy });
}

const WEAK_REMEDY = 'generate each token at random, e.g. `openssl rand -hex 32`, and give clients the new token';

/** Parses a tokens file; every problem names the file and line (never the token itself). */
export function parseTokens(text: string, where: string): TokenTable {
  const entries: TokenEntry[] = [];
  const lineOfName = new Map<string, number>();
  const lineOfDigest = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const at = `${where}:${i + 1}`;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const parts = line.split(/\s+/);
    const [role, token, givenName] = parts;
    if (parts.length < 2 || parts.length > 3 || role === undefined || token === undefined) throw tokenFileError(at, 'expected "<role> <token> [<name>]"');
    if (!(ROLES as readonly string[]).includes(role)) throw tokenFileError(at, `unknown role "${role.slice(0, 32)}"`);
    const weakness = tokenWeakness(token);
    if (weakness !== undefined) throw tokenFileError(at, weakness, WEAK_REMEDY);
    if (givenName !== undefined && !TOKEN_NAME.test(givenName)) {
      throw tokenFileError(at, `name "${givenName.slice(0, 64)}" is not allowed`, 'a name is 1 to 64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit');
    }
    const d = digest(token);
    const name = givenName ?? `token:${d.subarray(0, 4).toString('hex')}`;
    const sameToken = lineOfDigest.get(d.toString('hex'));
    if (sameToken !== undefined) throw tokenFileError(at, `the same token is on line ${sameToken} too`, 'give every holder a token of their own');
    const sameName = lineOfName.get(name);
    if (sameName !== undefined) throw tokenFileError(at, `the name "${name}" is on line ${sameName} too`, 'give every token a name of its own');
    lineOfDigest.set(d.toString('hex'), i + 1);
    lineOfName.set(name, i + 1);
    entries.push({ role: role as Role, name, named: givenName !== undefined, digest: d });
  });
  if (entries.length === 0) throw tokenFileError(where, 'holds no token');
  const holderOf = (token: string): TokenHolder | undefined => {
    const d = digest(token);
    let found: TokenEntry | undefined;
    // Every entry is compared, so the time taken does not tell which one matched.
    for (const e of entries) if (timingSafeEqual(d, e.digest)) found = e;
    return found === undefined ? undefined : { role: found.role, name: found.name, named: found.named };
  };
  return { size: entries.length, holderOf, roleOf: (token) => holderOf(token)?.role };
}
