/**
 * The index file beside each audit log file (`<file>.idx`): for every record line of the log
 * file, in order, what the job index needs (kind, job id, time, address) and where the line is.
 * It is a cache, never the record: written (not synced) after the log's own line is synced, so it
 * never names a line the log does not hold whole; a restart replays it instead of parsing the JSON
 * of the whole history, then reads only the log's lines after the last one it names. An index
 * file that is missing, or of another file (inode), or whose last entry does not name its line is
 * ignored and written again from the log; one cut short or damaged (a crash before the page
 * cache reached the disk) is used up to its last good entry.
 *
 * Layout: "BLEDFUI1", u16 header length, header JSON {"ino":"<inode>"}; then entries, each
 * u16 entry length | u8 kind | f64 line offset | u32 line length | u32 line number | f64 time |
 * u16 job id length | job id | u8 address length | address | u32 CRC-32 of the entry's bytes
 * before it (utf-8, little endian).
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { AUDIT_RESULTS, parseRecord } from './records.js';
import type { RecordSummary } from './jobIndex.js';

const MAGIC = Buffer.from('BLEDFUI1', 'latin1');
const KINDS = ['start', ...AUDIT_RESULTS] as const;
const FIXED_BYTES = 2 + 1 + 8 + 4 + 4 + 8 + 2 + 1 + 4;
const CHUNK_BYTES = 4 * 1024 * 1024;
const MAX_ENTRY_BYTES = 0xffff;
const BUFFER_BYTES = 1024 * 1024;

export interface IndexedLine {
  readonly summary: RecordSummary;
  readonly offset: number;
  readonly length: number;
  /** 1-based line number in the log file. */
  readonly line: number;
}

/** How far a valid index file covers its log file. */
export interface IndexFileCoverage {
  /** Log bytes covered: the next line to read starts here. */
  readonly bytes: number;
  /** Log lines covered (the last entry's line number). */
  readonly lines: number;
  /** Size of the index file itself. */
  readonly indexBytes: number;
}

/** Writes the entry at `p` of `b` (which has room for MAX_ENTRY_BYTES); returns its length, or 0 when it cannot be encoded. */
export function encodeEntry(e: IndexedLine, b: Buffer, p: number): number {
  const jobId = e.summary.jobId;
  const address = e.summary.deviceAddress ?? '';
  const jobIdLength = b.write(jobId, p + 29, 0xffff - FIXED_BYTES - 0xff, 'utf8');
  if (jobIdLength !== Buffer.byteLength(jobId, 'utf8')) return 0;
  const addressLength = b.write(address, p + 30 + jobIdLength, 0xff, 'utf8');
  if (addressLength !== Buffer.byteLength(address, 'utf8')) return 0;
  const total = FIXED_BYTES + jobIdLength + addressLength;
  b.writeUInt16LE(total, p);
  b.writeUInt8(KINDS.indexOf(e.summary.kind), p + 2);
  b.writeDoubleLE(e.offset, p + 3);
  b.writeUInt32LE(e.length, p + 11);
  b.writeUInt32LE(e.line, p + 15);
  b.writeDoubleLE(e.summary.time, p + 19);
  b.writeUInt16LE(jobIdLength, p + 27);
  b.writeUInt8(addressLength, p + 29 + jobIdLength);
  b.writeUInt32LE(crc32(b.subarray(p, p + total - 4)), p + total - 4);
  return total;
}

/** Whether the entry at `p` (of length `total`, within `b`) is well formed and intact; decodes no string. */
function wellFormed(b: Buffer, p: number, total: number): boolean {
  if (total < FIXED_BYTES || b.readUInt8(p + 2) >= KINDS.length) return false;
  const jobIdLength = b.readUInt16LE(p + 27);
  return (
    FIXED_BYTES + jobIdLength <= total &&
    FIXED_BYTES + jobIdLength + b.readUInt8(p + 29 + jobIdLength) === total &&
    crc32(b.subarray(p, p + total - 4)) === b.readUInt32LE(p + total - 4)
  );
}

/** The well-formed entry at `p`. */
function decodeEntry(b: Buffer, p: number): IndexedLine {
  const total = b.readUInt16LE(p);
  const jobIdLength = b.readUInt16LE(p + 27);
  const addressFrom = p + 30 + jobIdLength;
  const addressTo = p + total - 4;
  return {
    summary: {
      kind: KINDS[b.readUInt8(p + 2)] as IndexedLine['summary']['kind'],
      jobId: b.toString('utf8', p + 29, p + 29 + jobIdLength),
      time: b.readDoubleLE(p + 19),
      deviceAddress: addressFrom === addressTo ? undefined : b.toString('utf8', addressFrom, addressTo),
    },
    offset: b.readDoubleLE(p + 3),
    length: b.readUInt32LE(p + 11),
    line: b.readUInt32LE(p + 15),
  };
}

/**
 * Calls `visit` with each well-formed entry (its buffer and position) from `from` to `end`, in
 * 4 MiB reads; stops at the first entry that is not (unless `checked` is false: entries already
 * checked), or that `visit` refuses. Returns where it stopped.
 */
function forEachEntry(fd: number, from: number, end: number, visit: (b: Buffer, p: number, at: number) => boolean, checked = true): number {
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let position = from;
  while (position < end) {
    const got = readSync(fd, chunk, 0, Math.min(CHUNK_BYTES, end - position), position);
    let p = 0;
    while (p + 2 <= got) {
      const total = chunk.readUInt16LE(p);
      if (total < FIXED_BYTES) return position + p;
      if (p + total > got) break; // continues in the next read
      if ((checked && !wellFormed(chunk, p, total)) || !visit(chunk, p, position + p)) return position + p;
      p += total;
    }
    if (p === 0) return position; // not even one entry fits: cut short
    position += p;
  }
  return position;
}

function header(ino: bigint): Buffer {
  const json = Buffer.from(JSON.stringify({ ino: ino.toString() }), 'utf8');
  const length = Buffer.allocUnsafe(2);
  length.writeUInt16LE(json.length);
  return Buffer.concat([MAGIC, length, json]);
}

/**
 * Replays the index file at `path` for the log file open as `log` into `visit`, after checking
 * that it is that file's (inode), that its entries are whole and in order up to where they stop
 * being so, and that the last of those names a line the log holds; undefined (and nothing
 * visited) when it is not usable.
 */
export function readIndexFile(path: string, log: { fd: number; size: number; ino: bigint }, visit: (e: IndexedLine) => void): IndexFileCoverage | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const expected = header(log.ino);
    const got = Buffer.alloc(expected.length);
    if (readSync(fd, got, 0, got.length, 0) !== got.length || !got.equals(expected)) return undefined;
    // First pass: structure and order only (numbers, no strings), before anything reaches the index.
    let lastAt = -1;
    let lastLine = 0;
    let nextOffset = 0;
    const structureEnd = forEachEntry(fd, expected.length, size, (b, p, at) => {
      const offset = b.readDoubleLE(p + 3);
      const length = b.readUInt32LE(p + 11);
      if (!(offset >= nextOffset) || offset + length >= log.size) return false;
      nextOffset = offset + length + 1;
      lastAt = at;
      lastLine = b.readUInt32LE(p + 15);
      return true;
    });
    // Entries after a damaged one (a crash can leave an unsynced index file with a cut or zeroed
    // end) are dropped; the lines they named are read from the log again.
    if (lastAt >= 0) {
      const b = Buffer.allocUnsafe(Math.min(0xffff, size - lastAt));
      readSync(fd, b, 0, b.length, lastAt);
      if (!namesItsLine(log.fd, decodeEntry(b, 0))) return undefined;
    }
    // Second pass (the file is ours alone while the log opens): entries checked by the first.
    forEachEntry(
      fd,
      expected.length,
      structureEnd,
      (b, p) => {
        visit(decodeEntry(b, p));
        return true;
      },
      false,
    );
    return { bytes: nextOffset, lines: lastLine, indexBytes: structureEnd };
  } finally {
    closeSync(fd);
  }
}

function namesItsLine(logFd: number, e: IndexedLine): boolean {
  const b = Buffer.allocUnsafe(e.length + 1);
  if (readSync(logFd, b, 0, b.length, e.offset) !== b.length || b[e.length] !== 0x0a) return false;
  const record = parseRecord(b.toString('utf8', 0, e.length));
  return record !== undefined && record.jobId === e.summary.jobId && (record.type === 'start' ? 'start' : record.result) === e.summary.kind;
}

/**
 * Appends entries to an index file. Never throws: a failure drops the index file (the next start
 * indexes the log file from its lines), because no job may fail for a cache.
 */
export class IndexFileWriter {
  path: string;
  #fd: number | undefined;
  /** Entries not written yet: BUFFER_BYTES, plus room for one more entry. */
  readonly #buffer = Buffer.allocUnsafe(BUFFER_BYTES + MAX_ENTRY_BYTES);
  #buffered = 0;
  #position = 0;

  private constructor(path: string, fd: number | undefined) {
    this.path = path;
    this.#fd = fd;
  }

  /** A new index file (replacing any) for the log file with inode `ino`. */
  static create(path: string, ino: bigint): IndexFileWriter {
    try {
      const fd = openSync(path, 'w', 0o640);
      const writer = new IndexFileWriter(path, fd);
      writer.#write(header(ino));
      return writer;
    } catch {
      return new IndexFileWriter(path, undefined);
    }
  }

  /** Continues a valid index file from `coverage`. */
  static resume(path: string, coverage: IndexFileCoverage): IndexFileWriter {
    try {
      const fd = openSync(path, 'r+');
      ftruncateSync(fd, coverage.indexBytes);
      const writer = new IndexFileWriter(path, fd);
      writer.#position = coverage.indexBytes;
      return writer;
    } catch {
      return new IndexFileWriter(path, undefined);
    }
  }

  /** Buffers an entry; written at the next flush (or once 1 MiB is pending). */
  add(entry: IndexedLine): void {
    if (this.#fd === undefined) return;
    const length = encodeEntry(entry, this.#buffer, this.#buffered);
    if (length === 0) {
      this.abandon();
      return;
    }
    this.#buffered += length;
    if (this.#buffered >= BUFFER_BYTES) this.flush();
  }

  flush(): void {
    if (this.#fd === undefined || this.#buffered === 0) return;
    const b = this.#buffer.subarray(0, this.#buffered);
    this.#buffered = 0;
    this.#write(b);
  }

  /** Deletes the index file: it may not match its log file any more. */
  abandon(): void {
    this.#close();
    try {
      unlinkSync(this.path);
    } catch {
      // Gone already, or not ours to delete: a stale one fails its checks at the next start.
    }
  }

  close(): void {
    this.flush();
    this.#close();
  }

  #close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    this.#buffered = 0;
  }

  #write(b: Buffer): void {
    try {
      let written = 0;
      while (written < b.length) written += writeSync(this.#fd as number, b, written, b.length - written, this.#position + written);
      this.#position += b.length;
    } catch {
      this.abandon();
    }
  }
}
