/**
 * `npm run bench`: the audit log under a long history. Writes a generated history (by default
 * 200 000 records: 100 000 jobs, each a start and an end, over 1 000 devices) straight into a
 * fresh data directory as one legacy file — the worst case: nothing rotated yet — then measures
 * what the issue measured: the time to open (index and recover) it, the time of a page of
 * ListAuditRecords (first, middle, last, filtered by device and by result), and RSS per call,
 * alone and 10 at once. Prints numbers; asserts nothing (speed goals are not tests).
 *
 * BENCH_AUDIT_RECORDS sets the history's size; `--gb` (or BENCH_AUDIT_GB=1) scales it to about
 * 1 GiB of log (records padded to ~500 bytes, as real ones with error messages are).
 * Run with --expose-gc for steadier RSS figures (npm run bench does).
 */
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AuditLog } from '../../server/audit/log.js';
import type { AuditQuery } from '../../server/audit/records.js';

const gb = process.argv.includes('--gb') || process.env.BENCH_AUDIT_GB === '1';
const GiB = 1024 ** 3;
const padding = gb ? 'x'.repeat(150) : '';
const DEVICES = 1000;
const RESULTS = ['succeeded', 'succeeded', 'succeeded', 'failed', 'cancelled'] as const;

const address = (d: number): string => `AA:00:00:00:${((d >> 8) & 0xff).toString(16).padStart(2, '0')}:${(d & 0xff).toString(16).padStart(2, '0')}`.toUpperCase();
const t0 = Date.parse('2026-01-01T00:00:00Z');

function startLine(j: number): string {
  return JSON.stringify({
    v: 1, type: 'start', time: new Date(t0 + j * 60_000).toISOString(), jobId: `job-${j}`, adapterId: 'sim0', deviceAddress: address(j % DEVICES),
    targetName: `bledfu-sim-${j % DEVICES}`, packageSha256: 'ab'.repeat(32), packageBytes: 102_400,
    images: [{ kind: 'application', size: 102_400, fwVersion: 2, sdReq: [0x100], sha256: 'cd'.repeat(32) }], requester: `ipv4:127.0.0.1:${40_000 + (j % 20_000)}`,
  });
}
function endLine(j: number): string {
  const result = RESULTS[j % RESULTS.length] ?? 'failed';
  return JSON.stringify({
    v: 1, type: 'end', time: new Date(t0 + j * 60_000 + 30_000).toISOString(), jobId: `job-${j}`, result, deviceAddress: address(j % DEVICES), durationMs: 30_000,
    bytesSent: 102_400, bytesTotal: 102_400,
    ...(result === 'failed' ? { errorCode: 'DFU_REMOTE_ERROR', errorMessage: `the device refused the firmware ${padding}`, dfuResult: 'EXTENDED_ERROR', dfuExtendedError: 'FW_VERSION_FAILURE' } : {}),
    ...(result === 'succeeded' ? { firmwareRevision: `2.0.0 ${padding}`, deviceState: 'application' } : {}),
  });
}

/** Writes jobs until the record count (or, with --gb, the byte count) is reached; returns the job count. */
function generate(path: string): number {
  const fd = openSync(path, 'w');
  const wantRecords = Number(process.env.BENCH_AUDIT_RECORDS ?? 200_000);
  let bytes = 0;
  let jobs = 0;
  let chunk: string[] = [];
  const flush = (): void => {
    const b = Buffer.from(chunk.join(''), 'utf8');
    writeSync(fd, b);
    bytes += b.length;
    chunk = [];
  };
  while (gb ? bytes < GiB : jobs * 2 < wantRecords) {
    chunk.push(`${startLine(jobs)}\n`, `${endLine(jobs)}\n`);
    jobs++;
    if (chunk.length >= 20_000) flush();
  }
  flush();
  closeSync(fd);
  return jobs;
}

/** CPU time (user + system) since `from`: steadier than wall time on a busy machine. */
const cpuMs = (from: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
};
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
/** JS heap plus buffers: what the log holds, steadier than RSS (which keeps freed pages). */
const held = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};
const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;
let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 5);

const dir = mkdtempSync(join(tmpdir(), 'bledfu-audit-bench-'));
try {
  const path = join(dir, 'audit.jsonl');
  const jobs = generate(path);
  console.log(`\naudit log: ${jobs * 2} records (${jobs} jobs, ${DEVICES} devices), ${mb(statSync(path).size)} in one file${gb ? ' (--gb)' : ''}`);

  gc();
  const rssBefore = process.memoryUsage().rss;
  const heldBefore = held();
  peak = rssBefore;
  let started = performance.now();
  let cpu = process.cpuUsage();
  let log: AuditLog;
  try {
    // The first start of a history no index file covers (a log written by an older server).
    log = AuditLog.open(path, { now: () => t0 + jobs * 60_000 + 60_000 }).log;
  } catch (e) {
    console.log(`  start                 FAILED after ${(performance.now() - started).toFixed(0)} ms: ${(e as Error).message.slice(0, 200)}`);
    process.exitCode = 1;
    throw e;
  }
  const openMs = performance.now() - started;
  const openCpuMs = cpuMs(cpu);
  const rssOpened = process.memoryUsage().rss; // open is synchronous: the sampler could not run meanwhile
  gc();
  console.log(`  first start (index)   ${openMs.toFixed(0)} ms (CPU ${openCpuMs.toFixed(0)} ms); heap+buffers +${mb(held() - heldBefore)} held after; RSS +${mb(process.memoryUsage().rss - rssBefore)}, +${mb(Math.max(peak, rssOpened) - rssBefore)} right after opening`);

  const pages: readonly (readonly [string, AuditQuery])[] = [
    ['first page (100)', {}],
    ['middle page (100)', { offset: jobs / 2 }],
    ['last page (1000)', { offset: jobs - 1000, limit: 1000 }],
    ['one device (100)', { deviceAddress: address(7).toLowerCase() }],
    ['failed only (1000)', { result: 'failed', limit: 1000 }],
    ['since, 2nd half (100)', { since: t0 + (jobs / 2) * 60_000 }],
  ];
  for (const [label, q] of pages) {
    await log.query(q); // warm
    gc();
    const base = process.memoryUsage().rss;
    peak = base;
    const runs = 5;
    started = performance.now();
    cpu = process.cpuUsage();
    let got = 0;
    for (let i = 0; i < runs; i++) got = (await log.query(q)).entries.length;
    const ms = (performance.now() - started) / runs;
    const pageCpu = cpuMs(cpu) / runs;
    console.log(`  ${label.padEnd(22)}${ms.toFixed(2).padStart(9)} ms/page (CPU ${pageCpu.toFixed(2)} ms), ${got} entries; RSS peak +${mb(Math.max(peak, process.memoryUsage().rss) - base)}`);
  }

  gc();
  const base = process.memoryUsage().rss;
  peak = base;
  started = performance.now();
  await Promise.all(Array.from({ length: 10 }, (_, i) => log.query({ offset: (i * jobs) / 10, limit: 1000 })));
  console.log(`  10 concurrent (1000)  ${(performance.now() - started).toFixed(1).padStart(9)} ms all; RSS peak +${mb(Math.max(peak, process.memoryUsage().rss) - base)}`);

  log.close();
  // A restart: what an upgraded or long-running server meets (the first start wrote index files).
  gc();
  const rssRestart = process.memoryUsage().rss;
  const heldRestart = held();
  started = performance.now();
  cpu = process.cpuUsage();
  const reopened = AuditLog.open(path, { now: () => t0 + jobs * 60_000 + 60_000 });
  const restartMs = performance.now() - started;
  const restartCpuMs = cpuMs(cpu);
  const rssReopened = process.memoryUsage().rss;
  log = reopened.log;
  gc();
  console.log(`  restart               ${restartMs.toFixed(0)} ms (CPU ${restartCpuMs.toFixed(0)} ms); heap+buffers +${mb(held() - heldRestart)} held after; RSS +${mb(process.memoryUsage().rss - rssRestart)}, +${mb(rssReopened - rssRestart)} right after opening (${log.files.length} log file(s))`);

  started = performance.now();
  for (let i = 0; i < 100; i++) {
    log.append({ v: 1, type: 'start', time: new Date(t0 + (jobs + i) * 60_000).toISOString(), jobId: `more-${i}`, adapterId: 'sim0', packageSha256: 'ab', packageBytes: 1, images: [] });
  }
  console.log(`  append (fsync'd)      ${((performance.now() - started) / 100).toFixed(2).padStart(9)} ms/record`);
  log.close();
} finally {
  clearInterval(sampler);
  rmSync(dir, { recursive: true, force: true });
}
