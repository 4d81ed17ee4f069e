/** `bledfu dfu` and `bledfu jobs watch`: run or follow a job until it ends. */
import {
  ButtonlessMode,
  decodeError,
  JobState,
  startDfu,
  uploadPackage,
  Status,
  watchJob,
  type BledfuClient,
  type DecodedError,
  type DfuEvent,
  type DfuOptions,
  type Target,
} from '../../ts/index.js';
import { jobRef, parseNumber, targetFrom, UsageError, type CliBase, type CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';
import { durationFromSeconds } from '../format.js';
import { parseLabels } from '../labels.js';
import { JobDisplay } from '../progress.js';
import { uploadedRecord } from '../records.js';
import { checkWritable, saveCapture } from './capture.js';

/** The flags of `dfu` that are job options (shared with `campaign start`). */
export type DfuOptionFlags = Pick<DfuFlags, 'prn' | 'mtu' | 'retries' | 'buttonless' | 'scanTimeout' | 'resume' | 'skipIfFirmwareRevision'>;

export interface DfuFlags {
  readonly address?: string;
  readonly name?: string;
  readonly adapter?: string;
  readonly prn?: string;
  readonly mtu?: string;
  readonly retries?: string;
  readonly buttonless?: string;
  readonly scanTimeout?: string;
  readonly resume: boolean;
  readonly upload?: boolean;
  readonly detach?: boolean;
  readonly capture?: string;
  /** `key=value`, repeatable: the job's labels. */
  readonly label?: readonly string[];
  readonly skipIfFirmwareRevision?: string;
}

const BUTTONLESS: Readonly<Record<string, ButtonlessMode>> = {
  auto: ButtonlessMode.BUTTONLESS_MODE_AUTO,
  required: ButtonlessMode.BUTTONLESS_MODE_REQUIRED,
  off: ButtonlessMode.BUTTONLESS_MODE_OFF,
};

/** The job options of `dfu`'s flags (also every job of `campaign start`). */
export function optionsFrom(flags: DfuOptionFlags): Partial<DfuOptions> {
  const options: { -readonly [K in keyof DfuOptions]?: DfuOptions[K] } = { disableResume: !flags.resume };
  const prn = parseNumber('--prn', flags.prn, 0, 65535);
  if (prn !== undefined) options.prn = prn;
  const mtu = parseNumber('--mtu', flags.mtu, 23, 517);
  if (mtu !== undefined) options.mtu = mtu;
  // 0 is "no retries" (the field has presence); leaving the flag out asks for the server's default.
  const retries = parseNumber('--retries', flags.retries, 0, 100);
  if (retries !== undefined) options.retries = retries;
  const scan = parseNumber('--scan-timeout', flags.scanTimeout, 0.1, 3600);
  if (scan !== undefined) options.scanTimeout = durationFromSeconds(scan);
  if (flags.skipIfFirmwareRevision !== undefined) {
    if (flags.skipIfFirmwareRevision === '') throw new UsageError('--skip-if-firmware-revision needs the revision string the device reports');
    options.skipIfFirmwareRevision = flags.skipIfFirmwareRevision;
  }
  if (flags.buttonless !== undefined) {
    const mode = BUTTONLESS[flags.buttonless];
    if (mode === undefined) throw new UsageError(`--buttonless must be auto, required or off, got "${flags.buttonless}"`);
    options.buttonless = mode;
  }
  return options;
}

/** What `dfu` checks before it talks to any server: the flags, the package, the capture file. */
export interface PreparedDfu {
  readonly file: string;
  readonly target: Target;
  readonly options: Partial<DfuOptions>;
  readonly labels: Record<string, string>;
  readonly data: Uint8Array;
}

export async function prepareDfu(ctx: CliBase, file: string, flags: DfuFlags): Promise<PreparedDfu> {
  const target = targetFrom(flags);
  const options = optionsFrom(flags);
  const labels = parseLabels('--label', flags.label);
  let data: Uint8Array;
  try {
    data = await ctx.readFile(file);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`, 'give the path of an nrfutil .zip package');
  }
  if (flags.capture !== undefined) await checkWritable(ctx, flags.capture);
  return { file, target, options, labels, data };
}

export async function dfuCommand(ctx: CliContext, file: string, flags: DfuFlags): Promise<ExitCode> {
  return runDfu(ctx, await prepareDfu(ctx, file, flags), flags);
}

/**
 * Uploads (with --upload), starts the job on ctx's server and follows it. Ctrl-C before the job
 * exists stops here and starts nothing; after, see follow().
 */
export async function runDfu(ctx: CliContext, prepared: PreparedDfu, flags: DfuFlags): Promise<ExitCode> {
  const { file, target, options, labels, data } = prepared;
  const capture = flags.capture;
  let source: { data: Uint8Array } | { packageId: string } = { data };
  if (ctx.interrupted.aborted) return ctx.out.error(notStarted());
  if (flags.upload === true) {
    // No job exists yet: the first Ctrl-C may simply stop the upload.
    const onInterrupt = (): void => ctx.out.note('Ctrl-C: stopping the upload; no job has been started');
    ctx.interrupted.addEventListener('abort', onInterrupt, { once: true });
    let uploaded: Awaited<ReturnType<typeof uploadPackage>>;
    try {
      uploaded = await uploadPackage(ctx.client, data, { signal: AbortSignal.any([ctx.interrupted, ctx.forced]) });
    } finally {
      ctx.interrupted.removeEventListener('abort', onInterrupt);
    }
    ctx.out.line(`uploaded ${file}: package ${uploaded.packageId}`);
    ctx.out.record(uploadedRecord(uploaded));
    source = { packageId: uploaded.packageId };
  }
  if (ctx.interrupted.aborted) return ctx.out.error(notStarted());
  const events = startDfu(
    ctx.client,
    {
      package: source,
      target,
      options,
      captureHci: capture !== undefined,
      labels,
      ...(flags.adapter === undefined ? {} : { adapterId: flags.adapter }),
    },
    { signal: ctx.forced },
  );
  const started: Following = { kind: 'started', detach: flags.detach === true };
  if (capture === undefined) return follow(ctx, events, started);
  return follow(ctx, events, started, {
    onDetach: (jobId) => ctx.out.line(`save its HCI capture once it has ended with: bledfu jobs capture ${jobRef(ctx, jobId)} ${capture}`),
    // Saved whether the job succeeded or not: a failure is what a capture is for.
    onEnd: (jobId) => saveCapture(ctx, jobId, capture),
  });
}

/** What follow() does besides showing events, for `dfu --capture`. */
export interface FollowHooks {
  readonly onDetach?: (jobId: string) => void;
  /** Runs once the job has ended, before its outcome is reported; returns what went wrong, if anything. */
  readonly onEnd?: (jobId: string) => Promise<DecodedError | undefined>;
}

/**
 * Whose job follow() shows, which decides what Ctrl-C does:
 * - `started` (`dfu`): the job this command started. The first Ctrl-C says it cancels the job,
 *   cancels it and waits for its end (exit 6; the device is left able to resume); a second one
 *   stops waiting at once (exit 130) and says the cancel was requested.
 * - `watching` (`jobs watch`): anyone's job. Ctrl-C only stops watching (exit 130); the job is
 *   never touched.
 */
export type Following = { readonly kind: 'started'; readonly detach: boolean } | { readonly kind: 'watching'; readonly jobId: string };

export async function watchCommand(ctx: CliContext, jobId: string): Promise<ExitCode> {
  // The first Ctrl-C ends this call, never the job.
  return follow(ctx, watchJob(ctx.client, jobId, { signal: ctx.interrupted }), { kind: 'watching', jobId });
}

/** Ctrl-C before the server was asked to start a job: nothing was started (exit 6). */
function notStarted(): DecodedError {
  return {
    code: 'CANCELLED',
    grpcCode: Status.CANCELLED,
    grpcCodeName: 'CANCELLED',
    message: 'stopped by Ctrl-C before the job was started: no job was started',
    metadata: {},
  };
}

/**
 * Ctrl-C ended the command before the job's outcome was known (exit 130). Said on stderr in
 * every mode; --json also ends with an `error` record (code INTERRUPTED) for scripts.
 */
function interrupted(ctx: CliContext, message: string, remedy: string): ExitCode {
  ctx.out.note(`${message} (${remedy})`);
  if (!ctx.out.json) return EXIT.interrupted;
  return ctx.out.error({ code: 'INTERRUPTED', grpcCode: Status.CANCELLED, grpcCodeName: 'CANCELLED', message, remedy, metadata: {} });
}

/** Shows events until the job ends; what Ctrl-C does depends on `following` (see Following). */
export async function follow(ctx: CliContext, events: AsyncIterable<DfuEvent>, following: Following, hooks: FollowHooks = {}): Promise<ExitCode> {
  const display = new JobDisplay(ctx.out);
  let jobId = following.kind === 'watching' ? following.jobId : undefined;
  /** The failed job's `finished` event: its outcome, whatever way the stream then ends. */
  let failed: Extract<DfuEvent, { type: 'finished' }> | undefined;
  let cancelRequested = false;
  const cancelOwnJob = (id: string): void => {
    if (cancelRequested || failed !== undefined) return;
    cancelRequested = true;
    display.stop();
    ctx.out.note(`Ctrl-C: cancelling job ${jobRef(ctx, id)} and waiting for it to end (the device is left able to resume); Ctrl-C again to stop waiting`);
    void cancelJobQuietly(ctx.client, id);
  };
  const onInterrupt = (): void => {
    // Watching: the stream's own signal ends it; the job is not ours to cancel.
    if (following.kind === 'watching') return;
    if (jobId !== undefined) {
      cancelOwnJob(jobId);
      return;
    }
    display.stop();
    ctx.out.note('Ctrl-C: the job will be cancelled as soon as the server reports it started; Ctrl-C again to stop at once');
  };
  ctx.interrupted.addEventListener('abort', onInterrupt, { once: true });
  try {
    for await (const e of events) {
      display.show(e);
      if (e.type === 'snapshot') {
        jobId = e.jobId;
        if (following.kind === 'started' && ctx.interrupted.aborted) cancelOwnJob(jobId);
        if (following.kind === 'started' && following.detach && !cancelRequested) {
          ctx.out.line(`job ${jobId} started; follow it with: bledfu jobs watch ${jobRef(ctx, jobId)}`);
          hooks.onDetach?.(jobId);
          return EXIT.ok;
        }
      }
      if (e.type === 'finished') {
        if (e.result.success) {
          display.stop();
          const failure = jobId === undefined ? undefined : await hooks.onEnd?.(jobId);
          if (failure !== undefined) return ctx.out.error(failure);
          // Already up to date is a success of its own exit code (exitCodes.ts).
          return e.result.state === JobState.JOB_STATE_UP_TO_DATE ? EXIT.upToDate : EXIT.ok;
        }
        failed = e;
      }
    }
    if (failed !== undefined) return await failedJob(ctx, failed, failed.error, hooks);
    if (following.kind === 'watching' && ctx.interrupted.aborted) return stoppedWatching(ctx, following.jobId);
    // After a failed or cancelled job's `finished` the client's startDfu/watchJob throws its
    // error (kept in `failed`; the exit code follows its error_status). Ending without any result
    // means we do not know how the job ended, and a script must not read that as success.
    return ctx.out.error({
      code: 'NO_RESULT',
      grpcCode: Status.UNKNOWN,
      grpcCodeName: 'UNKNOWN',
      message: `the server ended the job stream without reporting how job ${jobId ?? '(unknown)'} ended`,
      remedy: jobId === undefined ? 'see bledfu jobs list' : `see bledfu jobs watch ${jobRef(ctx, jobId)}`,
      metadata: {},
    });
  } catch (e) {
    display.stop();
    // After a failed job's `finished` the client throws the job's error (typed by its
    // error_status): that is the outcome.
    if (failed !== undefined) return await failedJob(ctx, failed, decodeError(e), hooks);
    if (following.kind === 'watching' && ctx.interrupted.aborted) return stoppedWatching(ctx, following.jobId);
    if (following.kind === 'started' && ctx.forced.aborted) return stoppedWaiting(ctx, jobId, cancelRequested);
    return ctx.out.error(decodeError(e));
  } finally {
    display.stop();
    ctx.interrupted.removeEventListener('abort', onInterrupt);
  }
}

/** The job ended without success: its capture (if any) is saved, then its error decides the exit code. */
async function failedJob(
  ctx: CliContext,
  finished: Extract<DfuEvent, { type: 'finished' }>,
  error: DecodedError | undefined,
  hooks: FollowHooks,
): Promise<ExitCode> {
  // The job's failure decides the exit code; failing to save its capture is only a warning.
  const failure = await hooks.onEnd?.(finished.jobId);
  if (failure !== undefined) ctx.out.warning(failure);
  return ctx.out.error(
    error ?? {
      code: 'NO_RESULT',
      grpcCode: Status.UNKNOWN,
      grpcCodeName: 'UNKNOWN',
      message: `job ${jobRef(ctx, finished.jobId)} did not succeed and the server did not say why`,
      remedy: `see bledfu jobs show ${jobRef(ctx, finished.jobId)}`,
      metadata: {},
    },
  );
}

function stoppedWatching(ctx: CliContext, jobId: string): ExitCode {
  const ref = jobRef(ctx, jobId);
  return interrupted(ctx, `stopped watching; job ${ref} continues on the server`, `follow it again with: bledfu jobs watch ${ref}`);
}

/** The second Ctrl-C in `dfu`: says what became of the job, never that a cancelled job continues. */
function stoppedWaiting(ctx: CliContext, jobId: string | undefined, cancelRequested: boolean): ExitCode {
  if (jobId === undefined) {
    return interrupted(ctx, 'stopped before the server reported a job, so none was cancelled', 'bledfu jobs list --active shows whether it started one');
  }
  const ref = jobRef(ctx, jobId);
  if (!cancelRequested) return interrupted(ctx, `stopped; job ${ref} continues on the server`, `follow it with: bledfu jobs watch ${ref}`);
  return interrupted(ctx, `stopped waiting; job ${ref} was asked to cancel and ends on the server`, `see how it ended with: bledfu jobs show ${ref}`);
}

/** Cancels a job, ignoring failures: the watch stream reports how the job ended anyway. */
async function cancelJobQuietly(client: BledfuClient, jobId: string): Promise<void> {
  try {
    await client.cancelJob({ jobId });
  } catch {
    // the job may have ended meanwhile
  }
}
