import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AuditResult } from '../../../proto/gen/bledfu/v1/audit.js';
import { DeviceState, DfuProtocol } from '../../../proto/gen/bledfu/v1/dfu.js';
import { parseAddress } from '../../../server/ble/address.js';
import { BledfuError } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';
import { createJobAudit } from '../../../server/audit/jobAudit.js';
import { AuditLog } from '../../../server/audit/log.js';
import { parseRecord, type AuditStartRecord } from '../../../server/audit/records.js';
import { DEFAULT_DFU_OPTIONS } from '../../../server/dfu/types.js';
import { JobManager } from '../../../server/jobs/manager.js';
import { listAuditRecords } from '../../../server/rpc/audit.js';
import type { JobRequester, JobSnapshot } from '../../../server/jobs/types.js';
import { FakeAdapter } from '../../helpers/fake-adapter.js';
import { ControlledRunner, fakePackage, progress } from '../../helpers/fake-adapter-runner.js';
import { fakeLegacyPackage } from '../../helpers/fake-legacy-package.js';

const dir = mkdtempSync(join(tmpdir(), 'bledfu-audit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(dir, `sub${++n}`, 'audit.jsonl');
const lines = (path: string): unknown[] => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);

function start(jobId: string, address: string, time = '2026-01-01T00:00:00.000Z'): AuditStartRecord {
  return { v: 1, type: 'start', time, jobId, adapterId: 'sim0', deviceAddress: address, packageSha256: 'ab'.repeat(32), packageBytes: 10, images: [{ kind: 'application', size: 10, fwVersion: 3, sdReq: [], sha256: 'cd'.repeat(32) }] };
}

describe('AuditLog', () => {
  it('creates its directory and file, appends records as lines, and pairs starts with ends in queries', async () => {
    const path = freshPath();
    const { log, recovery } = AuditLog.open(path);
    assert.deepEqual(recovery, { interrupted: [], damaged: [], damagedCount: 0 });
    log.append(start('j1', 'AA:00:00:00:00:01'));
    log.append(start('j2', 'AA:00:00:00:00:02'));
    log.append({ v: 1, type: 'end', time: '2026-01-01T00:01:00.000Z', jobId: 'j1', result: 'succeeded', durationMs: 60_000, bytesSent: 10, bytesTotal: 10 });
    const all = await log.query({});
    assert.deepEqual(all.entries.map((e) => [e.start.jobId, e.end?.result]), [['j1', 'succeeded'], ['j2', undefined]]);
    assert.deepEqual((await log.query({ deviceAddress: 'aa:00:00:00:00:02' })).entries.map((e) => e.start.jobId), ['j2']);
    assert.deepEqual((await log.query({ result: 'running' })).entries.map((e) => e.start.jobId), ['j2']);
    assert.deepEqual((await log.query({ result: 'succeeded' })).entries.map((e) => e.start.jobId), ['j1']);
    log.close();
  });

  it('filters by start time and pages with an offset', async () => {
    const path = freshPath();
    const { log } = AuditLog.open(path);
    for (let i = 0; i < 5; i++) log.append(start(`j${i}`, 'AA:00:00:00:00:01', `2026-01-0${i + 1}T00:00:00.000Z`));
    const since = await log.query({ since: Date.parse('2026-01-03T00:00:00Z') });
    assert.deepEqual(since.entries.map((e) => e.start.jobId), ['j2', 'j3', 'j4']);
    const first = await log.query({ limit: 2 });
    assert.deepEqual([first.entries.map((e) => e.start.jobId), first.nextOffset], [['j0', 'j1'], 2]);
    const last = await log.query({ limit: 2, offset: 4 });
    assert.deepEqual([last.entries.map((e) => e.start.jobId), last.nextOffset], [['j4'], undefined]);
    log.close();
  });

  it('on reopening, ends every job that started but never ended as INTERRUPTED, durably, once', async () => {
    const path = freshPath();
    const first = AuditLog.open(path).log;
    first.append(start('done', 'AA:00:00:00:00:01'));
    first.append({ v: 1, type: 'end', time: '2026-01-01T00:01:00.000Z', jobId: 'done', result: 'failed', durationMs: 5, bytesSent: 0, bytesTotal: 10, errorCode: 'DFU_REMOTE_ERROR' });
    first.append(start('lost', 'AA:00:00:00:00:02'));
    first.close();
    const now = Date.parse('2026-02-01T00:00:00Z');
    const { log, recovery } = AuditLog.open(path, { now: () => now });
    assert.deepEqual(recovery.interrupted.map((r) => [r.jobId, r.result, r.deviceAddress, r.time]), [['lost', 'interrupted', 'AA:00:00:00:00:02', '2026-02-01T00:00:00.000Z']]);
    assert.deepEqual(lines(path).at(-1), recovery.interrupted[0], 'the interrupted end record is in the file');
    assert.equal((await log.query({ result: 'interrupted' })).entries[0]?.start.jobId, 'lost');
    log.close();
    assert.deepEqual(AuditLog.open(path).recovery.interrupted, [], 'a second restart finds nothing left open');
  });

  it('drops a torn last line (a crash mid-append), reports it, and keeps appending on a clean line', async () => {
    const path = freshPath();
    const { log: first } = AuditLog.open(path);
    first.append(start('j1', 'AA:00:00:00:00:01'));
    first.close();
    appendFileSync(path, '{"v":1,"type":"end","jobId":"j1","res');
    const { log, recovery } = AuditLog.open(path);
    assert.deepEqual(recovery.damaged.map((d) => [d.line, d.kind]), [[2, 'torn']]);
    assert.match(recovery.damaged[0]?.excerpt ?? '', /^\{"v":1,"type":"end"/);
    assert.deepEqual(recovery.interrupted.map((r) => r.jobId), ['j1'], 'the torn end never counted');
    const records = readFileSync(path, 'utf8').split('\n');
    assert.equal(records.at(-1), '', 'the file ends with a newline');
    assert.ok(records.slice(0, -1).every((l) => parseRecord(l) !== undefined), 'every line left is a record');
    log.close();
  });

  it('reports an unreadable line in the middle and skips it, keeping the records around it', async () => {
    const path = freshPath();
    const { log: first } = AuditLog.open(path);
    first.close();
    writeFileSync(path, `${JSON.stringify(start('j1', 'AA:00:00:00:00:01'))}\nnot json\n${JSON.stringify(start('j2', 'AA:00:00:00:00:02'))}\n`);
    const { log, recovery } = AuditLog.open(path);
    assert.deepEqual(recovery.damaged, [{ line: 2, kind: 'unreadable', excerpt: 'not json' }]);
    assert.deepEqual((await log.query({})).entries.map((e) => e.start.jobId), ['j1', 'j2']);
    log.close();
  });

  it('refuses a path it cannot write with a BledfuError naming a remedy', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    assert.throws(() => AuditLog.open(join(file, 'audit.jsonl')), (e: unknown) => e instanceof BledfuError && e.code === 'INVALID_ARGUMENT' && /audit-log/.test(e.remedy ?? ''));
  });
});

describe('JobManager with an audit log', () => {
  it('writes the start before the runner runs and the end before the job is reported ended', async () => {
    const path = freshPath();
    const { log } = AuditLog.open(path);
    const runner = new ControlledRunner();
    const real = createJobAudit(log);
    let stateWhenRecorded: string | undefined;
    const audit = { jobStarted: (j: JobSnapshot, r: JobRequester | undefined) => { stateWhenRecorded = j.state; real.jobStarted(j, r); }, jobEnded: (j: JobSnapshot) => real.jobEnded(j) };
    const manager = new JobManager({ runner: runner.run, logger: silentLogger(), maxConcurrentPerAdapter: 1, retainFinished: 10, audit });
    const adapter = new FakeAdapter();
    const job = manager.create({ pkg: fakePackage(), target: { kind: 'address', address: parseAddress('F0:12:34:56:78:9A') }, options: DEFAULT_DFU_OPTIONS, adapter, requester: { identity: 'alice', peer: 'ipv4:127.0.0.1:5555' } });
    assert.equal(stateWhenRecorded, 'queued', 'the start was recorded before the job announced it started');
    const call = await runner.call(0);
    const started = lines(path);
    assert.equal(started.length, 1, 'the start record is on disk once the runner is called');
    assert.deepEqual(started[0], {
      v: 1, type: 'start', time: (started[0] as { time: string }).time, jobId: job.id, adapterId: adapter.id, deviceAddress: 'F0:12:34:56:78:9A',
      packageSha256: 'ab'.repeat(32), packageBytes: 1000,
      images: [{ kind: 'application', size: 1000, fwVersion: 1, hwVersion: 52, sdReq: [0x100], sha256: '00'.repeat(32) }],
      requester: 'alice',
      peer: 'ipv4:127.0.0.1:5555',
      protocol: 'secure',
    });
    let linesWhenFinished = 0;
    const watch = manager.watch(job.id, new AbortController().signal);
    const watched = (async () => {
      for await (const e of watch) if (e.kind === 'finished') linesWhenFinished = lines(path).length;
    })();
    call.emit(progress(400, 1000));
    call.fail(new BledfuError('DFU_REMOTE_ERROR', 'the device refused', { layer: 'dfu', facts: { dfuResultName: 'EXTENDED_ERROR', dfuExtendedName: 'FW_VERSION_FAILURE' } }));
    await manager.whenDone(job.id);
    await watched;
    assert.equal(linesWhenFinished, 2, 'the end record was on disk when watchers heard of the end');
    const end = lines(path)[1] as Record<string, unknown>;
    assert.deepEqual(
      [end['result'], end['errorCode'], end['dfuResult'], end['dfuExtendedError'], end['bytesSent'], end['bytesTotal'], typeof end['durationMs'], end['protocol']],
      ['failed', 'DFU_REMOTE_ERROR', 'EXTENDED_ERROR', 'FW_VERSION_FAILURE', 400, 1000, 'number', 'secure'],
    );
    log.close();
  });

  it("a succeeded job's end record says where the device ended, and ListAuditRecords maps it", async () => {
    const path = freshPath();
    const { log } = AuditLog.open(path);
    const runner = new ControlledRunner();
    const manager = new JobManager({ runner: runner.run, logger: silentLogger(), maxConcurrentPerAdapter: 1, retainFinished: 10, audit: createJobAudit(log) });
    const job = manager.create({ pkg: fakePackage(), target: { kind: 'address', address: parseAddress('F0:12:34:56:78:9A') }, options: DEFAULT_DFU_OPTIONS, adapter: new FakeAdapter() });
    const call = await runner.call(0);
    call.succeed({ deviceState: 'dfu-mode' });
    await manager.whenDone(job.id);
    assert.equal(manager.get(job.id).result?.deviceState, 'dfu-mode');
    const end = lines(path)[1] as Record<string, unknown>;
    assert.deepEqual([end['result'], end['deviceState'], end['firmwareRevision']], ['succeeded', 'dfu-mode', undefined]);
    const page = await listAuditRecords(log, { deviceAddress: '', since: undefined, result: AuditResult.AUDIT_RESULT_UNSPECIFIED, pageSize: 0, pageToken: '', labels: {}, targetName: '', campaignId: '' });
    assert.equal(page.records[0]?.deviceState, DeviceState.DEVICE_STATE_DFU_MODE);
    log.close();
  });

  it("a legacy package's job is recorded as protocol legacy in both records; a record without the field (an older server) reads as unspecified", async () => {
    const path = freshPath();
    // A job of an older server: no protocol in either record (a minute ago: the log keeps recent records).
    AuditLog.open(path).log.close();
    const before = new Date(Date.now() - 60_000).toISOString();
    writeFileSync(
      path,
      `${JSON.stringify({ v: 1, type: 'start', time: before, jobId: 'old', adapterId: 'fake0', packageSha256: 'cd'.repeat(32), packageBytes: 10, images: [] })}\n` +
        `${JSON.stringify({ v: 1, type: 'end', time: before, jobId: 'old', result: 'succeeded', bytesTotal: 10 })}\n`,
    );
    const { log } = AuditLog.open(path);
    const runner = new ControlledRunner();
    const manager = new JobManager({ runner: runner.run, logger: silentLogger(), maxConcurrentPerAdapter: 1, retainFinished: 10, audit: createJobAudit(log) });
    const pkg = fakeLegacyPackage();
    const job = manager.create({ pkg, target: { kind: 'address', address: parseAddress('F0:12:34:56:78:9A') }, options: DEFAULT_DFU_OPTIONS, adapter: new FakeAdapter() });
    (await runner.call(0)).succeed();
    await manager.whenDone(job.id);
    const [start, end] = lines(path).slice(2) as Record<string, unknown>[];
    assert.deepEqual([start?.['protocol'], end?.['protocol']], ['legacy', 'legacy']);
    const page = await listAuditRecords(log, { deviceAddress: '', since: undefined, result: AuditResult.AUDIT_RESULT_UNSPECIFIED, pageSize: 0, pageToken: '', labels: {}, targetName: '', campaignId: '' });
    assert.deepEqual(
      page.records.map((r) => [r.jobId, r.protocol]),
      [
        ['old', DfuProtocol.DFU_PROTOCOL_UNSPECIFIED],
        [job.id, DfuProtocol.DFU_PROTOCOL_LEGACY],
      ],
    );
    log.close();
  });

  it('fails a job whose start cannot be recorded, without running it', async () => {
    const runner = new ControlledRunner();
    const failing = { jobStarted: () => { throw new BledfuError('INTERNAL', 'disk full', { layer: 'jobs' }); }, jobEnded: () => undefined };
    const manager = new JobManager({ runner: runner.run, logger: silentLogger(), maxConcurrentPerAdapter: 1, retainFinished: 10, audit: failing });
    const job = manager.create({ pkg: fakePackage(), target: { kind: 'address', address: parseAddress('F0:12:34:56:78:9A') }, options: DEFAULT_DFU_OPTIONS, adapter: new FakeAdapter() });
    await manager.whenDone(job.id);
    assert.equal(manager.get(job.id).state, 'failed');
    assert.equal(manager.get(job.id).result?.error?.message, 'disk full');
    assert.equal(runner.calls.length, 0);
  });
});
