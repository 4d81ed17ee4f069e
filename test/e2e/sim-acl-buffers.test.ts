/**
 * Acceptance (issue 13, item 3): a controller with a few small LE ACL buffers shared by every
 * link (Zephyr hci_uart's default is in that range; here 3 × 27 bytes) still updates four devices
 * at once, and no link waits for a buffer while another holds more than its fair share. Asserted
 * on the host's buffer accounting (server/host/hci/aclBuffers.ts), not on time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startDfu } from '../../clients/ts/index.js';
import { addressTarget, drain, finished, revisionOf, startSimServer } from '../helpers/sim-server.js';
import { projectFacts } from '../helpers/project-packages.js';

const APP = await projectFacts('app');
const DEVICES = 4;

describe('few small ACL buffers shared by all links (HCI controller, 3 × 27 bytes)', () => {
  it('four DFUs in parallel all complete, and no link waited while another held more than its share', { timeout: 60_000 }, async () => {
    const s = await startSimServer({ devices: Array.from({ length: DEVICES }, () => ({})), aclBuffers: 3, aclDataLength: 27 }, { maxConcurrentDfus: DEVICES });
    try {
      const devices = Array.from({ length: DEVICES }, (_, i) => s.device(i));
      const runs = await Promise.all(
        devices.map((dev) =>
          drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(dev.address.value) }, { signal: AbortSignal.timeout(55_000) })),
        ),
      );
      for (const [i, r] of runs.entries()) {
        assert.equal(r.error, undefined, `device ${i + 1}: ${String(r.error)}`);
        assert.equal(finished(r.events)?.result.success, true);
        assert.equal(devices[i]?.firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
        assert.equal(s.observed(i).dataBytes, APP.size, `device ${i + 1} got every byte once`);
      }

      const accounting = s.registry.get('sim0').aclBufferAccounting?.();
      assert.ok(accounting !== undefined, 'the HCI backend reports its buffer accounting');
      assert.equal(accounting.total, 3);
      assert.equal(accounting.available, 3, 'every buffer came back');
      const busy = accounting.links.filter((l) => l.packetsSent > 0);
      // Each device is updated over its application link and then its bootloader's.
      assert.ok(busy.length >= DEVICES, `links that sent data: ${busy.length}`);
      // 27-byte buffers: a ~100 KB image is thousands of fragments per device.
      const fragments = busy.reduce((n, l) => n + l.packetsSent, 0);
      assert.ok(fragments > (DEVICES * APP.size) / 27, `fragments sent: ${fragments}`);
      // The links really competed for the buffers...
      assert.ok(busy.filter((l) => l.waits > 0).length >= 2, JSON.stringify(busy));
      // ...and none of them waited while another held more than its fair share.
      for (const l of busy) assert.equal(l.unfairWaits, 0, `link 0x${l.handle.toString(16)}: ${JSON.stringify(l)}`);
    } finally {
      await s.close();
    }
  });
});
