import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import { attError, attErrorName } from '../../../../server/host/att/errors.js';
import { attOpLabel, decodeAttPdu, encodeAttPdu, isAttCommand, type AttPdu } from '../../../../server/host/att/pdu.js';

/** Each PDU with the bytes Core Vol 3, Part F, 3.4 lays out for it. */
const VECTORS: readonly (readonly [AttPdu, string])[] = [
  [{ op: 'errorRsp', requestOpcode: 0x10, handle: 0x0001, errorCode: 0x0a }, '01 10 01 00 0a'],
  [{ op: 'exchangeMtuReq', mtu: 247 }, '02 f7 00'],
  [{ op: 'exchangeMtuRsp', mtu: 23 }, '03 17 00'],
  [{ op: 'findInformationReq', startHandle: 0x0d, endHandle: 0x0f }, '04 0d 00 0f 00'],
  [{ op: 'findInformationRsp', entries: [{ handle: 0x0e, uuid: '2902' }] }, '05 01 0e 00 02 29'],
  [
    {
      op: 'findInformationRsp',
      entries: [{ handle: 0x10, uuid: '8EC90001-F315-4F60-9FB8-838830DAEA50' }],
    },
    '05 02 10 00 50 ea da 30 88 83 b8 9f 60 4f 15 f3 01 00 c9 8e',
  ],
  [
    { op: 'findByTypeValueReq', startHandle: 1, endHandle: 0xffff, type: '2800', value: fromHex('59fe') },
    '06 01 00 ff ff 00 28 59 fe',
  ],
  [{ op: 'findByTypeValueRsp', entries: [{ foundHandle: 0x0c, groupEndHandle: 0x12 }] }, '07 0c 00 12 00'],
  [{ op: 'readByTypeReq', startHandle: 1, endHandle: 0xffff, type: '2803' }, '08 01 00 ff ff 03 28'],
  [
    {
      op: 'readByTypeRsp',
      entries: [
        { handle: 0x02, value: fromHex('0a0300002a') },
        { handle: 0x04, value: fromHex('020500012a') },
      ],
    },
    '09 07 02 00 0a 03 00 00 2a 04 00 02 05 00 01 2a',
  ],
  [{ op: 'readReq', handle: 0x03 }, '0a 03 00'],
  [{ op: 'readRsp', value: fromHex('4446') }, '0b 44 46'],
  [{ op: 'readBlobReq', handle: 0x03, offset: 22 }, '0c 03 00 16 00'],
  [{ op: 'readBlobRsp', value: fromHex('00') }, '0d 00'],
  [{ op: 'readByGroupTypeReq', startHandle: 1, endHandle: 0xffff, type: '2800' }, '10 01 00 ff ff 00 28'],
  [
    {
      op: 'readByGroupTypeRsp',
      entries: [
        { handle: 0x01, endGroupHandle: 0x07, value: fromHex('0018') },
        { handle: 0x0c, endGroupHandle: 0xffff, value: fromHex('59fe') },
      ],
    },
    '11 06 01 00 07 00 00 18 0c 00 ff ff 59 fe',
  ],
  [{ op: 'writeReq', handle: 0x0e, value: fromHex('0100') }, '12 0e 00 01 00'],
  [{ op: 'writeRsp' }, '13'],
  [{ op: 'writeCmd', handle: 0x10, value: fromHex('aabbcc') }, '52 10 00 aa bb cc'],
  [{ op: 'handleValueNtf', handle: 0x0d, value: fromHex('600101') }, '1b 0d 00 60 01 01'],
  [{ op: 'handleValueInd', handle: 0x0d, value: fromHex('01') }, '1d 0d 00 01'],
  [{ op: 'handleValueCfm' }, '1e'],
];

describe('ATT PDUs', () => {
  it('encode to and decode from the spec layouts', () => {
    for (const [pdu, hex] of VECTORS) {
      assert.equal(toHex(encodeAttPdu(pdu), ' '), hex, pdu.op);
      assert.deepEqual(decodeAttPdu(fromHex(hex)), pdu, pdu.op);
    }
  });

  it('decodes an unmodelled opcode to `unknown` so a server can answer Request Not Supported', () => {
    assert.deepEqual(decodeAttPdu(fromHex('16 01 00')), { op: 'unknown', opcode: 0x16, params: fromHex('0100') });
    assert.equal(isAttCommand(0x52), true);
    assert.equal(isAttCommand(0x12), false);
  });

  it('rejects responses that are not whole entries', () => {
    const bad = ['09 07 02 00 0a 03 00 00', '11 06 01 00 07 00 00', '05 03 0e 00 02 29', '09 01 02 00', '01 10 01'];
    for (const hex of bad) {
      assert.throws(() => decodeAttPdu(fromHex(hex)), (e: unknown) => hasCode(e, 'MALFORMED_PACKET') && e.layer === 'att', hex);
    }
    assert.throws(() =>
      encodeAttPdu({ op: 'readByTypeRsp', entries: [{ handle: 1, value: fromHex('01') }, { handle: 2, value: fromHex('0102') }] }),
    );
  });

  it('names error codes and requests in errors', () => {
    assert.equal(attErrorName(0x01), 'Invalid Handle (0x01)');
    assert.equal(attErrorName(0x0a), 'Attribute Not Found (0x0A)');
    assert.equal(attErrorName(0xfd), 'Client Characteristic Configuration Descriptor Improperly Configured (0xFD)');
    assert.equal(attErrorName(0x81), 'Application Error (0x81)');
    assert.equal(attOpLabel(0x12), 'ATT Write Request');
    const e = attError('ATT Write Request', 0x10, 0x03);
    assert.equal(e.code, 'ATT_ERROR');
    assert.equal(e.facts.attError, 3);
    assert.equal(e.message, 'ATT Write Request on handle 0x0010 failed: Write Not Permitted (0x03)');
  });
});
