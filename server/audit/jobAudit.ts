/**
 * Turns the job layer's start and end into audit records on an AuditLog. A job cancelled while
 * still queued never touched a device, so it leaves no record.
 */
import { realClock, type Clock } from '../common/clock.js';
import type { JobAudit } from '../jobs/audit.js';
import type { JobRequester, JobSnapshot } from '../jobs/types.js';
import type { AuditLog } from './log.js';
import type { AuditEndRecord, AuditImage, AuditStartRecord } from './records.js';

export function createJobAudit(log: AuditLog, clock: Pick<Clock, 'now'> = realClock): JobAudit {
  const started = new Set<string>();
  const time = (): string => new Date(clock.now()).toISOString();
  return {
    jobStarted(job, requester) {
      log.append(startRecord(job, requester, time()));
      started.add(job.id);
    },
    jobEnded(job) {
      if (!started.delete(job.id)) return;
      log.append(endRecord(job, time()));
    },
  };
}

export function startRecord(job: JobSnapshot, requester: JobRequester | undefined, time: string): AuditStartRecord {
  // The identity when the server authenticated the caller, else (as before identities) its address.
  const who = requester?.identity ?? requester?.peer;
  return {
    v: 1,
    type: 'start',
    time,
    jobId: job.id,
    adapterId: job.adapterId,
    ...(job.deviceAddress === undefined ? {} : { deviceAddress: job.deviceAddress.value }),
    ...(job.target.kind === 'name' ? { targetName: job.target.name } : {}),
    packageSha256: job.packageSha256,
    packageBytes: job.images.reduce((n, i) => n + i.size, 0),
    images: job.images.map(
      (i): AuditImage => ({
        kind: i.kind,
        size: i.size,
        ...(i.fwVersion === undefined ? {} : { fwVersion: i.fwVersion }),
        ...(i.hwVersion === undefined ? {} : { hwVersion: i.hwVersion }),
        sdReq: i.sdReq,
        sha256: i.sha256,
      }),
    ),
    ...(who === undefined ? {} : { requester: who }),
    ...(requester?.peer === undefined ? {} : { peer: requester.peer }),
    ...labelsOf(job),
    ...campaignOf(job),
    protocol: job.protocol,
  };
}

export function endRecord(job: JobSnapshot, time: string): AuditEndRecord {
  const result = job.result;
  const error = result?.error;
  const state = job.state === 'succeeded' || job.state === 'up-to-date' || job.state === 'failed' || job.state === 'cancelled' ? job.state : 'failed';
  return {
    v: 1,
    type: 'end',
    time,
    jobId: job.id,
    result: state,
    ...(job.deviceAddress === undefined ? {} : { deviceAddress: job.deviceAddress.value }),
    durationMs: result?.durationMs ?? 0,
    bytesSent: job.progress?.totalBytesSent ?? 0,
    bytesTotal: job.progress?.totalBytesTotal ?? job.images.reduce((n, i) => n + i.size, 0),
    ...(error === undefined ? {} : { errorCode: error.code, errorMessage: error.message }),
    ...(error?.facts.dfuResultName === undefined ? {} : { dfuResult: error.facts.dfuResultName }),
    ...(error?.facts.dfuExtendedName === undefined ? {} : { dfuExtendedError: error.facts.dfuExtendedName }),
    ...(result?.firmwareRevision === undefined ? {} : { firmwareRevision: result.firmwareRevision }),
    ...(result?.deviceState === undefined ? {} : { deviceState: result.deviceState }),
    ...labelsOf(job),
    ...campaignOf(job),
    ...(job.deviceInfo === undefined ? {} : { deviceInfo: job.deviceInfo }),
    ...(result?.skipped === undefined ? {} : { skipped: result.skipped }),
    protocol: job.protocol,
  };
}

/** The job's labels as a record field: none at all when it has none, as records were before labels. */
function labelsOf(job: JobSnapshot): { labels?: Readonly<Record<string, string>> } {
  return Object.keys(job.labels).length === 0 ? {} : { labels: { ...job.labels } };
}

function campaignOf(job: JobSnapshot): { campaignId?: string } {
  return job.campaignId === undefined ? {} : { campaignId: job.campaignId };
}
