/**
 * Acceptance: a link lost in the middle of a DFU is resumed through the real stack. What the
 * device received is counted on the simulated air, independently of the engine's own progress.
 *
 * The link is broken by the simulator's own fault injection (the radio path is lost, both sides
 * see a supervision timeout), exactly as a user of the shipped simulator would provoke it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startDfu } from '../../clients/ts/index.js';
import type { SimFault } from '../../server/sim/faults.js';
import type { SimDeviceConfig } from '../../server/sim/world.js';
import { addressTarget, drain, finished, journey, progresses, revisionOf, SIM_DONGLES, startSimServer, type Drained, type SimDongle } from '../helpers/sim-server.js';
import { projectFacts } from '../helpers/project-packages.js';

/** The project's ~100 KB application package (demo key, the simulator's default); facts computed from its bytes. */
const APP = await projectFacts('app');
const OBJECT = 4096;
/** DP payload at the negotiated MTU 247. */
const PACKET = 244;

interface Outcome {
  readonly r: Drained;
  readonly fired: boolean;
  readonly commandBytes: number;
  readonly dataBytes: number;
}

async function dfuWithCut(dongle: SimDongle, cut: SimFault, progress: SimDeviceConfig['progressOnDisconnect']): Promise<Outcome> {
  const s = await startSimServer({ devices: [{ progressOnDisconnect: progress }] }, {}, dongle);
  try {
    const dev = s.device();
    const handle = s.world.faults.inject(cut);
    const r = await drain(
      startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(dev.address.value) }, { signal: AbortSignal.timeout(25_000) }),
    );
    assert.equal(r.error, undefined, `the call failed: ${String(r.error)}`);
    const f = finished(r.events);
    assert.equal(f?.result.success, true, f?.error?.message);
    // The right image, and it boots.
    assert.equal(f?.result.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
    assert.equal(dev.firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
    assert.equal(dev.images().application?.sha256, APP.sha256);
    assert.deepEqual(journey(r.events), ['CONNECTING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'RESUMING', 'ACTIVATING', 'SUCCEEDED']);
    const last = progresses(r.events).at(-1);
    assert.equal(last?.totalBytesSent, APP.size);
    return { r, fired: handle.fired > 0, commandBytes: s.observed().commandBytes, dataBytes: s.observed().dataBytes };
  } finally {
    await s.close();
  }
}

function assertMonotonic(r: Drained): void {
  const sent = progresses(r.events).map((p) => p.totalBytesSent);
  for (let i = 1; i < sent.length; i++) assert.ok((sent[i] as number) >= (sent[i - 1] as number), `progress went back at event ${i}: ${sent[i - 1]} → ${sent[i]}`);
}

for (const dongle of SIM_DONGLES) {
  describe(`resume after a link loss, over gRPC on the simulator (${dongle.label})`, () => {
    it('inside an object (progress kept): continues from the offset the device reports, nothing is sent twice', { timeout: 30_000 }, async () => {
      const o = await dfuWithCut(dongle, { kind: 'dropLinkAfterDataBytes', bytes: 2 * OBJECT + 1_808 }, 'keep');
      assert.equal(o.fired, true, 'the link was cut');
      assert.equal(o.dataBytes, APP.size, 'every firmware byte crossed the air exactly once');
      assert.equal(o.commandBytes, APP.datSize, 'the executed init packet was not sent again');
      assertMonotonic(o.r);
    });

    it('on an object boundary, all of its data there but not executed (progress kept): Execute, then go on', { timeout: 30_000 }, async () => {
      const o = await dfuWithCut(dongle, { kind: 'dropLinkAfterDataBytes', bytes: 2 * OBJECT }, 'keep');
      assert.equal(o.fired, true, 'the link was cut');
      assert.equal(o.dataBytes, APP.size);
      assert.equal(o.commandBytes, APP.datSize);
      assertMonotonic(o.r);
    });

    it('on an object boundary, the Execute answer lost with the link (progress kept): not sent again', { timeout: 30_000 }, async () => {
      const o = await dfuWithCut(dongle, { kind: 'dropLinkAfterRequest', op: 'execute', objectType: 'data', occurrence: 2 }, 'keep');
      assert.equal(o.fired, true, 'the link was cut');
      assert.equal(o.dataBytes, APP.size);
      assert.equal(o.commandBytes, APP.datSize);
      assertMonotonic(o.r);
    });

    it("progressOnDisconnect 'reload': the device forgets its data offset, so the data starts over (the init packet does not)", { timeout: 30_000 }, async () => {
      const dropAt = 2 * OBJECT + 1_808;
      const o = await dfuWithCut(dongle, { kind: 'dropLinkAfterDataBytes', bytes: dropAt }, 'reload');
      assert.equal(o.fired, true, 'the link was cut');
      // What arrived before the drop (up to the end of the packet that crossed the limit), then the whole image again.
      assert.ok(o.dataBytes >= APP.size + dropAt && o.dataBytes < APP.size + dropAt + PACKET, `data bytes on the air: ${o.dataBytes}`);
      assert.equal(o.commandBytes, APP.datSize, 'the executed init packet survives the disconnect');
    });
  });
}

for (const dongle of SIM_DONGLES) {
  describe(`simulator fault injection (${dongle.label})`, () => {
    it('a lost radio path ends the link on both sides by supervision timeout (AirLink.lose)', { timeout: 10_000 }, async () => {
      // A short grace: with the bug, the server's disconnect on the way out never completes either.
      const s = await startSimServer({}, { shutdownGraceMs: 500 }, dongle);
      try {
        const dev = s.device();
        const stream = s.client
          .connect({ adapterId: '', target: addressTarget(dev.address.value), scanTimeout: undefined, mtu: 0 }, { signal: AbortSignal.timeout(1_000) })
          [Symbol.asyncIterator]();
        assert.equal((await stream.next()).value?.event?.$case, 'connected');
        const link = s.world.air.links[0];
        assert.ok(link, 'one link on the air');
        const deviceSide = s.nextDisconnection();
        link.lose();
        const next = (await stream.next()).value?.event;
        assert.equal(next?.$case, 'disconnected', 'the host is told the link ended');
        if (next?.$case === 'disconnected') assert.equal(next.disconnected.reason, 0x08);
        await deviceSide;
        assert.equal(dev.device.advertising() !== undefined, true, 'the device advertises again');
      } finally {
        await s.close();
      }
    });
  });
}
