import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bootloaderAddress, offsetLastOctet, parseAddress } from '../../../server/ble/address.js';

describe('offsetLastOctet', () => {
  it('adds to the last octet only, wrapping without carry, keeping the type', () => {
    const a = parseAddress('C0:11:22:33:44:FF', 'public');
    assert.deepEqual(offsetLastOctet(a, 1), { value: 'C0:11:22:33:44:00', type: 'public' });
    assert.deepEqual(offsetLastOctet(parseAddress('C0:11:22:33:44:00'), -1), { value: 'C0:11:22:33:44:FF', type: 'random' });
    assert.equal(offsetLastOctet(parseAddress('C0:11:22:33:44:0A'), 3).value, 'C0:11:22:33:44:0D');
  });

  it('is what bootloaderAddress applies (+1)', () => {
    const app = parseAddress('F0:12:34:56:78:9A');
    assert.deepEqual(bootloaderAddress(app), offsetLastOctet(app, 1));
    assert.equal(bootloaderAddress(app).value, 'F0:12:34:56:78:9B');
  });
});
