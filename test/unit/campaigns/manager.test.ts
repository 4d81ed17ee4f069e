/**
 * The campaign manager over the real job manager, fake adapters (the test advertises devices) and
 * a runner the test drives: scheduling limits, identity across a device's faces, retries, stop
 * conditions and bounds, without a simulator.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../server/ble/address.js';
import type { Advertisement } from '../../../server/ble/types.js';
import { CampaignManager, type CampaignManagerOptions } from '../../../server/campaigns/manager.js';
import { DEFAULT_RETRY_POLICY, type CampaignEvent, type CampaignPackage, type CampaignSnapshot, type CampaignSpec } from '../../../server/campaigns/types.js';
import { BledfuError, hasCode } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';
import { RESULT } from '../../../server/dfu/secure/controlPoint.js';
import { DEFAULT_DFU_OPTIONS } from '../../../server/dfu/types.js';
import type { JobAudit } from '../../../server/jobs/audit.js';
import { JobManager } from '../../../server/jobs/manager.js';
import { FakeAdapter, FakeAdapterDirectory } from '../../helpers/fake-adapter.js';
import { ControlledRunner, fakePackage, type RunControl } from '../../helpers/fake-adapter-runner.js';
import { ManualClock, settle } from '../../helpers/manualClock.js';

const addr = (n: number): string => `F0:00:00:00:00:${n.toString(16).padStart(2, '0').toUpperCase()}`;

function setup(options: Partial<CampaignManagerOptions> = {}, audit?: JobAudit) {
  const clock = new ManualClock();
  const runner = new ControlledRunner();
  const a0 = new FakeAdapter('a0');
  const a1 = new FakeAdapter('a1');
  a0.maxConnections = 16;
  a1.maxConnections = 16;
  const adapters = new FakeAdapterDirectory([a0, a1]);
  const jobs = new JobManager({ runner: runner.run, logger: silentLogger(), maxConcurrentPerAdapter: 16, retainFinished: 100, clock, ...(audit === undefined ? {} : { audit }) });
  const campaigns = new CampaignManager({ jobs, adapters, logger: silentLogger(), clock, ...options });
  const pkg = fakePackage();
  const held = { campaign: 0, jobs: 0 };
  const newPackage = (): CampaignPackage => {
    held.campaign++;
    let released = false;
    return {
      pkg,
      sha256: pkg.sha256,
      leaseForJob: () => {
        held.jobs++;
        let done = false;
        return { pkg, release: () => (done ? undefined : ((done = true), held.jobs--)) };
      },
      release: () => (released ? undefined : ((released = true), held.campaign--)),
    };
  };
  const start = (spec: Partial<CampaignSpec> = {}): CampaignSnapshot =>
    campaigns.start({
      spec: {
        name: 'test',
        filter: { namePrefix: 'S-' },
        adapterIds: [],
        parallelPerAdapter: 2,
        retry: DEFAULT_RETRY_POLICY,
        maxDevices: 0,
        durationMs: 0,
        includeBootloaders: false,
        options: DEFAULT_DFU_OPTIONS,
        labels: { line: '3' },
        ...spec,
      },
      package: newPackage(),
      requester: { identity: 'alice' },
    });
  /** Resolves once the campaign's snapshot satisfies `pred` (checked after each of its events). */
  const until = (id: string, pred: (c: CampaignSnapshot) => boolean): Promise<CampaignSnapshot> =>
    new Promise((resolve) => {
      const now = campaigns.get(id);
      if (pred(now)) return resolve(now);
      const off = campaigns.onEvent((e) => {
        if (e.campaignId !== id) return;
        const c = campaigns.get(id);
        if (pred(c)) {
          off();
          resolve(c);
        }
      });
    });
  return { clock, runner, a0, a1, adapters, jobs, campaigns, start, until, held };
}

function app(adapter: FakeAdapter, n: number, over: Partial<Advertisement> = {}): void {
  adapter.advertise({ address: parseAddress(addr(n)), name: `S-${n}`, ...over });
}

function bootloader(adapter: FakeAdapter, address: string): void {
  adapter.advertise({ address: parseAddress(address), name: 'DfuTarg', serviceUuids: ['FE59'] });
}

const targetOf = (c: RunControl): string => (c.target.kind === 'address' ? c.target.address.value : c.target.name);
const device = (c: CampaignSnapshot, n: number) => c.devices.find((d) => d.address.value === addr(n));
const linkLost = (): BledfuError => new BledfuError('LINK_LOST', 'link lost', { layer: 'ble' });

describe('campaign manager', () => {
  it('runs at most parallel_per_adapter jobs per adapter, starts a waiting device on any adapter that saw it, oldest first', async () => {
    const t = setup();
    const c = t.start();
    assert.deepEqual(c.spec.adapterIds, ['a0', 'a1'], 'no adapter named: every adapter');
    for (const n of [1, 2, 3, 4, 5]) app(t.a0, n);
    let now = await t.until(c.id, (s) => s.counts.found === 5);
    assert.equal(t.runner.calls.length, 2);
    assert.deepEqual(t.runner.calls.map(targetOf), [addr(1), addr(2)]);
    assert.deepEqual([now.counts.running, now.counts.waiting], [2, 3]);

    // a1 sees device 4 only: it starts there, ahead of 3 which only a0 has seen.
    app(t.a1, 4);
    const third = await t.runner.call(2);
    assert.equal(targetOf(third), addr(4));
    assert.equal(third.adapter.id, 'a1');

    // A slot on a0 frees: the oldest waiting device it has seen (3) goes first.
    (await t.runner.call(0)).succeed();
    const fourth = await t.runner.call(3);
    assert.equal(targetOf(fourth), addr(3));
    assert.equal(fourth.adapter.id, 'a0');
    now = await t.until(c.id, (s) => s.counts.succeeded === 1);
    assert.deepEqual([now.counts.running, now.counts.waiting, now.counts.jobs], [3, 1, 4]);

    // Every job is an ordinary job of the campaign, with its labels and requester.
    const job = t.jobs.get(device(now, 4)?.jobIds[0] as string);
    assert.equal(job.campaignId, c.id);
    assert.deepEqual(job.labels, { line: '3' });
    assert.equal(job.requestedBy, 'alice');
  });

  it('never takes a device twice: again as an application after its update, nor in its bootloader at address + 1', async () => {
    const t = setup();
    const c = t.start({ includeBootloaders: true });
    app(t.a0, 0x10);
    (await t.runner.call(0)).succeed();
    await t.until(c.id, (s) => s.counts.succeeded === 1);
    app(t.a0, 0x10);
    bootloader(t.a0, addr(0x11));
    app(t.a1, 0x10);
    // A stranded bootloader at an address no known device explains is a new device.
    bootloader(t.a0, 'C2:00:00:00:00:42');
    const now = await t.until(c.id, (s) => s.counts.found === 2);
    assert.equal(now.devices[1]?.foundInBootloader, true);
    assert.equal(now.devices[1]?.address.value, 'C2:00:00:00:00:42');
    const second = await t.runner.call(1);
    assert.equal(targetOf(second), 'C2:00:00:00:00:42');
    assert.equal(t.runner.calls.length, 2);
  });

  it('takes no bootloader as a new device without include_bootloaders', async () => {
    const t = setup();
    const c = t.start();
    bootloader(t.a0, 'C2:00:00:00:00:42');
    app(t.a0, 1);
    const now = await t.until(c.id, (s) => s.counts.found === 1);
    assert.equal(now.devices[0]?.address.value, addr(1));
  });

  it('retries a link loss after the delay on the server clock up to max_attempts, and never a refused package', async () => {
    const t = setup();
    const c = t.start({ retry: { maxAttempts: 2, delayMs: 5_000 } });
    app(t.a0, 1);
    app(t.a0, 3);
    (await t.runner.call(0)).fail(linkLost());
    (await t.runner.call(1)).fail(new BledfuError('DFU_REMOTE_ERROR', 'the bootloader rejected the init packet: INVALID_OBJECT', { layer: 'dfu', facts: { dfuResult: RESULT.INVALID_OBJECT, dfuResultName: 'INVALID_OBJECT' } }));
    let now = await t.until(c.id, (s) => s.counts.retryWait === 1 && s.counts.failed === 1);
    assert.equal(device(now, 3)?.lastError?.code, 'DFU_REMOTE_ERROR');
    assert.equal(device(now, 3)?.jobIds.length, 1, 'the refused package is not tried again');
    assert.equal(t.runner.calls.length, 2, 'no retry before the delay');

    assert.equal(t.clock.fire(5_000), 1);
    const retry = await t.runner.call(2);
    assert.equal(targetOf(retry), addr(1));
    retry.fail(linkLost());
    now = await t.until(c.id, (s) => s.counts.failed === 2);
    assert.equal(device(now, 1)?.jobIds.length, 2);
    assert.equal(device(now, 1)?.lastError?.code, 'LINK_LOST');
    assert.equal(t.clock.fire(5_000), 0, 'max_attempts reached: no more retries');
  });

  it('starts no job on an adapter that is not ready: the device waits for its dongle, and its attempts are spent on the device only', async () => {
    const t = setup();
    t.a0.unplugged = true;
    const c = t.start({ adapterIds: ['a0'], retry: { maxAttempts: 1, delayMs: 5_000 } });
    app(t.a0, 1);
    let now = await t.until(c.id, (s) => s.counts.found === 1);
    await settle();
    assert.equal(t.runner.calls.length, 0, 'no job while the dongle is away');
    assert.equal(device(now, 1)?.state, 'waiting');
    t.a0.unplugged = false;
    t.adapters.changed();
    (await t.runner.call(0)).succeed();
    now = await t.until(c.id, (s) => s.counts.succeeded === 1);
    assert.deepEqual(device(now, 1)?.jobIds.length, 1);
  });

  it('a job that ends inside create() (its audit start could not be written) still settles its device', async () => {
    const t = setup({}, {
      jobStarted: () => {
        throw new BledfuError('INTERNAL', 'audit log not writable', { layer: 'jobs' });
      },
      jobEnded: () => {},
    });
    const c = t.start();
    app(t.a0, 1);
    const now = await t.until(c.id, (s) => s.counts.failed === 1);
    assert.equal(now.devices[0]?.lastError?.message, 'audit log not writable');
    assert.equal(now.counts.running, 0);
    assert.equal(t.runner.calls.length, 0, 'nothing ran');
  });

  it('gives a device whose job someone cancelled up as NOT_DONE, without retrying', async () => {
    const t = setup();
    const c = t.start();
    app(t.a0, 1);
    await t.runner.call(0);
    const jobId = t.campaigns.get(c.id).devices[0]?.jobIds[0] as string;
    t.jobs.cancel(jobId, 'bob');
    const now = await t.until(c.id, (s) => s.counts.notDone === 1);
    assert.equal(now.devices[0]?.lastError?.code, 'CANCELLED');
    assert.equal(t.runner.calls.length, 1);
    assert.equal(now.state, 'running');
  });

  it('StopCampaign lets running jobs end, gives waiting devices up, then ends and gives the package back', async () => {
    const t = setup();
    const c = t.start({ parallelPerAdapter: 1 });
    app(t.a0, 1);
    app(t.a0, 2);
    const run = await t.runner.call(0);
    await t.until(c.id, (s) => s.counts.waiting === 1);
    const stopped = t.campaigns.stop(c.id, { by: 'bob' });
    assert.equal(stopped.state, 'stopping');
    assert.equal(stopped.stopReason, 'stopped');
    assert.equal(stopped.stoppedBy, 'bob');
    assert.equal(device(stopped, 2)?.state, 'not-done');
    app(t.a0, 5);
    await t.a0.scansStopped();
    assert.equal(t.held.campaign, 1, 'held while its job runs');
    run.succeed();
    const ended = await t.until(c.id, (s) => s.state === 'ended');
    assert.deepEqual([ended.counts.found, ended.counts.succeeded, ended.counts.notDone], [2, 1, 1]);
    assert.equal(t.held.campaign, 0);
    assert.equal(t.held.jobs, 0);
    assert.equal(t.campaigns.stop(c.id).state, 'ended', 'stopping an ended campaign changes nothing');
  });

  it('StopCampaign with cancel_jobs cancels the running jobs', async () => {
    const t = setup();
    const c = t.start();
    app(t.a0, 1);
    await t.runner.call(0);
    t.campaigns.stop(c.id, { cancelJobs: true, by: 'bob' });
    const ended = await t.until(c.id, (s) => s.state === 'ended');
    assert.equal(ended.devices[0]?.state, 'not-done');
    assert.equal(t.jobs.get(ended.devices[0]?.jobIds[0] as string).result?.cancellation?.cause, 'cancel-job');
  });

  it('stops taking devices at max_devices but sees the taken ones through, retries included', async () => {
    const t = setup();
    const c = t.start({ maxDevices: 2, parallelPerAdapter: 1, retry: { maxAttempts: 2, delayMs: 1_000 } });
    app(t.a0, 1);
    app(t.a0, 2);
    app(t.a0, 3);
    const stopping = await t.until(c.id, (s) => s.state === 'stopping');
    assert.equal(stopping.stopReason, 'max-devices');
    (await t.runner.call(0)).fail(linkLost());
    (await t.runner.call(1)).succeed();
    await t.until(c.id, (s) => s.counts.retryWait === 1);
    t.clock.fire(1_000);
    (await t.runner.call(2)).succeed();
    const ended = await t.until(c.id, (s) => s.state === 'ended');
    assert.deepEqual([ended.counts.found, ended.counts.succeeded], [2, 2]);
  });

  it('stops taking devices when its duration has passed on the server clock', async () => {
    const t = setup();
    const c = t.start({ durationMs: 60_000 });
    app(t.a0, 1);
    const run = await t.runner.call(0);
    assert.equal(t.clock.fire(60_000), 1);
    assert.equal(t.campaigns.get(c.id).stopReason, 'duration');
    run.succeed();
    const ended = await t.until(c.id, (s) => s.state === 'ended');
    assert.equal(ended.counts.succeeded, 1);
  });

  it('ends SERVER_SHUTDOWN when the server shuts down, its devices not done', async () => {
    const t = setup();
    const c = t.start();
    app(t.a0, 1);
    await t.runner.call(0);
    t.campaigns.shutdown();
    await t.jobs.shutdown();
    const ended = await t.until(c.id, (s) => s.state === 'ended');
    assert.equal(ended.stopReason, 'server-shutdown');
    assert.equal(ended.devices[0]?.state, 'not-done');
    assert.throws(() => t.start(), (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE'));
  });

  it('refuses a campaign beyond the running limit, and takes no device beyond the per-campaign limit', async () => {
    const t = setup({ maxActive: 1, maxDevicesPerCampaign: 2 });
    const c = t.start({ parallelPerAdapter: 4 });
    assert.throws(() => t.start(), (e: unknown) => hasCode(e, 'JOB_QUEUE_FULL'));
    assert.equal(t.held.campaign, 1, 'the refused campaign gave its package back');
    for (const n of [1, 2, 3, 4]) app(t.a0, n);
    await t.runner.call(1);
    // Reaching the limit is no device event: let the scan deliver the rest.
    await settle();
    const now = t.campaigns.get(c.id);
    assert.equal(now.deviceLimitReached, true);
    assert.equal(now.counts.found, 2);
    assert.equal(t.runner.calls.length, 2);
    assert.throws(() => t.campaigns.get('nope'), (e: unknown) => hasCode(e, 'CAMPAIGN_NOT_FOUND'));
    assert.throws(() => t.start({ adapterIds: ['nope'] }), (e: unknown) => hasCode(e, 'JOB_QUEUE_FULL') || hasCode(e, 'ADAPTER_NOT_FOUND'));
  });

  it('streams a snapshot first, device events with counts, `ended` last; a late watcher gets the snapshot and `ended`', async () => {
    const t = setup();
    const c = t.start();
    const watch = new AbortController();
    const seen: CampaignEvent[] = [];
    const done = (async () => {
      for await (const e of t.campaigns.watch(c.id, watch.signal)) seen.push(e);
    })();
    app(t.a0, 1);
    (await t.runner.call(0)).succeed();
    await t.until(c.id, (s) => s.counts.succeeded === 1);
    t.campaigns.stop(c.id);
    await done;
    // A device's events not yet read are replaced by its newer one (the bound on a slow watcher):
    // how many of waiting/running this watcher saw depends on when it read; the order does not.
    const kinds = seen.map((e) => (e.kind === 'device' ? `device:${e.device.state}` : e.kind));
    assert.equal(kinds[0], 'snapshot');
    assert.deepEqual(kinds.slice(-3), ['device:succeeded', 'stopping', 'ended']);
    const states = kinds.filter((k) => k.startsWith('device:'));
    assert.deepEqual(states, [...new Set(states)], 'no device state twice');
    assert.equal(seen.at(-1)?.counts.succeeded, 1);
    const late: string[] = [];
    for await (const e of t.campaigns.watch(c.id, new AbortController().signal)) late.push(e.kind);
    assert.deepEqual(late, ['snapshot', 'ended']);
    assert.equal(t.campaigns.list().length, 1);
    assert.equal(t.campaigns.list()[0]?.devices.length, 0, 'lists carry counts only');
  });
});

describe('campaign watch stream', () => {
  it('holds at most one pending event per device for a watcher that does not read', async () => {
    const { CampaignWatchStream } = await import('../../../server/campaigns/watchStream.js');
    const stream = new CampaignWatchStream(new AbortController().signal, () => {});
    const counts = { found: 1, waiting: 0, running: 0, retryWait: 0, succeeded: 0, upToDate: 0, failed: 0, notDone: 0, jobs: 0 };
    const base = { address: parseAddress(addr(1)), name: 'S-1', foundInBootloader: false, rssi: -50, jobIds: [], adapterId: 'a0', foundAt: 0, endedAt: undefined, lastError: undefined, deviceInfo: undefined, firmwareRevision: undefined };
    for (let i = 0; i < 1000; i++) {
      for (const n of [1, 2]) {
        stream.push({ kind: 'device', campaignId: 'c' as never, time: i, counts, device: { ...base, address: parseAddress(addr(n)), state: i % 2 === 0 ? 'running' : 'retry-wait' } });
      }
    }
    assert.equal(stream.pending, 2);
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.value?.kind === 'device' ? first.value.time : -1, 999, 'the newest event of the device');
  });
});
