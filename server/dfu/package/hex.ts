/**
 * Intel HEX, the format nRF5 builds come out in (`*.hex`). Pure: text in, segments out and back.
 *
 * Records understood: 00 data, 01 end of file, 02 extended segment address, 03 start segment
 * address and 05 start linear address (both only name an entry point, which a DFU image does
 * not carry, so they are read and dropped), 04 extended linear address.
 */
import { BledfuError } from '../../common/errors.js';

/** A run of bytes at an absolute address. */
export interface HexSegment {
  readonly address: number;
  readonly data: Uint8Array;
}

const RECORD = { DATA: 0, EOF: 1, EXT_SEGMENT: 2, START_SEGMENT: 3, EXT_LINEAR: 4, START_LINEAR: 5 } as const;

function hex32(n: number): string {
  return `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;
}

function invalidHex(where: string, detail: string, remedy: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', `${where}: ${detail}`, { layer: 'package', remedy });
}

const REMEDY_DAMAGED = 'the file is damaged or not an Intel HEX file; rebuild the firmware or pass the .hex your build produced';

interface Chunk {
  readonly address: number;
  readonly data: Uint8Array;
  readonly line: number;
}

/**
 * Parses Intel HEX text into segments sorted by address, adjacent data merged. Refuses (with
 * `source:line`) bad characters, wrong lengths, bad checksums, unknown record types, data after
 * or without the end-of-file record, and any byte written twice (overlapping records: which of
 * the two values would the device get?).
 */
export function parseIntelHex(text: string, source = 'hex'): HexSegment[] {
  const lines = text.split(/\r?\n/);
  const chunks: Chunk[] = [];
  let base = 0;
  let ended = false;
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    const where = `${source}:${i + 1}`;
    if (line === '') continue;
    if (ended) throw invalidHex(where, 'data after the end-of-file record', REMEDY_DAMAGED);
    if (!line.startsWith(':')) throw invalidHex(where, `record does not start with ':' ("${line.slice(0, 16)}")`, REMEDY_DAMAGED);
    const body = line.slice(1);
    if (!/^[0-9A-Fa-f]*$/.test(body) || body.length % 2 !== 0 || body.length < 10) {
      throw invalidHex(where, 'record is not an even number (at least 10) of hex digits', REMEDY_DAMAGED);
    }
    const bytes = Uint8Array.from(Buffer.from(body, 'hex'));
    const count = bytes[0] as number;
    if (bytes.length !== count + 5) {
      throw invalidHex(where, `record announces ${count} data bytes but holds ${bytes.length - 5}`, REMEDY_DAMAGED);
    }
    let sum = 0;
    for (const b of bytes) sum += b;
    if ((sum & 0xff) !== 0) {
      const stated = bytes[bytes.length - 1] as number;
      const want = (stated - sum) & 0xff;
      throw invalidHex(
        where,
        `bad checksum 0x${stated.toString(16).padStart(2, '0')} (the record's bytes need 0x${want.toString(16).padStart(2, '0')})`,
        REMEDY_DAMAGED,
      );
    }
    const offset = ((bytes[1] as number) << 8) | (bytes[2] as number);
    const type = bytes[3] as number;
    const data = bytes.subarray(4, 4 + count);
    switch (type) {
      case RECORD.DATA:
        if (count > 0) chunks.push({ address: base + offset, data, line: i + 1 });
        break;
      case RECORD.EOF:
        ended = true;
        break;
      case RECORD.EXT_SEGMENT:
      case RECORD.EXT_LINEAR: {
        if (count !== 2) throw invalidHex(where, `address record (type 0${type}) must hold 2 bytes, holds ${count}`, REMEDY_DAMAGED);
        const value = ((data[0] as number) << 8) | (data[1] as number);
        base = type === RECORD.EXT_LINEAR ? value * 0x10000 : value * 16;
        break;
      }
      case RECORD.START_SEGMENT:
      case RECORD.START_LINEAR:
        break;
      default:
        throw invalidHex(where, `unknown record type 0x${type.toString(16).padStart(2, '0')}`, REMEDY_DAMAGED);
    }
  }
  if (!ended) {
    throw invalidHex(source, 'ends without an end-of-file record (:00000001FF): the file is truncated', REMEDY_DAMAGED);
  }
  return mergeChunks(chunks, source);
}

function mergeChunks(chunks: Chunk[], source: string): HexSegment[] {
  chunks.sort((a, b) => a.address - b.address || a.line - b.line);
  const out: HexSegment[] = [];
  let runStart = 0;
  let runParts: Uint8Array[] = [];
  let runEnd = -1;
  let lastLine = 0;
  const flush = (): void => {
    if (runParts.length > 0) out.push({ address: runStart, data: Uint8Array.from(Buffer.concat(runParts)) });
  };
  for (const c of chunks) {
    if (c.address < runEnd) {
      throw invalidHex(
        `${source}:${c.line}`,
        `record at ${hex32(c.address)} overlaps bytes already written by line ${lastLine} (up to ${hex32(runEnd - 1)})`,
        'the hex file writes the same flash twice; merge it with a tool that refuses overlaps (e.g. mergehex) or rebuild it',
      );
    }
    if (c.address !== runEnd) {
      flush();
      runStart = c.address;
      runParts = [];
    }
    runParts.push(c.data);
    runEnd = c.address + c.data.length;
    lastLine = c.line;
  }
  flush();
  return out;
}

function record(type: number, offset: number, data: Uint8Array | readonly number[]): string {
  const bytes = [data.length, (offset >> 8) & 0xff, offset & 0xff, type, ...data];
  let sum = 0;
  for (const b of bytes) sum += b;
  bytes.push(-sum & 0xff);
  return `:${bytes.map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join('')}`;
}

/**
 * Writes segments as Intel HEX: 16-byte data records (never crossing a 64 KiB boundary), a type
 * 04 extended linear address record whenever the upper 16 address bits change (none while they
 * are 0), then the end-of-file record. Overlapping segments are refused, as parseIntelHex would.
 */
export function encodeIntelHex(segments: readonly HexSegment[]): string {
  const sorted = [...segments].filter((s) => s.data.length > 0).sort((a, b) => a.address - b.address);
  const lines: string[] = [];
  let upper = 0;
  let prevEnd = -1;
  for (const seg of sorted) {
    if (!Number.isInteger(seg.address) || seg.address < 0 || seg.address + seg.data.length > 2 ** 32) {
      throw new BledfuError('INVALID_ARGUMENT', `segment at ${seg.address} (${seg.data.length} bytes) does not fit a 32-bit address space`, {
        layer: 'package',
        remedy: 'pass segments at addresses from 0 to 0xFFFFFFFF',
      });
    }
    if (seg.address < prevEnd) {
      throw new BledfuError('INVALID_ARGUMENT', `segments overlap at ${hex32(seg.address)}`, { layer: 'package', remedy: 'pass segments that do not overlap' });
    }
    prevEnd = seg.address + seg.data.length;
    let pos = 0;
    while (pos < seg.data.length) {
      const address = seg.address + pos;
      const hi = Math.floor(address / 0x10000);
      if (hi !== upper) {
        lines.push(record(RECORD.EXT_LINEAR, 0, [(hi >> 8) & 0xff, hi & 0xff]));
        upper = hi;
      }
      const low = address % 0x10000;
      const n = Math.min(16, seg.data.length - pos, 0x10000 - low);
      lines.push(record(RECORD.DATA, low, seg.data.subarray(pos, pos + n)));
      pos += n;
    }
  }
  lines.push(record(RECORD.EOF, 0, []));
  return `${lines.join('\n')}\n`;
}
