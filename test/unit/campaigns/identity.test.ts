import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../server/ble/address.js';
import { DeviceIdentities } from '../../../server/campaigns/identity.js';
import { InMemoryDeviceMemory } from '../../../server/jobs/deviceMemory.js';

const A = parseAddress('F0:00:00:00:00:10');
const A_BOOT = parseAddress('F0:00:00:00:00:11');
const B = parseAddress('F0:00:00:00:00:20');

describe('campaign device identity (application ↔ bootloader)', () => {
  it('knows a device again at its own address, and its bootloader at its address + 1', () => {
    const ids = new DeviceIdentities<string>();
    ids.add(A, 'application', 'dev-A');
    assert.equal(ids.find(A, 'application'), 'dev-A');
    assert.equal(ids.find(A_BOOT, 'bootloader'), 'dev-A');
    assert.equal(ids.find(B, 'application'), undefined);
  });

  it('never takes the next device of a batch (address + 1, as an application) for a bootloader', () => {
    const ids = new DeviceIdentities<string>();
    ids.add(A, 'application', 'dev-A');
    assert.equal(ids.find(A_BOOT, 'application'), undefined);
  });

  it('knows a device first found in its bootloader again as an application at address - 1', () => {
    const ids = new DeviceIdentities<string>();
    ids.add(A_BOOT, 'bootloader', 'dev');
    assert.equal(ids.find(A, 'application'), 'dev');
    assert.equal(ids.find(A, 'bootloader'), undefined);
  });

  it('ties a bootloader a job found elsewhere to its device', () => {
    const ids = new DeviceIdentities<string>();
    ids.add(A, 'application', 'dev-A');
    const elsewhere = parseAddress('C2:00:00:00:00:99');
    assert.equal(ids.find(elsewhere, 'bootloader'), undefined);
    ids.addBootloader(elsewhere, 'dev-A');
    assert.equal(ids.find(elsewhere, 'bootloader'), 'dev-A');
  });

  it('uses the device memory both ways: a remembered bootloader of a known application, and the application of a known bootloader', () => {
    const memory = new InMemoryDeviceMemory();
    const boot = parseAddress('C2:00:00:00:00:42');
    memory.remember({ appAddress: A, appName: 'SENSOR-1', bootloaderAddress: boot, bootloaderName: 'Dfu12345' });
    const ids = new DeviceIdentities<string>(memory);
    ids.add(A, 'application', 'dev-A');
    assert.equal(ids.find(boot, 'bootloader'), 'dev-A');

    const other = new DeviceIdentities<string>(memory);
    other.add(boot, 'bootloader', 'stranded');
    assert.equal(other.find(A, 'application'), 'stranded', 'the remembered application of a device found in its bootloader');
  });
});
