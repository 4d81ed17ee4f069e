/**
 * The audit log at scale (issue 12, item 5): rotation by size and by age into files that stay
 * queryable, paging and filters across them, an index built once and kept by appends (a page
 * reads only its own lines), and a start that survives a large or damaged history.
 */
import assert from 'node:assert/strict';
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AuditLog, indexFileOf, MAX_REPORTED_DAMAGED, type AuditLogOptions } from '../../../server/audit/log.js';
import { parseRecord, type AuditEndRecord, type AuditQuery, type AuditStartRecord } from '../../../server/audit/records.js';
import { isBledfuError } from '../../../server/common/errors.js';
import { clockAt } from '../../helpers/manualClock.js';

const dir = mkdtempSync(join(tmpdir(), 'bledfu-audit-scale-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => {
  const sub = join(dir, `s${++n}`);
  mkdirSync(sub);
  return join(sub, 'audit.jsonl');
};

const T0 = Date.parse('2026-03-01T00:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();
const address = (d: number): string => `AA:00:00:00:00:${d.toString(16).padStart(2, '0').toUpperCase()}`;

function start(jobId: string, device: number, time: number): AuditStartRecord {
  return { v: 1, type: 'start', time: iso(time), jobId, adapterId: 'sim0', deviceAddress: address(device), packageSha256: 'ab'.repeat(32), packageBytes: 10, images: [{ kind: 'application', size: 10, sdReq: [], sha256: 'cd'.repeat(32) }] };
}
function end(jobId: string, result: AuditEndRecord['result'], time: number): AuditEndRecord {
  return { v: 1, type: 'end', time: iso(time), jobId, result, durationMs: 1, bytesSent: 10, bytesTotal: 10 };
}

/** Every page of `q`, following the tokens; returns the job ids in order. */
async function allPages(log: AuditLog, q: AuditQuery, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let offset: number | undefined = 0;
  for (let pages = 0; offset !== undefined; pages++) {
    assert.ok(pages < 10_000, 'paging ends');
    const page = await log.query({ ...q, limit, offset });
    assert.ok(page.entries.length <= limit);
    ids.push(...page.entries.map((e) => e.start.jobId));
    offset = page.nextOffset;
  }
  return ids;
}

const RESULTS = ['succeeded', 'failed', 'cancelled'] as const;

/** 60 jobs on 4 devices; each job's end is written after the next job's start, so pairs straddle rotations. */
function fill(log: AuditLog, jobs = 60): void {
  for (let j = 0; j < jobs; j++) {
    log.append(start(`j${j}`, j % 4, T0 + j * 1000));
    if (j > 0) log.append(end(`j${j - 1}`, RESULTS[(j - 1) % 3] ?? 'failed', T0 + j * 1000 + 1));
  }
}

describe('AuditLog rotation and paging across files', () => {
  it('rotates by size into <path>.1, .2, … (none past the bound) and pages and filters across every file', async () => {
    const path = freshPath();
    const options: AuditLogOptions = { rotateBytes: 2048, rotateAgeMs: 0 };
    const { log } = AuditLog.open(path, undefined, options);
    fill(log);
    const files = log.files;
    assert.ok(files.length >= 5, `rotated into several files (${files.length})`);
    assert.deepEqual(files.slice(0, -1).map((f) => basename(f)), files.slice(0, -1).map((_, i) => `audit.jsonl.${i + 1}`), 'numbered from 1, oldest first');
    assert.equal(files.at(-1), path, 'the active file keeps the configured path');
    for (const f of files) assert.ok(statSync(f).size <= 2048, `${basename(f)} within the size bound`);
    const lines = files.flatMap((f) => readFileSync(f, 'utf8').trim().split('\n'));
    assert.equal(lines.length, 119, 'every record is in exactly one file');

    const every = Array.from({ length: 60 }, (_, j) => `j${j}`);
    assert.deepEqual(await allPages(log, {}, 7), every, 'pages of 7 walk every job once, in order, across files');
    assert.deepEqual(await allPages(log, { deviceAddress: address(1).toLowerCase() }, 4), every.filter((_, j) => j % 4 === 1));
    assert.deepEqual(await allPages(log, { result: 'failed' }, 3), every.filter((_, j) => j < 59 && j % 3 === 1));
    assert.deepEqual(await allPages(log, { result: 'running' }, 3), ['j59']);
    assert.deepEqual(await allPages(log, { since: T0 + 50_000, result: 'succeeded' }, 2), every.filter((_, j) => j >= 50 && j < 59 && j % 3 === 0));
    const straddling = (await log.query({ offset: 0, limit: 60 })).entries.filter((e) => e.end !== undefined);
    assert.equal(straddling.length, 59, 'every ended job is paired with its end, whichever file holds it');
    assert.ok(straddling.every((e) => e.end?.jobId === e.start.jobId));
    log.close();

    const reopened = AuditLog.open(path, undefined, options);
    assert.deepEqual(reopened.recovery.interrupted.map((r) => r.jobId), ['j59'], 'the open job is closed across a restart');
    assert.deepEqual(await allPages(reopened.log, {}, 11), every, 'a restart indexes the rotated files again');
    assert.equal((await reopened.log.query({ result: 'interrupted' })).entries[0]?.end?.jobId, 'j59');
    const known = reopened.log.files.length; // the interrupted end may have rotated already
    reopened.log.append(start('x'.repeat(1500), 0, T0 + 100_000));
    assert.equal(basename(reopened.log.files.at(-2) ?? ''), `audit.jsonl.${known}`, 'numbering continues after a restart');
    reopened.log.close();
  });

  it("rotates by age on the records' clock: the file is renamed once a record comes that much later than its first", async () => {
    const path = freshPath();
    let now = T0;
    const clock = clockAt(() => now);
    const hour = 3_600_000;
    const { log } = AuditLog.open(path, clock, { rotateBytes: 1024 * 1024, rotateAgeMs: 24 * hour });
    const at = (jobId: string): void => log.append(start(jobId, 0, clock.now()));
    at('a');
    now += 23 * hour;
    at('b');
    assert.equal(log.files.length, 1, 'younger than the age: no rotation');
    now += hour;
    at('c');
    assert.deepEqual(log.files.map((f) => basename(f)), ['audit.jsonl.1', 'audit.jsonl']);
    assert.deepEqual(readFileSync(`${path}.1`, 'utf8').trim().split('\n').map((l) => parseRecord(l)?.jobId), ['a', 'b']);
    now += 23 * hour;
    at('d');
    assert.equal(log.files.length, 2, "the new file's age starts at its own first record");
    log.close();
    // The age of the active file survives a restart: it is its first record's time.
    const reopened = AuditLog.open(path, clock, { rotateBytes: 1024 * 1024, rotateAgeMs: 24 * hour }).log;
    now += hour;
    reopened.append(start('e', 0, clock.now()));
    assert.deepEqual(reopened.files.map((f) => basename(f)), ['audit.jsonl.1', 'audit.jsonl.2', 'audit.jsonl']);
    assert.deepEqual((await reopened.query({})).entries.map((e) => e.start.jobId), ['a', 'b', 'c', 'd', 'e']);
    reopened.close();
  });

  it('keeps page tokens stable while jobs are appended: the next page neither repeats nor skips', async () => {
    const path = freshPath();
    const { log } = AuditLog.open(path, undefined, { rotateBytes: 4096, rotateAgeMs: 0 });
    for (let j = 0; j < 10; j++) log.append(start(`j${j}`, j % 2, T0 + j));
    const first = await log.query({ deviceAddress: address(1), limit: 3 });
    assert.deepEqual(first.entries.map((e) => e.start.jobId), ['j1', 'j3', 'j5']);
    for (let j = 10; j < 40; j++) log.append(start(`j${j}`, j % 2, T0 + j));
    const second = await log.query({ deviceAddress: address(1), limit: 3, offset: first.nextOffset ?? -1 });
    assert.deepEqual(second.entries.map((e) => e.start.jobId), ['j7', 'j9', 'j11']);
    log.close();
  });

  it('a job that ends while its page is being read shows on that page as it was when asked', async () => {
    const path = freshPath();
    const { log } = AuditLog.open(path);
    log.append(start('r1', 0, T0));
    log.append(start('r2', 0, T0 + 1));
    const pending = log.query({});
    log.append(end('r1', 'succeeded', T0 + 2));
    assert.deepEqual((await pending).entries.map((e) => [e.start.jobId, e.end?.jobId]), [['r1', undefined], ['r2', undefined]]);
    assert.deepEqual((await log.query({})).entries.map((e) => [e.start.jobId, e.end?.result]), [['r1', 'succeeded'], ['r2', undefined]]);
    log.close();
  });

  it('reads only the lines of the page asked for (a line elsewhere changed on disk does not matter; its own page reports it)', async () => {
    const path = freshPath();
    const { log } = AuditLog.open(path);
    for (let j = 0; j < 50; j++) log.append(start(`j${j}`, 0, T0 + j));
    // Overwrite job 40's line in place (same length) behind the server's back.
    const text = readFileSync(path, 'utf8');
    const at = text.indexOf('"jobId":"j40"');
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from('#'.repeat(10)), 0, 10, Buffer.byteLength(text.slice(0, at), 'utf8'));
    closeSync(fd);
    assert.deepEqual((await log.query({ limit: 10 })).entries.map((e) => e.start.jobId), Array.from({ length: 10 }, (_, j) => `j${j}`));
    await assert.rejects(log.query({ offset: 35, limit: 10 }), (e: unknown) => isBledfuError(e) && e.code === 'INTERNAL' && /changed under the server/.test(e.message) && /restart/.test(e.remedy ?? ''));
    log.close();
  });
});

describe('AuditLog startup with a large or damaged history', () => {
  it('indexes a log of many chunks (lines across chunk boundaries) whole', async () => {
    const path = freshPath();
    const pad = 'p'.repeat(700);
    const lines: string[] = [];
    for (let j = 0; j < 6000; j++) {
      lines.push(JSON.stringify({ ...start(`j${j}`, j % 7, T0 + j), targetName: `${pad}${j}` }));
      if (j < 5995) lines.push(JSON.stringify(end(`j${j}`, 'succeeded', T0 + j)));
    }
    appendFileSync(path, `${lines.join('\n')}\n`);
    assert.ok(statSync(path).size > 4 * 1024 * 1024, 'several 1 MiB read chunks');
    const { log, recovery } = AuditLog.open(path, undefined, { rotateAgeMs: 0 });
    assert.equal(recovery.damagedCount, 0);
    assert.equal(log.jobCount, 6000);
    assert.deepEqual(recovery.interrupted.map((r) => r.jobId), ['j5995', 'j5996', 'j5997', 'j5998', 'j5999'], 'every start and end found');
    const page = await log.query({ offset: 5990, limit: 20 });
    assert.deepEqual(
      page.entries.map((e) => [e.start.jobId, e.start.targetName, e.end?.result]),
      Array.from({ length: 10 }, (_, i) => [`j${5990 + i}`, `${pad}${5990 + i}`, i < 5 ? 'succeeded' : 'interrupted']),
    );
    assert.equal((await log.query({ result: 'succeeded' })).entries.length, 100);
    log.close();
  });

  it('skips a line longer than a record may be (reported with an excerpt) and removes a huge torn tail, without failing to start', async () => {
    const path = freshPath();
    const huge = JSON.stringify({ ...start('huge', 1, T0 + 1), targetName: 'N'.repeat(3 * 1024 * 1024) });
    appendFileSync(path, `${JSON.stringify(start('a', 0, T0))}\n${huge}\n${JSON.stringify(end('a', 'succeeded', T0 + 2))}\n`);
    appendFileSync(path, `{"v":1,"type":"start","targetName":"${'T'.repeat(2 * 1024 * 1024)}`);
    const { log, recovery } = AuditLog.open(path, undefined, { maxRecordBytes: 64 * 1024 });
    assert.deepEqual(recovery.damaged.map((d) => [d.line, d.kind, d.file]), [[2, 'oversized', undefined], [4, 'torn', undefined]]);
    assert.ok(recovery.damaged.every((d) => d.excerpt.length <= 80));
    assert.match(recovery.damaged[0]?.excerpt ?? '', /^\{"v":1,"type":"start"/);
    assert.deepEqual(recovery.interrupted, [], 'the oversized start is not a job');
    assert.deepEqual((await log.query({})).entries.map((e) => [e.start.jobId, e.end?.result]), [['a', 'succeeded']]);
    const size = statSync(path).size;
    assert.equal(readFileSync(path, 'utf8').at(-1), '\n', 'the torn tail is gone');
    log.append(start('b', 0, T0 + 3));
    assert.deepEqual((await log.query({})).entries.map((e) => e.start.jobId), ['a', 'b']);
    assert.ok(statSync(path).size > size);
    log.close();
  });

  it('reports the first damaged lines one by one and counts them all', () => {
    const path = freshPath();
    appendFileSync(path, `${'garbage\n'.repeat(MAX_REPORTED_DAMAGED + 50)}${JSON.stringify(start('a', 0, T0))}\n`);
    const { log, recovery } = AuditLog.open(path);
    assert.equal(recovery.damaged.length, MAX_REPORTED_DAMAGED);
    assert.equal(recovery.damagedCount, MAX_REPORTED_DAMAGED + 50);
    assert.equal(log.jobCount, 1);
    log.close();
  });

  it('cuts long strings of a record it writes so that it fits, and reads it back', async () => {
    const path = freshPath();
    const { log } = AuditLog.open(path, undefined, { maxRecordBytes: 8192 });
    log.append({ ...start('long', 0, T0), targetName: 'n'.repeat(1024 * 1024), requester: 'r'.repeat(20_000) });
    log.append({ ...end('long', 'failed', T0 + 1), errorMessage: 'e'.repeat(50_000) });
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    assert.ok(lines.every((l) => Buffer.byteLength(l) < 8192), 'every line within the bound');
    const [entry] = (await log.query({})).entries;
    assert.match(entry?.start.targetName ?? '', /^n{256}… \(cut from 1048576 characters\)$/);
    assert.match(entry?.end?.errorMessage ?? '', /^e{256}… \(cut from 50000 characters\)$/);
    assert.equal(entry?.end?.result, 'failed');
    log.close();
    assert.deepEqual(AuditLog.open(path, undefined, { maxRecordBytes: 8192 }).recovery.damaged, [], 'and a restart reads it whole');
  });

  it('a rotated file left with a cut last line is reported, not changed; a missing active file is created', async () => {
    const path = freshPath();
    appendFileSync(`${path}.1`, `${JSON.stringify(start('a', 0, T0))}\n{"v":1,"ty`);
    const { log, recovery } = AuditLog.open(path);
    assert.ok(existsSync(path));
    assert.deepEqual(recovery.damaged.map((d) => [d.line, d.kind, d.file]), [[2, 'unreadable', `${path}.1`]]);
    assert.match(readFileSync(`${path}.1`, 'utf8'), /\{"v":1,"ty$/);
    assert.deepEqual(recovery.interrupted.map((r) => r.jobId), ['a'], 'its open job is closed in the active file');
    assert.equal(parseRecord(readFileSync(path, 'utf8').trim())?.jobId, 'a');
    assert.deepEqual((await log.query({})).entries.map((e) => [e.start.jobId, e.end?.result]), [['a', 'interrupted']]);
    log.close();
  });
});

describe('AuditLog index files (<file>.idx): a restart replays them instead of parsing the history', () => {
  const ids = async (log: AuditLog): Promise<string[]> => allPages(log, {}, 50);

  it('a restart does not parse lines its index file covers, and reads the lines after them', async () => {
    const path = freshPath();
    const first = AuditLog.open(path, undefined, { rotateBytes: 2048, rotateAgeMs: 0 }).log;
    fill(first, 20);
    first.close();
    for (const f of first.files) assert.ok(existsSync(indexFileOf(f)), `${basename(f)} has its index file`);
    // Lines added while the server was down (the index file does not cover them yet) are read.
    appendFileSync(path, `${JSON.stringify(end('j19', 'succeeded', T0 + 99_000))}\n${JSON.stringify(start('late', 3, T0 + 100_000))}\n`);
    // A covered line damaged in place is not parsed again at the restart (only its page notices).
    const victim = first.files[0] as string;
    const text = readFileSync(victim, 'utf8');
    const fd = openSync(victim, 'r+');
    writeSync(fd, Buffer.from('#'), 0, 1, Buffer.byteLength(text.slice(0, text.indexOf('"jobId":"j0"')), 'utf8'));
    closeSync(fd);
    const { log, recovery } = AuditLog.open(path, undefined, { rotateBytes: 2048, rotateAgeMs: 0 });
    assert.deepEqual(recovery.damaged, [], 'covered lines were not parsed');
    assert.deepEqual(recovery.interrupted.map((r) => r.jobId), ['late']);
    assert.equal(log.jobCount, 21);
    assert.equal((await log.query({ offset: 19, limit: 1 })).entries[0]?.end?.result, 'succeeded', 'the late end was read and paired');
    await assert.rejects(log.query({ limit: 1 }), (e: unknown) => isBledfuError(e) && /changed under the server/.test(e.message));
    log.close();
  });

  it('uses a cut or damaged index file up to its last good entry, and ignores one of another file or of a rewritten log', async () => {
    const path = freshPath();
    const make = (): AuditLog => AuditLog.open(path, undefined, { rotateAgeMs: 0 }).log;
    const first = make();
    for (let j = 0; j < 10; j++) {
      first.append(start(`a${j}`, 0, T0 + j));
      first.append(end(`a${j}`, 'succeeded', T0 + j));
    }
    first.close();
    const idx = indexFileOf(path);
    const whole = readFileSync(idx);

    // Cut short mid-entry.
    writeFileSync(idx, whole.subarray(0, whole.length - 5));
    let log = make();
    assert.deepEqual(await ids(log), Array.from({ length: 10 }, (_, j) => `a${j}`));
    log.close();
    assert.deepEqual(readFileSync(idx), whole, 'written again, whole');

    // Garbage after the entries.
    writeFileSync(idx, Buffer.concat([whole, Buffer.from([0xff, 0xff, 1, 2, 3])]));
    log = make();
    assert.deepEqual(await ids(log), Array.from({ length: 10 }, (_, j) => `a${j}`));
    log.close();
    assert.deepEqual(readFileSync(idx), whole);

    // Zeroed at its end (a power loss before the page cache reached the disk), or damaged in the
    // middle: used up to the last good entry, the lines after it read from the log again.
    writeFileSync(idx, Buffer.concat([whole, Buffer.alloc(4096)]));
    log = make();
    assert.deepEqual(await ids(log), Array.from({ length: 10 }, (_, j) => `a${j}`));
    log.close();
    assert.deepEqual(readFileSync(idx), whole);
    const damaged = Buffer.from(whole);
    const a5 = damaged.indexOf('a5', 0, 'latin1'); // a byte flipped in the middle entry's job id
    assert.ok(a5 > 0);
    damaged.write('9', a5 + 1, 'latin1');
    writeFileSync(idx, damaged);
    log = make();
    assert.deepEqual(await ids(log), Array.from({ length: 10 }, (_, j) => `a${j}`));
    assert.equal((await log.query({ result: 'succeeded' })).entries.length, 10);
    log.close();

    // The log replaced by another file (another inode) with other records, the old index file left.
    rmSync(path);
    writeFileSync(path, `${JSON.stringify(start('other', 1, T0))}\n${JSON.stringify(end('other', 'failed', T0 + 1))}\n`);
    log = make();
    assert.deepEqual((await log.query({})).entries.map((e) => [e.start.jobId, e.end?.result]), [['other', 'failed']]);
    log.close();

    // The same file rewritten in place (same inode) with different lines: the last entry no longer names its line.
    writeFileSync(path, `${JSON.stringify(start('rewritten', 2, T0))}\n${' '.repeat(400)}\n`);
    log = make();
    assert.deepEqual((await log.query({})).entries.map((e) => e.start.jobId), ['rewritten']);
    log.close();
  });

  it('rotation takes the index file along', () => {
    const path = freshPath();
    const { log } = AuditLog.open(path, undefined, { rotateBytes: 2048, rotateAgeMs: 0 });
    fill(log, 12);
    assert.ok(log.files.length > 1);
    log.close();
    for (const f of log.files) assert.ok(existsSync(indexFileOf(f)), basename(indexFileOf(f)));
    const reopened = AuditLog.open(path, undefined, { rotateBytes: 2048, rotateAgeMs: 0 });
    assert.deepEqual(reopened.recovery.damaged, []);
    assert.equal(reopened.log.jobCount, 12);
    reopened.log.close();
  });
});
