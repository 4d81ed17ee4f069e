/**
 * The day's hostile client: at a few seeded moments a client sends the server what the request
 * limits of issue 12 exist for — a package zip padded with tens of thousands of empty entries
 * around a valid package, or a StartDfu whose target name is far over the 248-byte limit. Each
 * must be refused with its code before a job exists, and must leave nothing behind (no job, no
 * package lease). The moments and sizes come from the seed, so a failing seed replays exactly.
 */
import { STRING_LIMITS } from '../rpc/validate.js';
import type { Rng } from './random.js';

export type HostileKind = 'many-entries' | 'long-name';

export interface HostileCall {
  readonly kind: HostileKind;
  /** Modelled ms since the day began. */
  readonly atMs: number;
  /** The adapter the call names. */
  readonly adapter: number;
  /** many-entries: empty entries added to the valid package. */
  readonly emptyEntries: number;
  /** long-name: the target name's length in bytes. */
  readonly nameBytes: number;
}

/** The code each hostile call must be refused with. */
export const EXPECTED_CODE: Readonly<Record<HostileKind, string>> = {
  'many-entries': 'PACKAGE_INVALID',
  'long-name': 'INVALID_ARGUMENT',
};

/** The target name of every hostile call that has a short one: no board advertises it. */
export const HOSTILE_TARGET_PREFIX = 'hostile-';

/** What one hostile call came to. */
export interface HostileOutcome {
  readonly call: HostileCall;
  /** The error code it was refused with (undefined: it was not refused). */
  readonly code: string | undefined;
  /** The job id of any event the call received (a refused call receives none). */
  readonly jobId: string | undefined;
  /** The server was killed while the call was on its way: no verdict. */
  readonly lost: boolean;
}

/**
 * The most empty entries a padded zip gets: each costs 88 bytes (local and central headers and
 * twice a 6-byte name), and the whole zip must stay under the station's 4 MiB request limit so
 * that it reaches the zip check rather than the message size limit.
 */
export const MAX_EMPTY_ENTRIES = 40_000;

export function planHostile(rng: Rng, options: { readonly count: number; readonly adapters: number; readonly dayMs: number }): HostileCall[] {
  const calls: HostileCall[] = [];
  for (let i = 0; i < options.count; i++) {
    // Both kinds on every day with two calls or more; the rest drawn.
    const kind: HostileKind = i === 0 ? 'many-entries' : i === 1 ? 'long-name' : rng.pick(['many-entries', 'long-name'] as const);
    calls.push({
      kind,
      atMs: Math.round(rng.between(0.05, 0.9) * options.dayMs),
      adapter: rng.int(0, options.adapters - 1),
      emptyEntries: rng.int(10_000, MAX_EMPTY_ENTRIES),
      nameBytes: rng.int(STRING_LIMITS.deviceName * 4, 64 * 1024),
    });
  }
  return calls.sort((a, b) => a.atMs - b.atMs);
}

/** A hostile target name of `bytes` ASCII bytes. */
export function longName(bytes: number): string {
  return HOSTILE_TARGET_PREFIX + 'x'.repeat(Math.max(0, bytes - HOSTILE_TARGET_PREFIX.length));
}

interface Entry {
  readonly name: Uint8Array;
  /** The entry's bytes as stored in the archive (compressed when `method` is 8). */
  readonly data: Uint8Array;
  readonly method: 0 | 8;
  readonly crc: number;
  readonly size: number;
}

const enc = new TextEncoder();

/**
 * A zip of `emptyEntries` empty files (p/0000, p/0001, …) followed by every file of the valid
 * package `validZip`: a well-formed archive, refused only for its number of entries.
 */
export function paddedPackage(validZip: Uint8Array, emptyEntries: number): Uint8Array {
  const empty = new Uint8Array(0);
  const pad = Array.from({ length: emptyEntries }, (_, i): Entry => ({ name: enc.encode(`p/${i.toString(36).padStart(4, '0')}`), data: empty, method: 0, crc: 0, size: 0 }));
  return writeZip([...pad, ...entriesOf(validZip)]);
}

/**
 * The entries of a plain zip (a package as nrfutil or the project writes it), their bytes copied
 * as stored: the padded zip carries the package's files unchanged, without unpacking them (the
 * zip library belongs to the package reader alone).
 */
function entriesOf(zip: Uint8Array): Entry[] {
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = zip.length - 22;
  while (eocd >= 0 && v.getUint32(eocd, true) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error('station: the package to pad is not a zip');
  const count = v.getUint16(eocd + 10, true);
  let at = v.getUint32(eocd + 16, true);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    if (v.getUint32(at, true) !== 0x02014b50) throw new Error('station: the package to pad has a damaged central directory');
    const method = v.getUint16(at + 10, true);
    const crc = v.getUint32(at + 16, true);
    const compressed = v.getUint32(at + 20, true);
    const size = v.getUint32(at + 24, true);
    const nameLength = v.getUint16(at + 28, true);
    const next = at + 46 + nameLength + v.getUint16(at + 30, true) + v.getUint16(at + 32, true);
    const local = v.getUint32(at + 42, true);
    const name = zip.slice(at + 46, at + 46 + nameLength);
    at = next;
    if (name.at(-1) === 0x2f) continue; // a folder
    if (method !== 0 && method !== 8) throw new Error(`station: the package to pad uses compression method ${method}`);
    const data = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
    entries.push({ name, data: zip.slice(data, data + compressed), method, crc, size });
  }
  return entries;
}

/** Entries as given (stored or deflated), with a zip64 end record past 65 535 entries. */
function writeZip(entries: readonly Entry[]): Uint8Array {
  const zip64 = entries.length > 0xffff;
  const localSize = entries.reduce((n, e) => n + 30 + e.name.length + e.data.length, 0);
  const centralSize = entries.reduce((n, e) => n + 46 + e.name.length, 0);
  const out = new Uint8Array(localSize + centralSize + (zip64 ? 56 + 20 : 0) + 22);
  const v = new DataView(out.buffer);
  const offsets: number[] = [];
  let at = 0;
  for (const e of entries) {
    offsets.push(at);
    v.setUint32(at, 0x04034b50, true);
    v.setUint16(at + 4, 20, true);
    v.setUint16(at + 8, e.method, true);
    v.setUint16(at + 12, 0x0021, true); // 1980-01-01
    v.setUint32(at + 14, e.crc, true);
    v.setUint32(at + 18, e.data.length, true);
    v.setUint32(at + 22, e.size, true);
    v.setUint16(at + 26, e.name.length, true);
    out.set(e.name, at + 30);
    out.set(e.data, at + 30 + e.name.length);
    at += 30 + e.name.length + e.data.length;
  }
  const cdStart = at;
  entries.forEach((e, i) => {
    v.setUint32(at, 0x02014b50, true);
    v.setUint16(at + 4, 20, true);
    v.setUint16(at + 6, 20, true);
    v.setUint16(at + 10, e.method, true);
    v.setUint16(at + 14, 0x0021, true);
    v.setUint32(at + 16, e.crc, true);
    v.setUint32(at + 20, e.data.length, true);
    v.setUint32(at + 24, e.size, true);
    v.setUint16(at + 28, e.name.length, true);
    v.setUint32(at + 42, offsets[i] ?? 0, true);
    out.set(e.name, at + 46);
    at += 46 + e.name.length;
  });
  const cdSize = at - cdStart;
  if (zip64) {
    const record = at;
    v.setUint32(at, 0x06064b50, true);
    v.setBigUint64(at + 4, 44n, true);
    v.setUint16(at + 12, 45, true);
    v.setUint16(at + 14, 45, true);
    v.setBigUint64(at + 24, BigInt(entries.length), true);
    v.setBigUint64(at + 32, BigInt(entries.length), true);
    v.setBigUint64(at + 40, BigInt(cdSize), true);
    v.setBigUint64(at + 48, BigInt(cdStart), true);
    at += 56;
    v.setUint32(at, 0x07064b50, true);
    v.setBigUint64(at + 8, BigInt(record), true);
    v.setUint32(at + 16, 1, true);
    at += 20;
  }
  const count = Math.min(entries.length, 0xffff);
  v.setUint32(at, 0x06054b50, true);
  v.setUint16(at + 8, count, true);
  v.setUint16(at + 10, count, true);
  v.setUint32(at + 12, cdSize, true);
  v.setUint32(at + 16, cdStart, true);
  return out;
}
