/** `bledfu audit`: the server's durable record of every DFU job, oldest first. */
import {
  AuditResult,
  auditResultToJSON,
  imageTypeToJSON,
  SkipReason,
  type AuditRecord as AuditRecordMessage,
  type BledfuClient,
  type CallControl,
} from '../../ts/index.js';
import { unary, UsageError, type CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';
import { durationMs, formatBytes, formatDuration } from '../format.js';
import { auditRecordJson } from '../records.js';

export interface AuditFlags {
  readonly device?: string;
  readonly since?: string;
  readonly result?: string;
}

const RESULT_NAMES = ['running', 'succeeded', 'up-to-date', 'failed', 'cancelled', 'interrupted'] as const;

/** "AUDIT_RESULT_INTERRUPTED" → "interrupted", "AUDIT_RESULT_UP_TO_DATE" → "up-to-date" (the audit log's own spelling) */
function resultName(r: AuditResult): string {
  return auditResultToJSON(r).replace(/^AUDIT_RESULT_/, '').toLowerCase().replace(/_/g, '-');
}

function resultFromName(name: string): AuditResult {
  const r = AuditResult[`AUDIT_RESULT_${name.toUpperCase().replace(/-/g, '_')}` as keyof typeof AuditResult];
  if (typeof r !== 'number' || r === AuditResult.AUDIT_RESULT_UNSPECIFIED) {
    throw new UsageError(`unknown result "${name}"`, `use one of ${RESULT_NAMES.join(', ')}`);
  }
  return r;
}

function sinceFrom(text: string): Date {
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) throw new UsageError(`--since "${text}" is not a date`, 'give an ISO 8601 time, e.g. 2026-01-31T12:00:00Z');
  return at;
}

export function auditSummary(r: AuditRecordMessage): string {
  const versions = r.images
    .map((i) => `${imageTypeToJSON(i.type).replace(/^IMAGE_TYPE_/, '').toLowerCase()}${i.fwVersion === undefined ? '' : ` v${i.fwVersion}`}`)
    .join('+');
  const bytes = r.bytesSent === undefined ? formatBytes(r.bytesTotal) : `${formatBytes(r.bytesSent)}/${formatBytes(r.bytesTotal)}`;
  const took = r.duration === undefined ? '' : ` in ${formatDuration(durationMs(r.duration))}`;
  const device = r.dfuResult === '' ? '' : ` device=${r.dfuResult}${r.dfuExtendedError === '' ? '' : `/${r.dfuExtendedError}`}`;
  const error = r.errorCode === '' ? '' : ` ${r.errorCode}: ${r.errorMessage}`;
  const by = r.requester === '' ? '' : ` by=${r.requester}`;
  // Which unit it was (its Device Information serial), and a job that left it as it was.
  const serial = r.deviceInfo === undefined || r.deviceInfo.serialNumber === '' ? '' : ` serial=${r.deviceInfo.serialNumber}`;
  const skipped = r.skipped === SkipReason.SKIP_REASON_FIRMWARE_REVISION ? ` not-updated(firmware ${r.firmwareRevision})` : '';
  return (
    `${r.startedAt?.toISOString() ?? '?'}  ${resultName(r.result).padEnd(11)} ${r.deviceAddress || (r.targetName === '' ? '?' : `name=${r.targetName}`)}` +
    `  job=${r.jobId} adapter=${r.adapterId} sha256=${r.packageSha256.slice(0, 12)}… ${versions} ${bytes}${took}${serial}${skipped}${device}${error}${by}`
  );
}

export interface AuditQuery {
  readonly deviceAddress: string;
  readonly since?: Date;
  readonly result?: AuditResult;
}

export function auditQuery(flags: AuditFlags): AuditQuery {
  return {
    deviceAddress: flags.device ?? '',
    ...(flags.since === undefined ? {} : { since: sinceFrom(flags.since) }),
    ...(flags.result === undefined ? {} : { result: resultFromName(flags.result) }),
  };
}

/** Every page of a server's audit log, oldest first. */
export async function* auditRecords(client: BledfuClient, query: AuditQuery, call: CallControl): AsyncGenerator<AuditRecordMessage> {
  let pageToken = '';
  do {
    const page = await client.listAuditRecords({ ...query, pageToken }, call);
    yield* page.records;
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
}

export async function auditCommand(ctx: CliContext, flags: AuditFlags): Promise<ExitCode> {
  let count = 0;
  for await (const record of auditRecords(ctx.client, auditQuery(flags), unary(ctx))) {
    ctx.out.line(auditSummary(record));
    ctx.out.record({ type: 'audit', record: auditRecordJson(record) });
    count++;
  }
  if (count === 0) ctx.out.line('no audit records');
  return EXIT.ok;
}
