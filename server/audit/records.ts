/**
 * The audit log's record shapes (one JSON object per line). Field names are a file format that
 * outlives server versions: add fields, never rename or repurpose them; `v` says which shape.
 */

/** 'up-to-date': the device refused the package as not newer than its own (a job ending 'up-to-date'). */
export const AUDIT_RESULTS = ['succeeded', 'up-to-date', 'failed', 'cancelled', 'interrupted'] as const;
export type AuditResult = (typeof AUDIT_RESULTS)[number];

/** Which DFU protocol a job's package was for (JobSnapshot.protocol), as records spell it. */
export type AuditProtocol = 'secure' | 'legacy';

/** Where the device ended: running an application, or staying in its bootloader (DFU mode). */
export type AuditDeviceState = 'application' | 'dfu-mode';

export interface AuditImage {
  readonly kind: string;
  readonly size: number;
  readonly fwVersion?: number;
  readonly hwVersion?: number;
  readonly sdReq: readonly number[];
  readonly sha256: string;
}

/** What the device reported in its Device Information service before the update (JobSnapshot.deviceInfo). */
export interface AuditDeviceInfo {
  readonly manufacturer?: string;
  readonly model?: string;
  readonly serialNumber?: string;
  readonly hardwareRevision?: string;
  readonly firmwareRevision?: string;
  readonly softwareRevision?: string;
}

/** Written, and synced to disk, before the job's runner starts. */
export interface AuditStartRecord {
  readonly v: 1;
  readonly type: 'start';
  /** ISO 8601, UTC. */
  readonly time: string;
  readonly jobId: string;
  readonly adapterId: string;
  /** Known up front when the job targets an address; else found later (see the end record). */
  readonly deviceAddress?: string;
  readonly targetName?: string;
  readonly packageSha256: string;
  readonly packageBytes: number;
  readonly images: readonly AuditImage[];
  /**
   * Who asked, when the server knows: the authenticated identity (a token's name, `token:<8 hex>`
   * for a token the tokens file does not name, `cert:<name>` from a client certificate), else the
   * caller's address.
   */
  readonly requester?: string;
  /** The caller's address (host:port), whoever it was. Absent in records of older versions. */
  readonly peer?: string;
  /** The job's labels (serial=…, work_order=…); absent when it had none and in records of older versions. */
  readonly labels?: Readonly<Record<string, string>>;
  /** The campaign that started the job; absent for StartDfu's jobs and in records of older versions. */
  readonly campaignId?: string;
  /** The DFU protocol of the job's package; absent in records of older versions (read as unknown). */
  readonly protocol?: AuditProtocol;
}

/** Written, and synced to disk, before the job's end is reported to anyone. */
export interface AuditEndRecord {
  readonly v: 1;
  readonly type: 'end';
  readonly time: string;
  readonly jobId: string;
  readonly result: AuditResult;
  readonly deviceAddress?: string;
  /** From the job's start to its end; absent for an interrupted job (the end was not seen). */
  readonly durationMs?: number;
  /** Firmware bytes sent, as far as the server saw; absent for an interrupted job. */
  readonly bytesSent?: number;
  readonly bytesTotal: number;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly dfuResult?: string;
  readonly dfuExtendedError?: string;
  readonly firmwareRevision?: string;
  /** Where the device ended after a successful update (JobResult.deviceState), when seen. */
  readonly deviceState?: AuditDeviceState;
  /**
   * The job's labels again, so an end record read alone (a rotated file, a grep) still says which
   * unit it was; absent when it had none and in records of older versions.
   */
  readonly labels?: Readonly<Record<string, string>>;
  /** The job's campaign again (as the start record), so an end record read alone says it too. */
  readonly campaignId?: string;
  /**
   * The device's Device Information as read before the update (empty object: found in its
   * bootloader, or it has none). Absent when the job never reached the device, and in records of
   * older versions. The start record cannot carry it: it is written before the device is reached.
   */
  readonly deviceInfo?: AuditDeviceInfo;
  /** Set when the job ended up to date without asking the bootloader (JobResult.skipped). */
  readonly skipped?: 'firmware-revision';
  /** The job's DFU protocol again (as the start record), so an end record read alone says it too. */
  readonly protocol?: AuditProtocol;
}

export type AuditRecord = AuditStartRecord | AuditEndRecord;

/** One job as the log tells it: its start, and its end once there is one. */
export interface AuditEntry {
  readonly start: AuditStartRecord;
  readonly end: AuditEndRecord | undefined;
}

export interface AuditQuery {
  readonly deviceAddress?: string;
  /** Jobs started at or after this time (ms since the epoch). */
  readonly since?: number;
  readonly result?: AuditResult | 'running';
  /** Jobs whose start record's labels hold every one of these pairs, exactly. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Jobs whose start record targeted this advertised name, exactly. */
  readonly targetName?: string;
  /** Jobs of this campaign (their start record's campaignId). */
  readonly campaignId?: string;
  /**
   * The page token: the position, among every job of the log, to look for matches from (0: the
   * first job). Positions never change as jobs are added, so paging is stable while the log grows.
   */
  readonly offset?: number;
  readonly limit?: number;
}

export interface AuditPage {
  readonly entries: readonly AuditEntry[];
  /** Position of the next matching job (the next page's offset); undefined when this was the last page. */
  readonly nextOffset: number | undefined;
}

/** Parses one line; undefined when it is not a record of a shape this version knows. */
export function parseRecord(line: string): AuditRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Record<string, unknown>;
  if (r['v'] !== 1 || typeof r['jobId'] !== 'string' || typeof r['time'] !== 'string') return undefined;
  if (r['type'] === 'start' && typeof r['packageSha256'] === 'string' && Array.isArray(r['images'])) {
    return value as AuditStartRecord;
  }
  if (r['type'] === 'end' && typeof r['result'] === 'string' && (AUDIT_RESULTS as readonly string[]).includes(r['result'])) {
    return value as AuditEndRecord;
  }
  return undefined;
}

/** Strings longer than this are the ones cut when a record is over its size bound. */
const CUT_STRING_CHARS = 256;

/**
 * The record as it may be written: unchanged when its line fits in `maxBytes`; else every string
 * longer than CUT_STRING_CHARS (a target name, a requester or an error message from client input)
 * cut to that prefix with a note of its length, so a hostile input cannot make an audit line the
 * log would skip when read back. The fields the index reads (job id, time, address, result) are
 * short by construction and stay whole.
 */
export function fitRecord(record: AuditRecord, maxBytes: number): AuditRecord {
  if (Buffer.byteLength(JSON.stringify(record), 'utf8') + 1 <= maxBytes) return record;
  const cut = (value: unknown): unknown => {
    if (typeof value === 'string') return value.length > CUT_STRING_CHARS ? `${value.slice(0, CUT_STRING_CHARS)}… (cut from ${value.length} characters)` : value;
    if (Array.isArray(value)) return value.map(cut);
    if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cut(v)]));
    return value;
  };
  return cut(record) as AuditRecord;
}
