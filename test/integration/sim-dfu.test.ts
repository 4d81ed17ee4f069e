/**
 * A hand-driven Secure DFU of the project's small application package through the real HCI backend into the simulated
 * bootloader: after the last Execute the device resets without a terminate (the host sees a
 * supervision timeout, 0x08), activates the image and boots it (its firmware revision changes).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { bootloaderAddress } from '../../server/ble/address.js';
import { UUIDS } from '../../server/ble/uuid.js';
import { silentLogger } from '../../server/common/logger.js';
import { createHciAdapter } from '../../server/backends/hci/adapter.js';
import { createSimWorld } from '../../server/sim/world.js';
import { projectImage } from '../helpers/project-packages.js';

describe('Secure DFU through the HCI backend into the simulator', () => {
  it('updates the application and boots it', async () => {
    const { dat, bin, fwVersion } = await projectImage('app-small');
    assert.ok(bin.length <= 4096, 'one data object');
    const world = createSimWorld({ devices: [{}] });
    const adapter = await createHciAdapter(world.openHostTransport(), { id: 's', spec: 'sim:', kind: 'simulated', logger: silentLogger() });
    const dev = world.devices[0];
    assert.ok(dev);
    dev.device.reset({ enterBootloader: true });
    const conn = await adapter.connect(bootloaderAddress(dev.address), { mtu: 247 });
    const dfu = (await conn.discoverServices()).find((s) => s.uuid === UUIDS.secureDfuService);
    const cp = dfu?.characteristics.find((c) => c.uuid === UUIDS.dfuControlPoint);
    const dp = dfu?.characteristics.find((c) => c.uuid === UUIDS.dfuPacket);
    assert.ok(cp && dp);
    const sub = await conn.subscribe(cp, 'notify');
    const request = async (...bytes: number[]): Promise<number[]> => {
      await conn.write(cp.valueHandle, Uint8Array.from(bytes));
      return [...(await sub.receive())];
    };
    const send = async (data: Uint8Array): Promise<void> => {
      for (let at = 0; at < data.length; at += conn.mtu - 3) await conn.writeWithoutResponse(dp.valueHandle, data.subarray(at, at + conn.mtu - 3));
    };
    assert.deepEqual(await request(0x01, 0x01, dat.length, 0, 0, 0), [0x60, 0x01, 0x01]);
    await send(dat);
    assert.deepEqual(await request(0x04), [0x60, 0x04, 0x01]);
    assert.deepEqual(await request(0x01, 0x02, bin.length & 0xff, bin.length >> 8, 0, 0), [0x60, 0x01, 0x01]);
    await send(bin);
    // CALCULATE_CHECKSUM: offset and CRC-32 of the whole image, little-endian.
    const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
    assert.deepEqual(await request(0x03), [0x60, 0x03, 0x01, ...le32(bin.length), ...le32(crc32(bin) >>> 0)]);
    const start = world.nowMs();
    assert.deepEqual(await request(0x04), [0x60, 0x04, 0x01]);
    await new Promise<void>((resolve) => conn.closed.addEventListener('abort', () => resolve(), { once: true }));
    const reason = conn.closed.reason as { facts?: { hciStatus?: number } };
    assert.equal(reason.facts?.hciStatus, 0x08);
    // The link went by supervision timeout (6 s asked by the bootloader, or the host's 4 s).
    assert.ok(world.nowMs() - start >= 4000);

    const stop = new AbortController();
    for await (const adv of adapter.scan({ active: false, signal: stop.signal })) {
      if (adv.address.value === dev.address.value) break;
    }
    stop.abort();
    const sha = createHash('sha256').update(bin).digest('hex');
    assert.equal(dev.mode(), 'application');
    assert.equal(dev.firmwareRevision(), `app v${fwVersion} ${sha.slice(0, 8)}`);
    assert.equal(dev.images().application?.sha256, sha);
    await adapter.close();
    await world.close();
  });
});
