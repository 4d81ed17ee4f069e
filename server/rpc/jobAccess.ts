/**
 * Whose jobs a caller may act on. Cancelling a job stops someone's device update halfway, and a
 * job's HCI capture holds its firmware image: with a tokens file, both are for the identity that
 * started the job and for admin tokens only. Reading a job's state (GetJob, ListJobs, WatchJob)
 * stays open to every role, like the audit log. Without a tokens file there are no roles, and any
 * caller may act on any job (as the server's only safeguard then is who can reach it).
 */
import { BledfuError } from '../common/errors.js';
import type { JobSnapshot } from '../jobs/types.js';
import type { Caller } from './auth.js';

export type JobAction = 'cancel' | 'download the capture of';

export function mayActOnJob(caller: Caller, job: Pick<JobSnapshot, 'requestedBy'>): boolean {
  if (caller.role === undefined || caller.role === 'admin') return true;
  return caller.identity !== undefined && caller.identity === job.requestedBy;
}

/** Throws PERMISSION_DENIED unless `caller` may `action` the job. */
export function checkJobAccess(caller: Caller, job: Pick<JobSnapshot, 'id' | 'requestedBy'>, action: JobAction): void {
  if (mayActOnJob(caller, job)) return;
  throw new BledfuError('PERMISSION_DENIED', `only the one who started job ${job.id} (${job.requestedBy ?? 'unknown'}) or an admin may ${action} it; you are ${caller.identity ?? 'unknown'}`, {
    layer: 'rpc',
    remedy: `ask ${job.requestedBy ?? 'its starter'} or a holder of an admin token (tokens file role "admin")`,
    facts: { context: { jobId: job.id, requestedBy: job.requestedBy ?? '', caller: caller.identity ?? '' } },
  });
}
