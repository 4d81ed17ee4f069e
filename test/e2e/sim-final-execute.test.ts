/**
 * The final Execute decides: once the bootloader got it, it validates and activates the image
 * whatever the host does next. A link lost right after it, or a cancel while its answer is on the
 * way, must not make the job report a failure or a cancel for a device that runs the new
 * firmware — a campaign (or an operator) would then send the image a second time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeviceState, JobState, startDfu } from '../../clients/ts/index.js';
import { bootloaderAddress } from '../../server/ble/address.js';
import { addressTarget, drain, finished, revisionOf, SIM_DONGLES, startSimServer, type Drained } from '../helpers/sim-server.js';
import { projectFacts } from '../helpers/project-packages.js';

/** The project's ~100 KB application package (demo key, the simulator's default). */
const APP = await projectFacts('app');
const OBJECT = 4096;
const DATA_OBJECTS = Math.ceil(APP.size / OBJECT);

const details = (r: Drained): string[] => r.events.flatMap((e) => (e.type === 'state' ? [e.detail] : []));

for (const dongle of SIM_DONGLES) {
  describe(`a link lost right after the final Execute (${dongle.label})`, () => {
    it('the device came back in its application: SUCCEEDED, the image sent once, the revision read', { timeout: 30_000 }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const dev = s.device();
        const cut = s.world.faults.inject({ kind: 'dropLinkAfterRequest', op: 'execute', objectType: 'data', occurrence: DATA_OBJECTS });
        const r = await drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(dev.address.value) }, { signal: AbortSignal.timeout(25_000) }));
        assert.equal(r.error, undefined, String(r.error));
        assert.equal(cut.fired, 1, 'the link was cut after the final Execute');
        const f = finished(r.events);
        assert.equal(f?.result.success, true, f?.error?.message);
        assert.equal(f?.result.state, JobState.JOB_STATE_SUCCEEDED);
        assert.equal(f?.result.deviceState, DeviceState.DEVICE_STATE_APPLICATION);
        assert.equal(f?.result.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
        assert.equal(dev.images().application?.sha256, APP.sha256);
        assert.equal(s.observed().dataBytes, APP.size, 'every firmware byte crossed the air exactly once');
        assert.ok(
          details(r).some((d) => d.includes('link lost after the final Execute; the device came back in its application: the image was activated')),
          details(r).join('\n'),
        );
        assert.ok(!details(r).some((d) => d.includes('cannot be confirmed')), 'the firmware revision changed: nothing to doubt');
      } finally {
        await s.close();
      }
    });
  });
}

describe('a link lost right after the final Execute, the firmware revision the same as before', () => {
  it('succeeds without sending the image again, and says the update cannot be confirmed', { timeout: 30_000 }, async () => {
    const s = await startSimServer({}, {});
    try {
      const dev = s.device();
      const target = addressTarget(dev.address.value);
      // The device first gets this very image, so its revision reads the same before and after the next job.
      const first = finished((await drain(startDfu(s.client, { package: { data: APP.zip }, target }, { signal: AbortSignal.timeout(25_000) }))).events);
      assert.equal(first?.result.state, JobState.JOB_STATE_SUCCEEDED, first?.error?.message);
      const before = s.observed().dataBytes;
      s.world.faults.inject({ kind: 'dropLinkAfterRequest', op: 'execute', objectType: 'data', occurrence: DATA_OBJECTS });
      const r = await drain(startDfu(s.client, { package: { data: APP.zip }, target }, { signal: AbortSignal.timeout(25_000) }));
      const f = finished(r.events);
      assert.equal(f?.result.state, JobState.JOB_STATE_SUCCEEDED, f?.error?.message);
      assert.equal(f?.result.deviceState, DeviceState.DEVICE_STATE_APPLICATION);
      assert.equal(s.observed().dataBytes - before, APP.size, 'the image went once');
      assert.match(details(r).at(-1) ?? '', /the image was activated, but its firmware revision is still "app v1 [0-9a-f]+" as before the update, so the new application cannot be confirmed; the image was not sent again/);
    } finally {
      await s.close();
    }
  });
});

describe('a link lost right after the final Execute, the job aimed at the bootloader', () => {
  it('finds the application at the bootloader address − 1 (SDK rule) and succeeds', { timeout: 30_000 }, async () => {
    const s = await startSimServer({ devices: [{ startInBootloader: true }] }, {});
    try {
      const dev = s.device();
      const bl = bootloaderAddress(dev.address);
      s.world.faults.inject({ kind: 'dropLinkAfterRequest', op: 'execute', objectType: 'data', occurrence: DATA_OBJECTS });
      const r = await drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(bl.value) }, { signal: AbortSignal.timeout(25_000) }));
      assert.equal(r.error, undefined, String(r.error));
      const f = finished(r.events);
      assert.equal(f?.result.state, JobState.JOB_STATE_SUCCEEDED, f?.error?.message);
      assert.equal(f?.result.deviceState, DeviceState.DEVICE_STATE_APPLICATION);
      assert.equal(f?.result.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
      assert.equal(s.observed().dataBytes, APP.size, 'the image was not sent again');
    } finally {
      await s.close();
    }
  });
});

for (const dongle of SIM_DONGLES) {
  describe(`a cancel while the final Execute's answer is on the way (${dongle.label})`, () => {
    it('the device is updated: SUCCEEDED without a device state, the detail says the final check was skipped', { timeout: 30_000 }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const dev = s.device();
        let cancelled = false;
        // The engine reports the whole image confirmed right before it sends the final Execute:
        // hold that Execute's answer (modelled time), and cancel while it is on the way.
        const stop = s.app.jobs.onEvent((event, ref) => {
          if (cancelled || event.kind !== 'progress' || event.progress.totalBytesSent !== APP.size) return;
          cancelled = true;
          s.world.faults.inject({ kind: 'delayControlPoint', ms: 2_000, times: 1 });
          void s.clock.sleep(500).then(() => s.app.jobs.cancel(ref.id, 'test'));
        });
        try {
          const r = await drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(dev.address.value) }, { signal: AbortSignal.timeout(25_000) }));
          assert.equal(cancelled, true, 'the cancel was sent');
          const f = finished(r.events);
          assert.equal(f?.result.state, JobState.JOB_STATE_SUCCEEDED, f?.error?.message);
          assert.equal(f?.result.deviceState, DeviceState.DEVICE_STATE_UNSPECIFIED);
          // The bootloader writes its settings and resets once its flash is idle (modelled time).
          await s.clock.sleep(3_000);
          assert.equal(dev.images().application?.sha256, APP.sha256, 'the device activated the image');
          const last = details(r).at(-1) ?? '';
          assert.match(last, /final check .* was skipped: job cancelled by a CancelJob request/);
        } finally {
          stop();
        }
      } finally {
        await s.close();
      }
    });
  });
}
