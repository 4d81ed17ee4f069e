import assert from 'node:assert/strict';
import { clockAt } from '../../helpers/manualClock.js';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { parseAddress } from '../../../server/ble/address.js';
import { BledfuError, hasCode } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';
import { DEFAULT_DFU_OPTIONS, type DfuTarget } from '../../../server/dfu/types.js';
import { JobManager, type JobManagerOptions } from '../../../server/jobs/manager.js';
import type { JobEvent, JobState } from '../../../server/jobs/types.js';
import { FakeAdapter } from '../../helpers/fake-adapter.js';
import { ControlledRunner, fakePackage, progress } from '../../helpers/fake-adapter-runner.js';

const TARGET: DfuTarget = { kind: 'address', address: parseAddress('F0:12:34:56:78:9A') };

function setup(overrides: Partial<JobManagerOptions> = {}) {
  const runner = new ControlledRunner();
  const clock = { ms: 1_000_000 };
  let n = 0;
  const manager = new JobManager({
    runner: runner.run,
    logger: silentLogger(),
    maxConcurrentPerAdapter: 1,
    retainFinished: 10,
    clock: clockAt(() => clock.ms),
    newId: () => `job-${++n}`,
    ...overrides,
  });
  const adapter = new FakeAdapter();
  const create = (a = adapter, target = TARGET) => manager.create({ pkg: fakePackage(), target, options: DEFAULT_DFU_OPTIONS, adapter: a });
  return { runner, clock, manager, adapter, create };
}

async function collect(events: AsyncIterable<JobEvent>): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

const states = (events: readonly JobEvent[]): JobState[] =>
  events.flatMap((e) => (e.kind === 'state' ? [e.state] : []));

describe('JobManager state machine', () => {
  it('maps engine phases to job states and ends in exactly one terminal state', async () => {
    const { runner, manager, create } = setup();
    const job = create();
    const watching = collect(manager.watch(job.id, new AbortController().signal));
    const run = await runner.call(0);
    run.emit({ kind: 'phase', phase: 'connecting', detail: 'connecting to F0:12:34:56:78:9A' });
    run.emit({ kind: 'phase', phase: 'entering-bootloader', detail: 'buttonless jump' });
    run.emit({ kind: 'phase', phase: 'transferring', detail: 'sending application' });
    run.emit(progress(500, 1000));
    run.emit({ kind: 'phase', phase: 'resuming', detail: 'link lost, reconnecting' });
    run.emit({ kind: 'phase', phase: 'transferring', detail: 'resumed at 500' });
    run.emit(progress(1000, 1000));
    run.emit({ kind: 'phase', phase: 'activating', detail: 'waiting for reboot' });
    run.succeed({ firmwareRevision: '1.2.3' });
    await manager.whenDone(job.id);
    // A misbehaving runner reporting after the end must not revive the job.
    run.emit({ kind: 'phase', phase: 'transferring', detail: 'late' });

    const events = await watching;
    assert.equal(events[0]?.kind, 'snapshot');
    assert.equal(events.at(-1)?.kind, 'finished');
    // The snapshot already says CONNECTING (the job started at creation); the engine's own
    // connecting phase then only changes the detail.
    assert.equal(events[0]?.kind === 'snapshot' && events[0].job.state, 'connecting');
    assert.deepEqual(states(events), [
      'connecting',
      'entering-bootloader',
      'transferring',
      'resuming',
      'transferring',
      'activating',
      'succeeded',
    ]);
    const final = manager.get(job.id);
    assert.equal(final.state, 'succeeded');
    assert.equal(final.result?.success, true);
    assert.equal(final.result?.firmwareRevision, '1.2.3');
    assert.equal(events.filter((e) => e.kind === 'finished').length, 1);
  });

  it('reports a runner failure as FAILED with the BledfuError', async () => {
    const { runner, manager, create } = setup();
    const job = create();
    (await runner.call(0)).fail(new BledfuError('DEVICE_NOT_FOUND', 'no device F0:12:34:56:78:9A', { layer: 'ble' }));
    await manager.whenDone(job.id);
    const s = manager.get(job.id);
    assert.equal(s.state, 'failed');
    assert.equal(s.result?.success, false);
    assert.equal(s.result?.error?.code, 'DEVICE_NOT_FOUND');
  });

  it('turns an unexpected runner exception into INTERNAL "internal error" without its message', async () => {
    const { runner, manager, create } = setup();
    const job = create();
    (await runner.call(0)).fail(new TypeError('secret internals at 0xdeadbeef'));
    await manager.whenDone(job.id);
    const error = manager.get(job.id).result?.error;
    assert.equal(error?.code, 'INTERNAL');
    assert.equal(error?.message, 'internal error');
  });

  it('records the device address reported by the engine and binds it to the job logger', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const { runner, manager } = setup({ logger: pino({ level: 'info' }, sink) });
    const adapter = new FakeAdapter();
    const job = manager.create({ pkg: fakePackage(), target: { kind: 'name', name: 'DfuTarg' }, options: DEFAULT_DFU_OPTIONS, adapter });
    const run = await runner.call(0);
    run.emit({ kind: 'device', address: parseAddress('F0:00:00:00:00:42') });
    run.context.logger.info('engine line');
    run.succeed({ address: parseAddress('F0:00:00:00:00:42') });
    await manager.whenDone(job.id);
    assert.equal(manager.get(job.id).deviceAddress?.value, 'F0:00:00:00:00:42');
    const engineLine = lines.find((l) => l['msg'] === 'engine line');
    assert.equal(engineLine?.['jobId'], job.id);
    assert.equal(engineLine?.['address'], 'F0:00:00:00:00:42');
  });

  it('computes current rate, average rate and ETA from the injected clock', async () => {
    const { runner, manager, create, clock } = setup();
    const job = create();
    const run = await runner.call(0);
    run.emit(progress(0, 10_000));
    clock.ms += 1000;
    run.emit(progress(1000, 10_000));
    clock.ms += 1000;
    run.emit(progress(2000, 10_000));
    let p = manager.get(job.id).progress;
    assert.equal(p?.currentRate, 1000);
    assert.equal(p?.averageRate, 1000);
    assert.equal(p?.etaMs, 8000);
    // Slower for a while: the current rate follows within the window, the average lags.
    for (let i = 0; i < 4; i++) {
      clock.ms += 1000;
      run.emit(progress(2000 + (i + 1) * 250, 10_000));
    }
    p = manager.get(job.id).progress;
    assert.equal(p?.totalBytesSent, 3000);
    assert.equal(p?.currentRate, 250);
    assert.equal(p?.averageRate, 500);
    assert.equal(p?.etaMs, 28_000);
    run.succeed();
    await manager.whenDone(job.id);
  });

  it('reports the modelled air time between start and end', async () => {
    const { runner, manager, create, adapter } = setup();
    adapter.modelledMs = 500;
    const job = create();
    const run = await runner.call(0);
    adapter.modelledMs = 12_500;
    run.succeed();
    await manager.whenDone(job.id);
    assert.equal(manager.get(job.id).result?.modelledAirTimeMs, 12_000);
  });
});

describe('JobManager concurrency', () => {
  it('queues jobs beyond the per-adapter limit and starts them as slots free up', async () => {
    const { runner, manager, create } = setup({ maxConcurrentPerAdapter: 1 });
    const first = create();
    const second = create();
    assert.equal(first.state, 'connecting');
    assert.equal(second.state, 'queued');
    assert.equal(runner.calls.length, 1);
    // Another adapter has its own slots (for another device: jobs for one device wait for each other).
    const other = create(new FakeAdapter('fake1'), { kind: 'address', address: parseAddress('F0:12:34:56:78:9B') });
    assert.equal(other.state, 'connecting');
    assert.equal(runner.calls.length, 2);

    runner.calls[0]?.succeed();
    await manager.whenDone(first.id);
    const secondRun = await runner.call(2);
    assert.equal(secondRun.context.signal.aborted, false);
    assert.equal(manager.get(second.id).state, 'connecting');
    secondRun.succeed();
    runner.calls[1]?.succeed();
    await manager.whenDone(second.id);
    await manager.whenDone(other.id);
    assert.deepEqual(
      manager.list().map((j) => j.state),
      ['succeeded', 'succeeded', 'succeeded'],
    );
    assert.deepEqual(manager.list({ activeOnly: true }), []);
  });
});

describe('JobManager cancel', () => {
  it('aborts the runner and ends CANCELLED once the runner returned', async () => {
    const { runner, manager, create } = setup();
    const job = create();
    const run = await runner.call(0);
    run.emit({ kind: 'phase', phase: 'transferring', detail: '' });
    const afterCancel = manager.cancel(job.id);
    assert.equal(run.context.signal.aborted, true);
    // Still running until the runner returns: the engine may be leaving the device resumable.
    assert.equal(afterCancel.state, 'transferring');
    await manager.whenDone(job.id);
    const s = manager.get(job.id);
    assert.equal(s.state, 'cancelled');
    assert.equal(s.result?.error?.code, 'CANCELLED');
    // Cancelling again changes nothing.
    assert.equal(manager.cancel(job.id).state, 'cancelled');
  });

  it('cancels a queued job without ever calling the runner for it', async () => {
    const { runner, manager, create } = setup();
    const first = create();
    const queued = create();
    assert.equal(manager.cancel(queued.id).state, 'cancelled');
    runner.calls[0]?.succeed();
    await manager.whenDone(first.id);
    assert.equal(runner.calls.length, 1);
  });

  it('throws JOB_NOT_FOUND for unknown ids', () => {
    const { manager } = setup();
    assert.throws(() => manager.cancel('nope'), (e: unknown) => hasCode(e, 'JOB_NOT_FOUND'));
    assert.throws(() => manager.watch('nope', new AbortController().signal), (e: unknown) => hasCode(e, 'JOB_NOT_FOUND'));
  });

  it('shutdown cancels running and queued jobs, waits for runners and refuses new jobs', async () => {
    const { runner, manager, create } = setup();
    const a = create();
    const b = create();
    await runner.call(0);
    await manager.shutdown();
    assert.equal(manager.get(a.id).state, 'cancelled');
    assert.equal(manager.get(b.id).state, 'cancelled');
    assert.throws(() => create(), (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE'));
  });
});

describe('JobManager watchers', () => {
  it('gives a late watcher the current snapshot, then only the events after it', async () => {
    const { runner, manager, create } = setup();
    const job = create();
    const run = await runner.call(0);
    run.emit({ kind: 'phase', phase: 'transferring', detail: 'sending' });
    run.emit(progress(400, 1000));
    const late = collect(manager.watch(job.id, new AbortController().signal));
    run.emit(progress(800, 1000));
    run.succeed();
    await manager.whenDone(job.id);
    const events = await late;
    const first = events[0];
    assert.equal(first?.kind, 'snapshot');
    if (first?.kind === 'snapshot') {
      assert.equal(first.job.state, 'transferring');
      assert.equal(first.job.progress?.totalBytesSent, 400);
    }
    assert.deepEqual(
      events.slice(1).map((e) => e.kind),
      ['progress', 'state', 'finished'],
    );
  });

  it('gives a watcher of a finished job its snapshot and the finished event', async () => {
    const { runner, manager, create } = setup();
    const job = create();
    (await runner.call(0)).succeed();
    await manager.whenDone(job.id);
    const events = await collect(manager.watch(job.id, new AbortController().signal));
    assert.deepEqual(
      events.map((e) => e.kind),
      ['snapshot', 'finished'],
    );
  });

  it('a watcher that goes away does not affect the job', async () => {
    const { runner, manager, create } = setup();
    const job = create();
    const run = await runner.call(0);
    const stop = new AbortController();
    const iterator = manager.watch(job.id, stop.signal)[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).value?.kind, 'snapshot');
    stop.abort();
    assert.equal((await iterator.next()).done, true);
    assert.equal(run.context.signal.aborted, false);
    run.succeed();
    await manager.whenDone(job.id);
    assert.equal(manager.get(job.id).state, 'succeeded');
  });

  it('keeps a bounded history with progress coalesced', async () => {
    const { runner, manager, create } = setup();
    const job = create();
    const run = await runner.call(0);
    run.emit({ kind: 'phase', phase: 'transferring', detail: '' });
    for (let i = 1; i <= 100; i++) run.emit(progress(i * 10, 1000));
    run.succeed();
    await manager.whenDone(job.id);
    const kinds = manager.history(job.id).map((e) => e.kind);
    assert.deepEqual(kinds, ['state', 'state', 'progress', 'state', 'finished']);
  });
});

describe('JobManager retention', () => {
  it('forgets the oldest finished jobs beyond the limit, never running ones', async () => {
    const { runner, manager, create } = setup({ retainFinished: 2, maxConcurrentPerAdapter: 5 });
    const jobs = [create(), create(), create(), create()];
    for (let i = 0; i < 3; i++) {
      (await runner.call(i)).succeed();
      await manager.whenDone(jobs[i]!.id);
    }
    assert.throws(() => manager.get(jobs[0]!.id), (e: unknown) => hasCode(e, 'JOB_NOT_FOUND'));
    assert.equal(manager.get(jobs[1]!.id).state, 'succeeded');
    assert.equal(manager.get(jobs[3]!.id).state, 'connecting');
    assert.equal(manager.list().length, 3);
    (await runner.call(3)).succeed();
    await manager.whenDone(jobs[3]!.id);
  });
});
