import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../server/ble/address.js';
import type { Advertisement } from '../../../server/ble/types.js';
import { compileFilter, isEmptyFilter } from '../../../server/campaigns/filter.js';

function adv(over: Partial<Omit<Advertisement, 'address'>> & { address?: string } = {}): Advertisement {
  const { address, ...rest } = over;
  return {
    address: parseAddress(address ?? 'F0:00:00:00:00:10'),
    rssi: -50,
    name: 'SENSOR-1',
    serviceUuids: ['180D'],
    manufacturerData: [{ companyId: 0x59, data: Uint8Array.from([1, 2, 3]) }],
    connectable: true,
    data: new Uint8Array(0),
    receivedAt: 0,
    ...rest,
  };
}

const BOOTLOADER = { name: 'DfuTarg', serviceUuids: ['FE59'], manufacturerData: [] };

describe('campaign filter', () => {
  it('matches on the exact name and on a name prefix', () => {
    assert.equal(compileFilter({ name: 'SENSOR-1' })(adv()), 'device');
    assert.equal(compileFilter({ name: 'SENSOR' })(adv()), undefined);
    assert.equal(compileFilter({ namePrefix: 'SENSOR-' })(adv()), 'device');
    assert.equal(compileFilter({ namePrefix: 'SENSOR-' })(adv({ name: 'OTHER' })), undefined);
    const { name: _name, ...nameless } = adv();
    assert.equal(compileFilter({ namePrefix: 'SENSOR-' })(nameless), undefined);
  });

  it('matches a listed service UUID in either spelling', () => {
    assert.equal(compileFilter({ serviceUuid: '180D' })(adv()), 'device');
    assert.equal(compileFilter({ serviceUuid: '0000180d-0000-1000-8000-00805f9b34fb' })(adv()), 'device');
    assert.equal(compileFilter({ serviceUuid: '180F' })(adv()), undefined);
  });

  it('matches manufacturer data by company and data prefix', () => {
    assert.equal(compileFilter({ manufacturerId: 0x59 })(adv()), 'device');
    assert.equal(compileFilter({ manufacturerId: 0x59, manufacturerDataPrefix: Uint8Array.from([1, 2]) })(adv()), 'device');
    assert.equal(compileFilter({ manufacturerId: 0x59, manufacturerDataPrefix: Uint8Array.from([2]) })(adv()), undefined);
    assert.equal(compileFilter({ manufacturerId: 0x59, manufacturerDataPrefix: Uint8Array.from([1, 2, 3, 4]) })(adv()), undefined);
    assert.equal(compileFilter({ manufacturerId: 0x4c })(adv()), undefined);
  });

  it('ignores weaker advertisements than min_rssi, and lets an unknown RSSI pass', () => {
    const f = compileFilter({ namePrefix: 'SENSOR-', minRssi: -60 });
    assert.equal(f(adv({ rssi: -61 })), undefined);
    assert.equal(f(adv({ rssi: -60 })), 'device');
    assert.equal(f(adv({ rssi: 127 })), 'device');
  });

  it('takes only listed addresses, case-insensitively', () => {
    const f = compileFilter({ addresses: ['F0:00:00:00:00:10'] });
    assert.equal(f(adv()), 'device');
    assert.equal(f(adv({ address: 'f0:00:00:00:00:11' })), undefined);
  });

  it('requires every set field', () => {
    const f = compileFilter({ namePrefix: 'SENSOR-', serviceUuid: '180F' });
    assert.equal(f(adv()), undefined);
  });

  it('passes a Secure DFU bootloader as such whatever its name, with min_rssi and the address list still applied', () => {
    const f = compileFilter({ namePrefix: 'SENSOR-', minRssi: -70, addresses: ['F0:00:00:00:00:10'] });
    // At the listed address + 1 (a listed device's bootloader), and at a listed address.
    assert.equal(f(adv({ ...BOOTLOADER, address: 'F0:00:00:00:00:11' })), 'bootloader');
    assert.equal(f(adv({ ...BOOTLOADER, address: 'F0:00:00:00:00:10' })), 'bootloader');
    assert.equal(f(adv({ ...BOOTLOADER, address: 'F0:00:00:00:00:12' })), undefined);
    assert.equal(f(adv({ ...BOOTLOADER, address: 'F0:00:00:00:00:11', rssi: -80 })), undefined);
    // An application at address + 1 of a listed one is another device, not listed.
    assert.equal(f(adv({ address: 'F0:00:00:00:00:11' })), undefined);
  });

  it("takes only bootloaders of the package's protocol: a legacy campaign the 0x1530 service (\"DfuTarg\", \"AdaDFU\"), a Secure one FE59", () => {
    const LEGACY = { name: 'AdaDFU', serviceUuids: ['00001530-1212-efde-1523-785feabcd123'], manufacturerData: [] };
    const legacy = compileFilter({ namePrefix: 'SENSOR-' }, 'legacy');
    const secure = compileFilter({ namePrefix: 'SENSOR-' }, 'secure');
    assert.equal(legacy(adv({ ...LEGACY, address: 'F0:00:00:00:00:11' })), 'bootloader');
    assert.equal(legacy(adv({ ...BOOTLOADER, address: 'F0:00:00:00:00:11' })), undefined, 'a Secure DFU bootloader could not take a legacy package');
    assert.equal(secure(adv({ ...LEGACY, address: 'F0:00:00:00:00:11' })), undefined, 'a legacy bootloader could not take a Secure DFU package');
    assert.equal(secure(adv({ ...BOOTLOADER, address: 'F0:00:00:00:00:11' })), 'bootloader');
    assert.equal(legacy(adv()), 'device', 'applications match by the filter whatever the protocol');
    assert.equal(compileFilter({ namePrefix: 'SENSOR-' })(adv({ ...BOOTLOADER, address: 'F0:00:00:00:00:11' })), 'bootloader', 'Secure DFU unless told');
  });

  it('knows an empty filter', () => {
    assert.equal(isEmptyFilter({}), true);
    assert.equal(isEmptyFilter({ name: '', addresses: [] }), true);
    assert.equal(isEmptyFilter({ minRssi: -70 }), false);
    assert.equal(isEmptyFilter({ manufacturerId: 0 }), false);
  });
});
