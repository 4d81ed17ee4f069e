/**
 * The messages the CLI's `--json` records carry, as protobuf JSON spells them where ts-proto's
 * toJSON does not: a google.protobuf.Duration is a string of seconds with an `s` ("1.240s"), not
 * an object of seconds and nanos. Everything else is the generated toJSON (camelCase field names,
 * enum value names, timestamps as RFC 3339 strings).
 */
import { AuditRecord, Campaign, CampaignCounts, CampaignDevice, DfuProgress, dfuProtocolToJSON, Job, JobResult, PhaseTimes, type DfuOptions, type Duration, type UploadPackageResponse } from '../ts/index.js';
import type { OutputRecord } from './recordTypes.js';

type Json = Record<string, unknown>;

/**
 * "1.240s", "0.000500s", "3s", "-0.500s": protobuf JSON's Duration (0, 3, 6 or 9 fractional
 * digits, as many as the value needs).
 */
export function durationJson(d: Duration): string {
  const negative = d.seconds < 0 || d.nanos < 0;
  const seconds = Math.abs(Math.trunc(d.seconds));
  const nanos = Math.abs(Math.trunc(d.nanos));
  let fraction = '';
  if (nanos !== 0) {
    const digits = String(nanos).padStart(9, '0');
    fraction = `.${nanos % 1_000_000 === 0 ? digits.slice(0, 3) : nanos % 1_000 === 0 ? digits.slice(0, 6) : digits}`;
  }
  return `${negative ? '-' : ''}${seconds}${fraction}s`;
}

/** `json` with each named Duration field of `message` that is set replaced by its string. */
function withDurations<T extends object>(json: unknown, message: T, fields: readonly (keyof T & string)[]): Json {
  const out: Json = { ...(json as Json) };
  for (const field of fields) {
    const d = message[field] as Duration | undefined;
    if (d !== undefined) out[field] = durationJson(d);
  }
  return out;
}

const PHASE_FIELDS = Object.keys(PhaseTimes.fromPartial({})) as (keyof PhaseTimes & string)[];

export function phaseTimesJson(p: PhaseTimes): Json {
  return withDurations(PhaseTimes.toJSON(p), p, PHASE_FIELDS);
}

export function progressJson(p: DfuProgress): Json {
  return withDurations(DfuProgress.toJSON(p), p, ['eta']);
}

export function resultJson(r: JobResult): Json {
  const out = withDurations(JobResult.toJSON(r), r, ['duration', 'modelledAirTime']);
  if (r.phaseTimes !== undefined) out['phaseTimes'] = phaseTimesJson(r.phaseTimes);
  return out;
}

export function jobJson(j: Job): Json {
  const out: Json = { ...(Job.toJSON(j) as Json) };
  if (j.progress !== undefined) out['progress'] = progressJson(j.progress);
  if (j.result !== undefined) out['result'] = resultJson(j.result);
  return out;
}

/** The `uploaded` record: the package's id and size, and which DFU protocol the server read it as. */
export function uploadedRecord(u: UploadPackageResponse): OutputRecord {
  return {
    type: 'uploaded',
    packageId: u.packageId,
    size: u.size,
    protocol: dfuProtocolToJSON(u.protocol),
    ...(u.legacyDfuVersion === '' ? {} : { legacyDfuVersion: u.legacyDfuVersion }),
  };
}

export function auditRecordJson(r: AuditRecord): Json {
  return withDurations(AuditRecord.toJSON(r), r, ['duration']);
}

function optionsJson(json: unknown, o: DfuOptions): Json {
  return withDurations(json, o, ['scanTimeout', 'requestTimeout']);
}

/** A campaign as protobuf JSON (its duration, retry delay and job options' timeouts as Duration strings). */
export function campaignJson(c: Campaign): Json {
  const out = withDurations(Campaign.toJSON(c), c, ['duration']);
  if (c.retry !== undefined) out['retry'] = withDurations(out['retry'], c.retry, ['delay']);
  if (c.options !== undefined) out['options'] = optionsJson(out['options'], c.options);
  return out;
}

export function campaignDeviceJson(d: CampaignDevice): Json {
  return CampaignDevice.toJSON(d) as Json;
}

export function campaignCountsJson(c: CampaignCounts): Json {
  return CampaignCounts.toJSON(c) as Json;
}
