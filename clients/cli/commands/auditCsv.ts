/**
 * `bledfu audit --csv`: the line report, one CSV line per job, for a spreadsheet or a line
 * controller's records (clients/cli/README.md documents the columns). Labels get a column each
 * (`label.<key>`, keys sorted) so a report can be sorted or filtered by serial or work order; a
 * job without a label has an empty cell there.
 */
import type { AuditRecord } from '../../ts/index.js';
import { csvLine } from '../csv.js';
import { durationMs, protocolWord } from '../format.js';
import { imagesText, resultName } from './auditFields.js';

/** The fixed columns, in order; the `server` column comes first with several servers, the label columns last. */
export const AUDIT_CSV_COLUMNS = [
  'job_id',
  'started_at',
  'ended_at',
  'duration_s',
  'result',
  'error_code',
  'device_address',
  'target_name',
  'adapter_id',
  'images',
  'package_sha256',
  'firmware_revision',
  'requester',
  // Which unit it was, as its Device Information said before the update (empty: none read).
  'serial_number',
  'model',
  'hardware_revision',
  'firmware_revision_before',
  'software_revision',
  'manufacturer',
  // The campaign that started the job (empty: a job of its own, StartDfu).
  'campaign_id',
  // The package's DFU protocol: secure or legacy (empty: a record of an older server).
  'protocol',
] as const;

export const LABEL_COLUMN_PREFIX = 'label.';

function fixedFields(r: AuditRecord): Record<(typeof AUDIT_CSV_COLUMNS)[number], string> {
  const ms = durationMs(r.duration);
  return {
    job_id: r.jobId,
    started_at: r.startedAt?.toISOString() ?? '',
    ended_at: r.endedAt?.toISOString() ?? '',
    duration_s: ms === undefined ? '' : (ms / 1000).toFixed(3),
    result: resultName(r.result),
    error_code: r.errorCode,
    device_address: r.deviceAddress,
    target_name: r.targetName,
    adapter_id: r.adapterId,
    images: imagesText(r),
    package_sha256: r.packageSha256,
    firmware_revision: r.firmwareRevision,
    requester: r.requester,
    serial_number: r.deviceInfo?.serialNumber ?? '',
    model: r.deviceInfo?.model ?? '',
    hardware_revision: r.deviceInfo?.hardwareRevision ?? '',
    firmware_revision_before: r.deviceInfo?.firmwareRevision ?? '',
    software_revision: r.deviceInfo?.softwareRevision ?? '',
    manufacturer: r.deviceInfo?.manufacturer ?? '',
    campaign_id: r.campaignId,
    protocol: protocolWord(r.protocol),
  };
}

/** The header line, then one line per record in the order given. */
export function auditCsv(rows: readonly { readonly server?: string; readonly record: AuditRecord }[], withServer: boolean): string[] {
  const keys = [...new Set(rows.flatMap(({ record }) => Object.keys(record.labels)))].sort();
  const header = [...(withServer ? ['server'] : []), ...AUDIT_CSV_COLUMNS, ...keys.map((k) => `${LABEL_COLUMN_PREFIX}${k}`)];
  return [
    csvLine(header),
    ...rows.map(({ server, record }) => {
      const fixed = fixedFields(record);
      return csvLine([...(withServer ? [server ?? ''] : []), ...AUDIT_CSV_COLUMNS.map((c) => fixed[c]), ...keys.map((k) => record.labels[k] ?? '')]);
    }),
  ];
}
