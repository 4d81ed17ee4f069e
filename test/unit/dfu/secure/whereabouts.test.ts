import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../../server/ble/address.js';
import type { Advertisement } from '../../../../server/ble/types.js';
import { normalizeUuid, UUIDS } from '../../../../server/ble/uuid.js';
import type { RememberedDevice } from '../../../../server/dfu/types.js';
import { claimFor, notFoundRemedy, targetOrBootloader } from '../../../../server/dfu/secure/whereabouts.js';

const APP = parseAddress('F0:0D:C0:DE:00:05');
const BL = parseAddress('F0:0D:C0:DE:00:06');

function adv(address: string, name: string | undefined, dfu: boolean, rssi = -50): Advertisement {
  return {
    address: parseAddress(address),
    rssi,
    ...(name === undefined ? {} : { name }),
    serviceUuids: dfu ? [normalizeUuid(UUIDS.secureDfuService)] : [],
    manufacturerData: [],
    connectable: true,
    data: new Uint8Array(0),
    receivedAt: 0,
  };
}

const REMEMBERED: RememberedDevice = { appAddress: APP, appName: 'bledfu-sim-3', bootloaderAddress: BL, bootloaderName: 'Dfu12345', at: Date.UTC(2026, 0, 1) };

describe('where a DFU target may be', () => {
  it('by application address: the application, or FE59 at address + 1 — not a neighbour without FE59', () => {
    const w = targetOrBootloader({ kind: 'address', address: APP }, []);
    assert.equal(w.match.kind === 'predicate' && w.match.test(adv(APP.value, 'x', false)), true);
    assert.equal(w.match.kind === 'predicate' && w.match.test(adv(BL.value, 'DfuTarg', true)), true);
    assert.equal(w.classify(adv(BL.value, 'DfuTarg', true)).kind, 'bootloader');
    assert.equal(w.match.kind === 'predicate' && w.match.test(adv(BL.value, 'app-of-another', false)), false);
    assert.equal(w.match.kind === 'predicate' && w.match.test(adv('F0:0D:C0:DE:00:04', 'DfuTarg', true)), false, 'address − 1 is another device');
  });

  it('by name: the application as named, or the remembered bootloader (address with FE59, or its random name) — not any "DfuTarg"', () => {
    const w = targetOrBootloader({ kind: 'name', name: 'bledfu-sim-3' }, [REMEMBERED]);
    const test = (a: Advertisement): boolean => w.match.kind === 'predicate' && w.match.test(a);
    assert.equal(test(adv('F0:0D:C0:DE:00:55', 'bledfu-sim-3', false)), true);
    assert.equal(test(adv(BL.value, 'DfuTarg', true)), true);
    assert.equal(test(adv('F0:0D:C0:DE:00:99', 'Dfu12345', true)), true, 'the name it was given, at whatever address');
    assert.equal(test(adv('F0:0D:C0:DE:00:99', 'DfuTarg', true)), false);
    const s = w.classify(adv(BL.value, 'Dfu12345', true));
    assert.equal(s.kind === 'bootloader' && s.entry, REMEMBERED);
    // Without a memory, a name says nothing about where the bootloader is.
    const bare = targetOrBootloader({ kind: 'name', name: 'bledfu-sim-3' }, []);
    assert.equal(bare.match.kind === 'predicate' && bare.match.test(adv(BL.value, 'DfuTarg', true)), false);
  });

  it('by the bootloader name: the application it belongs to counts too (the device went back to it)', () => {
    const w = targetOrBootloader({ kind: 'name', name: 'Dfu12345' }, [REMEMBERED]);
    assert.equal(w.classify(adv(APP.value, 'renamed-app', false)).kind, 'application');
  });

  it('claims both modes of the device: the bootloader claims address − 1, the application address + 1', () => {
    assert.deepEqual(
      claimFor(adv(BL.value, 'DfuTarg', true), undefined).addresses.map((a) => a.value),
      [BL.value, APP.value],
    );
    const c = claimFor(adv(APP.value, 'bledfu-sim-3', false), REMEMBERED);
    assert.deepEqual(c.addresses.map((a) => a.value), [APP.value, BL.value]);
    assert.deepEqual(c.names, ['bledfu-sim-3', 'Dfu12345']);
  });
});

describe("DEVICE_NOT_FOUND's remedy", () => {
  it('names the bootloaders the scan saw as the likely device, strongest first, with the --address to use', () => {
    const seen = [adv('AA:00:00:00:00:01', 'Thermo', false, -30), adv('F0:0D:C0:DE:00:0A', 'Dfu55555', true, -70), adv(BL.value, 'Dfu12345', true, -40)];
    const remedy = notFoundRemedy({ kind: 'name', name: 'bledfu-sim-3' }, [], seen);
    assert.equal(
      remedy,
      '"bledfu-sim-3" may be waiting in its bootloader as F0:0D:C0:DE:00:06 "Dfu12345", or F0:0D:C0:DE:00:0A "Dfu55555": start the job with --address F0:0D:C0:DE:00:06; otherwise check that the device is powered, advertising and in range',
    );
  });

  it('says where the device was last met when that bootloader was not seen; nothing to say → undefined (the general remedy)', () => {
    const remedy = notFoundRemedy({ kind: 'address', address: APP }, [REMEMBERED], [adv('AA:00:00:00:00:01', 'Thermo', false)]);
    assert.match(remedy ?? '', /^it was last met in its bootloader at F0:0D:C0:DE:00:06 "Dfu12345" \(2026-01-01T00:00:00.000Z\), which was not seen now/);
    assert.equal(notFoundRemedy({ kind: 'address', address: APP }, [], [adv('AA:00:00:00:00:01', 'Thermo', false)]), undefined);
  });
});
