import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concatBytes, fromHex, toHex } from '../../../../server/common/bytes.js';
import { SlipDecoder, slipEncode } from '../../../../server/backends/nrf/slip.js';
import { h5LinkVectors, NEEDS_NRF_VECTORS } from '../../../helpers/nrf-vectors.js';

/** Every SLIP frame in the vectors, with the H5 bytes it carries. */
function vectorFrames(): { name: string; h5: string; slip: string }[] {
  const { vectors, transcript_first_contact: transcript } = h5LinkVectors();
  return [
    ...vectors.map((v) => ({ name: v.name, h5: v.h5_hex, slip: v.slip_frame_hex })),
    ...transcript.map((s) => ({ name: `transcript step ${s.step}`, h5: s.h5_hex, slip: s.slip_frame_hex })),
  ];
}

/** Deterministic chunk sizes: a seeded linear congruential generator, 1–7 bytes each. */
function chunked(bytes: Uint8Array, seed: number): Uint8Array[] {
  let state = seed;
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (state % 7);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

describe('SLIP', () => {
  describe('h5_link vector frames', NEEDS_NRF_VECTORS, () => {
    const FRAMES = vectorFrames();
    for (const f of FRAMES) {
      it(`encodes and decodes ${f.name}`, () => {
        assert.equal(toHex(slipEncode(fromHex(f.h5))), f.slip);
        const decoder = new SlipDecoder();
        assert.deepEqual(decoder.feed(fromHex(f.slip)).map((b) => toHex(b)), [f.h5]);
        assert.equal(decoder.idle, true);
      });
    }
  });

  it('yields the same frames for any chunking of a stream of all vector frames', NEEDS_NRF_VECTORS, () => {
    const FRAMES = vectorFrames();
    const stream = concatBytes(FRAMES.map((f) => fromHex(f.slip)));
    const expected = FRAMES.map((f) => f.h5);
    for (let seed = 1; seed <= 40; seed++) {
      const decoder = new SlipDecoder();
      const got = chunked(stream, seed).flatMap((c) => decoder.feed(c));
      assert.deepEqual(got.map((b) => toHex(b)), expected, `seed ${seed}`);
    }
  });

  it('escapes only C0 and DB', () => {
    assert.equal(toHex(slipEncode(fromHex('c0 db dc dd 00 ff'))), 'c0dbdcdbdddcdd00ffc0');
  });

  it('discards bytes before the first delimiter', () => {
    const decoder = new SlipDecoder();
    assert.deepEqual(decoder.feed(fromHex('11 22 33 c0 01 02 c0')).map((b) => toHex(b)), ['0102']);
    assert.equal(decoder.dropped.beforeFirstDelimiter, 1);
  });

  it('treats back-to-back delimiters as empty frames and ignores them', () => {
    assert.deepEqual(new SlipDecoder().feed(fromHex('c0 c0 c0 01 c0 c0')).map((b) => toHex(b)), ['01']);
  });

  it('recovers from a lost delimiter: one 0xC0 between two frames still separates them', () => {
    const decoder = new SlipDecoder();
    const frames = decoder.feed(fromHex('c0 01 02 c0 03 04 c0'));
    assert.deepEqual(frames.map((b) => toHex(b)), ['0102', '0304']);
  });

  it('drops a frame with an invalid escape and keeps the next one', () => {
    const decoder = new SlipDecoder();
    const frames = decoder.feed(fromHex('c0 01 db 01 02 c0 c0 05 06 c0'));
    assert.deepEqual(frames.map((b) => toHex(b)), ['0506']);
    assert.equal(decoder.dropped.badEscape, 1);
  });

  it('drops a frame that ends right after the escape byte', () => {
    const decoder = new SlipDecoder();
    assert.deepEqual(decoder.feed(fromHex('c0 01 db c0 07 c0')).map((b) => toHex(b)), ['07']);
    assert.equal(decoder.dropped.badEscape, 1);
  });

  it('holds a partial frame (even a split escape) until the rest arrives', () => {
    const decoder = new SlipDecoder();
    assert.deepEqual(decoder.feed(fromHex('c0 01 db')), []);
    assert.equal(decoder.idle, false);
    assert.deepEqual(decoder.feed(fromHex('dc 02 c0')).map((b) => toHex(b)), ['01c002']);
  });

  it('drops a frame longer than the limit instead of buffering without bound', () => {
    const decoder = new SlipDecoder(8);
    const long = new Uint8Array(20).fill(0x55);
    assert.deepEqual(decoder.feed(concatBytes([fromHex('c0'), long, fromHex('c0 01 c0')])).map((b) => toHex(b)), ['01']);
    assert.equal(decoder.dropped.tooLong, 1);
  });
});
