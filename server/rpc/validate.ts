/**
 * The contract's bounds on what a client sends, checked once per call before a handler acts on
 * it (service.ts calls `validateRequest`). The same numbers are written in the proto comments
 * (proto/bledfu/v1) and README "Request limits": they are part of the contract, not settings.
 *
 * Why: a request is decoded whole, but nothing bounded its strings. A 56 MiB Target.name went
 * verbatim into the audit log, the server log and error messages; echoed in a status message it
 * made the HTTP/2 trailer unsendable and the call hung. A negative scan duration ran forever, a
 * 1 ns one failed as an internal error, and `retries` took 4 294 967 295. A refusal here names
 * the field, its size and the bound, and shows no more than a short, escaped prefix of the value.
 */
import type { Address, Target } from '../../proto/gen/bledfu/v1/common.js';
import type { StartCampaignRequest } from '../../proto/gen/bledfu/v1/campaign.js';
import type { ConnectRequest } from '../../proto/gen/bledfu/v1/connect.js';
import type { DfuOptions, ListJobsRequest, StartDfuRequest } from '../../proto/gen/bledfu/v1/dfu.js';
import type { ListAuditRecordsRequest } from '../../proto/gen/bledfu/v1/audit.js';
import type { ScanRequest } from '../../proto/gen/bledfu/v1/scan.js';
import type { Duration } from '../../proto/gen/google/protobuf/duration.js';
import { BledfuError } from '../common/errors.js';
import { quoteInput } from '../common/quote.js';

/** Longest value, in UTF-8 bytes, of each kind of request string. */
export const STRING_LIMITS = {
  /** Adapter ids are the server's own short names ("sim0", "hci0"). */
  adapterId: 64,
  /** Job ids are UUIDs (36 characters). */
  jobId: 64,
  /** Package ids are SHA-256 digests in hex (64 characters). */
  packageId: 64,
  /** "AA:BB:CC:DD:EE:FF" is 17 characters; room for surrounding spaces. */
  address: 32,
  /** An advertised or GAP device name has at most 248 bytes (Core spec Vol 3, Part C, 12.1). */
  deviceName: 248,
  /** A 128-bit UUID is 36 characters, with an optional "0x". */
  serviceUuid: 40,
  /** Page tokens are decimal offsets. */
  pageToken: 20,
  /** Campaign ids are UUIDs (36 characters). */
  campaignId: 64,
  /** A campaign's name, for people. */
  campaignName: 128,
} as const;

/** StartCampaignRequest's repeated fields and manufacturer data (campaign.proto). */
export const CAMPAIGN_REQUEST_LIMITS = {
  addresses: 1024,
  adapterIds: 16,
  manufacturerDataPrefixBytes: 27,
} as const;

/**
 * Labels (StartDfuRequest.labels, the ListAuditRecords label filter): few and short, since they go
 * into every audit record of the job and each ListJobs answer. Keys are identifiers so they can be
 * CSV column names and `k=v` on a command line; values are free text without control characters,
 * which would break a line report or a log line.
 */
export const LABEL_LIMITS = {
  count: 16,
  keyChars: 64,
  valueBytes: 256,
} as const;
const LABEL_KEY = /^[A-Za-z0-9_.-]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** INVALID_ARGUMENT unless `labels` is within LABEL_LIMITS. */
export function checkLabels(field: string, labels: Readonly<Record<string, string>>): void {
  const entries = Object.entries(labels);
  const remedy = `give at most ${LABEL_LIMITS.count} labels, keys of 1 to ${LABEL_LIMITS.keyChars} characters of A-Z a-z 0-9 _ . -, values of at most ${LABEL_LIMITS.valueBytes} bytes without control characters`;
  if (entries.length > LABEL_LIMITS.count) throw invalid(`${field} has ${entries.length} labels; the limit is ${LABEL_LIMITS.count}`, remedy);
  for (const [key, value] of entries) {
    if (key.length === 0 || key.length > LABEL_LIMITS.keyChars || !LABEL_KEY.test(key)) {
      throw invalid(`${field} key ${quoteInput(key, 32)} is not 1 to ${LABEL_LIMITS.keyChars} characters of A-Z a-z 0-9 _ . -`, remedy);
    }
    checkString(`${field}[${key}]`, value, LABEL_LIMITS.valueBytes, remedy);
    if (CONTROL.test(value)) throw invalid(`${field}[${key}] holds a control character (${quoteInput(value, 32)})`, remedy);
  }
}

/** Accepted range of a duration field once it is set (unset or zero means the field's default). */
export interface DurationRange {
  /** The field's name as the proto spells it, for the message. */
  readonly field: string;
  readonly minMs: number;
  readonly maxMs: number;
}

/**
 * Minimums: shorter waits cannot succeed (a scan needs a few advertising intervals, 20 ms
 * each at best; a control point answer needs a few connection events). Maximums: longer ones
 * only hold a call, an adapter or a device; leave a field unset for its default.
 */
export const DURATION_RANGES = {
  scanDuration: { field: 'duration', minMs: 10, maxMs: 86_400_000 },
  scanTimeout: { field: 'scan_timeout', minMs: 100, maxMs: 3_600_000 },
  requestTimeout: { field: 'request_timeout', minMs: 1_000, maxMs: 600_000 },
} as const satisfies Record<string, DurationRange>;

/** DfuOptions.retries: resends of an object and reconnects after a link loss (0: none; unset: the default). */
export const RETRIES_MAX = 100;

const DOCS = 'see the field\'s limit in proto/bledfu/v1 or README "Request limits"';

function invalid(message: string, remedy: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', message, { layer: 'rpc', remedy });
}

/** INVALID_ARGUMENT when `value` has more than `max` UTF-8 bytes. */
export function checkString(field: string, value: string, max: number, remedy = DOCS): void {
  // A JavaScript string has at most as many UTF-16 units as UTF-8 bytes: short ones pass at once.
  if (value.length * 3 <= max) return;
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes <= max) return;
  throw invalid(`${field} is ${bytes} bytes long (${quoteInput(value, 32)}); the limit is ${max} bytes`, remedy);
}

/** A client's duration as text: "1.5 s", "0.000000001 s", "-3 s". */
function durationText(d: Duration): string {
  if (d.nanos === 0) return `${d.seconds} s`;
  const sign = d.seconds < 0 || d.nanos < 0 ? '-' : '';
  const fraction = String(Math.abs(d.nanos)).padStart(9, '0').replace(/0+$/, '');
  return `${sign}${Math.abs(d.seconds)}.${fraction} s`;
}

/** A bound as text: "10 ms", "1 s", "10 min", "24 h". */
function msText(ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['min', 60_000], ['s', 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`;
  }
  return `${ms} ms`;
}

/**
 * Milliseconds of a set duration, or `fallback` when it is unset or zero (proto3 cannot tell
 * them apart). INVALID_ARGUMENT, with the range, when it is negative, malformed or out of range.
 */
export function msFromDuration(d: Duration | undefined, fallback: number, range: DurationRange): number {
  if (d === undefined) return fallback;
  const { field, minMs, maxMs } = range;
  const rangeText = `${msText(minMs)} to ${msText(maxMs)}`;
  const remedy = `give ${field} from ${rangeText}, or leave it unset for the default`;
  if (!Number.isSafeInteger(d.seconds) || !Number.isInteger(d.nanos) || Math.abs(d.nanos) > 999_999_999) {
    throw invalid(`${field} is not a valid duration (whole seconds, nanos within ±999999999); it must be ${rangeText}`, remedy);
  }
  if (d.seconds < 0 || d.nanos < 0) throw invalid(`${field} of ${durationText(d)} is negative; it must be ${rangeText}`, remedy);
  if (d.seconds === 0 && d.nanos === 0) return fallback;
  const ms = d.seconds * 1000 + d.nanos / 1_000_000;
  if (ms < minMs || ms > maxMs) throw invalid(`${field} of ${durationText(d)} is out of range: it must be ${rangeText}`, remedy);
  return Math.round(ms);
}

/**
 * The retry count to use: `fallback` when the field is unset (it has presence), else 0..RETRIES_MAX
 * as given: 0 is "no retries", not the default.
 */
export function retriesFromProto(retries: number | undefined, fallback: number): number {
  if (retries === undefined) return fallback;
  if (!Number.isInteger(retries) || retries < 0 || retries > RETRIES_MAX) {
    throw invalid(`retries ${retries} is out of range: it must be 0 to ${RETRIES_MAX}`, `give retries from 0 (no retries) to ${RETRIES_MAX}, or leave it unset for the default (3)`);
  }
  return retries;
}

function checkAddress(field: string, address: Address): void {
  checkString(field, address.value, STRING_LIMITS.address, 'write addresses as six hex octets separated by colons, e.g. "F0:12:34:56:78:9A"');
}

function checkTarget(target: Target | undefined): void {
  const selector = target?.selector;
  if (selector?.$case === 'address') checkAddress('target.address.value', selector.address);
  if (selector?.$case === 'name') {
    checkString('target.name', selector.name, STRING_LIMITS.deviceName, 'an advertised name has at most 248 bytes: check the name');
  }
}

function checkAdapterId(adapterId: string): void {
  checkString('adapter_id', adapterId, STRING_LIMITS.adapterId, 'use an id listed by ListAdapters, or leave it empty');
}

function checkDfuOptions(o: DfuOptions | undefined): void {
  if (o === undefined) return;
  retriesFromProto(o.retries, 0);
  msFromDuration(o.scanTimeout, 0, DURATION_RANGES.scanTimeout);
  msFromDuration(o.requestTimeout, 0, DURATION_RANGES.requestTimeout);
}

/** A job id of GetJob, WatchJob, CancelJob or GetJobCapture. */
function checkJobId<R extends { readonly jobId: string }>(request: R): R {
  checkString('job_id', request.jobId, STRING_LIMITS.jobId, 'use the id from the first event of StartDfu, or one listed by ListJobs');
  return request;
}

/** A campaign id of WatchCampaign, GetCampaign or StopCampaign; empty is the caller's mistake. */
function checkCampaignId<R extends { readonly campaignId: string }>(request: R): R {
  const remedy = 'use the id StartCampaign returned, or one listed by ListCampaigns';
  if (request.campaignId === '') throw invalid('campaign_id is required', remedy);
  checkString('campaign_id', request.campaignId, STRING_LIMITS.campaignId, remedy);
  return request;
}

/**
 * Each method's bounds, applied by service.ts to the request before the method's handler gets it:
 * each returns the request it was given, or throws INVALID_ARGUMENT. Methods whose requests hold
 * no string, repeated field or duration (ListAdapters, ListSerialPorts, ListJobs) have nothing to
 * check; UploadPackage's chunks are bounded by the package size limit.
 */
export const validateRequest = {
  scan(r: ScanRequest): ScanRequest {
    checkAdapterId(r.adapterId);
    const f = r.filter;
    if (f !== undefined) {
      checkString('filter.name', f.name, STRING_LIMITS.deviceName);
      checkString('filter.name_prefix', f.namePrefix, STRING_LIMITS.deviceName);
      checkString('filter.address', f.address, STRING_LIMITS.address);
      checkString('filter.service_uuid', f.serviceUuid, STRING_LIMITS.serviceUuid);
    }
    msFromDuration(r.duration, 0, DURATION_RANGES.scanDuration);
    return r;
  },
  connect(r: ConnectRequest): ConnectRequest {
    checkAdapterId(r.adapterId);
    checkTarget(r.target);
    msFromDuration(r.scanTimeout, 0, DURATION_RANGES.scanTimeout);
    return r;
  },
  startDfu(r: StartDfuRequest): StartDfuRequest {
    if (r.package?.$case === 'packageId') {
      checkString('package_id', r.package.packageId, STRING_LIMITS.packageId, 'use the package_id UploadPackage returned');
    }
    checkAdapterId(r.adapterId);
    checkTarget(r.target);
    checkDfuOptions(r.options);
    checkLabels('labels', r.labels);
    return r;
  },
  startCampaign(r: StartCampaignRequest): StartCampaignRequest {
    if (r.package?.$case === 'packageId') {
      checkString('package_id', r.package.packageId, STRING_LIMITS.packageId, 'use the package_id UploadPackage returned');
    }
    const f = r.filter;
    if (f !== undefined) {
      checkString('filter.name', f.name, STRING_LIMITS.deviceName);
      checkString('filter.name_prefix', f.namePrefix, STRING_LIMITS.deviceName);
      checkString('filter.service_uuid', f.serviceUuid, STRING_LIMITS.serviceUuid);
      const L = CAMPAIGN_REQUEST_LIMITS;
      if (f.manufacturerDataPrefix.length > L.manufacturerDataPrefixBytes) {
        throw invalid(`filter.manufacturer_data_prefix is ${f.manufacturerDataPrefix.length} bytes; the limit is ${L.manufacturerDataPrefixBytes}`, 'manufacturer data in an advertisement is at most 27 bytes: give a shorter prefix');
      }
      if (f.addresses.length > L.addresses) {
        throw invalid(`filter.addresses has ${f.addresses.length} addresses; the limit is ${L.addresses}`, `list at most ${L.addresses} addresses, or filter by name prefix instead`);
      }
      f.addresses.forEach((a, i) => checkString(`filter.addresses[${i}]`, a, STRING_LIMITS.address, 'write addresses as six hex octets separated by colons, e.g. "F0:12:34:56:78:9A"'));
    }
    if (r.adapterIds.length > CAMPAIGN_REQUEST_LIMITS.adapterIds) {
      throw invalid(`adapter_ids has ${r.adapterIds.length} ids; the limit is ${CAMPAIGN_REQUEST_LIMITS.adapterIds}`, 'name at most 16 adapters, or none for every adapter');
    }
    r.adapterIds.forEach((id, i) => checkString(`adapter_ids[${i}]`, id, STRING_LIMITS.adapterId, 'use ids listed by ListAdapters'));
    checkString('name', r.name, STRING_LIMITS.campaignName, 'give a short name for people, e.g. "line 3, WO-7"');
    checkDfuOptions(r.options);
    checkLabels('labels', r.labels);
    return r;
  },
  listJobs(r: ListJobsRequest): ListJobsRequest {
    checkString('campaign_id', r.campaignId, STRING_LIMITS.campaignId);
    return r;
  },
  watchCampaign: checkCampaignId,
  getCampaign: checkCampaignId,
  stopCampaign: checkCampaignId,
  getJob: checkJobId,
  watchJob: checkJobId,
  cancelJob: checkJobId,
  getJobCapture: checkJobId,
  listAuditRecords(r: ListAuditRecordsRequest): ListAuditRecordsRequest {
    checkString('device_address', r.deviceAddress, STRING_LIMITS.address);
    checkString('page_token', r.pageToken, STRING_LIMITS.pageToken, 'pass the next_page_token of the previous response unchanged');
    checkLabels('labels', r.labels);
    checkString('target_name', r.targetName, STRING_LIMITS.deviceName);
    checkString('campaign_id', r.campaignId, STRING_LIMITS.campaignId);
    return r;
  },
} as const;
