/**
 * Turns whatever a call threw into one plain shape a program can branch on: the server's stable
 * code when it sent one (its bledfu.v1.ErrorDetail, else its ErrorInfo reason), else a code
 * derived from the gRPC status.
 */
import { ClientError, Status } from 'nice-grpc';
import { Any, ErrorInfo, RichClientError } from 'nice-grpc-error-details';
import { ErrorDetail } from '../../proto/gen/bledfu/v1/common.js';
import { isBledfuError, type BledfuError, type ErrorCode } from '../../server/common/errors.js';

export const ERROR_DOMAIN = 'bledfu';
/** Type URLs are "<host>/<full message name>"; only the name is significant. */
const ERROR_DETAIL_NAME = 'bledfu.v1.ErrorDetail';

export interface DecodedError {
  /**
   * The server's reason (e.g. "DEVICE_NOT_FOUND"); for a status gRPC raised itself,
   * SERVER_UNREACHABLE (UNAVAILABLE), MESSAGE_TOO_LARGE (RESOURCE_EXHAUSTED) or the status name.
   */
  readonly code: string;
  readonly grpcCode: Status;
  readonly grpcCodeName: string;
  readonly message: string;
  readonly remedy?: string;
  /** Server layer that raised it (e.g. "dfu", "att"). */
  readonly layer?: string;
  readonly dfuResult?: number;
  readonly dfuResultName?: string;
  readonly dfuExtended?: number;
  readonly dfuExtendedName?: string;
  readonly attError?: number;
  readonly hciStatus?: number;
  /** Every ErrorInfo metadata entry, for fields this client does not know yet. */
  readonly metadata: Readonly<Record<string, string>>;
}

const TRANSPORT_ERRORS: Partial<Record<Status, { readonly code: string; readonly remedy: string }>> = {
  [Status.UNAVAILABLE]: {
    code: 'SERVER_UNREACHABLE',
    remedy: 'check that bledfud is running and --server / BLEDFU_SERVER points at it',
  },
  [Status.RESOURCE_EXHAUSTED]: {
    code: 'MESSAGE_TOO_LARGE',
    remedy:
      'check that this is the right file; the server accepts packages up to its BLEDFU_MAX_REQUEST_BYTES (--max-request-bytes)',
  },
};

/**
 * A failure the client found itself rather than a call's status (e.g. no server of a fleet sees
 * the device); decodeError returns its `decoded` as is.
 */
export class BledfuClientError extends Error {
  readonly decoded: DecodedError;
  constructor(decoded: DecodedError) {
    super(decoded.message);
    this.name = 'BledfuClientError';
    this.decoded = decoded;
  }
}

function statusName(code: Status): string {
  return Status[code] ?? `STATUS_${code}`;
}

function numberOf(metadata: Readonly<Record<string, string>>, key: string): number | undefined {
  const v = metadata[key];
  return v === undefined || !/^\d+$/.test(v) ? undefined : Number(v);
}

function withOptional<T extends object>(base: T, extra: Record<string, string | number | undefined>): T {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== '') out[k] = v;
  return out as T;
}

function isAbort(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

/**
 * The status a BledfuError raised in this process (by the package codec the client shares with the
 * server) would have had from a server: caller input is INVALID_ARGUMENT, as rpc/status.ts maps it;
 * the codec raises nothing else a caller could act on.
 */
const LOCAL_STATUS: Partial<Record<ErrorCode, Status>> = {
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  PACKAGE_INVALID: Status.INVALID_ARGUMENT,
  PACKAGE_LEGACY: Status.INVALID_ARGUMENT,
  PACKAGE_TOO_LARGE: Status.INVALID_ARGUMENT,
  CANCELLED: Status.CANCELLED,
};

function decodeLocal(e: BledfuError): DecodedError {
  const grpcCode = LOCAL_STATUS[e.code] ?? Status.UNKNOWN;
  const f = e.facts;
  return withOptional(
    { code: e.code, grpcCode, grpcCodeName: statusName(grpcCode), message: e.message, metadata: { ...(f.context ?? {}) } },
    { remedy: e.remedy, layer: e.layer, dfuResult: f.dfuResult, dfuResultName: f.dfuResultName, dfuExtended: f.dfuExtended, dfuExtendedName: f.dfuExtendedName },
  );
}

export function decodeError(e: unknown): DecodedError {
  if (e instanceof BledfuClientError) return e.decoded;
  // Raised here, not by a server: the package tools run in the client's process.
  if (isBledfuError(e)) return decodeLocal(e);
  if (e instanceof ClientError) {
    const info =
      e instanceof RichClientError
        ? e.extra.find((d): d is ErrorInfo => d.$type === ErrorInfo.$type && d.domain === ERROR_DOMAIN)
        : undefined;
    const detail =
      e instanceof RichClientError
        ? e.extra.find((d): d is Any => d.$type === Any.$type && d.typeUrl.endsWith(`/${ERROR_DETAIL_NAME}`))
        : undefined;
    // The full ErrorDetail when the server sent one (every bledfu server since the contract
    // documents it); the ErrorInfo still gives the layer and every metadata entry.
    if (detail !== undefined) {
      const decoded = decodeErrorDetail(ErrorDetail.decode(detail.value), e.code);
      const m = info?.metadata ?? {};
      return withOptional({ ...decoded, metadata: { ...m } }, { layer: m['layer'] });
    }
    if (info !== undefined) {
      const m = info.metadata;
      return withOptional(
        { code: info.reason, grpcCode: e.code, grpcCodeName: statusName(e.code), message: e.details, metadata: { ...m } },
        {
          remedy: m['remedy'],
          layer: m['layer'],
          dfuResult: numberOf(m, 'dfu_result'),
          dfuResultName: m['dfu_result_name'],
          dfuExtended: numberOf(m, 'dfu_extended_error'),
          dfuExtendedName: m['dfu_extended_error_name'],
          attError: numberOf(m, 'att_error'),
          hciStatus: numberOf(m, 'hci_status'),
        },
      );
    }
    // Without our ErrorInfo the status comes from gRPC itself, not from a handler: UNAVAILABLE
    // means no server answered; RESOURCE_EXHAUSTED means a message over the size limit of the
    // receiving side (for StartDfu: a package larger than the server accepts), refused before
    // any handler could say so.
    const transport = TRANSPORT_ERRORS[e.code];
    return withOptional(
      { code: transport?.code ?? statusName(e.code), grpcCode: e.code, grpcCodeName: statusName(e.code), message: e.details, metadata: {} },
      { remedy: transport?.remedy },
    );
  }
  if (isAbort(e)) {
    return { code: 'CANCELLED', grpcCode: Status.CANCELLED, grpcCodeName: 'CANCELLED', message: 'cancelled', metadata: {} };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { code: 'UNKNOWN', grpcCode: Status.UNKNOWN, grpcCodeName: 'UNKNOWN', message, metadata: {} };
}

/**
 * The same shape from an ErrorDetail carried in a message (JobResult.error, Adapter.error), with
 * `metadata` keyed as ErrorInfo's (numbers as decimal strings), so code reading either finds the same.
 */
export function decodeErrorDetail(detail: ErrorDetail, grpcCode: Status = Status.UNKNOWN): DecodedError {
  const metadata: Record<string, string> = {};
  const entries: [string, string | number][] = [
    ['remedy', detail.remedy],
    ['dfu_result', detail.dfuResult],
    ['dfu_result_name', detail.dfuResultName],
    ['dfu_extended_error', detail.dfuExtendedError],
    ['dfu_extended_error_name', detail.dfuExtendedErrorName],
    ['att_error', detail.attError],
    ['hci_status', detail.hciStatus],
  ];
  // Zero and empty mean "not applicable" in an ErrorDetail.
  for (const [key, value] of entries) if (value !== 0 && value !== '') metadata[key] = String(value);
  return withOptional(
    { code: detail.reason, grpcCode, grpcCodeName: statusName(grpcCode), message: detail.message, metadata },
    {
      remedy: detail.remedy,
      dfuResult: detail.dfuResult || undefined,
      dfuResultName: detail.dfuResultName,
      dfuExtended: detail.dfuExtendedError || undefined,
      dfuExtendedName: detail.dfuExtendedErrorName,
      attError: detail.attError || undefined,
      hciStatus: detail.hciStatus || undefined,
    },
  );
}

/** A one-line description for people: message, protocol codes and the remedy. */
export function formatError(d: DecodedError): string {
  const facts: string[] = [];
  if (d.dfuResult !== undefined) facts.push(`DFU result ${d.dfuResultName ?? d.dfuResult}`);
  if (d.dfuExtended !== undefined) facts.push(`extended error ${d.dfuExtendedName ?? d.dfuExtended}`);
  if (d.attError !== undefined) facts.push(`ATT error 0x${d.attError.toString(16).padStart(2, '0')}`);
  if (d.hciStatus !== undefined) facts.push(`HCI status 0x${d.hciStatus.toString(16).padStart(2, '0')}`);
  const head = `${d.code}: ${d.message}${facts.length > 0 ? ` [${facts.join(', ')}]` : ''}`;
  return d.remedy === undefined ? head : `${head}\n  remedy: ${d.remedy}`;
}
