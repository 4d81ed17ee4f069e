/**
 * Acceptance: the dongle is pulled out during a DFU and put back — through the real server,
 * supervisor, engine, host stack and simulated bootloader. The job must end FAILED with a clear
 * error (not hang or retry forever), ListAdapters must say so, and once the dongle is back the
 * same adapter id serves a new DFU, which resumes on the device.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdapterState, decodeError, decodeErrorDetail, JobState, startDfu, Status, type DfuEvent } from '../../clients/ts/index.js';
import { bootloaderAddress } from '../../server/ble/address.js';
import { addressTarget, drain, finished, journey, revisionOf, startSimServer, until, type SimServer } from '../helpers/sim-server.js';
import { projectFacts } from '../helpers/project-packages.js';

/** The project's ~100 KB application package (demo key, the simulator's default); facts computed from its bytes. */
const APP = await projectFacts('app');
const DK_APP_SHA256 = '7f030207a1b243df126c23835239c705be5de8039fa882b89d2b4d4b71c1c797';
const LOST = 'dongle sim0 went away (unplugged?)';

async function adapterState(s: SimServer): Promise<{ state: AdapterState; error: ReturnType<typeof decodeErrorDetail> | undefined }> {
  const [a] = (await s.client.listAdapters({})).adapters;
  assert.equal(a?.id, 'sim0');
  return { state: a.state, error: a.error === undefined ? undefined : decodeErrorDetail(a.error) };
}

/** Polls ListAdapters until the adapter is in `state` (the supervisor retries on its own clock). */
async function waitForState(s: SimServer, state: AdapterState, signal: AbortSignal): Promise<void> {
  while ((await adapterState(s)).state !== state) {
    signal.throwIfAborted();
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('dongle unplugged and replugged, over gRPC', () => {
  it('a DFU running while the dongle is unplugged ends FAILED with ADAPTER_UNAVAILABLE; replugged, the adapter is READY and a new DFU succeeds', { timeout: 30_000 }, async () => {
    const s = await startSimServer();
    try {
      const dev = s.device();
      const seen: DfuEvent[] = [];
      const it1 = startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(dev.address.value) }, { signal: AbortSignal.timeout(20_000) })[
        Symbol.asyncIterator
      ]();
      const snapshot = await until(it1, (e) => e.type === 'snapshot', seen);
      await until(it1, (e) => e.type === 'progress' && e.progress.imageBytesSent > 0, seen);

      s.world.unplugDongle();
      let error: unknown;
      try {
        for (let r = await it1.next(); r.done !== true; r = await it1.next()) seen.push(r.value);
      } catch (e) {
        error = e;
      }

      // The job failed with the clear error, at once: no reconnect attempts through a missing dongle.
      const f = finished(seen);
      assert.equal(f?.result.success, false);
      assert.equal(f?.error?.code, 'ADAPTER_UNAVAILABLE');
      assert.equal(f?.error?.message, LOST);
      assert.match(f?.error?.remedy ?? '', /plug it back in/);
      assert.equal(journey(seen).at(-1), 'FAILED');
      assert.ok(!journey(seen).includes('RESUMING'), 'the engine did not retry through the missing dongle');
      const d = decodeError(error);
      assert.equal(d.code, 'ADAPTER_UNAVAILABLE');
      assert.equal(d.grpcCode, Status.UNAVAILABLE);
      assert.equal((await s.client.getJob({ jobId: snapshot.jobId })).job?.state, JobState.JOB_STATE_FAILED);

      // ListAdapters says why the adapter is unusable while the dongle is out.
      const out = await adapterState(s);
      assert.equal(out.state, AdapterState.ADAPTER_STATE_FAILED);
      assert.equal(out.error?.code, 'ADAPTER_UNAVAILABLE');
      assert.equal(out.error?.message, LOST);

      // The device noticed the link go and kept what it had received, in its bootloader.
      const before = s.observed().dataBytes;
      assert.ok(before > 0 && before < APP.size, `data bytes at the unplug: ${before}`);
      assert.equal(dev.mode(), 'bootloader');
      assert.equal(dev.images().application?.sha256, DK_APP_SHA256, 'the old application is untouched');
      // The device side ends the link by its supervision timeout, in modelled time.
      for (let i = 0; i < 100 && s.world.air.links.length > 0; i++) await s.registry.clock.sleep(100);
      assert.equal(s.world.air.links.length, 0, 'no link left on the air');

      s.world.replugDongle();
      await waitForState(s, AdapterState.ADAPTER_STATE_READY, AbortSignal.timeout(10_000));
      assert.equal((await adapterState(s)).error, undefined);

      const again = await drain(
        startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(bootloaderAddress(dev.address).value) }, { signal: AbortSignal.timeout(20_000) }),
      );
      assert.equal(again.error, undefined, String(again.error));
      const f2 = finished(again.events);
      assert.equal(f2?.result.success, true, f2?.error?.message);
      assert.equal(f2?.result.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
      assert.equal(dev.firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
      assert.equal(s.observed().dataBytes, APP.size, 'it resumed: only the missing bytes crossed the air');
    } finally {
      await s.close();
    }
  });

  it('a job started while the dongle is out fails at once with the reason, instead of waiting', { timeout: 30_000 }, async () => {
    const s = await startSimServer();
    try {
      s.world.unplugDongle();
      await waitForState(s, AdapterState.ADAPTER_STATE_FAILED, AbortSignal.timeout(10_000));
      const run = await drain(
        startDfu(s.client, { adapterId: 'sim0', package: { data: APP.zip }, target: addressTarget(s.device().address.value) }, { signal: AbortSignal.timeout(20_000) }),
      );
      const d = decodeError(run.error);
      assert.equal(d.code, 'ADAPTER_UNAVAILABLE');
      assert.match(d.message, new RegExp(`not usable: ${LOST.replace(/[()?]/g, '\\$&')}`));
    } finally {
      await s.close();
    }
  });
});
