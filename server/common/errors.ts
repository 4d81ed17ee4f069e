/**
 * The one error type that crosses layers. Every failure a client may act on is a BledfuError
 * with a stable `code`; the RPC layer maps codes to gRPC statuses (rpc/status.ts). Anything else
 * reaching the RPC layer is a bug and becomes UNKNOWN.
 */

export const ERROR_CODES = [
  // caller input
  'INVALID_ARGUMENT',
  'PACKAGE_INVALID',
  'PACKAGE_LEGACY',
  'PACKAGE_TOO_LARGE',
  // server capacity: every package reader busy and their queue full (retry later)
  'PACKAGE_READERS_BUSY',
  // things that are not there
  'ADAPTER_NOT_FOUND',
  'DEVICE_NOT_FOUND',
  'JOB_NOT_FOUND',
  'CAMPAIGN_NOT_FOUND',
  'PACKAGE_NOT_FOUND',
  'CAPTURE_NOT_FOUND',
  'GATT_SERVICE_MISSING',
  // the device is there, but this server holds a link to it for an open Connect call
  'DEVICE_CONNECTED',
  // access control
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  // serial port / dongle
  'SERIAL_PORT_NOT_FOUND',
  'SERIAL_PORT_BUSY',
  'SERIAL_PERMISSION_DENIED',
  'SERIAL_NO_RESPONSE',
  'SERIAL_WRONG_PROTOCOL',
  'ADAPTER_UNAVAILABLE',
  'ADAPTER_BUSY',
  'TRANSPORT_CLOSED',
  // a stream (notifications, scan results) ended by its own producer or consumer: not a transport loss
  'STREAM_ENDED',
  // protocol layers
  'MALFORMED_PACKET',
  'HCI_ERROR',
  'HCI_TIMEOUT',
  'CONNECT_FAILED',
  'LINK_LOST',
  'ATT_ERROR',
  'ATT_TIMEOUT',
  // DFU
  'DFU_REMOTE_ERROR',
  'DFU_PROTOCOL_ERROR',
  'DFU_CRC_MISMATCH',
  'DFU_TIMEOUT',
  'BUTTONLESS_FAILED',
  // server capacity: a bound that protects the server's memory was reached (a setting raises it)
  'JOB_QUEUE_FULL',
  'PACKAGE_STORE_FULL',
  'TOO_MANY_UPLOADS',
  // generic
  'CANCELLED',
  'TIMEOUT',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Which layer raised the error: tells a reader where to look first. */
export type ErrorLayer =
  | 'rpc'
  | 'jobs'
  | 'dfu'
  | 'package'
  | 'ble'
  | 'gatt'
  | 'att'
  | 'l2cap'
  | 'hci'
  | 'transport'
  | 'sim'
  | 'config'
  | 'backend'
  /** Nordic connectivity firmware: SLIP, H5 link, SoftDevice serialization. */
  | 'nrf';

/** Protocol codes the remote or the controller reported, kept next to our own code. */
export interface ErrorFacts {
  readonly hciStatus?: number;
  readonly attError?: number;
  readonly dfuResult?: number;
  readonly dfuResultName?: string;
  readonly dfuExtended?: number;
  readonly dfuExtendedName?: string;
  /** Free-form extra context (port path, process holding a port, opcode…), all strings. */
  readonly context?: Readonly<Record<string, string>>;
}

export interface BledfuErrorOptions {
  readonly layer: ErrorLayer;
  readonly remedy?: string;
  readonly facts?: ErrorFacts;
  readonly cause?: unknown;
}

const MARKER = Symbol.for('bledfu.error');

export class BledfuError extends Error {
  readonly code: ErrorCode;
  readonly layer: ErrorLayer;
  readonly remedy: string | undefined;
  readonly facts: ErrorFacts;
  readonly [MARKER] = true;

  constructor(code: ErrorCode, message: string, options: BledfuErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BledfuError';
    this.code = code;
    this.layer = options.layer;
    this.remedy = options.remedy;
    this.facts = options.facts ?? {};
  }
}

/** True for any BledfuError, even one from a second copy of this module. */
export function isBledfuError(value: unknown): value is BledfuError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARKER] === true;
}

export function hasCode(value: unknown, code: ErrorCode): value is BledfuError {
  return isBledfuError(value) && value.code === code;
}

/** The error to throw when `signal` aborted: its reason if that is ours, else CANCELLED. */
export function abortReason(signal: AbortSignal): BledfuError {
  const reason: unknown = signal.reason;
  if (isBledfuError(reason)) return reason;
  return new BledfuError('CANCELLED', 'operation cancelled', { layer: 'jobs', cause: reason });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}
