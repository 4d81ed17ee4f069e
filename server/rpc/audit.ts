/** ListAuditRecords: the audit log's jobs, filtered and paged, as proto. */
import {
  AuditResult,
  type AuditRecord,
  type ListAuditRecordsRequest,
  type ListAuditRecordsResponse,
} from '../../proto/gen/bledfu/v1/audit.js';
import { ImageType } from '../../proto/gen/bledfu/v1/dfu.js';
import type { AuditLog } from '../audit/log.js';
import type { AuditEntry, AuditProtocol, AuditResult as DomainAuditResult } from '../audit/records.js';
import { BledfuError } from '../common/errors.js';
import { quoteInput } from '../common/quote.js';
import { durationFromMs } from './duration.js';
import { deviceInfoToProto, deviceStateToProto, dfuProtocolToProto, skipReasonToProto } from './mapJobs.js';

const RESULTS = {
  running: AuditResult.AUDIT_RESULT_RUNNING,
  succeeded: AuditResult.AUDIT_RESULT_SUCCEEDED,
  failed: AuditResult.AUDIT_RESULT_FAILED,
  cancelled: AuditResult.AUDIT_RESULT_CANCELLED,
  interrupted: AuditResult.AUDIT_RESULT_INTERRUPTED,
  'up-to-date': AuditResult.AUDIT_RESULT_UP_TO_DATE,
} as const satisfies Record<DomainAuditResult | 'running', AuditResult>;

const IMAGE_TYPES: Readonly<Record<string, ImageType>> = {
  softdevice_bootloader: ImageType.IMAGE_TYPE_SOFTDEVICE_BOOTLOADER,
  softdevice: ImageType.IMAGE_TYPE_SOFTDEVICE,
  bootloader: ImageType.IMAGE_TYPE_BOOTLOADER,
  application: ImageType.IMAGE_TYPE_APPLICATION,
};

export async function listAuditRecords(
  audit: AuditLog | undefined,
  request: ListAuditRecordsRequest,
): Promise<ListAuditRecordsResponse> {
  if (audit === undefined) {
    throw new BledfuError('INTERNAL', 'this server keeps no audit log', {
      layer: 'rpc',
      remedy: 'run bledfud (it always keeps one, see --audit-log)',
    });
  }
  const offset = request.pageToken === '' ? 0 : Number(request.pageToken);
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new BledfuError('INVALID_ARGUMENT', `bad page_token ${quoteInput(request.pageToken)}`, {
      layer: 'rpc',
      remedy: 'pass the next_page_token of the previous response unchanged',
    });
  }
  const result = (Object.keys(RESULTS) as (keyof typeof RESULTS)[]).find((k) => RESULTS[k] === request.result);
  const page = await audit.query({
    ...(request.deviceAddress === '' ? {} : { deviceAddress: request.deviceAddress }),
    ...(request.since === undefined ? {} : { since: request.since.getTime() }),
    ...(result === undefined ? {} : { result }),
    ...(request.pageSize === 0 ? {} : { limit: request.pageSize }),
    ...(Object.keys(request.labels).length === 0 ? {} : { labels: request.labels }),
    ...(request.targetName === '' ? {} : { targetName: request.targetName }),
    ...(request.campaignId === '' ? {} : { campaignId: request.campaignId }),
    offset,
  });
  return {
    records: page.entries.map(auditRecordToProto),
    nextPageToken: page.nextOffset === undefined ? '' : String(page.nextOffset),
  };
}

/** A record's labels; only string values, since the file is read back as written by anyone with access to it. */
function labelsToProto(labels: unknown): Record<string, string> {
  if (typeof labels !== 'object' || labels === null) return {};
  return Object.fromEntries(Object.entries(labels).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

export function auditRecordToProto({ start, end }: AuditEntry): AuditRecord {
  return {
    jobId: start.jobId,
    adapterId: start.adapterId,
    deviceAddress: end?.deviceAddress ?? start.deviceAddress ?? '',
    targetName: start.targetName ?? '',
    packageSha256: start.packageSha256,
    images: start.images.map((i) => ({
      type: IMAGE_TYPES[i.kind] ?? ImageType.IMAGE_TYPE_UNSPECIFIED,
      size: i.size,
      fwVersion: i.fwVersion,
      hwVersion: i.hwVersion,
      sdReq: [...i.sdReq],
      sha256: i.sha256,
    })),
    requester: start.requester ?? '',
    peer: start.peer ?? '',
    startedAt: new Date(start.time),
    result: RESULTS[end?.result ?? 'running'],
    endedAt: end === undefined ? undefined : new Date(end.time),
    duration: end?.durationMs === undefined ? undefined : durationFromMs(end.durationMs),
    bytesSent: end?.bytesSent,
    bytesTotal: end?.bytesTotal ?? start.packageBytes,
    errorCode: end?.errorCode ?? '',
    errorMessage: end?.errorMessage ?? '',
    dfuResult: end?.dfuResult ?? '',
    dfuExtendedError: end?.dfuExtendedError ?? '',
    firmwareRevision: end?.firmwareRevision ?? '',
    deviceState: deviceStateToProto(end?.deviceState),
    labels: labelsToProto(start.labels ?? end?.labels),
    deviceInfo: end?.deviceInfo === undefined ? undefined : deviceInfoToProto(end.deviceInfo),
    skipped: skipReasonToProto(end?.skipped),
    campaignId: typeof start.campaignId === 'string' ? start.campaignId : typeof end?.campaignId === 'string' ? end.campaignId : '',
    protocol: dfuProtocolToProto(protocolOf(start.protocol) ?? protocolOf(end?.protocol)),
  };
}

/** A record's protocol; anything but a known name (a record of an older server, a hand edit) is unknown. */
function protocolOf(value: unknown): AuditProtocol | undefined {
  return value === 'secure' || value === 'legacy' ? value : undefined;
}
