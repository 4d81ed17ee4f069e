import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import { crc16 } from '../../../../server/common/crc16.js';
import {
  ackPacket,
  decodeH5,
  decodeH5Header,
  decodeLinkControl,
  encodeH5,
  encodeLinkControl,
  h5Frame,
  H5_PACKET_TYPE,
  linkControlPacket,
  resetPacket,
  vendorPacket,
  type H5Packet,
} from '../../../../server/backends/nrf/h5.js';
import { h5LinkVectors, NEEDS_NRF_VECTORS } from '../../../helpers/nrf-vectors.js';

const isMalformed = (e: unknown): boolean => hasCode(e, 'MALFORMED_PACKET') && e.layer === 'nrf';

describe('H5 CRC16', () => {
  describe('h5_link crc16 vectors', NEEDS_NRF_VECTORS, () => {
    for (const v of h5LinkVectors().crc16) {
      it(`${v.name} = 0x${v.crc_hex}`, () => {
        const input = v.input_ascii !== undefined ? new TextEncoder().encode(v.input_ascii) : fromHex(v.input_hex ?? '');
        assert.equal(crc16(input), v.crc);
        assert.equal(crc16(input).toString(16).padStart(4, '0'), v.crc_hex);
      });
    }
  });

  it('continues over parts', () => {
    const data = new TextEncoder().encode('123456789');
    assert.equal(crc16(data.subarray(4), crc16(data.subarray(0, 4))), 0x29b1);
  });
});

describe('H5 packets (every h5_link vector)', NEEDS_NRF_VECTORS, () => {
  const file = h5LinkVectors();
  for (const v of file.vectors) {
    const packet: H5Packet = {
      seq: v.input.seq,
      ack: v.input.ack,
      dataIntegrity: v.input.data_integrity,
      reliable: v.input.reliable,
      packetType: v.input.packet_type,
      payload: fromHex(v.input.payload_hex),
    };

    it(`${v.name}: encodes to the H5 bytes and the SLIP frame`, () => {
      assert.equal(toHex(encodeH5(packet)), v.h5_hex);
      assert.equal(toHex(h5Frame(packet)), v.slip_frame_hex);
    });

    it(`${v.name}: decodes to the fields Nordic's decoder reported`, () => {
      const rt = v.roundtrip;
      assert.equal(rt.h5_decode_err, 0);
      const header = decodeH5Header(fromHex(v.h5_hex));
      assert.deepEqual(header, {
        seq: rt.seq,
        ack: rt.ack,
        dataIntegrity: rt.data_integrity,
        reliable: rt.reliable,
        packetType: rt.packet_type,
        payloadLength: rt.payload_length,
        headerChecksum: rt.header_checksum,
      });
      const decoded = decodeH5(fromHex(v.h5_hex));
      assert.deepEqual({ ...decoded, payload: toHex(decoded.payload) }, { ...packet, payload: rt.payload_hex });
    });
  }

  for (const s of file.transcript_first_contact) {
    it(`transcript step ${s.step} (${s.direction}) round-trips`, () => {
      const packet = decodeH5(fromHex(s.h5_hex));
      assert.equal(packet.seq, s.seq);
      assert.equal(packet.ack, s.ack);
      assert.equal(packet.reliable, s.reliable);
      assert.equal(packet.packetType, s.packet_type);
      assert.equal(toHex(packet.payload), s.payload_hex);
      assert.equal(toHex(h5Frame(packet)), s.slip_frame_hex);
    });
  }
});

describe('H5 packet helpers', () => {
  it('build the link packets of the vectors', NEEDS_NRF_VECTORS, () => {
    const byName = new Map(h5LinkVectors().vectors.map((v) => [v.name, v.h5_hex]));
    assert.equal(toHex(encodeH5(resetPacket())), byName.get('reset'));
    assert.equal(toHex(encodeH5(linkControlPacket('sync'))), byName.get('sync'));
    assert.equal(toHex(encodeH5(linkControlPacket('syncResponse'))), byName.get('sync_response'));
    assert.equal(toHex(encodeH5(linkControlPacket('config'))), byName.get('config'));
    assert.equal(toHex(encodeH5(linkControlPacket('configResponse'))), byName.get('config_response'));
    for (let n = 0; n < 8; n++) assert.equal(toHex(encodeH5(ackPacket(n))), byName.get(`ack_${n}`));
    assert.equal(toHex(encodeH5(vendorPacket(5, 3, fromHex('0060')))), byName.get('reliable_ble_enable_seq5_ack3'));
    assert.equal(toHex(encodeH5(vendorPacket(0, 0, fromHex('0500')))), byName.get('reset_cmd_sys_reset'));
  });

  it('parse and build link-control payloads', () => {
    assert.deepEqual(decodeLinkControl(fromHex('017e')), { kind: 'sync' });
    assert.deepEqual(decodeLinkControl(fromHex('027d')), { kind: 'syncResponse' });
    assert.deepEqual(decodeLinkControl(fromHex('03fc11')), { kind: 'config', config: 0x11 });
    assert.deepEqual(decodeLinkControl(fromHex('047b11')), { kind: 'configResponse', config: 0x11 });
    assert.deepEqual(decodeLinkControl(fromHex('05fa')), { kind: 'wakeup' });
    assert.equal(decodeLinkControl(fromHex('017e00')), undefined);
    assert.equal(decodeLinkControl(fromHex('03fc')), undefined);
    assert.equal(decodeLinkControl(fromHex('0900')), undefined);
    assert.equal(toHex(encodeLinkControl('configResponse', 0x19)), '047b19');
  });

  it('places the 12-bit length across header bytes 1 and 2', () => {
    const payload = new Uint8Array(0x123).fill(7);
    const bytes = encodeH5(vendorPacket(3, 6, payload));
    const header = decodeH5Header(bytes);
    assert.equal(header.payloadLength, 0x123);
    assert.equal(header.packetType, H5_PACKET_TYPE.vendor);
    assert.equal(decodeH5(bytes).payload.length, 0x123);
  });
});

describe('H5 rejects bad packets with MALFORMED_PACKET', () => {
  const good = fromHex('c02e001200609936'); // reliable_ble_enable_seq0_ack0
  const corrupt = (at: number, value: number): Uint8Array => {
    const b = good.slice();
    b[at] = value;
    return b;
  };

  it('too short for a header', () => assert.throws(() => decodeH5(fromHex('c02e00')), isMalformed));
  it('wrong header checksum', () => assert.throws(() => decodeH5(corrupt(3, 0x13)), isMalformed));
  it('CRC mismatch', () => assert.throws(() => decodeH5(corrupt(5, 0x61)), isMalformed));
  it('trailing byte', () => assert.throws(() => decodeH5(fromHex('c02e00120060993600')), isMalformed));
  it('missing CRC byte', () => assert.throws(() => decodeH5(good.subarray(0, 7)), isMalformed));
  it('refuses to encode out-of-range fields', () => {
    assert.throws(() => encodeH5({ ...ackPacket(0), ack: 8 }), (e) => hasCode(e, 'INVALID_ARGUMENT'));
    assert.throws(() => encodeH5(vendorPacket(0, 0, new Uint8Array(0x1000))), (e) => hasCode(e, 'INVALID_ARGUMENT'));
  });
});
