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
import type { ServiceDeps } from './deps.js';
import { jobToProto } from './mapJobs.js';

export function listJobs(deps: ServiceDeps, request: ListJobsRequest): ListJobsResponse {
  return { jobs: deps.jobs.list({ activeOnly: request.activeOnly }).map(jobToProto) };
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
export async function* getJobCapture(deps: ServiceDeps, request: GetJobCaptureRequest): AsyncGenerator<GetJobCaptureResponse> {
  // Taken at once: pieces recorded after this call are not part of this download.
  const chunks = deps.jobs.capture(requiredJobId(request.jobId));
  for (const c of chunks) yield { chunk: Buffer.from(c.buffer, c.byteOffset, c.byteLength) };
}

export function cancelJob(deps: ServiceDeps, request: CancelJobRequest): CancelJobResponse {
  return { job: jobToProto(deps.jobs.cancel(requiredJobId(request.jobId))) };
}
