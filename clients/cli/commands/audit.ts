/** `bledfu audit`: the server's durable record of every DFU job, oldest first. */
import {
  AuditResult,
  SkipReason,
  type AuditRecord as AuditRecordMessage,
  type BledfuClient,
  type CallControl,
} from '../../ts/index.js';
import { unary, UsageError, type CliBase, type CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';
import { durationMs, formatBytes, formatDuration, protocolWord } from '../format.js';
import { formatLabels, parseLabels } from '../labels.js';
import { auditRecordJson } from '../records.js';
import { auditCsv } from './auditCsv.js';
import { imagesText, resultName } from './auditFields.js';

export interface AuditFlags {
  readonly device?: string;
  readonly since?: string;
  readonly result?: string;
  /** `key=value`, repeatable: only jobs with every one of these labels. */
  readonly label?: readonly string[];
  /** Only jobs that targeted this advertised name. */
  readonly name?: string;
  /** Only the jobs of this campaign. */
  readonly campaign?: string;
  /** Write a CSV line report (auditCsv.ts) instead of the text lines. */
  readonly csv?: boolean;
}

const RESULT_NAMES = ['running', 'succeeded', 'up-to-date', 'failed', 'cancelled', 'interrupted'] as const;


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
  const versions = imagesText(r);
  const bytes = r.bytesSent === undefined ? formatBytes(r.bytesTotal) : `${formatBytes(r.bytesSent)}/${formatBytes(r.bytesTotal)}`;
  const took = r.duration === undefined ? '' : ` in ${formatDuration(durationMs(r.duration))}`;
  const device = r.dfuResult === '' ? '' : ` device=${r.dfuResult}${r.dfuExtendedError === '' ? '' : `/${r.dfuExtendedError}`}`;
  const error = r.errorCode === '' ? '' : ` ${r.errorCode}: ${r.errorMessage}`;
  const by = r.requester === '' ? '' : ` by=${r.requester}`;
  // Which unit it was (its Device Information serial), and a job that left it as it was.
  const serial = r.deviceInfo === undefined || r.deviceInfo.serialNumber === '' ? '' : ` serial=${r.deviceInfo.serialNumber}`;
  const skipped = r.skipped === SkipReason.SKIP_REASON_FIRMWARE_REVISION ? ` not-updated(firmware ${r.firmwareRevision})` : '';
  const campaign = r.campaignId === '' ? '' : ` campaign=${r.campaignId}`;
  const word = protocolWord(r.protocol);
  const protocol = word === '' ? '' : ` protocol=${word}`;
  const labels = Object.keys(r.labels).length === 0 ? '' : ` labels: ${formatLabels(r.labels)}`;
  return (
    `${r.startedAt?.toISOString() ?? '?'}  ${resultName(r.result).padEnd(11)} ${r.deviceAddress || (r.targetName === '' ? '?' : `name=${r.targetName}`)}` +
    `  job=${r.jobId} adapter=${r.adapterId}${protocol} sha256=${r.packageSha256.slice(0, 12)}… ${versions} ${bytes}${took}${serial}${skipped}${device}${error}${by}${campaign}${labels}`
  );
}

export interface AuditQuery {
  readonly deviceAddress: string;
  readonly since?: Date;
  readonly result?: AuditResult;
  readonly labels: Record<string, string>;
  readonly targetName: string;
  readonly campaignId: string;
}

export function auditQuery(flags: AuditFlags): AuditQuery {
  return {
    deviceAddress: flags.device ?? '',
    labels: parseLabels('--label', flags.label),
    targetName: flags.name ?? '',
    campaignId: flags.campaign ?? '',
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

/** --csv writes CSV on stdout, --json NDJSON: one or the other. */
export function checkAuditOutput(ctx: CliBase, flags: AuditFlags): void {
  if (flags.csv === true && ctx.out.json) throw new UsageError('--csv and --json both choose the output', 'give one of them');
}

export async function auditCommand(ctx: CliContext, flags: AuditFlags): Promise<ExitCode> {
  checkAuditOutput(ctx, flags);
  const query = auditQuery(flags);
  if (flags.csv === true) {
    const records: AuditRecordMessage[] = [];
    for await (const record of auditRecords(ctx.client, query, unary(ctx))) records.push(record);
    for (const line of auditCsv(records.map((record) => ({ record })), false)) ctx.out.line(line);
    return EXIT.ok;
  }
  let count = 0;
  for await (const record of auditRecords(ctx.client, query, unary(ctx))) {
    ctx.out.line(auditSummary(record));
    ctx.out.record({ type: 'audit', record: auditRecordJson(record) });
    count++;
  }
  if (count === 0) ctx.out.line('no audit records');
  return EXIT.ok;
}
