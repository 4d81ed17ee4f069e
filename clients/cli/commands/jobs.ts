/** `bledfu jobs list|show|cancel` (watch lives with dfu, capture in capture.ts). */
import { captureStateToJSON, JobState, jobStateName, Status, type CaptureState, type Job as JobMessage } from '../../ts/index.js';
import { jobRef, unary, type CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';
import { durationMs, formatBytes, formatDeviceInfo, formatPhaseTimes, protocolWord, upToDateText } from '../format.js';
import { formatLabels } from '../labels.js';
import { jobJson } from '../records.js';

function targetText(job: JobMessage): string {
  const s = job.target?.selector;
  switch (s?.$case) {
    case 'address':
      return s.address.value;
    case 'name':
      return `name=${s.name}`;
    case undefined:
      return '?';
  }
}

/** "CAPTURE_STATE_COMPLETE" → "complete" */
function captureStateName(state: CaptureState): string {
  return captureStateToJSON(state).replace(/^CAPTURE_STATE_/, '').toLowerCase();
}

export function jobSummary(job: JobMessage): string {
  const p = job.progress;
  const progress = p === undefined ? '' : ` ${formatBytes(p.totalBytesSent)}/${formatBytes(p.totalBytesTotal)}`;
  const err = job.result?.error === undefined ? '' : ` ${job.result.error.reason}: ${job.result.error.message}`;
  const c = job.capture;
  const capture = c === undefined ? '' : ` capture=${captureStateName(c.state)}/${formatBytes(c.size)}${c.truncated ? '(truncated)' : ''}`;
  const bootloader = job.bootloaderAddress === undefined || job.bootloaderAddress.value === '' ? '' : ` bootloader=${job.bootloaderAddress.value}`;
  // Who started it, when the server authenticates callers (a token's name, cert:<name>).
  const by = job.requestedBy === '' ? '' : ` by=${job.requestedBy}`;
  // The campaign that started it (bledfu campaign show <id>).
  const campaign = job.campaignId === '' ? '' : ` campaign=${job.campaignId}`;
  // The package's DFU protocol (secure, legacy); nothing from a server older than the field.
  const word = protocolWord(job.protocol);
  const protocol = word === '' ? '' : ` protocol=${word}`;
  return `${job.jobId}  ${jobStateName(job.state).padEnd(19)} ${targetText(job)}  adapter=${job.adapterId}${protocol}${bootloader}${by}${campaign}${progress}${capture}${err}`;
}

/** `jobs list` flags: only jobs that have not ended; only the jobs of one campaign. */
export interface ListJobsFlags {
  readonly active?: boolean;
  readonly campaign?: string;
}

export async function listJobsCommand(ctx: CliContext, flags: ListJobsFlags): Promise<ExitCode> {
  const { jobs } = await ctx.client.listJobs({ activeOnly: flags.active === true, campaignId: flags.campaign ?? '' }, unary(ctx));
  for (const job of jobs) {
    ctx.out.line(jobSummary(job));
    ctx.out.record({ type: 'job', job: jobJson(job) });
  }
  if (jobs.length === 0) ctx.out.line('no jobs');
  return EXIT.ok;
}

/** One job: its summary line and, once it ended, its error's remedy, how long it took and where that time went. */
export async function showJobCommand(ctx: CliContext, jobId: string): Promise<ExitCode> {
  const { job } = await ctx.client.getJob({ jobId }, unary(ctx));
  if (job === undefined) return EXIT.ok;
  ctx.out.line(jobSummary(job));
  if (Object.keys(job.labels).length > 0) ctx.out.line(`labels: ${formatLabels(job.labels)}`);
  if (job.deviceInfo !== undefined) ctx.out.line(`device: ${formatDeviceInfo(job.deviceInfo)}`);
  const r = job.result;
  // The summary line has the error; its remedy (an adapter's too) is what the user acts on.
  if (r?.error !== undefined && r.error.remedy !== '') ctx.out.line(`remedy: ${r.error.remedy}`);
  if (r?.state === JobState.JOB_STATE_UP_TO_DATE) ctx.out.line(upToDateText(r));
  if (r !== undefined) {
    ctx.out.line(`took ${((durationMs(r.duration) ?? 0) / 1000).toFixed(2)} s`);
    if (r.phaseTimes !== undefined) ctx.out.line(`time per phase: ${formatPhaseTimes(r.phaseTimes)}`);
  }
  ctx.out.record({ type: 'job', job: jobJson(job) });
  return EXIT.ok;
}

/** States a job never leaves: nothing is left to cancel. */
const ENDED: ReadonlySet<JobState> = new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_UP_TO_DATE, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

/** `jobs cancel` on a job that had ended: said on stderr with its final state, never exit 0. */
function alreadyEnded(ctx: CliContext, job: JobMessage): ExitCode {
  ctx.out.line(jobSummary(job));
  ctx.out.record({ type: 'job', job: jobJson(job) });
  const ref = jobRef(ctx, job.jobId);
  return ctx.out.error({
    code: 'JOB_ALREADY_ENDED',
    grpcCode: Status.FAILED_PRECONDITION,
    grpcCodeName: 'FAILED_PRECONDITION',
    message: `job ${ref} had already ended (${jobStateName(job.state)}); nothing was cancelled`,
    remedy: `see bledfu jobs show ${ref}`,
    metadata: {},
  });
}

/**
 * Cancels a job that has not ended. The state is read first: the server answers a cancel of an
 * ended job with the job as it is, and a queued job it cancels is CANCELLED in that same answer,
 * so the answer alone cannot tell "cancelled now" from "had been cancelled before". If that read
 * fails, the cancel's own answer says why (an unknown job, or a token that may not cancel).
 */
export async function cancelJobCommand(ctx: CliContext, jobId: string): Promise<ExitCode> {
  const before = await ctx.client.getJob({ jobId }, unary(ctx)).then(
    (r) => r.job,
    () => undefined,
  );
  if (before !== undefined && ENDED.has(before.state)) return alreadyEnded(ctx, before);
  const { job } = await ctx.client.cancelJob({ jobId }, unary(ctx));
  if (job === undefined) return EXIT.ok;
  // It ended on its own between the two calls (a cancel ends a job CANCELLED, never so).
  if (ENDED.has(job.state) && job.state !== JobState.JOB_STATE_CANCELLED) return alreadyEnded(ctx, job);
  ctx.out.line(`cancel requested: ${jobSummary(job)}`);
  ctx.out.record({ type: 'job', job: jobJson(job) });
  return EXIT.ok;
}
