import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concatBytes, fromHex, toHex } from '../../../server/common/bytes.js';
import { hasCode } from '../../../server/common/errors.js';
import { encodeH4, H4Parser, readH4Packets, type H4Packet } from '../../../server/transport/h4.js';

// A host-side capture: Reset, its Command Complete, an LE Connection Complete, an ACL packet
// carrying an ATT Exchange MTU Request, a zero-length ACL, and an ISO packet we must still frame.
const CAPTURE = [
  '01 03 0c 00',
  '04 0e 04 01 03 0c 00',
  '04 3e 13 01 00 40 00 00 01 66 55 44 33 22 11 18 00 00 00 48 00 00',
  '02 40 00 07 00 03 00 04 00 02 f7 00',
  '02 41 10 00 00',
  '05 01 00 02 00 aa bb',
  '04 13 05 01 40 00 02 00',
].map(fromHex);

/** Deterministic chunk sizes: a seeded linear congruential generator, 1–9 bytes each. */
function chunked(bytes: Uint8Array, seed: number): Uint8Array[] {
  let state = seed;
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (state % 9);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

describe('H4 framing', () => {
  it('encodes the type octet before the packet (HCI_Reset = 01 03 0c 00)', () => {
    assert.equal(toHex(encodeH4({ type: 'command', bytes: fromHex('030c00') })), '01030c00');
  });

  it('parses a capture fed whole into the packets it holds', () => {
    const packets = new H4Parser().feed(concatBytes(CAPTURE));
    assert.deepEqual(
      packets.map((p) => p.type),
      ['command', 'event', 'event', 'acl', 'acl', 'iso', 'event'],
    );
    assert.deepEqual(packets.map(encodeH4).map((b) => toHex(b)), CAPTURE.map((b) => toHex(b)));
  });

  it('yields the same packets for any chunking of the stream', () => {
    const stream = concatBytes([...CAPTURE, ...CAPTURE, ...CAPTURE]);
    const expected = new H4Parser().feed(stream).map((p) => toHex(encodeH4(p)));
    for (let seed = 1; seed <= 50; seed++) {
      const parser = new H4Parser();
      const got: H4Packet[] = [];
      for (const chunk of chunked(stream, seed)) got.push(...parser.feed(chunk));
      assert.deepEqual(got.map((p) => toHex(encodeH4(p))), expected, `seed ${seed}`);
      assert.equal(parser.idle, true);
    }
  });

  it('holds a partial packet until the rest arrives', () => {
    const parser = new H4Parser();
    assert.deepEqual(parser.feed(fromHex('04 0e 04 01')), []);
    assert.equal(parser.idle, false);
    const [p] = parser.feed(fromHex('03 0c 00 01'));
    assert.equal(toHex(p?.bytes ?? new Uint8Array()), '0e0401030c00');
    assert.equal(parser.idle, false);
  });

  it('rejects an unknown packet type as MALFORMED_PACKET from the transport layer', () => {
    assert.throws(
      () => new H4Parser().feed(fromHex('09 00')),
      (e: unknown) => hasCode(e, 'MALFORMED_PACKET') && e.layer === 'transport' && /0x09/.test(e.message),
    );
  });

  it('reads packets from an async byte stream', async () => {
    async function* source(): AsyncGenerator<Uint8Array> {
      yield* chunked(concatBytes(CAPTURE), 7);
    }
    const types: string[] = [];
    for await (const p of readH4Packets(source())) types.push(p.type);
    assert.equal(types.length, CAPTURE.length);
  });
});
