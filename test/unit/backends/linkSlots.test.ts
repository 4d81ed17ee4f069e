import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adapterBusy, LinkSlots } from '../../../server/backends/linkSlots.js';
import { realClock } from '../../../server/common/clock.js';
import { BledfuError, hasCode } from '../../../server/common/errors.js';

/** An adapter with `free` links: each attempt takes one or fails ADAPTER_BUSY. */
function pool(free: number) {
  const state = { free, attempts: 0 };
  const attempt = async (): Promise<string> => {
    state.attempts++;
    if (state.free === 0) throw adapterBusy('sim0', 4, 'wait');
    state.free--;
    return 'link';
  };
  return { state, attempt };
}

describe('waiting for a free link', () => {
  it('without waiting, a busy adapter answers ADAPTER_BUSY at once', async () => {
    const slots = new LinkSlots(realClock);
    const { attempt } = pool(0);
    await assert.rejects(slots.acquire(attempt, { wait: false, timeoutMs: 1000 }), (e: unknown) => hasCode(e, 'ADAPTER_BUSY'));
  });

  it('waiting, it tries again when a link goes down and gets it', async () => {
    const slots = new LinkSlots(realClock);
    const { state, attempt } = pool(0);
    const got = slots.acquire(attempt, { wait: true, timeoutMs: 60_000 });
    await new Promise((r) => setImmediate(r));
    assert.equal(state.attempts, 1);
    state.free = 1;
    slots.released();
    assert.equal(await got, 'link');
    assert.equal(state.attempts, 2);
  });

  it('a link released while the attempt runs is not missed', async () => {
    const slots = new LinkSlots(realClock);
    let calls = 0;
    const got = slots.acquire(
      async () => {
        calls++;
        if (calls === 1) {
          slots.released(); // goes down while the first attempt is still being refused
          throw adapterBusy('sim0', 4, 'wait');
        }
        return 'link';
      },
      { wait: true, timeoutMs: 60_000 },
    );
    assert.equal(await got, 'link');
    assert.equal(calls, 2);
  });

  it('gives up with ADAPTER_BUSY naming the wait when no link frees in time; other errors pass through', async () => {
    const slots = new LinkSlots(realClock);
    const { attempt } = pool(0);
    await assert.rejects(slots.acquire(attempt, { wait: true, timeoutMs: 20 }), (e: unknown) => hasCode(e, 'ADAPTER_BUSY') && /within 20 ms/.test(e.message));
    const failing = async (): Promise<never> => {
      throw new BledfuError('CONNECT_FAILED', 'no answer', { layer: 'backend' });
    };
    await assert.rejects(slots.acquire(failing, { wait: true, timeoutMs: 1000 }), (e: unknown) => hasCode(e, 'CONNECT_FAILED'));
  });

  it('the caller cancelling ends the wait with its reason', async () => {
    const slots = new LinkSlots(realClock);
    const { attempt } = pool(0);
    const stop = new AbortController();
    const got = slots.acquire(attempt, { wait: true, timeoutMs: 60_000, signal: stop.signal });
    stop.abort(new BledfuError('CANCELLED', 'job cancelled', { layer: 'jobs' }));
    await assert.rejects(got, (e: unknown) => hasCode(e, 'CANCELLED'));
  });
});
