import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ScanResponseJoiner } from '../../../server/ble/advertising.js';

const adv = (bytes: number[], connectable = true) => ({ data: Uint8Array.from(bytes), scanResponse: false, connectable });
const rsp = (bytes: number[]) => ({ data: Uint8Array.from(bytes), scanResponse: true, connectable: false });

describe('ScanResponseJoiner', () => {
  it('appends a scan response to its advertiser\'s advertising data and keeps its connectability', () => {
    const joiner = new ScanResponseJoiner();
    assert.deepEqual(joiner.join('public/A', adv([1, 2])), { data: Uint8Array.from([1, 2]), connectable: true });
    assert.deepEqual(joiner.join('public/A', rsp([3])), { data: Uint8Array.from([1, 2, 3]), connectable: true });
    // Non-connectable scannable advertising stays non-connectable through its response.
    joiner.join('random/B', adv([9], false));
    assert.deepEqual(joiner.join('random/B', rsp([8])), { data: Uint8Array.from([9, 8]), connectable: false });
  });

  it('passes an orphan scan response through alone, as not connectable', () => {
    const joiner = new ScanResponseJoiner();
    joiner.join('public/A', adv([1]));
    assert.deepEqual(joiner.join('public/C', rsp([5])), { data: Uint8Array.from([5]), connectable: false });
    joiner.clear();
    assert.deepEqual(joiner.join('public/A', rsp([5])), { data: Uint8Array.from([5]), connectable: false });
  });

  it('forgets the least recently heard advertiser beyond 4096', () => {
    const joiner = new ScanResponseJoiner();
    for (let i = 0; i < 4096; i++) joiner.join(`public/${i}`, adv([i & 0xff]));
    joiner.join('public/0', adv([0xaa])); // heard again: now the most recent
    joiner.join('public/new', adv([0xbb])); // evicts public/1, the least recently heard
    assert.deepEqual(joiner.join('public/1', rsp([7])).data, Uint8Array.from([7]));
    assert.deepEqual(joiner.join('public/0', rsp([7])).data, Uint8Array.from([0xaa, 7]));
    assert.deepEqual(joiner.join('public/2', rsp([7])).data, Uint8Array.from([2, 7]));
  });
});
