/**
 * Issue 10, problem 1: a server that has already run jobs keeps its adapter. Eight DFUs at once on
 * one adapter, then a ninth on the same server: every one succeeds and reads back the new
 * firmware revision, and the adapter stays READY throughout. Before the fix, the end of each
 * job's own notification queue was taken for the dongle going away ("dongle sim0 went away"), so
 * read-backs failed, queued jobs failed at once and every later job failed with
 * ADAPTER_UNAVAILABLE while ListAdapters still said READY.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdapterState, startDfu } from '../../clients/ts/index.js';
import { addressTarget, drain, finished, journey, revisionOf, SIM_DONGLES, startSimServer } from '../helpers/sim-server.js';
import { projectFacts } from '../helpers/project-packages.js';

/** The project's ~100 KB application package (demo key, the simulator's default); facts computed from its bytes. */
const APP = await projectFacts('app');

for (const dongle of SIM_DONGLES) {
  describe(`a long-running server (${dongle.label})`, () => {
    it('eight parallel DFUs and then a ninth all succeed with their firmware revision; the adapter stays ready', { timeout: 120_000 }, async () => {
      const devices = Array.from({ length: 8 }, () => ({}));
      // Accelerated: the whole server runs on modelled time, so links that go down at the
      // supervision timeout overlap the next jobs as they do at a station, which is what broke.
      const s = await startSimServer({ devices }, { maxConcurrentDfus: 8 }, dongle);
      try {
        const pkg = { data: APP.zip };
        const runs = await Promise.all(
          devices.map((_, i) =>
            drain(startDfu(s.client, { package: pkg, target: addressTarget(s.device(i).address.value) }, { signal: AbortSignal.timeout(100_000) })),
          ),
        );
        for (const [i, r] of runs.entries()) {
          const result = finished(r.events)?.result;
          assert.equal(r.error, undefined, `job ${i + 1}: ${String(r.error)}`);
          assert.equal(result?.success, true, `job ${i + 1}: ${result?.error?.message ?? ''}`);
          assert.equal(result?.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256), `job ${i + 1} read back the new revision`);
        }
        // The same device again, by name, on the server that has run eight jobs.
        const again = await drain(startDfu(s.client, { package: pkg, target: { selector: { $case: 'name', name: 'bledfu-sim-1' } } }, { signal: AbortSignal.timeout(60_000) }));
        const result = finished(again.events)?.result;
        assert.equal(again.error, undefined, String(again.error));
        assert.equal(result?.success, true, result?.error?.message);
        assert.equal(result?.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
        const { adapters } = await s.client.listAdapters({});
        assert.equal(adapters[0]?.state, AdapterState.ADAPTER_STATE_READY);
      } finally {
        await s.close();
      }
    });

    it('a link lost in the second job of a server is reconnected and resumed, as in the first', { timeout: 60_000 }, async () => {
      // Against an independent controller the latch above turned this into ADAPTER_UNAVAILABLE.
      const s = await startSimServer({ devices: [{}, {}] }, {}, dongle);
      try {
        const pkg = { data: APP.zip };
        for (const index of [0, 1]) {
          const cut = s.world.faults.inject({ kind: 'dropLinkAfterDataBytes', bytes: 2 * 4096 + 1808, device: `bledfu-sim-${index + 1}` });
          const r = await drain(startDfu(s.client, { package: pkg, target: addressTarget(s.device(index).address.value) }, { signal: AbortSignal.timeout(50_000) }));
          const result = finished(r.events)?.result;
          assert.equal(cut.fired, 1, `job ${index + 1}: the link was cut`);
          assert.equal(r.error, undefined, `job ${index + 1}: ${String(r.error)}`);
          assert.equal(result?.success, true, result?.error?.message);
          assert.deepEqual(journey(r.events), ['CONNECTING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'RESUMING', 'ACTIVATING', 'SUCCEEDED']);
          assert.equal(result?.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
          assert.equal(s.observed(index).dataBytes, APP.size, `job ${index + 1}: every byte once`);
        }
      } finally {
        await s.close();
      }
    });

    it('an ATT response lost while the application is being discovered: the job looks for the device again and succeeds', { timeout: 60_000 }, async () => {
      // Before the transfer, an ATT transaction timeout (its bearer is then dead) failed the job
      // with ATT_TIMEOUT; it is a link failure like one during the transfer, retried the same way.
      const s = await startSimServer({ devices: [{}] }, {}, dongle);
      try {
        // The first Read By Type Response (characteristic discovery) from the device is lost.
        const drop = s.world.faults.inject({ kind: 'frame', direction: 'toCentral', action: 'drop', cid: 0x0004, firstByte: 0x09, times: 1 });
        const r = await drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(s.device(0).address.value) }, { signal: AbortSignal.timeout(50_000) }));
        const result = finished(r.events)?.result;
        assert.equal(drop.fired, 1, 'the response was dropped');
        assert.equal(r.error, undefined, String(r.error));
        assert.equal(result?.success, true, result?.error?.message);
        assert.equal(result?.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
        const details = r.events.flatMap((e) => (e.type === 'state' ? [e.detail] : []));
        assert.ok(details.some((d) => /failed \(ATT_TIMEOUT\); looking for the device again/.test(d)), details.join(' | '));
      } finally {
        await s.close();
      }
    });
  });
}
