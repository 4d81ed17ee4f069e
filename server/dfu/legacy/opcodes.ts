/**
 * The numbers of the legacy DFU control point (nRF5 SDK 11.0.0 `ble_dfu.h`: ble_dfu_procedure_t
 * and ble_dfu_resp_val_t; Android-DFU-Library `LegacyDfuImpl.java` OP_CODE_*_KEY) and what each
 * failure status means to a user. Constants only; controlPoint.ts encodes and decodes.
 */

export const LEGACY_OPCODE = {
  START_DFU: 0x01,
  INIT_DFU_PARAMS: 0x02,
  RECEIVE_FIRMWARE_IMAGE: 0x03,
  VALIDATE: 0x04,
  ACTIVATE_AND_RESET: 0x05,
  RESET: 0x06,
  REPORT_RECEIVED_IMAGE_SIZE: 0x07,
  PACKET_RECEIPT_NOTIFICATION_REQUEST: 0x08,
  RESPONSE: 0x10,
  PACKET_RECEIPT_NOTIFICATION: 0x11,
} as const satisfies Record<string, number>;

export function legacyOpcodeName(op: number): string {
  const hit = (Object.keys(LEGACY_OPCODE) as (keyof typeof LEGACY_OPCODE)[]).find((k) => LEGACY_OPCODE[k] === op);
  return hit ?? `LEGACY_OPCODE_0x${op.toString(16).padStart(2, '0')}`;
}

/** Status byte of a response notification (ble_dfu_resp_val_t). */
export const LEGACY_STATUS = {
  SUCCESS: 0x01,
  INVALID_STATE: 0x02,
  NOT_SUPPORTED: 0x03,
  DATA_SIZE_EXCEEDS_LIMIT: 0x04,
  CRC_ERROR: 0x05,
  OPERATION_FAILED: 0x06,
} as const satisfies Record<string, number>;

export interface LegacyStatusInfo {
  /**
   * The name in error facts (ErrorFacts.dfuResultName): always prefixed LEGACY_, so an audit line
   * or a metric never confuses it with a Secure DFU result of the same number.
   */
  readonly name: string;
  readonly message: string;
  readonly remedy: string;
}

const INFO: Record<number, LegacyStatusInfo> = {
  [LEGACY_STATUS.SUCCESS]: { name: 'LEGACY_SUCCESS', message: 'success', remedy: 'none needed' },
  [LEGACY_STATUS.INVALID_STATE]: {
    name: 'LEGACY_INVALID_STATE',
    message: 'the bootloader is not in a state that accepts this request',
    remedy: 'an earlier update was interrupted or the steps came out of order; the bootloader forgets it after a reset, so retry the update from the start',
  },
  [LEGACY_STATUS.NOT_SUPPORTED]: {
    name: 'LEGACY_NOT_SUPPORTED',
    message: 'the bootloader does not support this request',
    remedy: 'this bootloader does not support the request or the image combination (bootloaders before SDK 7 update applications only); update the SoftDevice/bootloader and the application separately',
  },
  [LEGACY_STATUS.DATA_SIZE_EXCEEDS_LIMIT]: {
    name: 'LEGACY_DATA_SIZE_EXCEEDS_LIMIT',
    message: 'the image is larger than the bootloader can take',
    remedy: 'the image does not fit the flash this bootloader can write; check that the package was made for this device and its SoftDevice',
  },
  [LEGACY_STATUS.CRC_ERROR]: {
    name: 'LEGACY_CRC_ERROR',
    message: 'the received image does not match the CRC/hash of its init packet',
    remedy: 'data was lost or corrupted on the way; retry with a lower packet receipt notification interval',
  },
  [LEGACY_STATUS.OPERATION_FAILED]: {
    name: 'LEGACY_OPERATION_FAILED',
    message: 'the bootloader could not carry out the request',
    remedy: 'after the init packet this means the bootloader refused it: device type, device revision or required SoftDevice do not match this device (an Adafruit bootloader needs device type 0x0052, and its chip\'s device revision for SoftDevice or bootloader updates); check the package',
  },
};

export function legacyStatusInfo(status: number): LegacyStatusInfo {
  return (
    INFO[status] ?? {
      name: `LEGACY_STATUS_0x${status.toString(16).padStart(2, '0')}`,
      message: `unknown status 0x${status.toString(16).padStart(2, '0')}`,
      remedy: 'the bootloader answered a status the legacy protocol does not define; retry, and report it if it persists',
    }
  );
}
