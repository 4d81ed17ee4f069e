/**
 * The append-only audit log of DFU jobs: one JSON record per line in one file. Every append is
 * written and fsync'd before it returns, synchronously, so the job layer can call it right before
 * a job proceeds or reports and a crash afterwards cannot lose what was already reported.
 * Opening the log repairs what a crash can leave (a torn last line) and closes the books on jobs
 * that started but never ended: they get an `interrupted` end record.
 */
import { closeSync, createReadStream, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { realClock, type Clock } from '../common/clock.js';
import { BledfuError } from '../common/errors.js';
import {
  parseRecord,
  type AuditEndRecord,
  type AuditEntry,
  type AuditPage,
  type AuditQuery,
  type AuditRecord,
  type AuditStartRecord,
} from './records.js';

export interface DamagedLine {
  /** 1-based line number in the file. */
  readonly line: number;
  /** `torn`: the last line, cut short by a crash (removed); `unreadable`: kept but skipped. */
  readonly kind: 'torn' | 'unreadable';
  /** The first characters of the line, for the operator. */
  readonly excerpt: string;
}

export interface AuditRecovery {
  /** End records written now for jobs that had started but never ended. */
  readonly interrupted: readonly AuditEndRecord[];
  readonly damaged: readonly DamagedLine[];
}

export const DEFAULT_AUDIT_PAGE_SIZE = 100;
export const MAX_AUDIT_PAGE_SIZE = 1000;

export class AuditLog {
  readonly path: string;
  #fd: number | undefined;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Opens (creating it and its directory if needed) and recovers the log; throws a BledfuError. */
  static open(path: string, clock: Pick<Clock, 'now'> = realClock): { log: AuditLog; recovery: AuditRecovery } {
    let fd: number;
    let text: string;
    try {
      mkdirSync(dirname(path), { recursive: true });
      fd = openSync(path, 'a+', 0o640);
      text = readFileSync(fd, 'utf8');
    } catch (e) {
      throw new BledfuError('INVALID_ARGUMENT', `cannot open the audit log ${path}: ${(e as Error).message}`, {
        layer: 'jobs',
        remedy: 'point --audit-log (or --data-dir) at a writable file, or give the server write access there',
        cause: e,
      });
    }
    const log = new AuditLog(path, fd);
    try {
      return { log, recovery: log.#recover(text, clock) };
    } catch (e) {
      log.close();
      throw e;
    }
  }

  /** Appends one record and syncs it to disk before returning. */
  append(record: AuditRecord): void {
    const fd = this.#fd;
    if (fd === undefined) {
      throw new BledfuError('INTERNAL', 'the audit log is closed', { layer: 'jobs' });
    }
    const bytes = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
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
  }

  /** Jobs in the order they started, filtered and paged; reads the file, so memory stays bounded by the page. */
  async query(q: AuditQuery): Promise<AuditPage> {
    const limit = Math.min(Math.max(q.limit ?? DEFAULT_AUDIT_PAGE_SIZE, 1), MAX_AUDIT_PAGE_SIZE);
    const offset = Math.max(q.offset ?? 0, 0);
    const entries = new Map<string, { start: AuditStartRecord; end: AuditEndRecord | undefined }>();
    const lines = createInterface({ input: createReadStream(this.path, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const line of lines) {
      const record = parseRecord(line);
      if (record === undefined) continue;
      if (record.type === 'start') {
        if (q.since === undefined || Date.parse(record.time) >= q.since) entries.set(record.jobId, { start: record, end: undefined });
      } else {
        const entry = entries.get(record.jobId);
        if (entry !== undefined && entry.end === undefined) entry.end = record;
      }
    }
    const matching = [...entries.values()].filter((e) => matches(e, q));
    const page: AuditEntry[] = matching.slice(offset, offset + limit);
    return { entries: page, nextOffset: offset + limit < matching.length ? offset + limit : undefined };
  }

  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }

  #recover(text: string, clock: Pick<Clock, 'now'>): AuditRecovery {
    const damaged: DamagedLine[] = [];
    const lines = text.split('\n');
    // A file not ending in a newline was cut short mid-append: that record was never synced
    // whole, so no job proceeded on it. Drop it so the next record starts on its own line.
    const tail = lines.pop() ?? '';
    if (tail !== '') {
      damaged.push({ line: lines.length + 1, kind: 'torn', excerpt: tail.slice(0, 80) });
      ftruncateSync(this.#fd as number, Buffer.byteLength(text, 'utf8') - Buffer.byteLength(tail, 'utf8'));
    }
    const open = new Map<string, AuditStartRecord>();
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      const record = parseRecord(line);
      if (record === undefined) {
        damaged.push({ line: i + 1, kind: 'unreadable', excerpt: line.slice(0, 80) });
        return;
      }
      if (record.type === 'start') open.set(record.jobId, record);
      else open.delete(record.jobId);
    });
    const interrupted: AuditEndRecord[] = [];
    for (const start of open.values()) {
      const end: AuditEndRecord = {
        v: 1,
        type: 'end',
        time: new Date(clock.now()).toISOString(),
        jobId: start.jobId,
        result: 'interrupted',
        ...(start.deviceAddress === undefined ? {} : { deviceAddress: start.deviceAddress }),
        bytesTotal: start.images.reduce((n, i) => n + i.size, 0),
        errorMessage:
          'the server stopped (crash, kill or power loss) while this job ran; the device may be left mid-update: start the DFU again, it resumes',
      };
      this.append(end);
      interrupted.push(end);
    }
    return { interrupted, damaged: damaged.sort((a, b) => a.line - b.line) };
  }
}

function matches(entry: AuditEntry, q: AuditQuery): boolean {
  if (q.deviceAddress !== undefined && q.deviceAddress !== '') {
    const want = q.deviceAddress.toUpperCase();
    const got = [entry.start.deviceAddress, entry.end?.deviceAddress].map((a) => a?.toUpperCase());
    if (!got.includes(want)) return false;
  }
  if (q.result !== undefined) {
    const result = entry.end?.result ?? 'running';
    if (result !== q.result) return false;
  }
  return true;
}
