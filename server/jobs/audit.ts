/**
 * Where the job layer reports each job's start and end for the audit trail. Both calls are
 * synchronous and must have made the record durable when they return: the manager calls
 * `jobStarted` before the runner touches the device and `jobEnded` before anyone hears of the end.
 */
import type { JobRequester, JobSnapshot } from './types.js';

export interface JobAudit {
  /** A throw stops the job before it starts: it fails with that error instead of running unaudited. */
  jobStarted(job: JobSnapshot, requester: JobRequester | undefined): void;
  /** `job` is in its terminal state with its result. A throw is logged; the job's outcome stands. */
  jobEnded(job: JobSnapshot): void;
}
