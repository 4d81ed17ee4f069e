/** ListJobs, GetJob, CancelJob (WatchJob streams through dfu.ts's streamJob). */
import type {
  CancelJobRequest,
  CancelJobResponse,
  GetJobCaptureRequest,
  GetJobCaptureResponse,
  GetJobRequest,
  GetJobResponse,
  ListJobsRequest,
  ListJobsResponse,
} from '../../proto/gen/bledfu/v1/dfu.js';
import { BledfuError } from '../common/errors.js';
import type { Caller } from './auth.js';
import type { ServiceDeps } from './deps.js';
import { checkJobAccess } from './jobAccess.js';
import { jobToProto } from './mapJobs.js';

export function listJobs(deps: ServiceDeps, request: ListJobsRequest): ListJobsResponse {
  const jobs = deps.jobs.list({ activeOnly: request.activeOnly });
  const mine = request.campaignId === '' ? jobs : jobs.filter((j) => j.campaignId === request.campaignId);
  return { jobs: mine.map(jobToProto) };
}

/** A job id from a request: an empty one is the caller's mistake, not an unknown job. */
export function requiredJobId(jobId: string): string {
  if (jobId === '') {
    throw new BledfuError('INVALID_ARGUMENT', 'job_id is required', {
      layer: 'rpc',
      remedy: 'use the id from the first event of StartDfu, or one listed by ListJobs',
    });
  }
  return jobId;
}

export function getJob(deps: ServiceDeps, request: GetJobRequest): GetJobResponse {
  return { job: jobToProto(deps.jobs.get(requiredJobId(request.jobId))) };
}

/** A job's HCI capture, one message per recorded piece (64 KiB each, the last one shorter). */
export async function* getJobCapture(deps: ServiceDeps, request: GetJobCaptureRequest, caller: Caller): AsyncGenerator<GetJobCaptureResponse> {
  const jobId = requiredJobId(request.jobId);
  checkJobAccess(caller, deps.jobs.get(jobId), 'download the capture of');
  // Taken at once: pieces recorded after this call are not part of this download.
  const chunks = deps.jobs.capture(jobId);
  for (const c of chunks) yield { chunk: Buffer.from(c.buffer, c.byteOffset, c.byteLength) };
}

export function cancelJob(deps: ServiceDeps, request: CancelJobRequest, caller: Caller): CancelJobResponse {
  const jobId = requiredJobId(request.jobId);
  const job = deps.jobs.get(jobId);
  checkJobAccess(caller, job, 'cancel');
  if (caller.identity !== undefined && caller.identity !== job.requestedBy) {
    deps.logger.info({ jobId, requestedBy: job.requestedBy, cancelledBy: caller.identity }, 'job cancelled by an admin, not its starter');
  }
  return { job: jobToProto(deps.jobs.cancel(jobId, caller.identity)) };
}
