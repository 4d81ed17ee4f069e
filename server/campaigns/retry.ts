/**
 * Which failed jobs a campaign tries again. A retry helps when the failure was about the air or
 * the moment (a link lost, a timeout, the device out of range, the adapter briefly gone); it
 * cannot change a device refusing the package itself (signature, key, hash, SoftDevice or
 * hardware requirement, wrong type) or a package that is not valid: trying again would only
 * repeat the refusal, and with a wrong key, do so on every unit of the line.
 */
import type { BledfuError, ErrorCode } from '../common/errors.js';
import { EXT_ERROR, RESULT } from '../dfu/secure/controlPoint.js';

/**
 * Bootloader result codes that judge the package, not the transfer. OPERATION_FAILED is not one:
 * SDK 15–17 bootloaders answer it for passing trouble too (a flash operation that failed, a
 * request at the wrong moment), and an operator retrying such a unit by hand updates it. (SDK 12
 * answered some init packet refusals with it; retrying those costs the policy's few attempts.)
 */
const REFUSING_RESULTS: ReadonlySet<number> = new Set([RESULT.INVALID_OBJECT, RESULT.INVALID_SIGNATURE, RESULT.UNSUPPORTED_TYPE, RESULT.INSUFFICIENT_RESOURCES]);

/** Extended errors (with RESULT.EXT_ERROR) that judge the package. */
const REFUSING_EXTENDED: ReadonlySet<number> = new Set([
  EXT_ERROR.UNKNOWN_COMMAND,
  EXT_ERROR.INIT_COMMAND_INVALID,
  EXT_ERROR.FW_VERSION_FAILURE,
  EXT_ERROR.HW_VERSION_FAILURE,
  EXT_ERROR.SD_VERSION_FAILURE,
  EXT_ERROR.SIGNATURE_MISSING,
  EXT_ERROR.WRONG_HASH_TYPE,
  EXT_ERROR.WRONG_SIGNATURE_TYPE,
  EXT_ERROR.INSUFFICIENT_SPACE,
]);

/** Failures of the package itself, found before or without the device. */
const PACKAGE_CODES: ReadonlySet<ErrorCode> = new Set(['PACKAGE_INVALID', 'PACKAGE_LEGACY', 'PACKAGE_TOO_LARGE', 'PACKAGE_NOT_FOUND']);

/** Errors a retry may cure: the air, the moment, the adapter. */
const TRANSIENT_CODES: ReadonlySet<ErrorCode> = new Set([
  'LINK_LOST',
  'CONNECT_FAILED',
  'DEVICE_NOT_FOUND',
  'ADAPTER_UNAVAILABLE',
  'ADAPTER_BUSY',
  'TRANSPORT_CLOSED',
  'HCI_ERROR',
  'HCI_TIMEOUT',
  'ATT_ERROR',
  'ATT_TIMEOUT',
  'DFU_TIMEOUT',
  'DFU_CRC_MISMATCH',
  'DFU_PROTOCOL_ERROR',
  'BUTTONLESS_FAILED',
  'DEVICE_CONNECTED',
  'MALFORMED_PACKET',
  'STREAM_ENDED',
  'JOB_QUEUE_FULL',
  'PACKAGE_READERS_BUSY',
  'PACKAGE_STORE_FULL',
  'TIMEOUT',
]);

/**
 * True when trying the device again may succeed. DFU_REMOTE_ERROR: retried unless the result
 * (or extended error) judges the package; anything else unknown is not retried.
 */
export function isRetryable(error: BledfuError): boolean {
  if (PACKAGE_CODES.has(error.code)) return false;
  if (error.code === 'DFU_REMOTE_ERROR') {
    const result = error.facts?.dfuResult;
    if (result === RESULT.EXT_ERROR) {
      const ext = error.facts?.dfuExtended;
      return ext === undefined || !REFUSING_EXTENDED.has(ext);
    }
    return result === undefined || !REFUSING_RESULTS.has(result);
  }
  return TRANSIENT_CODES.has(error.code);
}
