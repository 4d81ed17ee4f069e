/** ListJobs, GetJob, CancelJob (WatchJob streams through dfu.ts's streamJob). */
import type {
  CancelJobRequest,
  CancelJobResponse,
  GetJobRequest,
  GetJobResponse,
  ListJobsRequest,
  ListJobsResponse,
} from '../../proto/gen/bledfu/v1/dfu.js';
import type { ServiceDeps } from './deps.js';
import { jobToProto } from './mapJobs.js';

export function listJobs(deps: ServiceDeps, request: ListJobsRequest): ListJobsResponse {
  return { jobs: deps.jobs.list({ activeOnly: request.activeOnly }).map(jobToProto) };
}

export function getJob(deps: ServiceDeps, request: GetJobRequest): GetJobResponse {
  return { job: jobToProto(deps.jobs.get(request.jobId)) };
}

export function cancelJob(deps: ServiceDeps, request: CancelJobRequest): CancelJobResponse {
  return { job: jobToProto(deps.jobs.cancel(request.jobId)) };
}
