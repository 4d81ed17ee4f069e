import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../server/ble/address.js';
import type { HciCapture, HciCaptureOptions } from '../../../server/ble/types.js';
import { BledfuError, hasCode } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';
import { DEFAULT_DFU_OPTIONS, type DfuTarget } from '../../../server/dfu/types.js';
import { JobManager, type JobManagerOptions } from '../../../server/jobs/manager.js';
import { FakeAdapter } from '../../helpers/fake-adapter.js';
import { ControlledRunner, fakePackage } from '../../helpers/fake-adapter-runner.js';

const TARGET: DfuTarget = { kind: 'address', address: parseAddress('F0:12:34:56:78:9A') };

/** Records whatever the test feeds it, like an adapter's recording would. */
class FakeCapture implements HciCapture {
  readonly maxBytes: number;
  readonly pieces: Uint8Array[] = [];
  recording = true;
  truncated = false;
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }
  get size(): number {
    return this.pieces.reduce((n, p) => n + p.length, 0);
  }
  feed(bytes: Uint8Array): void {
    if (this.recording) this.pieces.push(bytes);
  }
  chunks(): readonly Uint8Array[] {
    return [...this.pieces];
  }
  stop(): void {
    this.recording = false;
  }
}

class CapturingAdapter extends FakeAdapter {
  readonly captures: FakeCapture[] = [];
  refuse = false;
  captureHci(options: HciCaptureOptions): HciCapture {
    if (this.refuse) throw new BledfuError('ADAPTER_UNAVAILABLE', 'adapter closed', { layer: 'hci' });
    const c = new FakeCapture(options.maxBytes);
    this.captures.push(c);
    return c;
  }
}

function setup(overrides: Partial<JobManagerOptions> = {}) {
  const runner = new ControlledRunner();
  let n = 0;
  const manager = new JobManager({
    runner: runner.run,
    logger: silentLogger(),
    maxConcurrentPerAdapter: 1,
    retainFinished: 10,
    newId: () => `job-${++n}`,
    ...overrides,
  });
  const adapter = new CapturingAdapter();
  const create = (captureHci: boolean, a: FakeAdapter = adapter) =>
    manager.create({ pkg: fakePackage(), target: TARGET, options: DEFAULT_DFU_OPTIONS, adapter: a, captureHci });
  return { runner, manager, adapter, create };
}

const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);
const joined = (pieces: readonly Uint8Array[]): number[] => [...Buffer.concat(pieces)];

describe('JobManager: HCI capture per job', () => {
  it('records from the job start to its end; downloadable while running (so far) and after (complete)', async () => {
    const { runner, manager, adapter, create } = setup({ captureMaxBytes: 1234 });
    const job = create(true);
    const capture = adapter.captures[0];
    assert.ok(capture);
    assert.equal(capture.maxBytes, 1234);
    capture.feed(bytes(1, 2));
    assert.deepEqual(manager.get(job.id).capture, { state: 'recording', size: 2, truncated: false });
    assert.deepEqual(joined(manager.capture(job.id)), [1, 2]);
    capture.feed(bytes(3));
    const run = await runner.call(0);
    run.fail(new BledfuError('LINK_LOST', 'link lost', { layer: 'ble' }));
    await manager.whenDone(job.id);
    // A failed job keeps its capture: that is when it matters most.
    assert.equal(capture.recording, false);
    capture.feed(bytes(9));
    assert.deepEqual(manager.get(job.id).capture, { state: 'complete', size: 3, truncated: false });
    assert.deepEqual(joined(manager.capture(job.id)), [1, 2, 3]);
  });

  it('a job without capture has none: capture info absent, download CAPTURE_NOT_FOUND', () => {
    const { manager, adapter, create } = setup();
    const job = create(false);
    assert.equal(adapter.captures.length, 0);
    assert.equal(manager.get(job.id).capture, undefined);
    assert.throws(() => manager.capture(job.id), (e: unknown) => hasCode(e, 'CAPTURE_NOT_FOUND') && /without one/.test(e.message));
    assert.throws(() => manager.capture('nope'), (e: unknown) => hasCode(e, 'JOB_NOT_FOUND'));
  });

  it('an adapter that cannot capture refuses the job before it exists', () => {
    const { manager, create } = setup();
    assert.throws(() => create(true, new FakeAdapter('plain')), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /cannot capture/.test(e.message));
    assert.equal(manager.list().length, 0);
  });

  it('a queued job records nothing until it starts; cancelled while queued it never records', async () => {
    const { runner, manager, adapter, create } = setup();
    const first = create(false);
    const queued = create(true);
    const cancelledInQueue = create(true);
    assert.deepEqual(manager.get(queued.id).capture, { state: 'pending', size: 0, truncated: false });
    assert.throws(() => manager.capture(queued.id), (e: unknown) => hasCode(e, 'CAPTURE_NOT_FOUND') && /queued/.test(e.message));
    manager.cancel(cancelledInQueue.id);
    assert.equal(manager.get(cancelledInQueue.id).capture?.state, 'unavailable');
    (await runner.call(0)).succeed();
    await manager.whenDone(first.id);
    assert.equal(adapter.captures.length, 1);
    assert.equal(manager.get(queued.id).capture?.state, 'recording');
  });

  it('a capture that cannot start leaves the job running without one', async () => {
    const { runner, manager, adapter, create } = setup();
    adapter.refuse = true;
    const job = create(true);
    assert.equal(manager.get(job.id).capture?.state, 'unavailable');
    (await runner.call(0)).succeed();
    await manager.whenDone(job.id);
    assert.equal(manager.get(job.id).state, 'succeeded');
    assert.throws(() => manager.capture(job.id), (e: unknown) => hasCode(e, 'CAPTURE_NOT_FOUND'));
  });

  it('finished captures stay within their memory budget: the oldest go first, the newest is kept', async () => {
    const { runner, manager, adapter, create } = setup({ captureRetainBytes: 25 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const job = create(true);
      ids.push(job.id);
      adapter.captures[i]?.feed(new Uint8Array(10));
      (await runner.call(i)).succeed();
      await manager.whenDone(job.id);
    }
    assert.deepEqual(
      ids.map((id) => manager.get(id).capture?.state),
      ['discarded', 'complete', 'complete'],
    );
    assert.throws(() => manager.capture(ids[0] as string), (e: unknown) => hasCode(e, 'CAPTURE_NOT_FOUND') && /discarded/.test(e.message));
    assert.equal(Buffer.concat(manager.capture(ids[2] as string)).length, 10);
  });
});
