import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concatBytes, toHex } from '../../../server/common/bytes.js';
import { hasCode } from '../../../server/common/errors.js';
import { createMemoryDuplexPair } from '../../../server/transport/memory.js';

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source) parts.push(chunk);
  return concatBytes(parts);
}

describe('memory duplex pair', () => {
  it('delivers writes to the other end in order, as copies', async () => {
    const [a, b] = createMemoryDuplexPair();
    const buffer = Uint8Array.of(1, 2);
    const writes = [a.write(buffer), a.write(Uint8Array.of(3))];
    buffer[0] = 9;
    await Promise.all(writes);
    const reader = b.readable()[Symbol.asyncIterator]();
    assert.deepEqual((await reader.next()).value, Uint8Array.of(1, 2));
    assert.deepEqual((await reader.next()).value, Uint8Array.of(3));
    await a.close();
  });

  it('delivers asynchronously, never inside write()', async () => {
    const [a, b] = createMemoryDuplexPair();
    const seen: number[] = [];
    const reading = (async () => {
      for await (const c of b.readable()) seen.push(...c);
    })();
    const w = a.write(Uint8Array.of(7));
    assert.deepEqual(seen, []);
    await w;
    await a.close();
    await assert.rejects(reading, (e: unknown) => hasCode(e, 'TRANSPORT_CLOSED'));
    assert.deepEqual(seen, [7]);
  });

  it('close on one end aborts both closed signals, ends its reader and fails the far reader after draining', async () => {
    const [a, b] = createMemoryDuplexPair();
    const aReader = collect(a.readable());
    const bReader = collect(b.readable());
    void a.write(Uint8Array.of(0xaa));
    await a.close();
    assert.equal(a.closed.aborted, true);
    assert.equal(b.closed.aborted, true);
    assert.ok(hasCode(b.closed.reason, 'TRANSPORT_CLOSED'));
    assert.equal(toHex(await aReader), '');
    await assert.rejects(bReader, (e: unknown) => hasCode(e, 'TRANSPORT_CLOSED'));
    await assert.rejects(b.write(Uint8Array.of(1)), (e: unknown) => hasCode(e, 'TRANSPORT_CLOSED'));
  });
});
