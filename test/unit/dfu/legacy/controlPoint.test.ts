/**
 * The legacy DFU control point, byte for byte against Nordic's public sources: nRF5 SDK 11.0.0
 * components/ble/ble_services/ble_dfu/ble_dfu.c (on_ctrl_pt_write, ble_dfu_response_send,
 * ble_dfu_bytes_rcvd_report, ble_dfu_pkts_rcpt_notify), dfu_types.h (DFU_UPDATE_SD/BL/APP), and
 * Android-DFU-Library dfu/src/main/java/no/nordicsemi/android/dfu/LegacyDfuImpl.java (the
 * OP_CODE_* byte arrays near the top of the class, writeImageSize) and LegacyButtonlessDfuImpl.java
 * (OP_CODE_ENTER_BOOTLOADER).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode, isBledfuError } from '../../../../server/common/errors.js';
import {
  decodeLegacyImageSizes,
  decodeLegacyNotification,
  decodeLegacyRequest,
  encodeLegacyApplicationSize,
  encodeLegacyImageSizes,
  encodeLegacyNotification,
  encodeLegacyRequest,
  expectLegacySuccess,
  LEGACY_OPCODE,
  LEGACY_STATUS,
  legacyImageType,
  legacyPacketSize,
  legacyStatusInfo,
  type LegacyRequest,
} from '../../../../server/dfu/legacy/controlPoint.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('legacy control point requests (LegacyDfuImpl.java OP_CODE_* arrays)', () => {
  const vectors: [string, LegacyRequest, string][] = [
    ['OP_CODE_START_DFU with the application type (LegacyButtonlessDfuImpl OP_CODE_ENTER_BOOTLOADER too)', { op: 'startDfu', imageType: 0x04 }, '0104'],
    ['OP_CODE_START_DFU with SoftDevice + bootloader', { op: 'startDfu', imageType: 0x03 }, '0103'],
    ['OP_CODE_START_DFU_V1 (SDK ≤ 6)', { op: 'startDfu', imageType: undefined }, '01'],
    ['OP_CODE_INIT_DFU_PARAMS_START', { op: 'initDfuParams', phase: 'start' }, '0200'],
    ['OP_CODE_INIT_DFU_PARAMS_COMPLETE', { op: 'initDfuParams', phase: 'complete' }, '0201'],
    ['OP_CODE_INIT_DFU_PARAMS (SDK 6.0.0 or older)', { op: 'initDfuParams', phase: undefined }, '02'],
    ['OP_CODE_RECEIVE_FIRMWARE_IMAGE', { op: 'receiveFirmwareImage' }, '03'],
    ['OP_CODE_VALIDATE', { op: 'validate' }, '04'],
    ['OP_CODE_ACTIVATE_AND_RESET', { op: 'activateAndReset' }, '05'],
    ['OP_CODE_RESET', { op: 'reset' }, '06'],
    ['OP_CODE_REPORT_RECEIVED_IMAGE_SIZE', { op: 'reportReceivedImageSize' }, '07'],
    ['OP_CODE_PACKET_RECEIPT_NOTIF_REQ with 10 packets (setNumberOfPackets: lo, hi)', { op: 'packetReceiptNotificationRequest', packets: 10 }, '080a00'],
    ['OP_CODE_PACKET_RECEIPT_NOTIF_REQ with 0x0123 packets', { op: 'packetReceiptNotificationRequest', packets: 0x0123 }, '082301'],
    ['PRN off (0: BLE_DFU_PKT_RCPT_NOTIF_DISABLED)', { op: 'packetReceiptNotificationRequest', packets: 0 }, '080000'],
  ];
  for (const [what, request, bytes] of vectors) {
    it(`${what}: ${bytes}`, () => {
      assert.equal(hex(encodeLegacyRequest(request)), bytes);
      assert.deepEqual(decodeLegacyRequest(Buffer.from(bytes, 'hex')), request);
    });
  }

  it('the bootloader side reads a 2-byte PRN request as another op (ble_dfu.c answers NOT_SUPPORTED below PKT_RCPT_NOTIF_REQ_LEN 3)', () => {
    assert.deepEqual(decodeLegacyRequest(Uint8Array.of(0x08, 0x0a)), { op: 'other', opcode: 0x08, payload: Uint8Array.of(0x0a) });
  });

  it('an unknown op code is `other` with its payload; an empty write is DFU_PROTOCOL_ERROR', () => {
    assert.deepEqual(decodeLegacyRequest(Uint8Array.of(0x09, 1, 2)), { op: 'other', opcode: 0x09, payload: Uint8Array.of(1, 2) });
    assert.throws(() => decodeLegacyRequest(new Uint8Array(0)), (e: unknown) => hasCode(e, 'DFU_PROTOCOL_ERROR'));
  });

  it('image type bits (dfu_types.h DFU_UPDATE_SD 0x01, DFU_UPDATE_BL 0x02, DFU_UPDATE_APP 0x04)', () => {
    assert.equal(legacyImageType('softdevice'), 0x01);
    assert.equal(legacyImageType('bootloader'), 0x02);
    assert.equal(legacyImageType('softdevice_bootloader'), 0x03);
    assert.equal(legacyImageType('application'), 0x04);
  });
});

describe('legacy image size packet (LegacyDfuImpl.writeImageSize)', () => {
  it('SDK 11 SoftDevice + bootloader fixture sizes (sd_size 108212, bl_size 14900): three LE u32, application 0', () => {
    const bytes = encodeLegacyImageSizes({ softdevice: 108_212, bootloader: 14_900, application: 0 });
    assert.equal(hex(bytes), 'b4a60100' + '343a0000' + '00000000');
    assert.deepEqual(decodeLegacyImageSizes(bytes), { softdevice: 108_212, bootloader: 14_900, application: 0 });
  });

  it('application only (SDK 11 HRM fixture, 20576 bytes): 00000000 00000000 60500000', () => {
    assert.equal(hex(encodeLegacyImageSizes({ softdevice: 0, bootloader: 0, application: 20_576 })), '00000000' + '00000000' + '60500000');
  });

  it('SDK ≤ 6: the application size alone, 4 bytes, read back as an application size', () => {
    const bytes = encodeLegacyApplicationSize(20_576);
    assert.equal(hex(bytes), '60500000');
    assert.deepEqual(decodeLegacyImageSizes(bytes), { softdevice: 0, bootloader: 0, application: 20_576 });
  });

  it('any other length is DFU_PROTOCOL_ERROR naming the length', () => {
    assert.throws(() => decodeLegacyImageSizes(new Uint8Array(8)), (e: unknown) => hasCode(e, 'DFU_PROTOCOL_ERROR') && /8 bytes/.test(e.message));
  });
});

describe('legacy notifications (ble_dfu.c ble_dfu_response_send / bytes_rcvd_report / pkts_rcpt_notify)', () => {
  it('response 10 rr ss: Start DFU success', () => {
    const n = decodeLegacyNotification(Uint8Array.of(0x10, 0x01, 0x01));
    assert.deepEqual(n, { kind: 'response', request: LEGACY_OPCODE.START_DFU, status: LEGACY_STATUS.SUCCESS, bytesReceived: undefined });
    assert.equal(hex(encodeLegacyNotification(n)), '100101');
  });

  it('response to Report received image size carries the byte count: 10 07 01 + u32', () => {
    const n = decodeLegacyNotification(Uint8Array.of(0x10, 0x07, 0x01, 0x60, 0x50, 0x00, 0x00));
    assert.deepEqual(n, { kind: 'response', request: 0x07, status: 1, bytesReceived: 20_576 });
    assert.equal(hex(encodeLegacyNotification(n)), '10070160500000');
  });

  it('packet receipt notification 11 + u32 bytes received', () => {
    const n = decodeLegacyNotification(Uint8Array.of(0x11, 0xc8, 0x00, 0x00, 0x00));
    assert.deepEqual(n, { kind: 'packetReceipt', bytesReceived: 200 });
    assert.equal(hex(encodeLegacyNotification(n)), '11c8000000');
  });

  const malformed: [string, number[]][] = [
    ['empty', []],
    ['an unknown op code', [0x60, 0x01, 0x01]],
    ['a short response', [0x10, 0x01]],
    ['a long response', [0x10, 0x01, 0x01, 0x00]],
    ['a short PRN', [0x11, 0x00, 0x00]],
    ['a size report without its size', [0x10, 0x07, 0x01]],
  ];
  for (const [what, bytes] of malformed) {
    it(`${what} is DFU_PROTOCOL_ERROR quoting the bytes, protocol legacy`, () => {
      assert.throws(
        () => decodeLegacyNotification(Uint8Array.from(bytes)),
        (e: unknown) => hasCode(e, 'DFU_PROTOCOL_ERROR') && e.facts.context?.['protocol'] === 'legacy' && /legacy DFU notification/.test(e.message),
      );
    });
  }
});

describe('legacy statuses (ble_dfu_resp_val_t) and expectLegacySuccess', () => {
  it('names 1..6 as LEGACY_SUCCESS … LEGACY_OPERATION_FAILED, unknown ones by number', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 9].map((s) => legacyStatusInfo(s).name),
      [
        'LEGACY_SUCCESS',
        'LEGACY_INVALID_STATE',
        'LEGACY_NOT_SUPPORTED',
        'LEGACY_DATA_SIZE_EXCEEDS_LIMIT',
        'LEGACY_CRC_ERROR',
        'LEGACY_OPERATION_FAILED',
        'LEGACY_STATUS_0x09',
      ],
    );
  });

  it('success passes the response through', () => {
    const n = decodeLegacyNotification(Uint8Array.of(0x10, 0x04, 0x01));
    assert.equal(expectLegacySuccess(n, LEGACY_OPCODE.VALIDATE, 'validation').status, 1);
  });

  it('a failure status is DFU_REMOTE_ERROR with the legacy result name, request and remedy in the facts', () => {
    const n = decodeLegacyNotification(Uint8Array.of(0x10, 0x02, 0x06));
    assert.throws(
      () => expectLegacySuccess(n, LEGACY_OPCODE.INIT_DFU_PARAMS, 'the init packet of the application'),
      (e: unknown) =>
        isBledfuError(e) &&
        e.code === 'DFU_REMOTE_ERROR' &&
        e.facts.dfuResult === 6 &&
        e.facts.dfuResultName === 'LEGACY_OPERATION_FAILED' &&
        e.facts.context?.['request'] === 'INIT_DFU_PARAMS' &&
        e.facts.context?.['protocol'] === 'legacy' &&
        /the init packet of the application/.test(e.message) &&
        /device type/.test(e.remedy ?? ''),
    );
  });

  it('a response to another request, or a PRN where a response is due, is DFU_PROTOCOL_ERROR', () => {
    assert.throws(() => expectLegacySuccess(decodeLegacyNotification(Uint8Array.of(0x10, 0x03, 0x01)), LEGACY_OPCODE.VALIDATE, 'validation'), (e: unknown) =>
      hasCode(e, 'DFU_PROTOCOL_ERROR') && /RECEIVE_FIRMWARE_IMAGE/.test(e.message),
    );
    assert.throws(() => expectLegacySuccess({ kind: 'packetReceipt', bytesReceived: 20 }, LEGACY_OPCODE.VALIDATE, 'validation'), (e: unknown) =>
      hasCode(e, 'DFU_PROTOCOL_ERROR') && /packet receipt/.test(e.message),
    );
  });
});

describe('legacy packet writes (bootloader_dfu/dfu_transport_ble.c: words of 4 bytes)', () => {
  it('20 bytes at the default MTU 23; a multiple of 4 below MTU - 3 otherwise', () => {
    assert.equal(legacyPacketSize(23), 20);
    assert.equal(legacyPacketSize(247), 244);
    assert.equal(legacyPacketSize(185), 180);
    assert.equal(legacyPacketSize(26), 20);
  });

  it('an MTU that leaves no word is a RangeError', () => {
    assert.throws(() => legacyPacketSize(6), RangeError);
  });
});
