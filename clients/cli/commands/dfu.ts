/** `bledfu dfu` and `bledfu jobs watch`: run or follow a job until it ends. */
import {
  ButtonlessMode,
  decodeError,
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
import { JobDisplay } from '../progress.js';
import { checkWritable, saveCapture } from './capture.js';

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
}

const BUTTONLESS: Readonly<Record<string, ButtonlessMode>> = {
  auto: ButtonlessMode.BUTTONLESS_MODE_AUTO,
  required: ButtonlessMode.BUTTONLESS_MODE_REQUIRED,
  off: ButtonlessMode.BUTTONLESS_MODE_OFF,
};

function optionsFrom(flags: DfuFlags): Partial<DfuOptions> {
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
  readonly data: Uint8Array;
}

export async function prepareDfu(ctx: CliBase, file: string, flags: DfuFlags): Promise<PreparedDfu> {
  const target = targetFrom(flags);
  const options = optionsFrom(flags);
  let data: Uint8Array;
  try {
    data = await ctx.readFile(file);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`, 'give the path of an nrfutil .zip package');
  }
  if (flags.capture !== undefined) await checkWritable(ctx, flags.capture);
  return { file, target, options, data };
}

export async function dfuCommand(ctx: CliContext, file: string, flags: DfuFlags): Promise<ExitCode> {
  return runDfu(ctx, await prepareDfu(ctx, file, flags), flags);
}

/** Uploads (with --upload), starts the job on ctx's server and follows it. */
export async function runDfu(ctx: CliContext, prepared: PreparedDfu, flags: DfuFlags): Promise<ExitCode> {
  const { file, target, options, data } = prepared;
  const capture = flags.capture;
  let source: { data: Uint8Array } | { packageId: string } = { data };
  if (flags.upload === true) {
    const uploaded = await uploadPackage(ctx.client, data, { signal: ctx.forced });
    ctx.out.line(`uploaded ${file}: package ${uploaded.packageId}`);
    ctx.out.record({ type: 'uploaded', packageId: uploaded.packageId, size: uploaded.size });
    source = { packageId: uploaded.packageId };
  }
  const events = startDfu(
    ctx.client,
    {
      package: source,
      target,
      options,
      captureHci: capture !== undefined,
      ...(flags.adapter === undefined ? {} : { adapterId: flags.adapter }),
    },
    { signal: ctx.forced },
  );
  if (capture === undefined) return follow(ctx, events, flags.detach === true);
  return follow(ctx, events, flags.detach === true, {
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

export async function watchCommand(ctx: CliContext, jobId: string): Promise<ExitCode> {
  return follow(ctx, watchJob(ctx.client, jobId, { signal: ctx.forced }), false);
}

/**
 * Shows events until the job ends. The first Ctrl-C cancels the job and keeps watching so the
 * user sees it end (the device is left resumable); a second one stops watching at once.
 */
export async function follow(ctx: CliContext, events: AsyncIterable<DfuEvent>, detach: boolean, hooks: FollowHooks = {}): Promise<ExitCode> {
  const display = new JobDisplay(ctx.out);
  let jobId: string | undefined;
  let ended = false;
  const onInterrupt = (): void => {
    if (jobId === undefined) return;
    ctx.out.line(`cancelling job ${jobId} (Ctrl-C again to stop watching; the job then continues on the server)`);
    void cancelJobQuietly(ctx.client, jobId);
  };
  ctx.interrupted.addEventListener('abort', onInterrupt, { once: true });
  try {
    for await (const e of events) {
      display.show(e);
      if (e.type === 'snapshot') {
        jobId = e.jobId;
        if (detach) {
          ctx.out.line(`job ${jobId} started; follow it with: bledfu jobs watch ${jobRef(ctx, jobId)}`);
          hooks.onDetach?.(jobId);
          return EXIT.ok;
        }
        if (ctx.interrupted.aborted) onInterrupt();
      }
      if (e.type === 'finished') {
        ended = true;
        if (e.result.success) {
          display.stop();
          const failure = jobId === undefined ? undefined : await hooks.onEnd?.(jobId);
          return failure === undefined ? EXIT.ok : ctx.out.error(failure);
        }
      }
    }
    // After a failed or cancelled job's `finished` the client's startDfu/watchJob throws its
    // error (caught below; the exit code follows its error_status). Ending without any result
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
    if (ctx.forced.aborted && jobId !== undefined) ctx.out.line(`stopped watching; job ${jobRef(ctx, jobId)} continues on the server`);
    // The job's failure decides the exit code; failing to save its capture is only a warning.
    if (ended && jobId !== undefined && !ctx.forced.aborted) {
      const failure = await hooks.onEnd?.(jobId);
      if (failure !== undefined) ctx.out.warning(failure);
    }
    return ctx.out.error(decodeError(e));
  } finally {
    display.stop();
    ctx.interrupted.removeEventListener('abort', onInterrupt);
  }
}

/** Cancels a job, ignoring failures: the watch stream reports how the job ended anyway. */
async function cancelJobQuietly(client: BledfuClient, jobId: string): Promise<void> {
  try {
    await client.cancelJob({ jobId });
  } catch {
    // the job may have ended meanwhile
  }
}
