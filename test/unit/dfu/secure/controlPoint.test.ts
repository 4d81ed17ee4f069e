import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import {
  decodeRequest,
  decodeResponse,
  describeFailure,
  encodeRequest,
  encodeResponse,
  EXT_ERROR,
  extendedErrorInfo,
  OBJECT_TYPE,
  OPCODE,
  RESULT,
  resultInfo,
  type ControlPointRequest,
  type ControlPointResponse,
} from '../../../../server/dfu/secure/controlPoint.js';

const hex = (s: string): string => s.replace(/\s/g, '');

describe('control point requests (spec §2.1/§2.2 traces)', () => {
  const cases: [ControlPointRequest, string][] = [
    [{ op: 'select', objectType: OBJECT_TYPE.COMMAND }, '06 01'],
    [{ op: 'create', objectType: OBJECT_TYPE.COMMAND, size: 139 }, '01 01 8b 00 00 00'],
    [{ op: 'calcChecksum' }, '03'],
    [{ op: 'execute' }, '04'],
    [{ op: 'select', objectType: OBJECT_TYPE.DATA }, '06 02'],
    [{ op: 'create', objectType: OBJECT_TYPE.DATA, size: 1508 }, '01 02 e4 05 00 00'],
    [{ op: 'setPrn', interval: 10 }, '02 0a 00'],
    [{ op: 'setPrn', interval: 0 }, '02 00 00'],
    [{ op: 'abort' }, '0c'],
    [{ op: 'protocolVersion' }, '00'],
    [{ op: 'mtuGet' }, '07'],
    [{ op: 'ping', id: 0x42 }, '09 42'],
    [{ op: 'hardwareVersion' }, '0a'],
    [{ op: 'firmwareVersion', image: 1 }, '0b 01'],
    [{ op: 'other', opcode: 0x05, payload: fromHex('aa') }, '05 aa'],
  ];
  for (const [req, bytes] of cases) {
    it(`${req.op} ⇄ ${bytes}`, () => {
      assert.equal(toHex(encodeRequest(req)), hex(bytes));
      assert.deepEqual(decodeRequest(fromHex(bytes)), req);
    });
  }
  it('decodes 0x08 object write as "other" (never valid over BLE)', () => {
    assert.deepEqual(decodeRequest(fromHex('08 01 02 02 00')), { op: 'other', opcode: 8, payload: fromHex('01 02 02 00') });
  });
  it('ignores trailing bytes like SDK 15+ and rejects short requests', () => {
    assert.deepEqual(decodeRequest(fromHex('06 02 ff')), { op: 'select', objectType: 2 });
    assert.throws(() => decodeRequest(fromHex('01 02 00')), (e: unknown) => hasCode(e, 'MALFORMED_PACKET'));
    assert.throws(() => decodeRequest(new Uint8Array(0)), (e: unknown) => hasCode(e, 'MALFORMED_PACKET'));
  });
});

describe('control point responses (spec §2.2)', () => {
  const cases: [ControlPointResponse, string][] = [
    [{ kind: 'select', maxSize: 512, offset: 0, crc: 0 }, '60 06 01 00 02 00 00 00 00 00 00 00 00 00 00'],
    [{ kind: 'success', request: OPCODE.CREATE }, '60 01 01'],
    [{ kind: 'checksum', offset: 139, crc: 0x4f468c46 }, '60 03 01 8b 00 00 00 46 8c 46 4f'],
    [{ kind: 'success', request: OPCODE.EXECUTE }, '60 04 01'],
    [{ kind: 'select', maxSize: 4096, offset: 0, crc: 0 }, '60 06 01 00 10 00 00 00 00 00 00 00 00 00 00'],
    [{ kind: 'checksum', offset: 200, crc: 0xdc150a3c }, '60 03 01 c8 00 00 00 3c 0a 15 dc'],
    [{ kind: 'checksum', offset: 1508, crc: 0x3477e14c }, '60 03 01 e4 05 00 00 4c e1 77 34'],
    [{ kind: 'success', request: OPCODE.SET_PRN }, '60 02 01'],
    [{ kind: 'error', request: OPCODE.EXECUTE, result: RESULT.OPERATION_NOT_PERMITTED }, '60 04 08'],
    [{ kind: 'error', request: OPCODE.EXECUTE, result: RESULT.INVALID_OBJECT }, '60 04 05'],
    [{ kind: 'error', request: 0x07, result: RESULT.OP_CODE_NOT_SUPPORTED }, '60 07 02'],
    [{ kind: 'extendedError', request: OPCODE.EXECUTE, extended: EXT_ERROR.SIGNATURE_MISSING }, '60 04 0b 08'],
    [{ kind: 'extendedError', request: OPCODE.EXECUTE, extended: EXT_ERROR.VERIFICATION_FAILED }, '60 04 0b 0c'],
  ];
  for (const [res, bytes] of cases) {
    it(`${res.kind} ⇄ ${bytes}`, () => {
      assert.equal(toHex(encodeResponse(res)), hex(bytes));
      assert.deepEqual(decodeResponse(fromHex(bytes)), res);
    });
  }
  it('sizes: select 15, crc 11, plain 3, extended 4', () => {
    assert.equal(encodeResponse({ kind: 'select', maxSize: 1, offset: 2, crc: 3 }).length, 15);
    assert.equal(encodeResponse({ kind: 'checksum', offset: 2, crc: 3 }).length, 11);
    assert.equal(encodeResponse({ kind: 'error', request: 1, result: 4 }).length, 3);
    assert.equal(encodeResponse({ kind: 'extendedError', request: 4, extended: 7 }).length, 4);
  });
  it('ignores a serial-style payload on other successes and keeps bare SDK 15.0 answers', () => {
    assert.deepEqual(decodeResponse(fromHex('60 00 01 01')), { kind: 'success', request: 0 });
  });
  it('rejects notifications that are not responses or are truncated', () => {
    assert.throws(() => decodeResponse(fromHex('20 01 01')), (e: unknown) => hasCode(e, 'DFU_PROTOCOL_ERROR'));
    assert.throws(() => decodeResponse(fromHex('60 06')), (e: unknown) => hasCode(e, 'DFU_PROTOCOL_ERROR'));
    assert.throws(() => decodeResponse(fromHex('60 06 01 00 10 00 00')), (e: unknown) => hasCode(e, 'DFU_PROTOCOL_ERROR') && /Select|SELECT/.test(e.message));
  });
});

describe('result and extended error tables (spec §2.3/§2.4)', () => {
  it('names every documented code', () => {
    const names = [0, 1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x0b].map((c) => resultInfo(c).name);
    assert.deepEqual(names, ['INVALID', 'SUCCESS', 'OP_CODE_NOT_SUPPORTED', 'INVALID_PARAMETER', 'INSUFFICIENT_RESOURCES', 'INVALID_OBJECT', 'INVALID_SIGNATURE', 'UNSUPPORTED_TYPE', 'OPERATION_NOT_PERMITTED', 'OPERATION_FAILED', 'EXT_ERROR']);
    const ext = Array.from({ length: 14 }, (_, c) => extendedErrorInfo(c).name);
    assert.deepEqual(ext, ['NO_ERROR', 'INVALID_ERROR_CODE', 'WRONG_COMMAND_FORMAT', 'UNKNOWN_COMMAND', 'INIT_COMMAND_INVALID', 'FW_VERSION_FAILURE', 'HW_VERSION_FAILURE', 'SD_VERSION_FAILURE', 'SIGNATURE_MISSING', 'WRONG_HASH_TYPE', 'HASH_FAILED', 'WRONG_SIGNATURE_TYPE', 'VERIFICATION_FAILED', 'INSUFFICIENT_SPACE']);
  });
  it('gives remedies for the common failures', () => {
    assert.match(extendedErrorInfo(EXT_ERROR.SIGNATURE_MISSING).remedy ?? '', /requires a signed package.*nrfutil pkg generate --key-file/);
    assert.match(extendedErrorInfo(EXT_ERROR.SD_VERSION_FAILURE).remedy ?? '', /--sd-req/);
    assert.match(extendedErrorInfo(EXT_ERROR.HW_VERSION_FAILURE).remedy ?? '', /--hw-version/);
    assert.match(resultInfo(RESULT.INVALID_OBJECT).remedy ?? '', /key/);
  });
  it('unknown codes get a hex name, not a crash', () => {
    assert.equal(resultInfo(0x42).name, 'RESULT_0x42');
    assert.equal(extendedErrorInfo(0x99).name, 'EXT_0x99');
  });
  it('describeFailure splits result and extended code', () => {
    const d = describeFailure(decodeResponse(fromHex('60 04 0b 07')));
    assert.equal(d?.result.name, 'EXT_ERROR');
    assert.equal(d?.extended?.name, 'SD_VERSION_FAILURE');
    assert.equal(describeFailure(decodeResponse(fromHex('60 04 01'))), undefined);
  });
});
