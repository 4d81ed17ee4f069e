/** What the inventory asks the job manager: who updates a device, how many links jobs need, whose bootloader this is. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../server/ble/address.js';
import { silentLogger } from '../../../server/common/logger.js';
import { DEFAULT_DFU_OPTIONS } from '../../../server/dfu/types.js';
import { InMemoryDeviceMemory } from '../../../server/jobs/deviceMemory.js';
import { JobManager } from '../../../server/jobs/manager.js';
import { FakeAdapter } from '../../helpers/fake-adapter.js';
import { ControlledRunner, fakePackage } from '../../helpers/fake-adapter-runner.js';

const APP = parseAddress('F0:00:00:00:00:10');
const BOOTLOADER = parseAddress('F0:00:00:00:00:11');

function setup(maxConcurrentPerAdapter = 2) {
  const runner = new ControlledRunner();
  const devices = new InMemoryDeviceMemory();
  const manager = new JobManager({ runner: runner.run, logger: silentLogger(), maxConcurrentPerAdapter, retainFinished: 10, devices });
  const adapter = new FakeAdapter();
  return { runner, devices, manager, adapter };
}

describe('JobManager: what the inventory asks', () => {
  it('jobUpdating: a running job by address, by the bootloader address it claimed, by name until it claims; none once it ended', async () => {
    const { runner, manager, adapter } = setup();
    const job = manager.create({ pkg: fakePackage(), target: { kind: 'address', address: APP }, options: DEFAULT_DFU_OPTIONS, adapter });
    assert.equal(manager.jobUpdating(APP, undefined), job.id);
    assert.equal(manager.jobUpdating(BOOTLOADER, 'DfuTarg'), undefined, 'not claimed yet');
    const run = await runner.call(0);
    assert.equal(await run.context.claimDevice?.({ addresses: [APP, BOOTLOADER], names: ['sensor', 'DfuTarg'], description: 'sensor' }), 'free');
    assert.equal(manager.jobUpdating(BOOTLOADER, 'DfuTarg'), job.id);
    assert.equal(manager.jobUpdating(parseAddress('F0:00:00:00:00:20'), 'sensor'), undefined, 'a job by address is not tied to others by their name');

    const byName = manager.create({ pkg: fakePackage(), target: { kind: 'name', name: 'other' }, options: DEFAULT_DFU_OPTIONS, adapter });
    assert.equal(manager.jobUpdating(parseAddress('F0:00:00:00:00:30'), 'other'), byName.id, 'looking for any device of that name');

    run.succeed();
    await manager.whenDone(job.id);
    assert.equal(manager.jobUpdating(APP, undefined), undefined);
  });

  it('linksForJobs: one per running or queued job, at most the jobs that may run at once', async () => {
    const { manager, adapter } = setup(2);
    assert.equal(manager.linksForJobs(adapter), 0);
    const create = (n: number) =>
      manager.create({ pkg: fakePackage(), target: { kind: 'address', address: parseAddress(`F0:00:00:00:01:0${n}`) }, options: DEFAULT_DFU_OPTIONS, adapter });
    create(1);
    assert.equal(manager.linksForJobs(adapter), 1);
    create(2);
    create(3);
    assert.equal(manager.linksForJobs(adapter), 2, 'the queued third one runs only when a slot frees');
    assert.equal(manager.linksForJobs(new FakeAdapter('other')), 0);
  });

  it('applicationOf: the application the device memory ties to this bootloader address, nothing for an unknown one or an application address', () => {
    const { devices, manager } = setup();
    devices.remember({ appAddress: APP, appName: 'sensor', bootloaderAddress: BOOTLOADER, bootloaderName: 'Dfu12345' });
    assert.equal(manager.applicationOf(BOOTLOADER)?.value, APP.value);
    assert.equal(manager.applicationOf(APP), undefined);
    assert.equal(manager.applicationOf(parseAddress('F0:00:00:00:00:41')), undefined);
  });
});
