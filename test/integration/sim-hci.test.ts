/**
 * The real host stack (HCI backend) against the simulator: scan, connect, discover, buttonless
 * entry. Everything runs accelerated on the simulator's clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bootloaderAddress } from '../../server/ble/address.js';
import type { Adapter, Advertisement, Connection } from '../../server/ble/types.js';
import { UUIDS } from '../../server/ble/uuid.js';
import { silentLogger } from '../../server/common/logger.js';
import { createHciAdapter } from '../../server/backends/hci/adapter.js';
import { createSimWorld, type SimWorld } from '../../server/sim/world.js';

async function firstAdvertisement(adapter: Adapter, accept: (adv: Advertisement) => boolean): Promise<Advertisement> {
  const stop = new AbortController();
  try {
    for await (const adv of adapter.scan({ active: true, signal: stop.signal })) {
      if (accept(adv)) return adv;
    }
  } finally {
    stop.abort();
  }
  throw new Error('scan ended without a match');
}

describe('HCI backend on the simulator', () => {
  let world: SimWorld;
  let adapter: Adapter;

  before(async () => {
    world = createSimWorld({});
    adapter = await createHciAdapter(world.openHostTransport(), { id: 'sim0', spec: 'sim:', kind: 'simulated', logger: silentLogger() });
  });
  after(async () => {
    await adapter.close();
    await world.close();
  });

  it('reports the simulated controller', () => {
    const info = adapter.info();
    assert.equal(info.state, 'ready');
    assert.match(info.identity, /./);
  });

  it('a scan finds the simulated device with its name, DIS (not FE59: only bootloaders advertise it) and RSSI', async () => {
    const dev = world.devices[0];
    assert.ok(dev);
    const adv = await firstAdvertisement(adapter, (a) => a.address.value === dev.address.value);
    assert.equal(adv.name, 'bledfu-sim-1');
    assert.ok(adv.serviceUuids.includes(UUIDS.deviceInformationService));
    assert.ok(!adv.serviceUuids.includes(UUIDS.secureDfuService));
    assert.equal(adv.rssi, -40);
    assert.equal(adv.connectable, true);
  });

  it('connect + discover shows GAP, DIS with the firmware revision, and FE59/8EC90003; buttonless entry brings up the bootloader at address + 1', async () => {
    const dev = world.devices[0];
    assert.ok(dev);
    const conn: Connection = await adapter.connect(dev.address, { mtu: 247 });
    assert.equal(conn.mtu, 247);
    const services = await conn.discoverServices();
    const uuids = services.map((s) => s.uuid);
    for (const u of [UUIDS.genericAccessService, UUIDS.deviceInformationService, UUIDS.secureDfuService]) assert.ok(uuids.includes(u), u);
    const dis = services.find((s) => s.uuid === UUIDS.deviceInformationService);
    const fw = dis?.characteristics.find((c) => c.uuid === UUIDS.firmwareRevision);
    assert.ok(fw);
    assert.equal(new TextDecoder().decode(await conn.read(fw.valueHandle)), 'app v1 7f030207');
    const buttonless = services.find((s) => s.uuid === UUIDS.secureDfuService)?.characteristics.find((c) => c.uuid === UUIDS.buttonlessWithoutBonds);
    assert.ok(buttonless);

    // Without indications enabled the write is refused with ATT 0xFD.
    await assert.rejects(conn.write(buttonless.valueHandle, Uint8Array.of(0x01)), (e: unknown) => (e as { facts?: { attError?: number } }).facts?.attError === 0xfd);

    const sub = await conn.subscribe(buttonless, 'indicate');
    await conn.write(buttonless.valueHandle, Uint8Array.of(0x02, 0x05, ...new TextEncoder().encode('DfuXY')));
    assert.deepEqual([...(await sub.receive())], [0x20, 0x02, 0x01]);
    await conn.write(buttonless.valueHandle, Uint8Array.of(0x01));
    assert.deepEqual([...(await sub.receive())], [0x20, 0x01, 0x01]);
    await new Promise<void>((resolve) => {
      if (conn.closed.aborted) resolve();
      else conn.closed.addEventListener('abort', () => resolve(), { once: true });
    });

    const blAddress = bootloaderAddress(dev.address);
    const adv = await firstAdvertisement(adapter, (a) => a.address.value === blAddress.value);
    assert.equal(adv.name, 'DfuXY');
    assert.ok(adv.serviceUuids.includes(UUIDS.secureDfuService));
    assert.equal(dev.mode(), 'bootloader');

    // The bootloader exposes CP + DP and word-aligns the MTU it accepts (request 185 → 183).
    const bl = await adapter.connect(blAddress, { mtu: 185 });
    assert.equal(bl.mtu, 183);
    const dfu = (await bl.discoverServices()).find((s) => s.uuid === UUIDS.secureDfuService);
    const chars = dfu?.characteristics.map((c) => c.uuid) ?? [];
    assert.ok(chars.includes(UUIDS.dfuControlPoint) && chars.includes(UUIDS.dfuPacket));
    await bl.disconnect();
  });
});
