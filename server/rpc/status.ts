/**
 * The one place where failures become gRPC statuses. A BledfuError keeps its stable code as the
 * ErrorInfo reason (domain "bledfu") with its protocol facts as metadata, and the same failure
 * as a bledfu.v1.ErrorDetail beside it, so clients in any language act on the code rather than
 * the text (the wire form is documented on ErrorDetail in proto/bledfu/v1/common.proto).
 * Anything else is a bug: the client gets UNKNOWN "internal error" and the stack goes to the log,
 * never to the wire.
 */
import { ServerError, Status } from 'nice-grpc-common';
import { Any, ErrorInfo, RichServerError, type ErrorDetails } from 'nice-grpc-error-details';
import { ErrorDetail } from '../../proto/gen/bledfu/v1/common.js';
import { Status as RpcStatus } from '../../proto/gen/google/rpc/status.js';
import { isBledfuError, type BledfuError, type ErrorCode } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

export const ERROR_DOMAIN = 'bledfu';
/** The type URL of the bledfu.v1.ErrorDetail in a status's details (the host part is the usual one). */
export const ERROR_DETAIL_TYPE_URL = 'type.googleapis.com/bledfu.v1.ErrorDetail';
const ERROR_INFO_TYPE_URL = `type.googleapis.com/${ErrorInfo.$type}`;

export const STATUS_BY_CODE = {
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  PACKAGE_INVALID: Status.INVALID_ARGUMENT,
  PACKAGE_LEGACY: Status.INVALID_ARGUMENT,
  PACKAGE_TOO_LARGE: Status.INVALID_ARGUMENT,
  // Nothing wrong with the package: the server is checking as many as it allows at once.
  PACKAGE_READERS_BUSY: Status.RESOURCE_EXHAUSTED,
  ADAPTER_NOT_FOUND: Status.NOT_FOUND,
  DEVICE_NOT_FOUND: Status.NOT_FOUND,
  JOB_NOT_FOUND: Status.NOT_FOUND,
  CAMPAIGN_NOT_FOUND: Status.NOT_FOUND,
  PACKAGE_NOT_FOUND: Status.NOT_FOUND,
  // The job exists but has no HCI capture to download (not asked for, not started, discarded).
  CAPTURE_NOT_FOUND: Status.NOT_FOUND,
  // The device is there but is not what a DFU needs (no DFU service): retrying will not help.
  GATT_SERVICE_MISSING: Status.FAILED_PRECONDITION,
  // A Connect call of this server holds the device (it does not advertise): close that call first.
  DEVICE_CONNECTED: Status.FAILED_PRECONDITION,
  UNAUTHENTICATED: Status.UNAUTHENTICATED,
  PERMISSION_DENIED: Status.PERMISSION_DENIED,
  SERIAL_PORT_NOT_FOUND: Status.UNAVAILABLE,
  SERIAL_PORT_BUSY: Status.UNAVAILABLE,
  SERIAL_PERMISSION_DENIED: Status.UNAVAILABLE,
  SERIAL_NO_RESPONSE: Status.UNAVAILABLE,
  SERIAL_WRONG_PROTOCOL: Status.UNAVAILABLE,
  ADAPTER_UNAVAILABLE: Status.UNAVAILABLE,
  ADAPTER_BUSY: Status.RESOURCE_EXHAUSTED,
  TRANSPORT_CLOSED: Status.UNAVAILABLE,
  // Something of ours closed the stream an operation was reading (e.g. its link ended it): retry.
  STREAM_ENDED: Status.ABORTED,
  // Bytes from the dongle or the device that do not parse: corruption, not our caller's fault.
  MALFORMED_PACKET: Status.DATA_LOSS,
  HCI_ERROR: Status.UNAVAILABLE,
  HCI_TIMEOUT: Status.DEADLINE_EXCEEDED,
  CONNECT_FAILED: Status.UNAVAILABLE,
  LINK_LOST: Status.UNAVAILABLE,
  ATT_ERROR: Status.FAILED_PRECONDITION,
  ATT_TIMEOUT: Status.DEADLINE_EXCEEDED,
  DFU_REMOTE_ERROR: Status.FAILED_PRECONDITION,
  DFU_PROTOCOL_ERROR: Status.FAILED_PRECONDITION,
  DFU_CRC_MISMATCH: Status.DATA_LOSS,
  DFU_TIMEOUT: Status.DEADLINE_EXCEEDED,
  BUTTONLESS_FAILED: Status.FAILED_PRECONDITION,
  // Too many jobs wait already (per adapter or in all): retry once some have ended.
  JOB_QUEUE_FULL: Status.RESOURCE_EXHAUSTED,
  // Queued and running jobs' packages fill the package store: retry once some have ended.
  PACKAGE_STORE_FULL: Status.RESOURCE_EXHAUSTED,
  // As many packages are being received as the server allows (--max-concurrent-uploads): retry.
  TOO_MANY_UPLOADS: Status.RESOURCE_EXHAUSTED,
  CANCELLED: Status.CANCELLED,
  TIMEOUT: Status.DEADLINE_EXCEEDED,
  INTERNAL: Status.INTERNAL,
} as const satisfies Record<ErrorCode, Status>;

export function statusForCode(code: ErrorCode): Status {
  return STATUS_BY_CODE[code];
}

/** ErrorInfo metadata: remedy, layer and every protocol fact present, numbers as decimal strings. */
export function errorMetadata(error: BledfuError): Record<string, string> {
  const f = error.facts;
  const entries: [string, string | number | undefined][] = [
    ['remedy', error.remedy],
    ['layer', error.layer],
    ['dfu_result', f.dfuResult],
    ['dfu_result_name', f.dfuResultName],
    ['dfu_extended_error', f.dfuExtended],
    ['dfu_extended_error_name', f.dfuExtendedName],
    ['att_error', f.attError],
    ['hci_status', f.hciStatus],
  ];
  const metadata: Record<string, string> = {};
  for (const [key, value] of entries) if (value !== undefined && value !== '') metadata[key] = String(value);
  for (const [key, value] of Object.entries(f.context ?? {})) {
    metadata[`context_${key.replace(/[^a-zA-Z0-9_-]/g, '_')}`.slice(0, 64)] = value;
  }
  return metadata;
}

export function errorInfoFor(error: BledfuError): ErrorInfo {
  return ErrorInfo.fromPartial({ domain: ERROR_DOMAIN, reason: error.code, metadata: errorMetadata(error) });
}

/** The proto ErrorDetail (used inside JobResult and Adapter) for a BledfuError. */
export function errorDetailFor(error: BledfuError): ErrorDetail {
  const f = error.facts;
  return {
    reason: error.code,
    message: error.message,
    remedy: error.remedy ?? '',
    dfuResult: f.dfuResult ?? 0,
    dfuResultName: f.dfuResultName ?? '',
    dfuExtendedError: f.dfuExtended ?? 0,
    dfuExtendedErrorName: f.dfuExtendedName ?? '',
    attError: f.attError ?? 0,
    hciStatus: f.hciStatus ?? 0,
  };
}

/**
 * What a failed call's google.rpc.Status carries in `details`, in this order: the ErrorInfo
 * (for generic gRPC tooling), then the full ErrorDetail as an Any (for clients of this contract).
 */
export function statusDetailsFor(error: BledfuError): ErrorDetails[] {
  return [errorInfoFor(error), Any.fromPartial({ typeUrl: ERROR_DETAIL_TYPE_URL, value: encodedErrorDetail(error) })];
}

function encodedErrorDetail(error: BledfuError): Uint8Array {
  return ErrorDetail.encode(errorDetailFor(error)).finish();
}

/**
 * The serialized google.rpc.Status for `error`, as errorDetailsServerMiddleware writes it into
 * `grpc-status-details-bin`: for places that end a call below nice-grpc (the call gate).
 */
export function encodeStatusDetails(error: BledfuError): Uint8Array {
  const details = [
    { typeUrl: ERROR_INFO_TYPE_URL, value: Buffer.from(ErrorInfo.encode(errorInfoFor(error)).finish()) },
    { typeUrl: ERROR_DETAIL_TYPE_URL, value: Buffer.from(encodedErrorDetail(error)) },
  ];
  return RpcStatus.encode({ code: statusForCode(error.code), message: error.message, details }).finish();
}

/**
 * The error a handler throws to end its call. `logger` receives anything unexpected with its
 * stack; a ServerError raised deliberately elsewhere passes through unchanged.
 */
export function toServerError(error: unknown, logger: Logger): ServerError {
  if (isBledfuError(error)) return new RichServerError(statusForCode(error.code), error.message, statusDetailsFor(error));
  if (error instanceof ServerError) return error;
  logger.error({ err: error }, 'unexpected error in an RPC handler');
  return new ServerError(Status.UNKNOWN, 'internal error');
}
