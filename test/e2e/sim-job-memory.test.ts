/**
 * Issue 12, item 1, through gRPC on the accelerated simulator: what queued, running and finished
 * jobs hold. Many StartDfu calls with the same package share one copy of its images in the
 * package store; a job gives its share back when it ends (cancelled while queued included); the
 * queue refuses beyond its bound and distinct packages beyond the store's budget, both
 * RESOURCE_EXHAUSTED with a remedy naming the setting. Memory is asserted through the store's
 * accounting, never RSS (test/bench/jobs-memory.bench.ts measures that).
 *
 * The tests hold the modelled clock while they queue jobs, so the running job stays at its first
 * step and the queue is exactly what they built, however fast the machine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeError, JobState, startDfu, Status, uploadPackage, type DfuEvent } from '../../clients/ts/index.js';
import { isVirtualClock } from '../../server/sim/clock.js';
import { addressTarget, drain, finished, startSimServer, until, type SimServer } from '../helpers/sim-server.js';
import { projectPackage, type ProjectPackageName } from '../helpers/project-packages.js';

/** Bytes of unpacked images the package store holds for a project package. */
async function heldBytes(name: ProjectPackageName): Promise<number> {
  return (await projectPackage(name)).images.reduce((n, i) => n + i.bin.length + i.dat.length, 0);
}

/** Holds modelled time still until the returned function is called. */
function holdClock(s: SimServer): () => void {
  const clock = s.clock;
  if (!isVirtualClock(clock)) throw new Error('the simulated server runs on a virtual clock');
  const id = clock.hold();
  return () => clock.release(id);
}

/** Starts a DFU and returns its job id once the server has answered with the snapshot; the stream stays open. */
interface Started {
  readonly jobId: string;
  readonly events: AsyncIterator<DfuEvent>;
}

async function startJob(s: SimServer, zip: Uint8Array | { packageId: string }, device = 0): Promise<Started> {
  const events = startDfu(s.client, {
    package: zip instanceof Uint8Array ? { data: zip } : zip,
    target: addressTarget(s.device(device).address.value),
  })[Symbol.asyncIterator]();
  const snapshot = await until(events, (e) => e.type === 'snapshot');
  return { jobId: snapshot.jobId, events };
}

describe('what jobs hold, through gRPC on the simulator', () => {
  it('N jobs of the same package share one copy of its images; each gives its share back when it ends, and finished jobs hold none', { timeout: 60_000 }, async () => {
    const s = await startSimServer({}, { maxConcurrentDfus: 1 });
    const release = holdClock(s);
    try {
      const app = await projectPackage('app');
      const held = await heldBytes('app');
      const jobs: Started[] = [];
      for (let i = 0; i < 6; i++) jobs.push(await startJob(s, app.zip));
      // A seventh by id (uploaded first): the same bytes, the same copy.
      const uploaded = await uploadPackage(s.client, app.zip);
      jobs.push(await startJob(s, { packageId: uploaded.packageId }));
      assert.deepEqual(s.app.packages.usage(), { packages: 1, totalBytes: held, leasedBytes: held, leases: 7 });
      const listed = (await s.client.listJobs({ activeOnly: true })).jobs;
      assert.equal(listed.length, 7);
      assert.equal(listed.filter((j) => j.state === JobState.JOB_STATE_QUEUED).length, 6, 'one runs, six wait');

      // Cancelling the queued ones gives their shares back at once.
      for (const j of jobs.slice(1)) await s.client.cancelJob({ jobId: j.jobId });
      assert.deepEqual(s.app.packages.usage(), { packages: 1, totalBytes: held, leasedBytes: held, leases: 1 });

      // The running one ends (it succeeds once time moves): no job holds anything; the finished
      // jobs are still listed, described by their summaries, and the package stays as an unused
      // (evictable) upload.
      release();
      const run = await drain({ [Symbol.asyncIterator]: () => (jobs[0] as Started).events });
      assert.equal(finished(run.events)?.result.success, true, String(run.error));
      assert.deepEqual(s.app.packages.usage(), { packages: 1, totalBytes: held, leasedBytes: 0, leases: 0 });
      const all = (await s.client.listJobs({ activeOnly: false })).jobs;
      assert.equal(all.length, 7);
      for (const j of all) assert.equal(j.images.length, 1, 'a finished job still says what it sent');
      for (const j of jobs.slice(1)) await drain({ [Symbol.asyncIterator]: () => j.events });
    } finally {
      release();
      await s.close();
    }
  });

  it('a full queue refuses StartDfu with RESOURCE_EXHAUSTED (JOB_QUEUE_FULL) naming the setting, before the job exists', { timeout: 60_000 }, async () => {
    const s = await startSimServer({}, { maxConcurrentDfus: 1, maxQueuedDfus: 2 });
    const release = holdClock(s);
    try {
      const app = await projectPackage('app');
      const jobs: Started[] = [];
      for (let i = 0; i < 3; i++) jobs.push(await startJob(s, app.zip));
      const refused = await drain(startDfu(s.client, { package: { data: app.zip }, target: addressTarget(s.device().address.value) }));
      const error = decodeError(refused.error);
      assert.equal(error.grpcCode, Status.RESOURCE_EXHAUSTED);
      assert.equal(error.code, 'JOB_QUEUE_FULL');
      assert.match(error.remedy ?? '', /--max-queued-dfus/);
      assert.equal(refused.events.length, 0, 'no job was made');
      assert.equal((await s.client.listJobs({ activeOnly: false })).jobs.length, 3);
      assert.equal(s.app.packages.usage().leases, 3, 'the refused call holds no share');
      // Room again once a queued job is cancelled.
      await s.client.cancelJob({ jobId: (jobs[2] as Started).jobId });
      jobs.push(await startJob(s, app.zip));
      for (const j of jobs) await s.client.cancelJob({ jobId: j.jobId });
    } finally {
      release();
      await s.close();
    }
  });

  it('distinct packages beyond the package store budget are refused RESOURCE_EXHAUSTED (PACKAGE_STORE_FULL); a cancelled queued job makes room', { timeout: 60_000 }, async () => {
    // Room for the application package and the bootloader package, not for a third beside them;
    // the third (the small application) would fit in the bootloader package's place.
    const budget = (await heldBytes('app')) + (await heldBytes('bootloader'));
    assert.ok((await heldBytes('app-small')) <= (await heldBytes('bootloader')), 'the third fits once the queued job is gone');
    const s = await startSimServer({}, { maxConcurrentDfus: 1, packageStoreBytes: budget });
    const release = holdClock(s);
    try {
      const running = await startJob(s, (await projectPackage('app')).zip);
      const queued = await startJob(s, (await projectPackage('bootloader')).zip);
      const small = (await projectPackage('app-small')).zip;
      const refused = await drain(startDfu(s.client, { package: { data: small }, target: addressTarget(s.device().address.value) }));
      const error = decodeError(refused.error);
      assert.equal(error.grpcCode, Status.RESOURCE_EXHAUSTED);
      assert.equal(error.code, 'PACKAGE_STORE_FULL');
      assert.match(error.remedy ?? '', /--package-store-bytes/);
      assert.deepEqual(s.app.packages.usage(), { packages: 2, totalBytes: budget, leasedBytes: budget, leases: 2 });

      await s.client.cancelJob({ jobId: queued.jobId });
      const third = await startJob(s, small);
      const usage = s.app.packages.usage();
      assert.equal(usage.packages, 2, 'the cancelled job\'s package made room for the new one');
      assert.ok(usage.totalBytes <= budget);
      // The running job's cancellation goes down to the dongle (its HCI commands cross the
      // simulated UART, which takes modelled time): let time move and wait for both to end.
      for (const j of [running, third]) await s.client.cancelJob({ jobId: j.jobId });
      release();
      for (const j of [running, third]) await drain({ [Symbol.asyncIterator]: () => j.events });
      assert.equal(s.app.packages.usage().leases, 0);
    } finally {
      release();
      await s.close();
    }
  });
});
