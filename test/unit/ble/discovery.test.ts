import assert from 'node:assert/strict';
import { realClock } from '../../../server/common/clock.js';
import { describe, it } from 'node:test';
import { bootloaderAddress } from '../../../server/ble/address.js';
import { findDevice } from '../../../server/ble/discovery.js';
import { hasCode } from '../../../server/common/errors.js';
import { bootloaderMatch } from '../../../server/dfu/buttonless/enter.js';
import { addr, FakeAdapter } from '../../helpers/fake-ble.js';

function adapterWith(...ads: { address: string; name?: string; uuids?: string[] }[]): FakeAdapter {
  const a = new FakeAdapter([]);
  for (const d of ads) a.bystanders.push({ address: addr(d.address), ...(d.name === undefined ? {} : { name: d.name }), serviceUuids: d.uuids ?? [] });
  return a;
}

describe('findDevice', () => {
  it('finds by address (value only, type ignored), by name and by predicate, and stops the scan', async () => {
    const a = adapterWith({ address: '11:22:33:44:55:66', name: 'One' }, { address: 'AA:BB:CC:DD:EE:FF', name: 'Two', uuids: ['FE59'] });
    assert.equal((await findDevice(a, { kind: 'address', address: { value: 'AA:BB:CC:DD:EE:FF', type: 'public' } }, { timeoutMs: 500, clock: realClock })).name, 'Two');
    assert.equal((await findDevice(a, { kind: 'name', name: 'One' }, { timeoutMs: 500, clock: realClock })).address.value, '11:22:33:44:55:66');
    assert.equal((await findDevice(a, { kind: 'predicate', description: 'FE59', test: (x) => x.serviceUuids.includes('FE59') }, { timeoutMs: 500, clock: realClock })).name, 'Two');
    assert.equal(a.activeScans, 0);
  });

  it('times out with DEVICE_NOT_FOUND listing what was seen', async () => {
    const a = adapterWith({ address: '11:22:33:44:55:66', name: 'One' }, { address: '11:22:33:44:55:67' });
    await assert.rejects(findDevice(a, { kind: 'name', name: 'Missing' }, { timeoutMs: 30, clock: realClock }), (e: unknown) =>
      hasCode(e, 'DEVICE_NOT_FOUND') && /device named "Missing" not found within 30 ms/.test(e.message) && /11:22:33:44:55:66 "One"/.test(e.message) && /11:22:33:44:55:67/.test(e.message),
    );
    assert.equal(a.activeScans, 0);
  });

  it('says when nothing was seen at all', async () => {
    await assert.rejects(findDevice(adapterWith(), { kind: 'name', name: 'X' }, { timeoutMs: 10, clock: realClock }), (e: unknown) => hasCode(e, 'DEVICE_NOT_FOUND') && /no devices were seen/.test(e.message));
  });

  it('cancels with the caller signal and stops the scan', async () => {
    const a = adapterWith({ address: '11:22:33:44:55:66' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 10);
    await assert.rejects(findDevice(a, { kind: 'name', name: 'X' }, { timeoutMs: 5000, clock: realClock, signal: ac.signal }), (e: unknown) => hasCode(e, 'CANCELLED'));
    assert.equal(a.activeScans, 0);
  });
});

describe('bootloaderMatch (spec §4.2)', () => {
  const app = addr('C0:11:22:33:44:FF');
  const adv = (address: string, uuids: string[], name?: string) => ({
    address: addr(address), rssi: -40, serviceUuids: uuids, manufacturerData: [], connectable: true, data: new Uint8Array(0), receivedAt: 0, ...(name === undefined ? {} : { name }),
  });
  it('accepts FE59 at app+1 (wrapping, no carry), the chosen name, or FE59 at the same address', () => {
    assert.equal(bootloaderAddress(app).value, 'C0:11:22:33:44:00');
    const m = bootloaderMatch(app, 'Dfu12345');
    assert.ok(m.kind === 'predicate');
    assert.equal(m.test(adv('C0:11:22:33:44:00', ['FE59'])), true);
    assert.equal(m.test(adv('C0:11:22:33:45:00', ['FE59'])), false, 'nrfutil-style carry is wrong');
    assert.equal(m.test(adv('C0:11:22:33:44:00', [])), false);
    assert.equal(m.test(adv('01:02:03:04:05:06', [], 'Dfu12345')), true);
    assert.equal(m.test(adv('C0:11:22:33:44:FF', ['FE59'])), true);
  });
});
