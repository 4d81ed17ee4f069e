import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prnWaitMs } from '../../../../server/dfu/secure/link.js';

const params = (intervalMs: number, latency = 0) => ({ intervalUs: intervalMs * 1000, latency, supervisionTimeoutMs: 6000 });

describe('prnWaitMs: how long a due PRN is waited for (spec §3.3 step 5)', () => {
  it('a few connection events beyond the PRN interval, never below the floor', () => {
    assert.equal(prnWaitMs(params(7.5), 1, 20_000), 100, 'fast link: the floor');
    assert.equal(prnWaitMs(params(30), 1, 20_000), 150, '(1 + 4) events of 30 ms');
    assert.equal(prnWaitMs(params(30), 12, 20_000), 480, 'up to 12 packets may still be queued in the controller');
  });

  it('peripheral latency stretches every event the device may skip', () => {
    assert.equal(prnWaitMs(params(30, 1), 1, 20_000), 300);
  });

  it('capped at 2 s, and never longer than the request timeout', () => {
    assert.equal(prnWaitMs(params(400), 1, 20_000), 2000);
    assert.equal(prnWaitMs(params(30), 12, 300), 300);
    assert.equal(prnWaitMs(params(7.5), 1, 50), 50);
  });
});
