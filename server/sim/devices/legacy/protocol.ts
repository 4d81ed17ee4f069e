/**
 * The legacy DFU protocol (nRF5 SDK ≤ 11, and the Adafruit nRF52 bootloader built on SDK 11) as
 * the simulated devices speak it: UUIDs, op codes, response values and the few notifications.
 * The device's own view, kept apart from any host-side codec so the simulator stays independent
 * evidence of what a real bootloader answers.
 *
 * Sources (facts only): nRF5 SDK 11.0.0 components/ble/ble_services/ble_dfu/ble_dfu.h/.c (op codes,
 * response values, UUIDs), components/libraries/bootloader_dfu/dfu_transport_ble.c and its copy in
 * adafruit/Adafruit_nRF52_Bootloader lib/sdk11/… (DFU_REVISION 0x0008, nrf_err_code_translate),
 * dfu_types.h (DFU_UPDATE_SD/BL/APP bits, DFU_INIT_RX/COMPLETE); shared/spec/secure-dfu.md §1 table.
 */
import { UUIDS, type Uuid } from '../../../ble/uuid.js';

/** The vendor base 00001530-1212-EFDE-1523-785FEABCD123 with the 16-bit values of ble_dfu.h. */
export const LEGACY_UUIDS = {
  service: UUIDS.legacyDfuService,
  controlPoint: '00001531-1212-EFDE-1523-785FEABCD123',
  packet: '00001532-1212-EFDE-1523-785FEABCD123',
  revision: '00001534-1212-EFDE-1523-785FEABCD123',
} as const satisfies Record<string, Uuid>;

/** Values of the DFU Revision characteristic (read, u16 LE: minor, major). */
export const LEGACY_REVISION = {
  /** An application that carries the legacy DFU service (buttonless entry), SDK 7–11. */
  application: 0x0001,
  /** The SDK 11 bootloader, and Adafruit's (DFU_REV_MAJOR 0x00, DFU_REV_MINOR 0x08). */
  sdk11Bootloader: 0x0008,
} as const;

/** Op codes written to the control point (ble_dfu.c OP_CODE_*) and the two it notifies. */
export const LEGACY_OP = {
  startDfu: 0x01,
  initDfuParams: 0x02,
  receiveFirmware: 0x03,
  validate: 0x04,
  activateAndReset: 0x05,
  systemReset: 0x06,
  reportImageSize: 0x07,
  packetReceiptRequest: 0x08,
  response: 0x10,
  packetReceiptNotification: 0x11,
} as const;

/** Second byte of Initialize DFU Parameters (dfu_types.h DFU_INIT_RX / DFU_INIT_COMPLETE). */
export const LEGACY_INIT = { receive: 0x00, complete: 0x01 } as const;

/** ble_dfu_resp_val_t. */
export const LEGACY_RESULT = {
  success: 0x01,
  invalidState: 0x02,
  notSupported: 0x03,
  dataSizeExceedsLimit: 0x04,
  crcError: 0x05,
  operationFailed: 0x06,
} as const;

export type LegacyResult = (typeof LEGACY_RESULT)[keyof typeof LEGACY_RESULT];

/** Image type bits of Start DFU (dfu_types.h DFU_UPDATE_SD/BL/APP); SD+BL is 0x03. */
export const LEGACY_IMAGE = { softDevice: 0x01, bootloader: 0x02, application: 0x04 } as const;

/**
 * The nRF error codes the SDK's DFU modules return, and how dfu_transport_ble.c's
 * nrf_err_code_translate turns them into response values: INVALID_DATA is a CRC error only for
 * Validate; everything it does not name (INVALID_LENGTH, FORBIDDEN, …) is "operation failed".
 */
export type NrfError = 'success' | 'invalidState' | 'notSupported' | 'dataSize' | 'invalidData' | 'invalidLength' | 'forbidden';

export function translate(error: NrfError, procedure: number): LegacyResult {
  switch (error) {
    case 'success':
      return LEGACY_RESULT.success;
    case 'invalidState':
      return LEGACY_RESULT.invalidState;
    case 'notSupported':
      return LEGACY_RESULT.notSupported;
    case 'dataSize':
      return LEGACY_RESULT.dataSizeExceedsLimit;
    case 'invalidData':
      return procedure === LEGACY_OP.validate ? LEGACY_RESULT.crcError : LEGACY_RESULT.operationFailed;
    default:
      return LEGACY_RESULT.operationFailed;
  }
}

/** Response notification: 0x10, the request's op code, the response value. */
export function legacyResponse(procedure: number, result: number): Uint8Array {
  return Uint8Array.of(LEGACY_OP.response, procedure, result);
}

const u32le = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

/** Packet Receipt Notification: 0x11, firmware bytes received so far (u32 LE). */
export function legacyPacketReceipt(bytes: number): Uint8Array {
  return Uint8Array.of(LEGACY_OP.packetReceiptNotification, ...u32le(bytes));
}

/** Answer to Report Received Image Size (ble_dfu_bytes_rcvd_report): 10 07 01 and the count (u32 LE). */
export function legacyImageSizeReport(bytes: number): Uint8Array {
  return Uint8Array.of(LEGACY_OP.response, LEGACY_OP.reportImageSize, LEGACY_RESULT.success, ...u32le(bytes));
}
