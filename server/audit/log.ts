/**
 * The append-only audit log of DFU jobs: one JSON record per line. Every append is written and
 * fsync'd before it returns, synchronously, so the job layer can call it right before a job
 * proceeds or reports and a crash afterwards cannot lose what was already reported.
 *
 * The log is the active file (the configured path) plus the files rotated out of it
 * (`<path>.1`, `<path>.2`, …, oldest first; see files.ts): the active file is rotated before an
 * append would take it past a size, or once its first record is older than an age. All of them
 * stay queryable: the log is indexed once, into a compact index of jobs (jobIndex.ts) that each
 * append keeps current, and a query filters that index and reads only the lines of its page from
 * disk. Each file's index is also kept beside it (`<file>.idx`, indexFile.ts), so a restart replays
 * those and reads, in bounded chunks, only the lines they do not cover yet.
 *
 * Opening repairs what a crash can leave (a torn last line), skips lines it cannot use (unreadable,
 * or longer than a record may be: a warning each, the log still opens), and closes the books on
 * jobs that started but never ended: they get an `interrupted` end record.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, read, readSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { realClock, type Clock } from '../common/clock.js';
import { BledfuError } from '../common/errors.js';
import { rotatedFiles, rotatedName, syncDirectory } from './files.js';
import { IndexFileWriter, readIndexFile, type IndexedLine } from './indexFile.js';
import { JobIndex, summarize, type IndexFilter, type LineRef, type RecordSummary } from './jobIndex.js';
import { scanLines } from './lineScanner.js';
import {
  fitRecord,
  parseRecord,
  type AuditEndRecord,
  type AuditEntry,
  type AuditPage,
  type AuditQuery,
  type AuditRecord,
  type AuditStartRecord,
} from './records.js';

export interface DamagedLine {
  /** 1-based line number in its file. */
  readonly line: number;
  /**
   * `torn`: the active file's last line, cut short by a crash (removed); `unreadable`: not a record
   * this version knows (kept, skipped); `oversized`: longer than maxRecordBytes (kept, skipped).
   */
  readonly kind: 'torn' | 'unreadable' | 'oversized';
  /** The first characters of the line, for the operator. */
  readonly excerpt: string;
  /** The rotated file holding the line; absent for the active file (the log's path). */
  readonly file?: string;
}

export interface AuditRecovery {
  /** End records written now for jobs that had started but never ended. */
  readonly interrupted: readonly AuditEndRecord[];
  /** The first MAX_REPORTED_DAMAGED damaged lines, in file order. */
  readonly damaged: readonly DamagedLine[];
  /** How many lines were damaged in all (more than `damaged` holds when there were many). */
  readonly damagedCount: number;
}

export interface AuditLogOptions {
  /** Rotate the active file before an append would take it past this many bytes. */
  readonly rotateBytes?: number;
  /** Rotate the active file before a record this much later (ms) than its first one; 0: never by age. */
  readonly rotateAgeMs?: number;
  /** The longest record line: a longer one is cut to fit when written and skipped when read. */
  readonly maxRecordBytes?: number;
}

export const DEFAULT_AUDIT_PAGE_SIZE = 100;
export const MAX_AUDIT_PAGE_SIZE = 1000;
/** Defaults of the settings auditRotateBytes, auditRotateAgeHours and auditMaxRecordBytes (server/config/settings.ts). */
export const DEFAULT_AUDIT_LOG_OPTIONS: Required<AuditLogOptions> = {
  rotateBytes: 64 * 1024 * 1024,
  rotateAgeMs: 7 * 24 * 3600 * 1000,
  maxRecordBytes: 64 * 1024,
};
export const MAX_REPORTED_DAMAGED = 100;
/** Lines of one page closer than this in a file are read in one read; no read is longer than MAX_READ_BYTES unless one line is. */
const MERGE_GAP_BYTES = 64 * 1024;
const MAX_READ_BYTES = 1024 * 1024;
const readAsync = promisify(read);

export class AuditLog {
  readonly path: string;
  readonly #options: Required<AuditLogOptions>;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #index = new JobIndex();
  /** Every file of the log, oldest first; the last one is the active file (at `path`). */
  readonly #files: string[];
  #nextNumber: number;
  #fd: number | undefined;
  #activeBytes = 0;
  #activeLines = 0;
  #indexWriter: IndexFileWriter | undefined;
  /** The time of the active file's first record (ms); undefined while it has none. */
  #activeSince: number | undefined;

  private constructor(path: string, fd: number, rotated: { path: string; number: number }[], clock: Pick<Clock, 'now'>, options: Required<AuditLogOptions>) {
    this.path = path;
    this.#fd = fd;
    this.#files = [...rotated.map((r) => r.path), path];
    this.#nextNumber = (rotated.at(-1)?.number ?? 0) + 1;
    this.#clock = clock;
    this.#options = options;
  }

  /** Opens (creating it and its directory if needed), indexes and recovers the log; throws a BledfuError. */
  static open(path: string, clock: Pick<Clock, 'now'> = realClock, options: AuditLogOptions = {}): { log: AuditLog; recovery: AuditRecovery } {
    let fd: number;
    let rotated: { path: string; number: number }[];
    try {
      const dir = dirname(path);
      const made = mkdirSync(dir, { recursive: true });
      fd = openSync(path, 'a+', 0o640);
      const created = fstatSync(fd).size === 0;
      // A new file (or directory) exists after a power loss only once its parent directory is synced.
      if (created) syncDirectory(dir);
      if (made !== undefined) for (let d = dir; d !== dirname(made); d = dirname(d)) syncDirectory(dirname(d));
      rotated = rotatedFiles(path);
    } catch (e) {
      throw new BledfuError('INVALID_ARGUMENT', `cannot open the audit log ${path}: ${(e as Error).message}`, {
        layer: 'jobs',
        remedy: 'point --audit-log (or --data-dir) at a writable file, or give the server write access there',
        cause: e,
      });
    }
    const log = new AuditLog(path, fd, rotated, clock, { ...DEFAULT_AUDIT_LOG_OPTIONS, ...options });
    try {
      return { log, recovery: log.#recover() };
    } catch (e) {
      log.close();
      throw e;
    }
  }

  /** Jobs in the log (every file). */
  get jobCount(): number {
    return this.#index.size;
  }

  /** Every file of the log, oldest first; the last is the active one. */
  get files(): readonly string[] {
    return [...this.#files];
  }

  /** Appends one record (cut to maxRecordBytes if it is longer) and syncs it to disk before returning. */
  append(record: AuditRecord): void {
    if (this.#fd === undefined) {
      throw new BledfuError('INTERNAL', 'the audit log is closed', { layer: 'jobs' });
    }
    const fitted = fitRecord(record, this.#options.maxRecordBytes);
    const bytes = Buffer.from(`${JSON.stringify(fitted)}\n`, 'utf8');
    const time = Date.parse(fitted.time);
    this.#rotateIfDue(bytes.length, time);
    const fd = this.#fd;
    const offset = this.#activeBytes;
    try {
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } catch (e) {
      throw new BledfuError('INTERNAL', `cannot write the audit log ${this.path}: ${(e as Error).message}`, {
        layer: 'jobs',
        remedy: 'free disk space or fix the audit log file; jobs cannot run without their audit record',
        cause: e,
      });
    }
    this.#activeBytes += bytes.length;
    if (this.#activeSince === undefined && !Number.isNaN(time)) this.#activeSince = time;
    const summary = summarize(fitted);
    this.#index.add(summary, { file: this.#files.length - 1, offset, length: bytes.length - 1 });
    this.#indexWriter?.add({ summary, offset, length: bytes.length - 1, line: ++this.#activeLines });
    this.#indexWriter?.flush();
  }

  /**
   * Jobs in the order they started, filtered and paged. `offset` (the page token) is the position
   * of the page's first job in the whole log, so paging stays stable while jobs are added; only the
   * page's own lines are read from disk.
   */
  async query(q: AuditQuery): Promise<AuditPage> {
    const limit = Math.min(Math.max(q.limit ?? DEFAULT_AUDIT_PAGE_SIZE, 1), MAX_AUDIT_PAGE_SIZE);
    const filter: IndexFilter = {
      ...(q.deviceAddress === undefined || q.deviceAddress === '' ? {} : { deviceAddress: q.deviceAddress.toUpperCase() }),
      ...(q.since === undefined ? {} : { since: q.since }),
      ...(q.result === undefined ? {} : { result: q.result }),
    };
    const from = Math.max(q.offset ?? 0, 0);
    const wanted = startFilter(q);
    const { rows, next } = wanted === undefined ? this.#index.find(filter, from, limit) : await this.#findByStart(filter, wanted, from, limit);
    // Taken now: a job may end while the lines are read, and this page shows it as it was.
    const ends = rows.map((row) => this.#index.endRef(row));
    const refs = rows.flatMap((row, k) => {
      const end = ends[k];
      return end === undefined ? [this.#index.startRef(row)] : [this.#index.startRef(row), end];
    });
    const lines = await this.#readLines(refs);
    let i = 0;
    const entries: AuditEntry[] = ends.map((end) => {
      const start = lines[i++] as AuditStartRecord;
      return { start, end: end === undefined ? undefined : (lines[i++] as AuditEndRecord) };
    });
    return { entries, nextOffset: next };
  }

  /**
   * Like JobIndex.find, for a filter the index cannot answer (labels, target name): the rows the
   * index lets through are checked against their start records, read a batch at a time, until the
   * page is full and the next match (the next page's token) is found or the log ends.
   */
  async #findByStart(filter: IndexFilter, wanted: (start: AuditStartRecord) => boolean, from: number, limit: number): Promise<{ rows: number[]; next: number | undefined }> {
    const rows: number[] = [];
    let at: number | undefined = from;
    while (at !== undefined) {
      const batch = this.#index.find(filter, at, START_BATCH);
      const starts = await this.#readLines(batch.rows.map((row) => this.#index.startRef(row)));
      for (let k = 0; k < batch.rows.length; k++) {
        const start = starts[k];
        if (start?.type !== 'start' || !wanted(start)) continue;
        const row = batch.rows[k] as number;
        if (rows.length === limit) return { rows, next: row };
        rows.push(row);
      }
      at = batch.next;
    }
    return { rows, next: undefined };
  }

  close(): void {
    if (this.#fd === undefined) return;
    this.#indexWriter?.close();
    this.#indexWriter = undefined;
    closeSync(this.#fd);
    this.#fd = undefined;
  }

  /** The records at `refs`, in that order. File descriptors are taken synchronously, so a rotation meanwhile cannot move a file away from the read. */
  async #readLines(refs: readonly LineRef[]): Promise<AuditRecord[]> {
    const out = new Array<AuditRecord>(refs.length);
    const fds = new Map<number, number>();
    try {
      for (const ref of refs) if (!fds.has(ref.file)) fds.set(ref.file, openSync(this.#files[ref.file] as string, 'r'));
      const order = refs.map((_, i) => i).sort((a, b) => {
        const x = refs[a] as LineRef;
        const y = refs[b] as LineRef;
        return x.file - y.file || x.offset - y.offset;
      });
      // Runs of nearby lines in one file are one read.
      const spans: { file: number; offset: number; end: number; members: number[] }[] = [];
      for (const i of order) {
        const ref = refs[i] as LineRef;
        const last = spans.at(-1);
        const end = ref.offset + ref.length;
        if (last !== undefined && last.file === ref.file && ref.offset - last.end <= MERGE_GAP_BYTES && end - last.offset <= MAX_READ_BYTES) {
          last.end = Math.max(last.end, end);
          last.members.push(i);
        } else {
          spans.push({ file: ref.file, offset: ref.offset, end, members: [i] });
        }
      }
      for (const span of spans) {
        const buffer = Buffer.allocUnsafe(span.end - span.offset);
        const { bytesRead } = await readAsync(fds.get(span.file) as number, buffer, 0, buffer.length, span.offset);
        for (const i of span.members) {
          const ref = refs[i] as LineRef;
          const from = ref.offset - span.offset;
          const record = from + ref.length <= bytesRead ? parseRecord(buffer.toString('utf8', from, from + ref.length)) : undefined;
          if (record === undefined) throw changedUnderUs(this.#files[ref.file] as string);
          out[i] = record;
        }
      }
    } catch (e) {
      if (e instanceof BledfuError) throw e;
      throw new BledfuError('INTERNAL', `cannot read the audit log: ${(e as Error).message}`, {
        layer: 'jobs',
        remedy: 'check that the audit log files (and the rotated ones beside them) are still there and readable; restart the server to re-index them',
        cause: e,
      });
    } finally {
      for (const fd of fds.values()) closeSync(fd);
    }
    return out;
  }

  /**
   * Age is measured between records' own times (the clock that wrote them, which is the server's
   * one clock), so a log opened before the server's clock is chosen still rotates on that clock.
   */
  #rotateIfDue(nextBytes: number, nextTime: number): void {
    if (this.#activeBytes === 0) return;
    const { rotateBytes, rotateAgeMs } = this.#options;
    const bySize = this.#activeBytes + nextBytes > rotateBytes;
    const byAge = rotateAgeMs > 0 && this.#activeSince !== undefined && nextTime - this.#activeSince >= rotateAgeMs;
    if (bySize || byAge) this.#rotate();
  }

  /**
   * Renames the active file to the next rotated name and starts a new one. Every byte of the old
   * file is synced already (each append is). A failure leaves the log appending to the file it
   * had: rotation is housekeeping, and no job may fail for it.
   */
  #rotate(): void {
    const to = rotatedName(this.path, this.#nextNumber);
    const dir = dirname(this.path);
    try {
      renameSync(this.path, to);
    } catch {
      return;
    }
    let fd: number;
    try {
      fd = openSync(this.path, 'a+', 0o640);
    } catch {
      try {
        renameSync(to, this.path);
      } catch {
        // Nothing more to try: the old descriptor still appends to the file, now named `to`.
        this.#files[this.#files.length - 1] = to;
      }
      return;
    }
    try {
      syncDirectory(dir); // both the rename and the new file
    } catch {
      // The entries reach the disk with the directory's next sync; the records themselves are synced.
    }
    closeSync(this.#fd as number);
    this.#fd = fd;
    this.#files[this.#files.length - 1] = to;
    this.#files.push(this.path);
    this.#nextNumber++;
    this.#activeBytes = 0;
    this.#activeLines = 0;
    this.#activeSince = undefined;
    // The index file goes with its log file; a crash in between leaves each with an index file
    // that fails its checks (or none), which the next start writes again.
    const writer = this.#indexWriter;
    if (writer !== undefined) {
      writer.close();
      try {
        renameSync(writer.path, indexFileOf(to));
      } catch {
        writer.abandon();
      }
    }
    this.#indexWriter = IndexFileWriter.create(indexFileOf(this.path), fstatSync(fd, { bigint: true }).ino);
  }

  #recover(): AuditRecovery {
    const damaged: DamagedLine[] = [];
    let damagedCount = 0;
    const report = (d: DamagedLine): void => {
      damagedCount++;
      if (damaged.length < MAX_REPORTED_DAMAGED) damaged.push(d);
    };
    const active = this.#files.length - 1;
    for (let file = 0; file <= active; file++) {
      const isActive = file === active;
      const where = isActive ? {} : { file: this.#files[file] as string };
      const fd = isActive ? (this.#fd as number) : openSync(this.#files[file] as string, 'r');
      try {
        const stat = fstatSync(fd, { bigint: true });
        const size = Number(stat.size);
        const indexPath = indexFileOf(this.#files[file] as string);
        const add = (summary: RecordSummary, at: LineRef): void => {
          if (isActive && this.#activeSince === undefined && !Number.isNaN(summary.time)) this.#activeSince = summary.time;
          this.#index.add(summary, at);
        };
        const coverage = readIndexFile(indexPath, { fd, size, ino: stat.ino }, (e: IndexedLine) => add(e.summary, { file, offset: e.offset, length: e.length }));
        const writer = coverage === undefined ? IndexFileWriter.create(indexPath, stat.ino) : IndexFileWriter.resume(indexPath, coverage);
        const end = scanLines(
          fd,
          size,
          this.#options.maxRecordBytes,
          {
            line: (line, text) => {
              if (text.trim() === '') return;
              const record = parseRecord(text);
              if (record === undefined) {
                report({ line: line.number, kind: 'unreadable', excerpt: text.slice(0, 80), ...where });
                return;
              }
              const summary = summarize(record);
              add(summary, { file, offset: line.offset, length: line.length });
              writer.add({ summary, offset: line.offset, length: line.length, line: line.number });
            },
            oversized: (line, excerpt) => report({ line: line.number, kind: 'oversized', excerpt, ...where }),
          },
          coverage?.bytes ?? 0,
          (coverage?.lines ?? 0) + 1,
        );
        writer.flush();
        if (end.tailBytes > 0) {
          if (isActive) {
            // A file not ending in a newline was cut short mid-append: that record was never synced
            // whole, so no job proceeded on it. Drop it so the next record starts on its own line.
            report({ line: end.tailLine, kind: 'torn', excerpt: end.tailExcerpt });
            ftruncateSync(fd, end.tailOffset);
            fsyncSync(fd);
          } else {
            report({ line: end.tailLine, kind: 'unreadable', excerpt: end.tailExcerpt, ...where });
          }
        }
        if (isActive) {
          this.#activeBytes = end.tailBytes > 0 ? end.tailOffset : size;
          this.#activeLines = end.tailLine - 1;
          this.#indexWriter = writer;
        } else {
          writer.close();
        }
      } finally {
        if (!isActive) closeSync(fd);
      }
    }
    const interrupted: AuditEndRecord[] = [];
    for (const open of this.#index.openJobs()) {
      const start = this.#readLineSync(open.start);
      if (start?.type !== 'start') continue;
      const end: AuditEndRecord = {
        v: 1,
        type: 'end',
        time: new Date(this.#clock.now()).toISOString(),
        jobId: start.jobId,
        result: 'interrupted',
        ...(start.deviceAddress === undefined ? {} : { deviceAddress: start.deviceAddress }),
        bytesTotal: start.images.reduce((n, i) => n + i.size, 0),
        // Like every end record, it names the unit the job was for.
        ...(start.labels === undefined ? {} : { labels: start.labels }),
        ...(start.campaignId === undefined ? {} : { campaignId: start.campaignId }),
        ...(start.protocol === undefined ? {} : { protocol: start.protocol }),
        errorMessage:
          'the server stopped (crash, kill or power loss) while this job ran; the device may be left mid-update: start the DFU again, it resumes',
      };
      this.append(end);
      interrupted.push(end);
    }
    return { interrupted, damaged, damagedCount };
  }

  #readLineSync(ref: LineRef): AuditRecord | undefined {
    const active = ref.file === this.#files.length - 1 && this.#files[ref.file] === this.path;
    const fd = active ? (this.#fd as number) : openSync(this.#files[ref.file] as string, 'r');
    try {
      const buffer = Buffer.allocUnsafe(ref.length);
      const got = readSync(fd, buffer, 0, ref.length, ref.offset);
      return parseRecord(buffer.toString('utf8', 0, got));
    } finally {
      if (!active) closeSync(fd);
    }
  }
}

/** Start records read per step of a label or name filter: bounded memory, few reads. */
const START_BATCH = 512;

/** The part of a query only a start record can answer; undefined when there is none. */
function startFilter(q: AuditQuery): ((start: AuditStartRecord) => boolean) | undefined {
  const pairs = Object.entries(q.labels ?? {});
  const name = q.targetName === '' ? undefined : q.targetName;
  const campaign = q.campaignId === '' ? undefined : q.campaignId;
  if (pairs.length === 0 && name === undefined && campaign === undefined) return undefined;
  return (start) =>
    (name === undefined || start.targetName === name) &&
    (campaign === undefined || start.campaignId === campaign) &&
    pairs.every(([key, value]) => start.labels !== undefined && Object.hasOwn(start.labels, key) && start.labels[key] === value);
}

/** The index file kept beside a log file (see indexFile.ts). */
export function indexFileOf(logFile: string): string {
  return `${logFile}.idx`;
}

function changedUnderUs(file: string): BledfuError {
  return new BledfuError('INTERNAL', `the audit log file ${file} changed under the server`, {
    layer: 'jobs',
    remedy: 'never edit or truncate the audit log while the server runs; restart the server to re-index it',
  });
}
