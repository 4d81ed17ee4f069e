import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteReader, ByteWriter, fromHex, toHex } from '../../../server/common/bytes.js';
import { crc32 } from '../../../server/common/crc32.js';
import { hasCode } from '../../../server/common/errors.js';

describe('ByteReader / ByteWriter', () => {
  it('round-trips little- and big-endian fields', () => {
    const bytes = new ByteWriter(2).u8(0x01).u16le(0x0302).u24le(0x060504).u32le(0x0a090807).u16be(0x0b0c).finish();
    assert.equal(toHex(bytes), '0102030405060708090a0b0c');
    const r = new ByteReader(bytes, 'hci');
    assert.deepEqual([r.u8(), r.u16le(), r.u24le(), r.u32le(), r.u16be()], [1, 0x0302, 0x060504, 0x0a090807, 0x0b0c]);
    assert.equal(r.remaining, 0);
  });

  it('throws MALFORMED_PACKET with the offset on a short read', () => {
    const r = new ByteReader(fromHex('0102'), 'att', 'ATT PDU');
    r.u8();
    assert.throws(
      () => r.u16le(),
      (e: unknown) => hasCode(e, 'MALFORMED_PACKET') && /offset 1/.test(e.message) && e.layer === 'att',
    );
  });
});

describe('crc32', () => {
  it('matches the CRC-32/ISO-HDLC check value', () => {
    assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  });
  it('continues across chunks', () => {
    const data = new TextEncoder().encode('123456789');
    assert.equal(crc32(data.subarray(4), crc32(data.subarray(0, 4))), 0xcbf43926);
  });
  it('is 0 over no bytes', () => {
    assert.equal(crc32(new Uint8Array(0)), 0);
  });
});
