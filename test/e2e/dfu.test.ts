import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  AddressType,
  BledfuClientError,
  CancelCause,
  decodeError,
  JobState,
  startDfu,
  Status,
  uploadPackage,
  watchJob,
  type DfuEvent,
  type Target,
} from '../../clients/ts/index.js';
import type { StartDfuResponse } from '../../proto/gen/bledfu/v1/dfu.js';
import { BledfuError } from '../../server/common/errors.js';
import { progress, fakePackageBytes } from '../helpers/fake-adapter-runner.js';
import { DEVICE, startHarness, type Harness } from '../helpers/rpc-harness.js';

const TARGET: Target = { selector: { $case: 'address', address: { value: DEVICE.value, type: AddressType.ADDRESS_TYPE_RANDOM } } };

/** Collects a stream's events and how it ended. */
async function drain(events: AsyncIterable<DfuEvent>): Promise<{ events: DfuEvent[]; error: unknown }> {
  const out: DfuEvent[] = [];
  try {
    for await (const e of events) out.push(e);
    return { events: out, error: undefined };
  } catch (error) {
    return { events: out, error };
  }
}

/** Waits for the first event satisfying `pred`, leaving the iterator open. */
async function until(it: AsyncIterator<DfuEvent>, pred: (e: DfuEvent) => boolean): Promise<DfuEvent> {
  for (;;) {
    const r = await it.next();
    assert.equal(r.done, false, 'stream ended early');
    if (pred(r.value as DfuEvent)) return r.value as DfuEvent;
  }
}

describe('StartDfu over gRPC', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  it('streams snapshot → states → progress → finished for a successful job', async () => {
    const stream = drain(startDfu(h.client, { package: { data: fakePackageBytes() }, target: TARGET, options: { mtu: 185 } }));
    const run = await h.runner.call(0);
    assert.equal(run.options.mtu, 185);
    assert.equal(run.options.retries, 3, 'unset options take DEFAULT_DFU_OPTIONS');
    run.emit({ kind: 'phase', phase: 'transferring', detail: 'sending application' });
    run.emit(progress(500, 1000));
    run.emit(progress(1000, 1000));
    run.emit({ kind: 'phase', phase: 'activating', detail: 'waiting for reboot' });
    run.succeed({ firmwareRevision: '2.0.0' });
    const { events, error } = await stream;
    assert.equal(error, undefined);
    assert.equal(events[0]?.type, 'snapshot');
    const last = events.at(-1);
    assert.equal(last?.type, 'finished');
    if (last?.type === 'finished') {
      assert.equal(last.result.success, true);
      assert.equal(last.result.firmwareRevision, '2.0.0');
    }
    const states = events.flatMap((e) => (e.type === 'state' ? [e.stateName] : []));
    assert.deepEqual(states, ['TRANSFERRING', 'ACTIVATING', 'SUCCEEDED']);
    const progresses = events.flatMap((e) => (e.type === 'progress' ? [e.progress] : []));
    assert.ok(progresses.length >= 1);
    assert.equal(progresses.at(-1)?.totalBytesSent, 1000);
    assert.equal(progresses.at(-1)?.totalBytesTotal, 1000);
  });

  it('keeps the job running when the client goes away; another client sees it finish', async () => {
    const n = h.runner.calls.length;
    const stop = new AbortController();
    const first = startDfu(h.client, { package: { data: fakePackageBytes() }, target: TARGET }, { signal: stop.signal })[Symbol.asyncIterator]();
    const snapshot = await until(first, (e) => e.type === 'snapshot');
    const run = await h.runner.call(n);
    run.emit({ kind: 'phase', phase: 'transferring', detail: 'sending' });
    run.emit(progress(300, 1000));
    await until(first, (e) => e.type === 'progress');
    stop.abort();
    await assert.rejects(first.next());
    assert.equal(run.context.signal.aborted, false, 'the job must not see the client leave');

    const second = watchJob(h.newClient(), snapshot.jobId)[Symbol.asyncIterator]();
    const late = await until(second, (e) => e.type === 'snapshot');
    if (late.type === 'snapshot') assert.equal(late.job.state, JobState.JOB_STATE_TRANSFERRING);
    const rest = drain({ [Symbol.asyncIterator]: () => second });
    run.emit(progress(1000, 1000));
    run.succeed();
    const { events, error } = await rest;
    assert.equal(error, undefined);
    const last = events.at(-1);
    assert.equal(last?.type === 'finished' && last.result.success, true);
    const got = await h.client.getJob({ jobId: snapshot.jobId });
    assert.equal(got.job?.state, JobState.JOB_STATE_SUCCEEDED);
  });

  it('CancelJob mid-transfer ends the job CANCELLED and the stream with status CANCELLED', async () => {
    const n = h.runner.calls.length;
    const it = startDfu(h.client, { package: { data: fakePackageBytes() }, target: TARGET })[Symbol.asyncIterator]();
    const snapshot = await until(it, (e) => e.type === 'snapshot');
    const run = await h.runner.call(n);
    run.emit({ kind: 'phase', phase: 'transferring', detail: 'sending' });
    run.emit(progress(200, 1000));
    await until(it, (e) => e.type === 'progress');
    const cancelled = await h.client.cancelJob({ jobId: snapshot.jobId });
    assert.equal(cancelled.job?.jobId, snapshot.jobId);
    assert.equal(run.context.signal.aborted, true);
    const rest: DfuEvent[] = [];
    let error: unknown;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done === true) break;
        rest.push(r.value);
      }
    } catch (e) {
      error = e;
    }
    const finished = rest.at(-1);
    assert.equal(finished?.type, 'finished');
    if (finished?.type === 'finished') assert.equal(finished.error?.code, 'CANCELLED');
    const d = decodeError(error);
    assert.equal(d.grpcCode, Status.CANCELLED);
    assert.equal(d.code, 'CANCELLED');
    assert.equal((await h.client.getJob({ jobId: snapshot.jobId })).job?.state, JobState.JOB_STATE_CANCELLED);
  });

  it('rejects an invalid package with INVALID_ARGUMENT before any job or device is touched', async () => {
    const calls = h.runner.calls.length;
    const jobs = (await h.client.listJobs({ activeOnly: false })).jobs.length;
    const { events, error } = await drain(
      startDfu(h.client, { package: { data: new TextEncoder().encode('definitely not a zip') }, target: TARGET }),
    );
    assert.deepEqual(events, []);
    const d = decodeError(error);
    assert.equal(d.grpcCode, Status.INVALID_ARGUMENT);
    assert.equal(d.code, 'PACKAGE_INVALID');
    assert.match(d.message, /manifest/);
    assert.equal(d.remedy, 'build the package with nrfutil pkg generate');
    assert.equal(h.runner.calls.length, calls);
    assert.equal((await h.client.listJobs({ activeOnly: false })).jobs.length, jobs);
  });

  it('rejects a missing target with INVALID_ARGUMENT', async () => {
    const { error } = await drain(startDfu(h.client, { package: { data: fakePackageBytes() }, target: { selector: undefined } }));
    const d = decodeError(error);
    assert.equal(d.grpcCode, Status.INVALID_ARGUMENT);
    assert.equal(d.code, 'INVALID_ARGUMENT');
  });

  it('a failed job: the stream ends OK after `finished`, which carries the outcome (state FAILED, reason, error_status NOT_FOUND)', async () => {
    const n = h.runner.calls.length;
    const responses: StartDfuResponse[] = [];
    const wire = (async () => {
      for await (const r of h.client.startDfu({ package: { $case: 'packageData', packageData: Buffer.from(fakePackageBytes()) }, target: TARGET, adapterId: '', captureHci: false })) {
        responses.push(r);
      }
    })();
    const run = await h.runner.call(n);
    run.fail(new BledfuError('DEVICE_NOT_FOUND', 'nothing advertises F0:12:34:56:78:9A', { layer: 'ble', remedy: 'power the device' }));
    await wire; // resolves: the call itself did not fail
    const last = responses.at(-1)?.event?.kind;
    assert.equal(last?.$case, 'finished', 'the last message of the stream is `finished`');
    if (last?.$case === 'finished') {
      assert.equal(last.finished.state, JobState.JOB_STATE_FAILED);
      assert.equal(last.finished.success, false);
      assert.equal(last.finished.error?.reason, 'DEVICE_NOT_FOUND');
      assert.equal(last.finished.errorStatus, Status.NOT_FOUND);
      assert.equal(last.finished.cancelCause, CancelCause.CANCEL_CAUSE_UNSPECIFIED);
      // All a failed call's ErrorInfo would have said, e.g. the layer, which ErrorDetail lacks.
      assert.deepEqual(last.finished.errorMetadata, { remedy: 'power the device', layer: 'ble' });
    }
    // Watching the job after its end: its snapshot, its `finished`, and OK again.
    const jobId = responses[0]?.event?.jobId ?? '';
    const watched: string[] = [];
    for await (const r of h.client.watchJob({ jobId })) watched.push(String(r.event?.kind?.$case));
    assert.deepEqual(watched, ['snapshot', 'finished']);
  });

  it('the TS client still throws a failed job\'s error, typed like a failed call, after yielding `finished`', async () => {
    const n = h.runner.calls.length;
    const stream = drain(startDfu(h.client, { package: { data: fakePackageBytes() }, target: TARGET }));
    const run = await h.runner.call(n);
    run.fail(new BledfuError('DEVICE_NOT_FOUND', 'nothing advertises F0:12:34:56:78:9A', { layer: 'ble', remedy: 'power the device' }));
    const { events, error } = await stream;
    const finished = events.at(-1);
    assert.equal(finished?.type, 'finished');
    if (finished?.type === 'finished') {
      assert.equal(finished.result.success, false);
      assert.equal(finished.error?.code, 'DEVICE_NOT_FOUND');
    }
    assert.ok(error instanceof BledfuClientError, String(error));
    const d = decodeError(error);
    assert.equal(d.grpcCode, Status.NOT_FOUND);
    assert.equal(d.code, 'DEVICE_NOT_FOUND');
    assert.equal(d.remedy, 'power the device');
    assert.equal(d.layer, 'ble');
  });

  it('carries the device\'s DFU codes in the job\'s error, keyed as in ErrorInfo metadata', async () => {
    const n = h.runner.calls.length;
    const stream = drain(startDfu(h.client, { package: { data: fakePackageBytes() }, target: TARGET }));
    (await h.runner.call(n)).fail(
      new BledfuError('DFU_REMOTE_ERROR', 'the device rejected the init packet', {
        layer: 'dfu',
        facts: { dfuResult: 0x0b, dfuResultName: 'EXT_ERROR', dfuExtended: 0x07, dfuExtendedName: 'FW_VERSION_FAILURE' },
      }),
    );
    const d = decodeError((await stream).error);
    assert.equal(d.grpcCode, Status.FAILED_PRECONDITION);
    assert.equal(d.metadata['dfu_result'], '11');
    assert.equal(d.dfuResult, 11);
    assert.equal(d.dfuResultName, 'EXT_ERROR');
    assert.equal(d.dfuExtended, 7);
    assert.equal(d.dfuExtendedName, 'FW_VERSION_FAILURE');
  });

  it('uploads a package in chunks and starts a DFU by package_id', async () => {
    const bytes = fakePackageBytes(100_000);
    const uploaded = await uploadPackage(h.client, bytes, { chunkSize: 7_000 });
    assert.equal(uploaded.size, 100_000);
    assert.equal(uploaded.packageId, uploaded.sha256);
    assert.equal(uploaded.images.length, 1);
    const n = h.runner.calls.length;
    const stream = drain(startDfu(h.client, { package: { packageId: uploaded.packageId }, target: TARGET }));
    const run = await h.runner.call(n);
    assert.equal(run.pkg.size, 100_000);
    run.succeed();
    assert.equal((await stream).error, undefined);
  });

  it('refuses an upload over the request size limit, and unknown package ids', async () => {
    const tooBig = decodeError(await uploadPackage(h.client, fakePackageBytes(1024 * 1024 + 1)).catch((e: unknown) => e));
    assert.equal(tooBig.grpcCode, Status.INVALID_ARGUMENT);
    assert.equal(tooBig.code, 'PACKAGE_TOO_LARGE');
    const { error } = await drain(startDfu(h.client, { package: { packageId: 'ff'.repeat(32) }, target: TARGET }));
    assert.equal(decodeError(error).code, 'PACKAGE_NOT_FOUND');
    assert.equal(decodeError(error).grpcCode, Status.NOT_FOUND);
  });

  it('reports unknown jobs and adapters as NOT_FOUND', async () => {
    const job = decodeError(await h.client.getJob({ jobId: 'nope' }).catch((e: unknown) => e));
    assert.equal(job.code, 'JOB_NOT_FOUND');
    assert.equal(job.grpcCode, Status.NOT_FOUND);
    const { error } = await drain(watchJob(h.client, 'nope'));
    assert.equal(decodeError(error).code, 'JOB_NOT_FOUND');
    const adapter = await drain(startDfu(h.client, { package: { data: fakePackageBytes() }, target: TARGET, adapterId: 'hci9' }));
    assert.equal(decodeError(adapter.error).code, 'ADAPTER_NOT_FOUND');
  });

  it('refuses an empty job id with INVALID_ARGUMENT (a caller mistake, not an unknown job)', async () => {
    for (const call of [() => h.client.getJob({ jobId: '' }), () => h.client.cancelJob({ jobId: '' })]) {
      const e = decodeError(await call().catch((x: unknown) => x));
      assert.equal(e.grpcCode, Status.INVALID_ARGUMENT);
      assert.match(e.message, /job_id is required/);
    }
    const { error } = await drain(watchJob(h.client, ''));
    assert.equal(decodeError(error).grpcCode, Status.INVALID_ARGUMENT);
  });

  it('lists jobs, active only on request', async () => {
    const all = await h.client.listJobs({ activeOnly: false });
    assert.ok(all.jobs.length >= 5);
    const active = await h.client.listJobs({ activeOnly: true });
    assert.deepEqual(active.jobs, []);
  });
});

describe('server shutdown', () => {
  it('cancels running jobs; their streams see finished CANCELLED', async () => {
    const h = await startHarness();
    const stream = drain(startDfu(h.client, { package: { data: fakePackageBytes() }, target: TARGET }));
    const run = await h.runner.call(0);
    run.emit({ kind: 'phase', phase: 'transferring', detail: '' });
    await h.close();
    assert.equal(run.context.signal.aborted, true);
    const { events, error } = await stream;
    const last = events.at(-1);
    assert.equal(last?.type === 'finished' && last.error?.code, 'CANCELLED');
    assert.equal(last?.type === 'finished' && last.result.state, JobState.JOB_STATE_CANCELLED);
    assert.equal(last?.type === 'finished' && last.result.cancelCause, CancelCause.CANCEL_CAUSE_SERVER_SHUTDOWN, 'the server, not a CancelJob, ended it');
    const d = decodeError(error);
    assert.equal(d.grpcCode, Status.CANCELLED);
    assert.equal(d.metadata['cancel_cause'], 'SERVER_SHUTDOWN');
  });
});
