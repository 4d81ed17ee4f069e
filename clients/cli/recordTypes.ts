/**
 * Every `type` a `--json` record can have. Output.record takes only these, so a command cannot
 * emit a record type this list (and clients/cli/README.md, whose table a test compares with it)
 * does not name.
 */
export const RECORD_TYPES = [
  // a job (dfu, jobs watch)
  'snapshot',
  'state',
  'progress',
  'finished',
  'deviceInfo',
  'uploaded',
  'capture',
  // a campaign (campaign start, watch, show, list, stop)
  'campaign',
  'campaignSnapshot',
  'campaignDevice',
  'campaignStopping',
  'campaignEnded',
  // listings and streams
  'adapter',
  'serialPort',
  'job',
  'audit',
  'advertisement',
  'inventoryDevice',
  'inventorySummary',
  'connected',
  'disconnected',
  'located',
  'health',
  // files made or read locally
  'package',
  'key',
  // failures
  'warning',
  'error',
] as const;

export type RecordType = (typeof RECORD_TYPES)[number];

/** One NDJSON line: a known type and its fields (camelCase, as protobuf JSON names them). */
export interface OutputRecord {
  readonly type: RecordType;
  readonly [field: string]: unknown;
}
