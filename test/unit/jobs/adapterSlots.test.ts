import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../server/ble/address.js';
import { silentLogger } from '../../../server/common/logger.js';
import { DEFAULT_DFU_OPTIONS } from '../../../server/dfu/types.js';
import { JobManager } from '../../../server/jobs/manager.js';
import { FakeAdapter } from '../../helpers/fake-adapter.js';
import { ControlledRunner, fakePackage } from '../../helpers/fake-adapter-runner.js';

function setup(maxConnections: number) {
  const runner = new ControlledRunner();
  const manager = new JobManager({ runner: runner.run, logger: silentLogger(), maxConcurrentPerAdapter: 4, retainFinished: 10 });
  const adapter = new FakeAdapter();
  adapter.maxConnections = maxConnections;
  // Each job for its own device (jobs for one device wait for each other whatever the slots).
  let device = 0;
  const create = () =>
    manager.create({ pkg: fakePackage(), target: { kind: 'address', address: parseAddress(`F0:12:34:56:78:${(++device).toString(16).padStart(2, '0')}`) }, options: DEFAULT_DFU_OPTIONS, adapter });
  return { runner, manager, create };
}

describe('JobManager: jobs per adapter', () => {
  it('runs no more jobs at once than the adapter has links (an hci: spec’s max=); the rest wait in QUEUED', async () => {
    const { runner, manager, create } = setup(1);
    const first = create();
    const second = create();
    assert.equal(first.state, 'connecting');
    assert.equal(second.state, 'queued', 'a second link would be refused (ADAPTER_BUSY): the job waits instead');
    assert.equal(runner.calls.length, 1);
    (await runner.call(0)).succeed();
    await manager.whenDone(first.id);
    (await runner.call(1)).succeed();
    await manager.whenDone(second.id);
    assert.deepEqual(manager.list().map((j) => j.state), ['succeeded', 'succeeded']);
  });

  it('uses the setting alone when the adapter reports no limit (not open)', () => {
    const { runner, create } = setup(0);
    const jobs = [create(), create(), create()];
    assert.deepEqual(jobs.map((j) => j.state), ['connecting', 'connecting', 'connecting']);
    assert.equal(runner.calls.length, 3);
    for (const c of runner.calls) c.succeed();
  });
});
