/** `bledfu jobs list|show|cancel` (watch lives with dfu, capture in capture.ts). */
import { captureStateToJSON, jobStateName, type CaptureState, type Job as JobMessage } from '../../ts/index.js';
import { unary, type CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';
import { durationMs, formatBytes, formatPhaseTimes } from '../format.js';
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
  return `${job.jobId}  ${jobStateName(job.state).padEnd(19)} ${targetText(job)}  adapter=${job.adapterId}${bootloader}${by}${progress}${capture}${err}`;
}

export async function listJobsCommand(ctx: CliContext, flags: { active?: boolean }): Promise<ExitCode> {
  const { jobs } = await ctx.client.listJobs({ activeOnly: flags.active === true }, unary(ctx));
  for (const job of jobs) {
    ctx.out.line(jobSummary(job));
    ctx.out.record({ type: 'job', job: jobJson(job) });
  }
  if (jobs.length === 0) ctx.out.line('no jobs');
  return EXIT.ok;
}

/** One job: its summary line and, once it ended, how long it took and where that time went. */
export async function showJobCommand(ctx: CliContext, jobId: string): Promise<ExitCode> {
  const { job } = await ctx.client.getJob({ jobId }, unary(ctx));
  if (job === undefined) return EXIT.ok;
  ctx.out.line(jobSummary(job));
  const r = job.result;
  if (r !== undefined) {
    ctx.out.line(`took ${((durationMs(r.duration) ?? 0) / 1000).toFixed(2)} s`);
    if (r.phaseTimes !== undefined) ctx.out.line(`time per phase: ${formatPhaseTimes(r.phaseTimes)}`);
  }
  ctx.out.record({ type: 'job', job: jobJson(job) });
  return EXIT.ok;
}

export async function cancelJobCommand(ctx: CliContext, jobId: string): Promise<ExitCode> {
  const { job } = await ctx.client.cancelJob({ jobId }, unary(ctx));
  if (job !== undefined) {
    ctx.out.line(`cancel requested: ${jobSummary(job)}`);
    ctx.out.record({ type: 'job', job: jobJson(job) });
  }
  return EXIT.ok;
}
