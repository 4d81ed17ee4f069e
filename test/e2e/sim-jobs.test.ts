/**
 * Acceptance: jobs outlive their clients, and CancelJob stops a transfer in a way the device can
 * resume — through the real server, engine, host stack and simulated bootloader.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeError, JobState, startDfu, Status, watchJob, type DfuEvent } from '../../clients/ts/index.js';
import { bootloaderAddress } from '../../server/ble/address.js';
import { addressTarget, drain, finished, journey, progresses, revisionOf, SIM_DONGLES, startSimServer, until } from '../helpers/sim-server.js';
import { projectFacts } from '../helpers/project-packages.js';

/** The project's ~100 KB application package (demo key, the simulator's default); facts computed from its bytes. */
const APP = await projectFacts('app');
const DK_APP_SHA256 = '7f030207a1b243df126c23835239c705be5de8039fa882b89d2b4d4b71c1c797';

for (const dongle of SIM_DONGLES) {
  describe(`jobs on the simulator, over gRPC (${dongle.label})`, () => {
    it('three devices updated in parallel through one adapter, each job on its own link, all succeed', { timeout: 30_000 }, async () => {
      const s = await startSimServer({ devices: [{}, {}, {}] }, { maxConcurrentDfus: 3 }, dongle);
      try {
        const devices = [0, 1, 2].map((i) => s.device(i));
        const runs = await Promise.all(
          devices.map((dev) =>
            drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(dev.address.value) }, { signal: AbortSignal.timeout(25_000) })),
          ),
        );
        for (const [i, r] of runs.entries()) {
          assert.equal(r.error, undefined, `device ${i + 1}: ${String(r.error)}`);
          assert.equal(finished(r.events)?.result.success, true);
          assert.equal(devices[i]?.firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
          assert.equal(s.observed(i).dataBytes, APP.size, `device ${i + 1} got every byte once`);
        }
        // They really overlapped: every job was transferring before any of them finished.
        const firstFinish = Math.min(...runs.map((r) => finished(r.events)?.time?.getTime() ?? Number.POSITIVE_INFINITY));
        for (const r of runs) {
          const started = r.events.find((e) => e.type === 'progress')?.time?.getTime() ?? Number.POSITIVE_INFINITY;
          assert.ok(started < firstFinish, 'the transfers ran at the same time');
        }
      } finally {
        await s.close();
      }
    });

    it('a client that goes away mid-DFU does not stop the job; another client watches it succeed', { timeout: 30_000 }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const dev = s.device();
        const leave = new AbortController();
        const first = startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(dev.address.value) }, { signal: leave.signal })[
          Symbol.asyncIterator
        ]();
        const snapshot = await until(first, (e) => e.type === 'snapshot');
        await until(first, (e) => e.type === 'progress');
        leave.abort();
        await assert.rejects(first.next(), (e: unknown) => decodeError(e).code === 'CANCELLED');
        const atLeave = s.observed().dataBytes;
        assert.ok(atLeave < APP.size, `the transfer was still under way when the client left (${atLeave} bytes)`);

        const other = s.newClient();
        const watched = await drain(watchJob(other, snapshot.jobId, { signal: AbortSignal.timeout(20_000) }));
        assert.equal(watched.error, undefined, String(watched.error));
        assert.equal(watched.events[0]?.type, 'snapshot');
        const f = finished(watched.events);
        assert.equal(f?.result.success, true, f?.error?.message);
        assert.equal(f?.result.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
        assert.equal(journey(watched.events).at(-1), 'SUCCEEDED');
        assert.equal((await other.getJob({ jobId: snapshot.jobId })).job?.state, JobState.JOB_STATE_SUCCEEDED);
        assert.equal(dev.firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
        assert.equal(s.observed().dataBytes, APP.size, 'the transfer carried on without a restart');
      } finally {
        await s.close();
      }
    });

    it('CancelJob mid-transfer: CANCELLED, the device stays in its bootloader, and a later DFU resumes and succeeds', { timeout: 30_000 }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const dev = s.device();
        const seen: DfuEvent[] = [];
        const it1 = startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(dev.address.value) }, { signal: AbortSignal.timeout(20_000) })[
          Symbol.asyncIterator
        ]();
        const snapshot = await until(it1, (e) => e.type === 'snapshot', seen);
        await until(it1, (e) => e.type === 'progress', seen);
        const disconnected = s.nextDisconnection();
        const cancelled = await s.client.cancelJob({ jobId: snapshot.jobId });
        assert.equal(cancelled.job?.jobId, snapshot.jobId);

        let error: unknown;
        try {
          for (;;) {
            const r = await it1.next();
            if (r.done === true) break;
            seen.push(r.value);
          }
        } catch (e) {
          error = e;
        }
        const f = finished(seen);
        assert.equal(f?.result.success, false);
        assert.equal(f?.error?.code, 'CANCELLED');
        const d = decodeError(error);
        assert.equal(d.grpcCode, Status.CANCELLED);
        assert.equal(d.code, 'CANCELLED');
        assert.equal(journey(seen).at(-1), 'CANCELLED');
        assert.equal((await s.client.getJob({ jobId: snapshot.jobId })).job?.state, JobState.JOB_STATE_CANCELLED);

        // The engine hung up; the device is still in its bootloader with what it received so far.
        await disconnected;
        const before = s.observed().dataBytes;
        assert.ok(before > 0 && before < APP.size, `data bytes at cancel: ${before}`);
        assert.equal(dev.mode(), 'bootloader');
        assert.equal(dev.images().application?.sha256, DK_APP_SHA256, 'the old application is untouched');
        assert.equal(s.world.air.links.length, 0, 'no link left open');

        // The same package again, to the bootloader (address + 1, as a scan shows it): it resumes.
        const again = await drain(
          startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(bootloaderAddress(dev.address).value) }, { signal: AbortSignal.timeout(20_000) }),
        );
        assert.equal(again.error, undefined, String(again.error));
        const f2 = finished(again.events);
        assert.equal(f2?.result.success, true, f2?.error?.message);
        assert.equal(f2?.result.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
        assert.equal(dev.firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
        assert.equal(dev.mode(), 'application');
        assert.deepEqual(journey(again.events), ['CONNECTING', 'TRANSFERRING', 'ACTIVATING', 'SUCCEEDED'], 'no buttonless entry needed');
        // Resumed: only the bytes the device did not have crossed the air, and the init packet once.
        assert.equal(s.observed().dataBytes, APP.size);
        assert.equal(s.observed().commandBytes, APP.datSize);
        const firstReport = progresses(again.events)[0]?.imageBytesSent ?? 0;
        assert.ok(firstReport >= before, `the first progress (${firstReport}) already counts what the device kept (${before})`);
      } finally {
        await s.close();
      }
    });
  });
}
