import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../server/ble/address.js';
import type { GattService } from '../../../server/ble/types.js';
import { UUIDS } from '../../../server/ble/uuid.js';
import { applicationAddressOf, kindFromAdvertisement, kindFromServices, LEGACY_DFU_PACKET, mergeUuids } from '../../../server/inventory/classify.js';
import { freeLinksForProbes, INVENTORY_LIMITS } from '../../../server/inventory/inventory.js';

/** A service with these characteristics (handles do not matter to the classification). */
function service(uuid: string, ...characteristics: string[]): GattService {
  return {
    uuid,
    startHandle: 1,
    endHandle: 0xffff,
    characteristics: characteristics.map((c, i) => ({ uuid: c, handle: 2 * i + 2, valueHandle: 2 * i + 3, properties: 0x08 })),
  };
}
const GAP = service(UUIDS.genericAccessService, UUIDS.deviceName);
const DIS = service(UUIDS.deviceInformationService, UUIDS.serialNumber);

describe('inventory: classification from the advertisement', () => {
  it('FE59 is a Secure DFU bootloader, the legacy DFU service a legacy one, anything else needs a probe', () => {
    assert.equal(kindFromAdvertisement(['FE59']), 'bootloader');
    assert.equal(kindFromAdvertisement([UUIDS.deviceInformationService, 'FE59']), 'bootloader');
    assert.equal(kindFromAdvertisement([UUIDS.legacyDfuService]), 'legacy');
    assert.equal(kindFromAdvertisement([UUIDS.deviceInformationService]), 'unknown');
    assert.equal(kindFromAdvertisement([]), 'unknown');
  });
});

describe('inventory: classification from the GATT services', () => {
  it('a bootloader has the control point and the packet characteristic', () => {
    assert.deepEqual(kindFromServices([GAP, service('FE59', UUIDS.dfuControlPoint, UUIDS.dfuPacket)]), { kind: 'bootloader', bondedButtonless: false });
    // The control point alone is not a bootloader (nor anything the server can update).
    assert.equal(kindFromServices([service('FE59', UUIDS.dfuControlPoint)]).kind, 'no-dfu');
  });
  it('buttonless without bonds, with bonds (8EC90004, flagged), and the SDK 12 experimental service', () => {
    assert.deepEqual(kindFromServices([GAP, DIS, service('FE59', UUIDS.buttonlessWithoutBonds)]), { kind: 'buttonless', bondedButtonless: false });
    assert.deepEqual(kindFromServices([GAP, DIS, service('FE59', UUIDS.buttonlessWithBonds)]), { kind: 'buttonless', bondedButtonless: true });
    assert.deepEqual(kindFromServices([service(UUIDS.experimentalButtonless, UUIDS.experimentalButtonless)]), { kind: 'buttonless', bondedButtonless: false });
  });
  it('UUIDs compare in any spelling', () => {
    assert.equal(kindFromServices([service('0xfe59', UUIDS.buttonlessWithBonds.toLowerCase())]).bondedButtonless, true);
  });
  it('the legacy DFU service with its packet characteristic is a legacy bootloader; with the control point only, an SDK 11 application (no DFU bledfu drives)', () => {
    assert.equal(kindFromServices([service(UUIDS.legacyDfuService, '00001531-1212-EFDE-1523-785FEABCD123', LEGACY_DFU_PACKET)]).kind, 'legacy');
    assert.equal(kindFromServices([service(UUIDS.legacyDfuService, '00001531-1212-EFDE-1523-785FEABCD123')]).kind, 'no-dfu');
  });
  it('an application with neither is no-dfu', () => {
    assert.deepEqual(kindFromServices([GAP, DIS]), { kind: 'no-dfu', bondedButtonless: false });
    assert.equal(kindFromServices([]).kind, 'no-dfu');
  });
});

describe('inventory: the application a bootloader stands for', () => {
  it('the remembered application when a job met it there (known), else the bootloader address - 1 (a guess)', () => {
    const bl = parseAddress('F0:0D:C0:DE:00:0A');
    assert.deepEqual(applicationAddressOf(bl, parseAddress('C1:00:00:00:00:01')), { address: parseAddress('C1:00:00:00:00:01'), known: true });
    assert.deepEqual(applicationAddressOf(bl, undefined), { address: parseAddress('F0:0D:C0:DE:00:09'), known: false });
    // The SDK adds 1 to the last octet without carry: undone the same way.
    assert.equal(applicationAddressOf(parseAddress('F0:0D:C0:DE:01:00'), undefined).address.value, 'F0:0D:C0:DE:01:FF');
  });
});

describe('inventory: links a probe may take', () => {
  it('the limit less the links in use less one per job that holds or may take one; an adapter without a stated limit lends the per-adapter probes', () => {
    assert.equal(freeLinksForProbes({ maxConnections: 4, activeConnections: 0 }, 0), 4);
    assert.equal(freeLinksForProbes({ maxConnections: 4, activeConnections: 1 }, 1), 2);
    assert.equal(freeLinksForProbes({ maxConnections: 4, activeConnections: 2 }, 3), -1);
    assert.equal(freeLinksForProbes({ maxConnections: 0, activeConnections: 3 }, 2), INVENTORY_LIMITS.probesPerAdapter);
  });
});

describe('inventory: service UUID lists', () => {
  it('merges keeping the first occurrence order', () => {
    assert.deepEqual(mergeUuids(['180A', 'FE59'], ['1800', 'FE59', '180A', '1801']), ['180A', 'FE59', '1800', '1801']);
  });
});
