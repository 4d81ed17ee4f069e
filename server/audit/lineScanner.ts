/**
 * Reads a file of lines in fixed chunks, so a log of any size is read with bounded memory: a
 * line longer than `maxLineBytes` is never assembled (only its first bytes are kept, for the
 * operator), and the whole file is never one string. Synchronous: the server reads its audit log
 * once, before it serves anyone.
 */
import { readSync } from 'node:fs';

const CHUNK_BYTES = 1024 * 1024;
const EXCERPT_BYTES = 80;

export interface ScannedLine {
  /** 1-based. */
  readonly number: number;
  readonly offset: number;
  /** Bytes, without the newline. */
  readonly length: number;
}

export interface LineVisitor {
  /** A whole line of at most maxLineBytes (its text, utf-8 decoded). */
  line(line: ScannedLine, text: string): void;
  /** A line over maxLineBytes, skipped; `excerpt` is its start. */
  oversized(line: ScannedLine, excerpt: string): void;
}

export interface ScanEnd {
  /** Bytes after the last newline (a line cut short); 0 when the file ends with a newline or is empty. */
  readonly tailBytes: number;
  /** Where that tail starts, its line number and first characters. */
  readonly tailOffset: number;
  readonly tailLine: number;
  readonly tailExcerpt: string;
}

/** Scans from byte `from` (a line start; its line number `firstLine`) to `size`. */
export function scanLines(fd: number, size: number, maxLineBytes: number, visit: LineVisitor, from = 0, firstLine = 1): ScanEnd {
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  // The current line's bytes so far, while it fits; past maxLineBytes only its excerpt is kept.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let excerpt: Buffer | undefined;
  let lineStart = from;
  let lineNumber = firstLine;
  let position = from;
  while (position < size) {
    const got = readSync(fd, chunk, 0, Math.min(CHUNK_BYTES, size - position), position);
    if (got === 0) break;
    let at = 0;
    while (at < got) {
      const nl = chunk.indexOf(0x0a, at);
      const end = nl < 0 || nl >= got ? got : nl;
      if (end < got && pendingBytes === 0 && end - at <= maxLineBytes) {
        // The common case: the whole line is in this chunk.
        visit.line({ number: lineNumber++, offset: lineStart, length: end - at }, chunk.toString('utf8', at, end));
        lineStart += end - at + 1;
        at = end + 1;
        continue;
      }
      const piece = chunk.subarray(at, end);
      if (excerpt === undefined) {
        if (pendingBytes + piece.length > maxLineBytes) {
          excerpt = Buffer.concat([...pending, piece]).subarray(0, EXCERPT_BYTES);
          pending = [];
        } else if (piece.length > 0) {
          pending.push(Buffer.from(piece)); // copied: the chunk is reused
        }
      }
      pendingBytes += piece.length;
      if (end === got) break; // the line goes on in the next chunk
      const line: ScannedLine = { number: lineNumber, offset: lineStart, length: pendingBytes };
      if (excerpt !== undefined) visit.oversized(line, excerpt.toString('utf8'));
      else visit.line(line, pending.length === 1 ? (pending[0] as Buffer).toString('utf8') : Buffer.concat(pending).toString('utf8'));
      lineNumber++;
      lineStart += pendingBytes + 1;
      pending = [];
      pendingBytes = 0;
      excerpt = undefined;
      at = end + 1;
    }
    position += got;
  }
  const tail = excerpt ?? Buffer.concat(pending).subarray(0, EXCERPT_BYTES);
  return { tailBytes: pendingBytes, tailOffset: lineStart, tailLine: lineNumber, tailExcerpt: tail.toString('utf8') };
}
