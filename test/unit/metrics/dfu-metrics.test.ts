/**
 * DFU metrics from the job manager's events, through a real JobManager driven by a controlled
 * runner, read back in the text format a scraper gets.
 */
import { clockAt } from '../../helpers/manualClock.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../server/ble/address.js';
import { BledfuError } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';
import { DEFAULT_DFU_OPTIONS, type DfuEvent, type DfuTarget, type ImageKind } from '../../../server/dfu/types.js';
import { JobManager } from '../../../server/jobs/manager.js';
import { createServerMetrics } from '../../../server/metrics/registry.js';
import { FakeAdapter, FakeAdapterDirectory } from '../../helpers/fake-adapter.js';
import { ControlledRunner, fakePackage, progress } from '../../helpers/fake-adapter-runner.js';
import { fakeLegacyPackage } from '../../helpers/fake-legacy-package.js';
import { parseExposition, type Exposition } from '../../helpers/prom-text.js';

const TARGET: DfuTarget = { kind: 'address', address: parseAddress('F0:12:34:56:78:9A') };

function setup(maxConcurrentPerAdapter = 1) {
  const runner = new ControlledRunner();
  const clock = { ms: 1_000_000 };
  const jobs = new JobManager({ runner: runner.run, logger: silentLogger(), maxConcurrentPerAdapter, retainFinished: 10, clock: clockAt(() => clock.ms) });
  const adapter = new FakeAdapter('fake0');
  const metrics = createServerMetrics({ jobs, adapters: new FakeAdapterDirectory([adapter]) });
  // Each job for its own device (jobs for one device wait for each other whatever the slots).
  let device = 0;
  const create = (sizes?: readonly [ImageKind, number][]) =>
    jobs.create({ pkg: fakePackage(sizes), target: device++ === 0 ? TARGET : { kind: 'address', address: parseAddress(`F0:12:34:56:79:${device.toString(16).padStart(2, '0')}`) }, options: DEFAULT_DFU_OPTIONS, adapter });
  const read = async (): Promise<Exposition> => parseExposition(await metrics.registry.metrics());
  return { runner, clock, jobs, metrics, create, read, adapter };
}

const A = { adapter: 'fake0' };
/** The job counters' and duration's labels for a Secure DFU package (what fakePackage makes). */
const S = { ...A, protocol: 'secure' };
const phase = (p: 'connecting' | 'transferring' | 'resuming'): DfuEvent => ({ kind: 'phase', phase: p, detail: p });

/** Progress of a one-image job that resumed where the device held `atStart` bytes. */
function resumed(sent: number, total: number, atStart: number): DfuEvent {
  return { kind: 'progress', imageIndex: 0, imageCount: 1, imageKind: 'application', imageBytesSent: sent, imageBytesTotal: total, imageBytesAtStart: atStart, totalBytesSent: sent, totalBytesTotal: total };
}

function imageProgress(imageIndex: number, imageCount: number, imageKind: ImageKind, sent: number, total: number, before: number): DfuEvent {
  return { kind: 'progress', imageIndex, imageCount, imageKind, imageBytesSent: sent, imageBytesTotal: total, totalBytesSent: before + sent, totalBytesTotal: before + total };
}

describe('DFU metrics', () => {
  it('start with a zero series per adapter, result and protocol, and no process metrics unless asked', async () => {
    const { read } = setup();
    const m = await read();
    for (const protocol of ['secure', 'legacy']) {
      for (const result of ['succeeded', 'up-to-date', 'failed', 'cancelled']) assert.equal(m.value('bledfu_dfu_jobs_total', { ...A, result, protocol }), 0);
    }
    assert.equal(m.types.get('bledfu_dfu_jobs_total'), 'counter');
    assert.equal(m.types.get('bledfu_dfu_duration_seconds'), 'histogram');
    assert.equal(m.types.get('bledfu_dfu_bytes_total'), 'counter');
    assert.equal(m.types.get('bledfu_dfu_jobs'), 'gauge');
    assert.equal(m.sum('bledfu_dfu_jobs'), 0);
    assert.equal(m.samples.filter((s) => s.name.startsWith('process_') || s.name.startsWith('nodejs_')).length, 0);
  });

  it('a job that succeeds: counted once, its duration observed, every byte of every image counted by type', async () => {
    const { runner, clock, jobs, create, read } = setup();
    const job = create([
      ['softdevice_bootloader', 3000],
      ['application', 1000],
    ]);
    const run = await runner.call(0);
    run.emit(phase('transferring'));
    assert.equal((await read()).value('bledfu_dfu_jobs', { ...A, state: 'transferring' }), 1);
    for (const sent of [0, 1000, 2000, 3000]) run.emit(imageProgress(0, 2, 'softdevice_bootloader', sent, 3000, 0));
    for (const sent of [0, 500, 1000]) run.emit(imageProgress(1, 2, 'application', sent, 1000, 3000));
    clock.ms += 42_000;
    run.succeed();
    await jobs.whenDone(job.id);

    const m = await read();
    assert.equal(m.value('bledfu_dfu_jobs_total', { ...S, result: 'succeeded' }), 1);
    assert.equal(m.value('bledfu_dfu_jobs_total', { ...S, result: 'failed' }), 0);
    assert.equal(m.value('bledfu_dfu_bytes_total', { ...A, image_type: 'softdevice_bootloader' }), 3000);
    assert.equal(m.value('bledfu_dfu_bytes_total', { ...A, image_type: 'application' }), 1000);
    assert.equal(m.value('bledfu_dfu_duration_seconds_count', { ...S, result: 'succeeded' }), 1);
    assert.equal(m.value('bledfu_dfu_duration_seconds_sum', { ...S, result: 'succeeded' }), 42);
    assert.equal(m.value('bledfu_dfu_duration_seconds_bucket', { ...S, result: 'succeeded', le: '30' }), 0);
    assert.equal(m.value('bledfu_dfu_duration_seconds_bucket', { ...S, result: 'succeeded', le: '45' }), 1);
    assert.equal(m.sum('bledfu_dfu_jobs'), 0, 'nothing queued or running any more');
    assert.equal(m.sum('bledfu_dfu_failures_total'), 0);
  });

  it('bytes: a resumed job counts only what it sent; reports going back after a reconnect count nothing twice', async () => {
    const { runner, jobs, create, read } = setup();
    const job = create([['application', 1000]]);
    const run = await runner.call(0);
    run.emit(phase('transferring'));
    // The device already held 600 bytes from an earlier, cancelled job.
    run.emit(resumed(600, 1000, 600));
    run.emit(resumed(800, 1000, 600));
    run.emit(phase('resuming'));
    // After the reconnect the device holds less than was confirmed: 700 again is no new byte.
    run.emit(resumed(700, 1000, 600));
    run.emit(resumed(1000, 1000, 600));
    run.succeed();
    await jobs.whenDone(job.id);
    assert.equal((await read()).value('bledfu_dfu_bytes_total', { ...A, image_type: 'application' }), 400);
  });

  it('a failure by reason and device result; cancelled and failed jobs keep the bytes they sent', async () => {
    const { runner, jobs, create, read } = setup(2);
    const failing = create();
    const cancelled = create();
    const r0 = await runner.call(0);
    const r1 = await runner.call(1);
    r0.emit(phase('transferring'));
    r0.emit(progress(0, 1000));
    r0.emit(progress(250, 1000));
    r1.emit(phase('transferring'));
    r1.emit(progress(0, 1000));
    r1.emit(progress(100, 1000));
    r0.fail(
      new BledfuError('DFU_REMOTE_ERROR', 'the bootloader rejected it: SIGNATURE_MISSING', {
        layer: 'dfu',
        facts: { dfuResult: 0x0b, dfuResultName: 'EXT_ERROR', dfuExtended: 8, dfuExtendedName: 'SIGNATURE_MISSING' },
      }),
    );
    jobs.cancel(cancelled.id);
    await Promise.all([jobs.whenDone(failing.id), jobs.whenDone(cancelled.id)]);

    const m = await read();
    assert.equal(m.value('bledfu_dfu_jobs_total', { ...S, result: 'failed' }), 1);
    assert.equal(m.value('bledfu_dfu_jobs_total', { ...S, result: 'cancelled' }), 1);
    assert.equal(m.value('bledfu_dfu_failures_total', { ...A, reason: 'DFU_REMOTE_ERROR', dfu_result: 'SIGNATURE_MISSING' }), 1);
    assert.equal(m.sum('bledfu_dfu_failures_total'), 1, 'a cancel is not a failure');
    assert.equal(m.value('bledfu_dfu_bytes_total', { ...A, image_type: 'application' }), 350);
    assert.equal(m.value('bledfu_dfu_duration_seconds_count', { ...S, result: 'failed' }), 1);
    assert.equal(m.value('bledfu_dfu_duration_seconds_count', { ...S, result: 'cancelled' }), 1);
  });

  it('a failure without a device result has an empty dfu_result; a job cancelled while queued has no duration', async () => {
    const { runner, jobs, create, read } = setup(1);
    const running = create();
    const queued = create();
    let m = await read();
    assert.equal(m.value('bledfu_dfu_jobs', { ...A, state: 'connecting' }), 1);
    assert.equal(m.value('bledfu_dfu_jobs', { ...A, state: 'queued' }), 1);
    jobs.cancel(queued.id);
    const run = await runner.call(0);
    run.fail(new BledfuError('LINK_LOST', 'link lost', { layer: 'hci' }));
    await jobs.whenDone(running.id);
    m = await read();
    assert.equal(m.value('bledfu_dfu_failures_total', { ...A, reason: 'LINK_LOST', dfu_result: '' }), 1);
    assert.equal(m.value('bledfu_dfu_jobs_total', { ...S, result: 'cancelled' }), 1);
    assert.equal(m.value('bledfu_dfu_duration_seconds_count', { ...S, result: 'cancelled' }), undefined, 'never started: no duration');
    assert.equal(m.value('bledfu_dfu_duration_seconds_count', { ...S, result: 'failed' }), 1);
  });

  it('a legacy package\'s job is counted and timed under protocol="legacy", a Secure one under "secure"', async () => {
    const { runner, clock, jobs, read, create, adapter } = setup(2);
    const secure = create();
    // The job layer reads the protocol from the package (packageProtocol).
    const legacy = jobs.create({
      pkg: fakeLegacyPackage(),
      target: { kind: 'address', address: parseAddress('F0:12:34:56:7A:01') },
      options: DEFAULT_DFU_OPTIONS,
      adapter,
    });
    assert.equal(legacy.protocol, 'legacy');
    assert.equal(secure.protocol, 'secure');
    const r0 = await runner.call(0);
    const r1 = await runner.call(1);
    r0.emit(phase('transferring'));
    r1.emit(phase('transferring'));
    clock.ms += 7_000;
    r0.succeed();
    r1.fail(new BledfuError('LINK_LOST', 'link lost', { layer: 'hci' }));
    await Promise.all([jobs.whenDone(secure.id), jobs.whenDone(legacy.id)]);
    const m = await read();
    assert.equal(m.value('bledfu_dfu_jobs_total', { ...A, result: 'succeeded', protocol: 'secure' }), 1);
    assert.equal(m.value('bledfu_dfu_jobs_total', { ...A, result: 'failed', protocol: 'legacy' }), 1);
    assert.equal(m.value('bledfu_dfu_jobs_total', { ...A, result: 'failed', protocol: 'secure' }), 0);
    assert.equal(m.value('bledfu_dfu_duration_seconds_count', { ...A, result: 'failed', protocol: 'legacy' }), 1);
    assert.equal(m.value('bledfu_dfu_duration_seconds_sum', { ...A, result: 'failed', protocol: 'legacy' }), 7);
    assert.equal(m.value('bledfu_dfu_duration_seconds_count', { ...A, result: 'succeeded', protocol: 'legacy' }), undefined);
  });

  it('stops counting once closed', async () => {
    const { runner, jobs, metrics, create, read } = setup();
    metrics.close();
    const job = create();
    (await runner.call(0)).succeed();
    await jobs.whenDone(job.id);
    assert.equal((await read()).value('bledfu_dfu_jobs_total', { ...S, result: 'succeeded' }), 0);
  });
});
