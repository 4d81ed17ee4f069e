/**
 * Acceptance for the nrf backend on the simulated connectivity dongle, over gRPC: a firmware of
 * the other API version is detected, a DFU survives a line that loses, corrupts and garbles H5
 * frames and a dongle that restarts in the middle, and a link that never comes up is diagnosed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdapterState, startDfu } from '../../clients/ts/index.js';
import { openAdapters } from '../../server/backends/registry.js';
import { silentLogger } from '../../server/common/logger.js';
import type { H5LineFaults, SimNrfDongle } from '../../server/simnrf/dongle.js';
import { addressTarget, drain, finished, journey, progresses, revisionOf, startSimServer, type Drained, type SimServer } from '../helpers/sim-server.js';
import { projectFacts } from '../helpers/project-packages.js';

/** The project's ~100 KB application package (demo key, the simulator's default); facts computed from its bytes. */
const APP = await projectFacts('app');

async function hrsDfu(s: SimServer, ms = 40_000): Promise<Drained> {
  return drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(s.device().address.value) }, { signal: AbortSignal.timeout(ms) }));
}

function assertUpdated(s: SimServer, r: Drained): void {
  assert.equal(r.error, undefined, `the call failed: ${String(r.error)}`);
  const f = finished(r.events);
  assert.equal(f?.result.success, true, f?.error?.message);
  assert.equal(f?.result.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
  assert.equal(s.device().firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
  assert.equal(s.device().images().application?.sha256, APP.sha256);
  assert.equal(progresses(r.events).at(-1)?.totalBytesSent, APP.size);
}

/**
 * Starts a server whose dongles get these line faults; `dongles` collects every dongle opened.
 * Both ends of the line retransmit after 30 ms instead of 300–400 ms: a lost frame holds the
 * simulated world until it is repaired, so this only shortens the test, not the model.
 */
async function serverWith(faults: H5LineFaults, dongles: SimNrfDongle[] = []): Promise<SimServer> {
  return startSimServer(
    { devices: [{}] },
    {},
    { kind: 'nrf', api: 6, simNrf: { faults, retransmitMs: 30, hostLink: { retransmitMs: 30 }, onOpen: (d) => dongles.push(d) } },
  );
}

describe('nrf backend on the simulated connectivity dongle', () => {
  it('API v5 firmware (S132 5.1.0): detected, named in ListAdapters, and a DFU succeeds', { timeout: 40_000 }, async () => {
    const s = await startSimServer({}, {}, { kind: 'nrf', api: 5 });
    try {
      const [adapter] = (await s.client.listAdapters({})).adapters;
      assert.equal(adapter?.state, AdapterState.ADAPTER_STATE_READY);
      assert.match(adapter?.identity ?? '', /Nordic connectivity firmware, SoftDevice S132 5\.1\.0 \(API v5, FWID 0x00A5\)/);
      const r = await hrsDfu(s);
      assertUpdated(s, r);
      assert.equal(s.observed().dataBytes, APP.size, 'every firmware byte crossed the air once');
    } finally {
      await s.close();
    }
  });

  it('a line that loses and corrupts a share of H5 frames both ways: retransmission recovers, the DFU completes, nothing is sent twice over the air', { timeout: 60_000 }, async () => {
    const dongles: SimNrfDongle[] = [];
    const s = await serverWith({}, dongles);
    try {
      const dongle = dongles.at(-1);
      assert.ok(dongle);
      // From now on, not during the opening (whose SYNC/CONFIG retries are tested elsewhere).
      dongle.control.setFaults({ lossRate: 0.05, corruptRate: 0.05, seed: 7 });
      const r = await hrsDfu(s);
      assertUpdated(s, r);
      const stats = dongle.control.stats;
      assert.ok(stats.lost > 20 && stats.corrupted > 20, `faults happened: ${JSON.stringify(stats)}`);
      assert.ok(stats.deviceRetransmissions > 0, 'the device had to send again too');
      assert.equal(stats.resets, 0, 'no re-sync was needed');
      assert.equal(s.observed().dataBytes, APP.size, 'a retransmitted H5 packet is not a second ATT write');
      assert.equal(s.observed().commandBytes, APP.datSize);
    } finally {
      await s.close();
    }
  });

  it('garbage bursts on the line: SLIP and the H5 checksums drop them, the DFU completes', { timeout: 60_000 }, async () => {
    const dongles: SimNrfDongle[] = [];
    const s = await serverWith({}, dongles);
    try {
      const dongle = dongles.at(-1);
      assert.ok(dongle);
      dongle.control.setFaults({ garbageRate: 0.2, garbageBytes: 12, seed: 3 });
      const r = await hrsDfu(s);
      assertUpdated(s, r);
      assert.ok(dongle.control.stats.garbageBursts > 50, JSON.stringify(dongle.control.stats));
      assert.equal(s.observed().dataBytes, APP.size);
    } finally {
      await s.close();
    }
  });

  it('the dongle restarting in the middle of the transfer: links end, the dongle is set up again, the DFU resumes and completes', { timeout: 60_000 }, async () => {
    const dongles: SimNrfDongle[] = [];
    const s = await serverWith({}, dongles);
    try {
      const dongle = dongles.at(-1);
      assert.ok(dongle);
      const it1 = startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(s.device().address.value) }, { signal: AbortSignal.timeout(50_000) });
      const run = drain(it1);
      // Reset once a good part of the image is across (the device keeps its progress).
      while (s.observed().dataBytes < 30_000) await new Promise((r) => setTimeout(r, 5));
      dongle.control.reset();
      const r = await run;
      assertUpdated(s, r);
      // The crash, then the H5 RESET the host re-synchronises with.
      assert.equal(dongle.control.stats.resets, 2);
      assert.equal(dongles.length, 1, 'set up again in place, not reopened');
      assert.ok(journey(r.events).includes('RESUMING'), journey(r.events).join(' → '));
      // Whatever the SoftDevice had queued but not sent when it restarted is sent again.
      assert.ok(s.observed().dataBytes >= APP.size && s.observed().dataBytes < APP.size + 8 * 244, `data bytes on the air: ${s.observed().dataBytes}`);
      const [adapter] = (await s.client.listAdapters({})).adapters;
      assert.equal(adapter?.state, AdapterState.ADAPTER_STATE_READY);
    } finally {
      await s.close();
    }
  });
});

describe('nrf: a link that never comes up, on the simulated dongle (Error code 13)', () => {
  async function openingError(faults: H5LineFaults, onOpen?: (d: SimNrfDongle) => void) {
    const registry = await openAdapters(['sim:?dongle=nrf'], silentLogger(), { simNrf: { faults, ...(onOpen === undefined ? {} : { onOpen }) } });
    try {
      const info = registry.list()[0]?.info();
      assert.equal(info?.state, 'failed');
      assert.ok(info.error !== undefined);
      return info.error;
    } finally {
      await registry.close();
    }
  }

  it('a dongle that never answers SYNC: SERIAL_NO_RESPONSE, no connectivity firmware or stuck, reset or replug', { timeout: 20_000 }, async () => {
    const e = await openingError({ noSync: true });
    assert.equal(e.code, 'SERIAL_NO_RESPONSE');
    assert.match(e.message, /no response from the nRF device on the simulated dongle/);
    assert.match(e.message, /Failed to open\. Error code: 13/);
    assert.match(e.remedy ?? '', /RESET button or unplug and replug/);
    assert.equal(e.facts.context?.['hciProbe'], 'silent', 'an HCI Reset was tried too');
  });

  it('a line carrying only noise: SERIAL_WRONG_PROTOCOL, the baud rate or the line', { timeout: 20_000 }, async () => {
    const e = await openingError({ noSync: true }, (d) => d.control.injectGarbage(Uint8Array.of(0x13, 0x37, 0x5a, 0xa5, 0x00, 0xff, 0x81, 0x02, 0x40)));
    assert.equal(e.code, 'SERIAL_WRONG_PROTOCOL');
    assert.match(e.message, /no known protocol: 13 37 5a a5/);
    assert.match(e.remedy ?? '', /baud=1000000/);
  });
});
