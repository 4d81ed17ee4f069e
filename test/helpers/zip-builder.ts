/**
 * A small zip writer for tests that need archives no well-behaved tool writes: data before or
 * after the archive, duplicate or hostile names, wrong CRCs, a local header naming another file,
 * hundreds of thousands of entries. Entries are stored (method 0); every field is written here,
 * so a test says exactly which one lies.
 */
import JSZip from 'jszip';
import { crc32 } from '../../server/common/crc32.js';

export interface BuildEntry {
  readonly name: string;
  readonly data: Uint8Array;
  /** CRC-32 written in both headers instead of the real one. */
  readonly statedCrc?: number;
  /** Name written in the local header instead of `name`. */
  readonly localName?: string;
}

export interface BuildOptions {
  /** Bytes before the archive; `adjustOffsets` shifts the stored offsets past them (as a self-extractor does). */
  readonly prefix?: Uint8Array;
  readonly adjustOffsets?: boolean;
  /** Bytes after the end record. */
  readonly suffix?: Uint8Array;
  /** Bytes hidden between the first and the second entry. */
  readonly gapAfterFirst?: number;
  /** Write the zip64 end record and locator (needed past 65 535 entries). Default: when needed. */
  readonly zip64?: boolean;
  /** Entry count written in the end record(s) instead of the real one. */
  readonly statedCount?: number;
}

const enc = new TextEncoder();

/** Entries of a zip as name → bytes, in archive order (to rebuild a real package). */
export async function zipEntries(bytes: Uint8Array): Promise<BuildEntry[]> {
  const zip = await JSZip.loadAsync(bytes);
  return Promise.all(Object.values(zip.files).map(async (f) => ({ name: f.name, data: await f.async('uint8array') })));
}

/** `count` empty entries named junk/000000…, cheap to build by the hundred thousand. */
export function emptyEntries(count: number): BuildEntry[] {
  const empty = new Uint8Array(0);
  return Array.from({ length: count }, (_, i) => ({ name: `junk/${String(i).padStart(6, '0')}`, data: empty }));
}

export function buildZip(entries: readonly BuildEntry[], options: BuildOptions = {}): Uint8Array {
  const prefix = options.prefix ?? new Uint8Array(0);
  const suffix = options.suffix ?? new Uint8Array(0);
  const gap = options.gapAfterFirst ?? 0;
  const count = options.statedCount ?? entries.length;
  const zip64 = options.zip64 ?? count > 0xffff;
  // Names are encoded straight into the output: building 700 000 entries must not make 1.4 million small arrays.
  const nameLength = (e: BuildEntry): number => Buffer.byteLength(e.name);
  const localNameLength = (e: BuildEntry): number => Buffer.byteLength(e.localName ?? e.name);
  const localSize = entries.reduce((n, e) => n + 30 + localNameLength(e) + e.data.length, 0) + gap;
  const centralSize = entries.reduce((n, e) => n + 46 + nameLength(e), 0);
  const total = prefix.length + localSize + centralSize + (zip64 ? 56 + 20 : 0) + 22 + suffix.length;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  out.set(prefix, 0);
  const base = options.adjustOffsets === true ? prefix.length : 0;
  let at = prefix.length;
  const offsets = new Array<number>(entries.length);
  const crcOf = (e: BuildEntry): number => e.statedCrc ?? (e.data.length === 0 ? 0 : crc32(e.data));
  entries.forEach((e, i) => {
    offsets[i] = at - prefix.length + base;
    const n = enc.encodeInto(e.localName ?? e.name, out.subarray(at + 30)).written;
    v.setUint32(at, 0x04034b50, true);
    v.setUint16(at + 4, 20, true);
    v.setUint16(at + 12, 0x0021, true); // 1980-01-01
    v.setUint32(at + 14, crcOf(e), true);
    v.setUint32(at + 18, e.data.length, true);
    v.setUint32(at + 22, e.data.length, true);
    v.setUint16(at + 26, n, true);
    out.set(e.data, at + 30 + n);
    at += 30 + n + e.data.length;
    if (i === 0) at += gap;
  });
  const cdStart = at;
  entries.forEach((e, i) => {
    const n = enc.encodeInto(e.name, out.subarray(at + 46)).written;
    v.setUint32(at, 0x02014b50, true);
    v.setUint16(at + 4, 20, true);
    v.setUint16(at + 6, 20, true);
    v.setUint16(at + 14, 0x0021, true);
    v.setUint32(at + 16, crcOf(e), true);
    v.setUint32(at + 20, e.data.length, true);
    v.setUint32(at + 24, e.data.length, true);
    v.setUint16(at + 28, n, true);
    v.setUint32(at + 42, offsets[i] as number, true);
    at += 46 + n;
  });
  const cdOffset = cdStart - prefix.length + base;
  const cdLength = at - cdStart;
  if (zip64) {
    const record = at;
    v.setUint32(at, 0x06064b50, true);
    v.setBigUint64(at + 4, 44n, true);
    v.setUint16(at + 12, 45, true);
    v.setUint16(at + 14, 45, true);
    v.setBigUint64(at + 24, BigInt(count), true);
    v.setBigUint64(at + 32, BigInt(count), true);
    v.setBigUint64(at + 40, BigInt(cdLength), true);
    v.setBigUint64(at + 48, BigInt(cdOffset), true);
    at += 56;
    v.setUint32(at, 0x07064b50, true);
    v.setBigUint64(at + 8, BigInt(record - prefix.length + base), true);
    v.setUint32(at + 16, 1, true);
    at += 20;
  }
  v.setUint32(at, 0x06054b50, true);
  v.setUint16(at + 8, Math.min(count, 0xffff), true);
  v.setUint16(at + 10, Math.min(count, 0xffff), true);
  v.setUint32(at + 12, zip64 ? 0xffffffff : cdLength, true);
  v.setUint32(at + 16, zip64 ? 0xffffffff : cdOffset, true);
  at += 22;
  out.set(suffix, at);
  return out;
}
