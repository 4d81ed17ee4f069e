/**
 * The audit log's index: one row per job (in the order jobs started, across every file of the
 * log), holding only what filters need and where the job's two lines are. Rows are columns of
 * typed arrays (~50 bytes a job, no object per job), so a history of millions of jobs costs tens
 * of MB and a filtered page is a scan over numbers; the records themselves stay on disk and a page
 * reads only its own lines.
 */
import type { AuditRecord, AuditResult } from './records.js';

/** What the index needs of one record (and what the index file on disk keeps of it, see sidecar.ts). */
export interface RecordSummary {
  /** 'start', or the result of an end record. */
  readonly kind: 'start' | AuditResult;
  readonly jobId: string;
  /** ms since the epoch; NaN when the record's time is not a date. */
  readonly time: number;
  readonly deviceAddress: string | undefined;
}

export function summarize(record: AuditRecord): RecordSummary {
  return {
    kind: record.type === 'start' ? 'start' : record.result,
    jobId: record.jobId,
    time: Date.parse(record.time),
    deviceAddress: record.deviceAddress,
  };
}

/** Where one record's line is: file number (position in the log's file list), byte offset, length (without the newline). */
export interface LineRef {
  readonly file: number;
  readonly offset: number;
  readonly length: number;
}

/** 0: running (no end yet); then one code per AuditResult (up-to-date, added later, last). */
const RESULT_CODES: Readonly<Record<AuditResult | 'running', number>> = { running: 0, succeeded: 1, failed: 2, cancelled: 3, interrupted: 4, 'up-to-date': 5 };
const NO_FILE = 0xffffffff;

export interface IndexFilter {
  /** Upper case. */
  readonly deviceAddress?: string;
  readonly since?: number;
  readonly result?: AuditResult | 'running';
}

export class JobIndex {
  #size = 0;
  #capacity = 0;
  #startFile = new Uint32Array(0);
  #startOffset = new Float64Array(0);
  #startLength = new Uint32Array(0);
  #endFile = new Uint32Array(0);
  #endOffset = new Float64Array(0);
  #endLength = new Uint32Array(0);
  #startTime = new Float64Array(0);
  #result = new Uint8Array(0);
  /** Interned device addresses (0: none): the start's and the end's (an end may know it when the start did not). */
  #startAddress = new Uint32Array(0);
  #endAddress = new Uint32Array(0);
  readonly #addresses = new Map<string, number>();
  /** Jobs started and not ended, by job id → row: the only per-job strings kept, as many as jobs running. */
  readonly #open = new Map<string, number>();

  get size(): number {
    return this.#size;
  }

  /** Job ids started and not ended, oldest first, with their start line. */
  openJobs(): { jobId: string; row: number; start: LineRef }[] {
    return [...this.#open].map(([jobId, row]) => ({ jobId, row, start: this.startRef(row) }));
  }

  /** Adds what one record says; an end with no open start is ignored (as the log has always read). */
  add(record: RecordSummary, at: LineRef): void {
    if (record.kind === 'start') {
      const row = this.#grow();
      this.#startFile[row] = at.file;
      this.#startOffset[row] = at.offset;
      this.#startLength[row] = at.length;
      this.#endFile[row] = NO_FILE;
      this.#startTime[row] = record.time;
      this.#result[row] = RESULT_CODES.running;
      this.#startAddress[row] = this.#intern(record.deviceAddress);
      this.#endAddress[row] = 0;
      this.#open.set(record.jobId, row);
      return;
    }
    const row = this.#open.get(record.jobId);
    if (row === undefined) return;
    this.#open.delete(record.jobId);
    this.#endFile[row] = at.file;
    this.#endOffset[row] = at.offset;
    this.#endLength[row] = at.length;
    this.#result[row] = RESULT_CODES[record.kind];
    this.#endAddress[row] = this.#intern(record.deviceAddress);
  }

  startRef(row: number): LineRef {
    return { file: this.#startFile[row] ?? 0, offset: this.#startOffset[row] ?? 0, length: this.#startLength[row] ?? 0 };
  }

  endRef(row: number): LineRef | undefined {
    const file = this.#endFile[row] ?? NO_FILE;
    return file === NO_FILE ? undefined : { file, offset: this.#endOffset[row] ?? 0, length: this.#endLength[row] ?? 0 };
  }

  /**
   * Rows matching `filter` from row `from` on: at most `limit`, and the row of the next match after
   * them (undefined when there is none), which is the next page's token.
   */
  find(filter: IndexFilter, from: number, limit: number): { rows: number[]; next: number | undefined } {
    let address = 0;
    if (filter.deviceAddress !== undefined) {
      address = this.#addresses.get(filter.deviceAddress) ?? -1;
      if (address < 0) return { rows: [], next: undefined };
    }
    const result = filter.result === undefined ? -1 : RESULT_CODES[filter.result];
    const since = filter.since;
    const rows: number[] = [];
    // Locals, not private fields, in the loop that may visit millions of rows.
    const startAddress = this.#startAddress;
    const endAddress = this.#endAddress;
    const results = this.#result;
    const times = this.#startTime;
    const size = this.#size;
    for (let row = Math.max(from, 0); row < size; row++) {
      if (address !== 0 && startAddress[row] !== address && endAddress[row] !== address) continue;
      if (result >= 0 && results[row] !== result) continue;
      if (since !== undefined && !((times[row] as number) >= since)) continue;
      if (rows.length === limit) return { rows, next: row };
      rows.push(row);
    }
    return { rows, next: undefined };
  }

  #intern(address: string | undefined): number {
    if (address === undefined || address === '') return 0;
    const key = address.toUpperCase();
    let id = this.#addresses.get(key);
    if (id === undefined) {
      id = this.#addresses.size + 1;
      this.#addresses.set(key, id);
    }
    return id;
  }

  #grow(): number {
    if (this.#size === this.#capacity) {
      const capacity = Math.max(1024, this.#capacity * 2);
      const grow = <T extends Uint32Array | Float64Array | Uint8Array>(old: T, make: (n: number) => T): T => {
        const next = make(capacity);
        next.set(old);
        return next;
      };
      this.#startFile = grow(this.#startFile, (n) => new Uint32Array(n));
      this.#startOffset = grow(this.#startOffset, (n) => new Float64Array(n));
      this.#startLength = grow(this.#startLength, (n) => new Uint32Array(n));
      this.#endFile = grow(this.#endFile, (n) => new Uint32Array(n));
      this.#endOffset = grow(this.#endOffset, (n) => new Float64Array(n));
      this.#endLength = grow(this.#endLength, (n) => new Uint32Array(n));
      this.#startTime = grow(this.#startTime, (n) => new Float64Array(n));
      this.#result = grow(this.#result, (n) => new Uint8Array(n));
      this.#startAddress = grow(this.#startAddress, (n) => new Uint32Array(n));
      this.#endAddress = grow(this.#endAddress, (n) => new Uint32Array(n));
      this.#capacity = capacity;
    }
    return this.#size++;
  }
}
