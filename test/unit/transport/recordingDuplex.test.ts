import assert from 'node:assert/strict';
import { realClock } from '../../../server/common/clock.js';
import { describe, it } from 'node:test';
import { hasCode } from '../../../server/common/errors.js';
import { createMemoryDuplexPair } from '../../../server/transport/memory.js';
import { RecordingDuplex } from '../../../server/transport/recordingDuplex.js';

describe('RecordingDuplex', () => {
  it('passes bytes both ways and keeps the first ones', async () => {
    const [near, far] = createMemoryDuplexPair();
    const tap = new RecordingDuplex(near, 4, realClock);
    const reader = tap.readable()[Symbol.asyncIterator]();
    const farReader = far.readable()[Symbol.asyncIterator]();
    await far.write(Uint8Array.of(1, 2, 3));
    await far.write(Uint8Array.of(4, 5, 6));
    assert.deepEqual((await reader.next()).value, Uint8Array.of(1, 2, 3));
    assert.deepEqual((await reader.next()).value, Uint8Array.of(4, 5, 6));
    assert.deepEqual(tap.recorded, Uint8Array.of(1, 2, 3, 4));
    await tap.write(Uint8Array.of(9));
    assert.deepEqual((await farReader.next()).value, Uint8Array.of(9));
    tap.release();
    await tap.close();
    assert.ok(near.closed.aborted);
  });

  it('while held, close() ends its reader but keeps the inner pipe, which it still records', async () => {
    const [near, far] = createMemoryDuplexPair();
    const tap = new RecordingDuplex(near, 16, realClock);
    const reading = (async () => {
      const got: number[] = [];
      for await (const c of tap.readable()) got.push(...c);
      return got;
    })();
    await far.write(Uint8Array.of(0x41));
    await tap.close();
    assert.deepEqual(await reading, [0x41]);
    assert.ok(tap.closed.aborted);
    assert.equal(near.closed.aborted, false);
    await assert.rejects(tap.write(Uint8Array.of(1)), (e: unknown) => hasCode(e, 'TRANSPORT_CLOSED'));
    const later = tap.waitForRecording((b) => b.includes(0x0a), 5_000);
    await far.write(Uint8Array.of(0x42, 0x0a));
    assert.deepEqual(await later, Uint8Array.of(0x41, 0x42, 0x0a));
    await near.close();
  });

  it('stops pulling from a reader that falls behind and resumes when it catches up', { timeout: 5_000 }, async () => {
    const [near, far] = createMemoryDuplexPair();
    const tap = new RecordingDuplex(near, 4, realClock);
    // More chunks than the tap queues before it pauses, none read yet.
    for (let i = 0; i < 600; i++) await far.write(Uint8Array.of(i & 0xff, i >> 8));
    await new Promise((r) => setTimeout(r, 10));
    const values: number[] = [];
    for await (const c of tap.readable()) {
      values.push((c[0] as number) | ((c[1] as number) << 8));
      if (values.length === 600) break;
    }
    assert.deepEqual(values, Array.from({ length: 600 }, (_, i) => i));
    await near.close();
  });

  it('waitForRecording gives up after its time, or when the inner pipe ends', async () => {
    const [near, far] = createMemoryDuplexPair();
    const tap = new RecordingDuplex(near, 16, realClock);
    assert.deepEqual(await tap.waitForRecording(() => false, 20), new Uint8Array(0));
    const waiting = tap.waitForRecording(() => false, 60_000);
    await far.close();
    assert.deepEqual(await waiting, new Uint8Array(0));
    assert.ok(tap.closed.aborted);
  });
});
