/**
 * Scanning through the serial transport → pty → btvirt finds a simulated nRF5 device that runs as
 * a peripheral on a second emulated controller: its name, address and services as the simulated
 * firmware advertises them, the application's first, then the bootloader's after a reset into it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Adapter, Advertisement } from '../../server/ble/types.js';
import { silentLogger } from '../../server/common/logger.js';
import { startStation, type Station } from '../../server/simbridge/station.js';
import { openCentral, type Central } from '../helpers/btvirt/central.js';
import { btvirtSkipReason, startEmulator, type Emulator } from '../helpers/btvirt/emulator.js';

const skip = btvirtSkipReason();
const logger = silentLogger();

async function firstFrom(adapter: Adapter, address: string, active: boolean): Promise<Advertisement> {
  const stop = AbortSignal.timeout(5_000);
  for await (const adv of adapter.scan({ active, signal: stop })) {
    if (adv.address.value === address) return adv;
  }
  throw new Error(`${address} not seen within 5 s`);
}

describe('scan over btvirt', { skip }, () => {
  let emu: Emulator;
  let central: Central;
  let station: Station;

  before(async () => {
    emu = await startEmulator();
    central = await openCentral(emu, logger);
    station = await startStation({ transports: [(await emu.connectController()).transport], devices: [{ name: 'btvirt-dev' }], speed: 50 }, logger);
  });
  after(async () => {
    await station?.close();
    await central?.close();
    await emu?.stop();
  });

  it('finds the application: name, random static address, Device Information service, connectable', async () => {
    const adv = await firstFrom(central.adapter, 'F0:0D:C0:DE:00:01', true);
    assert.deepEqual(adv.address, { value: 'F0:0D:C0:DE:00:01', type: 'random' });
    assert.equal(adv.name, 'btvirt-dev');
    assert.deepEqual(adv.serviceUuids, ['180A']);
    assert.equal(adv.connectable, true);
    // btvirt has no RSSI: 127 is "not available".
    assert.equal(adv.rssi, 127);
    assert.equal(central.adapter.info().address?.value, central.controller.address);
  });

  it('after a reset into the bootloader: "DfuTarg" with the Secure DFU service at address + 1', async () => {
    const device = station.devices[0];
    assert.ok(device);
    device.device.reset({ enterBootloader: true });
    const adv = await firstFrom(central.adapter, 'F0:0D:C0:DE:00:02', false);
    assert.equal(adv.name, 'DfuTarg');
    assert.deepEqual(adv.serviceUuids, ['FE59']);
    assert.equal(adv.connectable, true);
    assert.equal(device.mode(), 'bootloader');
    const [status] = station.status();
    assert.equal(status?.currentAddress, 'F0:0D:C0:DE:00:02');
  });
});
