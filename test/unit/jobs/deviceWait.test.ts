/**
 * One job per device at a time: a second job for a device another job is updating waits for it —
 * however each job named the device — never holds a link meanwhile, and can be cancelled at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../server/ble/address.js';
import { silentLogger } from '../../../server/common/logger.js';
import { DEFAULT_DFU_OPTIONS, type DeviceClaim, type DfuTarget } from '../../../server/dfu/types.js';
import { InMemoryDeviceMemory } from '../../../server/jobs/deviceMemory.js';
import { JobManager } from '../../../server/jobs/manager.js';
import type { JobEvent } from '../../../server/jobs/types.js';
import { FakeAdapter } from '../../helpers/fake-adapter.js';
import { ControlledRunner, fakePackage } from '../../helpers/fake-adapter-runner.js';

const APP = parseAddress('F0:0D:C0:DE:00:05');
const BL = parseAddress('F0:0D:C0:DE:00:06');
const OTHER = parseAddress('F0:0D:C0:DE:00:07');
const byName = (name: string): DfuTarget => ({ kind: 'name', name });
const byAddress = (address = APP): DfuTarget => ({ kind: 'address', address });
/** What the engine claims once it found the device's application advertising at APP. */
const APP_CLAIM: DeviceClaim = { addresses: [APP, BL], names: ['bledfu-sim-3'], description: 'bledfu-sim-3 (F0:0D:C0:DE:00:05)' };

function setup(memory?: InMemoryDeviceMemory) {
  const runner = new ControlledRunner();
  let n = 0;
  const manager = new JobManager({
    runner: runner.run,
    logger: silentLogger(),
    maxConcurrentPerAdapter: 3,
    retainFinished: 10,
    newId: () => `job-${++n}`,
    ...(memory === undefined ? {} : { devices: memory }),
  });
  const adapter = new FakeAdapter();
  const create = (target: DfuTarget) => manager.create({ pkg: fakePackage(), target, options: DEFAULT_DFU_OPTIONS, adapter });
  return { runner, manager, adapter, create };
}

const details = (events: readonly JobEvent[]): string[] => events.flatMap((e) => (e.kind === 'state' ? [e.detail] : []));

describe('one job per device at a time', () => {
  it('a job that finds the device another job holds waits (no link), and goes on once that job has ended', async () => {
    const { runner, manager, create } = setup();
    const first = create(byName('bledfu-sim-3'));
    const second = create(byAddress());
    const [r1, r2] = [await runner.call(0), await runner.call(1)];
    assert.equal(await r1.context.claimDevice?.(APP_CLAIM), 'free');
    let answered: string | undefined;
    const claim2 = r2.context.claimDevice?.({ addresses: [APP, BL], names: ['bledfu-sim-3'], description: 'F0:0D:C0:DE:00:05' }).then((a) => (answered = a));
    await new Promise((r) => setImmediate(r));
    assert.equal(answered, undefined, 'the second job waits');
    assert.match(manager.get(second.id).state, /connecting/);
    assert.ok(
      details(manager.history(second.id)).some((d) => d.startsWith(`waiting for job ${first.id}, which is updating the same device`)),
      details(manager.history(second.id)).join(' | '),
    );
    r1.succeed();
    await manager.whenDone(first.id);
    await claim2;
    assert.equal(answered, 'waited', 'told to look again: the device has moved on');
    // Now it holds the device: a claim after the wait is granted.
    assert.equal(await r2.context.claimDevice?.(APP_CLAIM), 'free');
    r2.succeed();
    await manager.whenDone(second.id);
    assert.equal(manager.get(second.id).state, 'succeeded');
  });

  it('cancelling a waiting job ends it at once; the job it waited for carries on', async () => {
    const { runner, manager, create } = setup();
    const first = create(byAddress());
    const second = create(byAddress(BL));
    const [r1, r2] = [await runner.call(0), await runner.call(1)];
    await r1.context.claimDevice?.(APP_CLAIM);
    const waiting = r2.context.claimDevice?.({ addresses: [BL, APP], names: ['Dfu12345'], description: 'Dfu12345 (F0:0D:C0:DE:00:06)' });
    manager.cancel(second.id);
    await assert.rejects(waiting ?? Promise.resolve(), (e: unknown) => (e as { code?: string }).code === 'CANCELLED');
    await manager.whenDone(second.id);
    assert.equal(manager.get(second.id).state, 'cancelled');
    assert.equal(manager.get(first.id).state, 'connecting', 'the first job is untouched');
    r1.succeed();
    await manager.whenDone(first.id);
    assert.equal(manager.get(first.id).state, 'succeeded');
  });

  it('jobs for different devices do not wait for each other; a job that holds its device never waits again', async () => {
    const { runner, create } = setup();
    create(byAddress());
    create(byAddress(OTHER));
    const [r1, r2] = [await runner.call(0), await runner.call(1)];
    assert.equal(await r1.context.claimDevice?.(APP_CLAIM), 'free');
    assert.equal(await r2.context.claimDevice?.({ addresses: [OTHER, parseAddress('F0:0D:C0:DE:00:08')], names: [], description: 'other' }), 'free');
    // A job holding its device adds what it learns without waiting.
    assert.equal(await r1.context.claimDevice?.({ addresses: [BL], names: ['Dfu12345'], description: 'bootloader' }), 'free');
  });

  it('devices that share a name: jobs by address do not wait for each other; a job by that name waits for the one holding such a device', async () => {
    const { runner, manager, create } = setup();
    create(byAddress(APP));
    create(byAddress(OTHER));
    const [r1, r2] = [await runner.call(0), await runner.call(1)];
    assert.equal(await r1.context.claimDevice?.({ addresses: [APP, BL], names: ['Nordic_HRM'], description: 'a' }), 'free');
    assert.equal(await r2.context.claimDevice?.({ addresses: [OTHER, parseAddress('F0:0D:C0:DE:00:08')], names: ['Nordic_HRM'], description: 'b' }), 'free');
    const byItsName = create(byName('Nordic_HRM'));
    assert.equal(byItsName.state, 'queued', 'it may be for either device');
    assert.match(details(manager.history(byItsName.id)).at(-1) ?? '', /^waiting for job job-1, which is updating the same device/);
    manager.cancel(byItsName.id);
    r1.succeed();
    r2.succeed();
  });

  it('a job whose device the memory ties to a running job stays QUEUED (no slot, no runner), saying for which job it waits', async () => {
    const memory = new InMemoryDeviceMemory();
    memory.remember({ appAddress: APP, appName: 'bledfu-sim-3', bootloaderAddress: BL, bootloaderName: 'Dfu12345' });
    const { runner, manager, create } = setup(memory);
    const first = create(byName('bledfu-sim-3'));
    const r1 = await runner.call(0);
    assert.equal(r1.context.devices, memory, 'the engine is given the memory');
    for (const target of [byAddress(BL), byName('Dfu12345'), byAddress(APP), byName('bledfu-sim-3')]) {
      const waiting = create(target);
      assert.equal(waiting.state, 'queued', JSON.stringify(target));
      assert.ok(details(manager.history(waiting.id)).includes(`waiting for job ${first.id}, which is updating the same device`));
      manager.cancel(waiting.id);
      assert.equal(manager.get(waiting.id).state, 'cancelled', 'a queued job is cancelled at once');
    }
    const queued = create(byAddress(BL));
    // Another device's job passes the waiting one.
    const other = create(byAddress(OTHER));
    assert.equal(manager.get(other.id).state, 'connecting');
    assert.equal(runner.calls.length, 2, 'the waiting job was not started');
    r1.succeed();
    await manager.whenDone(first.id);
    const r3 = await runner.call(2);
    assert.deepEqual(r3.target, byAddress(BL));
    assert.equal(manager.get(queued.id).state, 'connecting', 'started once the first job ended');
  });
});
