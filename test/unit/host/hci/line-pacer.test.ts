/**
 * The host's pacing of a slow UART: the transport's write resolves when its line is nearly free
 * (transport/linePace.ts), the host's pacer (host/hci/linePacer.ts) hands over one packet at a
 * time and, of those waiting, small ones first; a producer's own packets keep their order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LINE_LEAD_MS, LinePace } from '../../../../server/transport/linePace.js';
import { LinePacer, SMALL_BYTES } from '../../../../server/host/hci/linePacer.js';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

/** A transport whose writes resolve when the test lets the line take the next one. */
function pacedLine(): { pacer: LinePacer<string>; written: string[]; free: () => Promise<void> } {
  const written: string[] = [];
  const pending: (() => void)[] = [];
  const pacer = new LinePacer<string>((name) => {
    written.push(name);
    return new Promise<void>((resolve) => pending.push(resolve));
  });
  return {
    pacer,
    written,
    free: async () => {
      pending.shift()?.();
      await flush();
    },
  };
}

const BULK = 256;

describe('LinePace (transport)', () => {
  it('a write resolves when no more than LINE_LEAD_MS of earlier bytes wait to cross', () => {
    // 1 Mbaud, 8N1: 100 bytes a ms.
    const pace = new LinePace(1_000_000);
    assert.equal(pace.wrote(100, 0), 0, 'a 1 ms write on an idle line: at once');
    // 1 ms still to cross + 2.56 ms = 3.56 ms; it may resolve when LINE_LEAD_MS remain.
    assert.ok(Math.abs(pace.wrote(BULK, 0) - (3.56 - LINE_LEAD_MS)) < 1e-9);
    // Later, the line has moved on: only what is left counts.
    assert.ok(Math.abs(pace.wrote(BULK, 3) - (3.56 + 2.56 - LINE_LEAD_MS - 3)) < 1e-9);
    assert.equal(pace.wrote(10, 1000), 0, 'an idle line again');
  });
});

describe('LinePacer (HCI host)', () => {
  it('hands packets over one at a time: the next only when the line took the last', async () => {
    const { pacer, written, free } = pacedLine();
    const sends = ['a', 'b', 'c'].map((n) => pacer.send(n, BULK));
    await flush();
    assert.deepEqual(written, ['a']);
    await free();
    assert.deepEqual(written, ['a', 'b']);
    await free();
    await free();
    await Promise.all(sends);
    assert.deepEqual(written, ['a', 'b', 'c']);
  });

  it('a small packet goes before the bulk packets waiting, which keep their order', async () => {
    const { pacer, written, free } = pacedLine();
    const bulk = Array.from({ length: 6 }, (_, i) => pacer.send(`bulk${i}`, BULK));
    await flush();
    await free();
    const small = pacer.send('request', SMALL_BYTES);
    for (let i = 0; i < 8; i++) await free();
    await Promise.all([...bulk, small]);
    // bulk0 was on the line, bulk1 taken when it freed; the request came next, before bulk2–5.
    assert.deepEqual(written, ['bulk0', 'bulk1', 'request', 'bulk2', 'bulk3', 'bulk4', 'bulk5']);
  });

  it('a packet just over SMALL_BYTES waits its turn like bulk', async () => {
    const { pacer, written, free } = pacedLine();
    const sends = [pacer.send('bulk0', BULK), pacer.send('bulk1', BULK), pacer.send('mid', SMALL_BYTES + 1)];
    for (let i = 0; i < 4; i++) await free();
    await Promise.all(sends);
    assert.deepEqual(written, ['bulk0', 'bulk1', 'mid']);
  });

  it('fail() rejects what waits and what comes later; what was handed over is not affected', async () => {
    const { pacer, written, free } = pacedLine();
    const sends = Array.from({ length: 4 }, (_, i) => pacer.send(`bulk${i}`, BULK));
    await flush();
    const error = new Error('transport gone');
    pacer.fail(error);
    await free();
    const results = await Promise.allSettled(sends);
    assert.deepEqual(written, ['bulk0']);
    assert.equal(results[0]?.status, 'fulfilled');
    assert.ok(results.slice(1).every((r) => r.status === 'rejected' && r.reason === error));
    await assert.rejects(pacer.send('late', 10), (e) => e === error);
  });
});
