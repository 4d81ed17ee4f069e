/**
 * Issue 12, item 1: what jobs may hold. The queue is bounded per adapter and in total, and a job
 * gives its package back (the package store's lease) when it ends, however it ends.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../server/ble/address.js';
import { BledfuError, hasCode } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';
import { DEFAULT_DFU_OPTIONS, type DfuTarget } from '../../../server/dfu/types.js';
import { JobManager, type JobManagerOptions } from '../../../server/jobs/manager.js';
import { FakeAdapter } from '../../helpers/fake-adapter.js';
import { ControlledRunner, fakePackage } from '../../helpers/fake-adapter-runner.js';
import { clockAt } from '../../helpers/manualClock.js';

const target = (n: number): DfuTarget => ({ kind: 'address', address: parseAddress(`F0:12:34:56:78:${n.toString(16).padStart(2, '0').toUpperCase()}`) });

function setup(overrides: Partial<JobManagerOptions> = {}) {
  const runner = new ControlledRunner();
  let n = 0;
  const manager = new JobManager({
    runner: runner.run,
    logger: silentLogger(),
    maxConcurrentPerAdapter: 1,
    retainFinished: 10,
    clock: clockAt(() => 1_000_000),
    newId: () => `job-${++n}`,
    ...overrides,
  });
  /** Packages given back, by job number. */
  const released: number[] = [];
  let made = 0;
  const create = (adapter: FakeAdapter, t = target(++made)) => {
    const k = made;
    return manager.create({ pkg: fakePackage(), releasePackage: () => released.push(k), target: t, options: DEFAULT_DFU_OPTIONS, adapter });
  };
  return { runner, manager, create, released };
}

describe('JobManager queue bounds', () => {
  it('refuses a job that would wait beyond the adapter\'s queue limit with JOB_QUEUE_FULL naming the setting, and gives its package back', async () => {
    const { manager, create, released } = setup({ maxQueuedPerAdapter: 2 });
    const a = new FakeAdapter('a');
    create(a); // runs
    create(a); // waits
    create(a); // waits
    assert.equal(manager.list({ activeOnly: true }).filter((j) => j.state === 'queued').length, 2);
    assert.throws(
      () => create(a),
      (e: unknown) => hasCode(e, 'JOB_QUEUE_FULL') && /2 jobs already wait on adapter a/.test(e.message) && /--max-queued-dfus\b/.test(e.remedy ?? ''),
    );
    assert.deepEqual(released, [4], 'the refused job\'s package was given back at once');
    assert.equal(manager.list().length, 3, 'the refused job does not exist');
    // Another adapter has its own queue.
    const b = new FakeAdapter('b');
    create(b);
    create(b);
    assert.equal(manager.list({ activeOnly: true }).length, 5);
  });

  it('bounds the jobs waiting over all adapters (maxQueuedTotal), naming that setting', () => {
    const { create } = setup({ maxQueuedPerAdapter: 10, maxQueuedTotal: 3 });
    const a = new FakeAdapter('a');
    const b = new FakeAdapter('b');
    create(a);
    create(a);
    create(a);
    create(b); // starts at once: b has a free slot, and a job that starts never counts
    create(b); // the third waiting job
    assert.throws(() => create(b), (e: unknown) => hasCode(e, 'JOB_QUEUE_FULL') && /over all adapters/.test(e.message) && /--max-queued-dfus-total/.test(e.remedy ?? ''));
  });

  it('a limit of 0 queues nothing but still starts jobs that have a free slot', () => {
    const { manager, create } = setup({ maxQueuedPerAdapter: 0, maxConcurrentPerAdapter: 2 });
    const a = new FakeAdapter('a');
    create(a);
    create(a);
    assert.throws(() => create(a), (e: unknown) => hasCode(e, 'JOB_QUEUE_FULL'));
    assert.equal(manager.list({ activeOnly: true }).filter((j) => j.state !== 'queued').length, 2);
  });

  it('checkRoom refuses before any job exists, so a caller need not read a package that would be turned away', () => {
    const { manager, create } = setup({ maxQueuedPerAdapter: 1 });
    const a = new FakeAdapter('a');
    manager.checkRoom(a, target(1));
    create(a);
    manager.checkRoom(a, target(2)); // one may still wait
    create(a);
    assert.throws(() => manager.checkRoom(a, target(3)), (e: unknown) => hasCode(e, 'JOB_QUEUE_FULL'));
  });

  it('a job waiting for another job on the same device counts as queued even when slots are free', async () => {
    const { runner, create } = setup({ maxQueuedPerAdapter: 1, maxConcurrentPerAdapter: 4 });
    const a = new FakeAdapter('a');
    const same = target(0x42);
    create(a, same); // runs
    await runner.call(0);
    create(a, same); // waits for the first: same device
    assert.throws(() => create(a, same), (e: unknown) => hasCode(e, 'JOB_QUEUE_FULL'));
    create(a); // another device starts in a free slot
  });
});

describe('a job gives its package back when it ends', () => {
  it('cancelled while queued, failed, succeeded, cancelled while running: each releases once, and keeps only the summaries', async () => {
    const { runner, manager, create, released } = setup({ maxConcurrentPerAdapter: 2 });
    const a = new FakeAdapter('a');
    const ok = create(a);
    const bad = create(a);
    const queued = create(a);
    const running = create(a);
    assert.deepEqual(released, [], 'active jobs hold their packages');

    manager.cancel(queued.id);
    assert.deepEqual(released, [3]);
    (await runner.call(0)).succeed();
    await manager.whenDone(ok.id);
    (await runner.call(1)).fail(new BledfuError('DEVICE_NOT_FOUND', 'gone', { layer: 'ble' }));
    await manager.whenDone(bad.id);
    await runner.call(2); // the job that was fourth starts in a freed slot
    manager.cancel(running.id);
    await manager.whenDone(running.id);
    assert.deepEqual([...released].sort(), [1, 2, 3, 4]);

    for (const id of [ok.id, bad.id, queued.id, running.id]) {
      const s = manager.get(id);
      assert.equal(s.images.length, 1, 'the snapshot still describes the package');
      assert.equal(s.packageSha256, fakePackage().sha256);
    }
    await manager.shutdown();
    assert.equal(released.length, 4, 'nothing is released twice');
  });

  it('shutdown releases every job\'s package', async () => {
    const { manager, create, released } = setup();
    const a = new FakeAdapter('a');
    create(a);
    create(a);
    await manager.shutdown();
    assert.deepEqual([...released].sort(), [1, 2]);
  });
});
