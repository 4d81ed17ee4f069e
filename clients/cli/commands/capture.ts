/** Saving a job's HCI capture to a file: `bledfu jobs capture`, and `bledfu dfu --capture` once its job ended. */
import { decodeError, downloadJobCapture, type DecodedError } from '../../ts/index.js';
import { jobRef, unary, UsageError, type CliBase, type CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';
import { formatBytes } from '../format.js';

/** Checks at once that the file can be written, rather than after a DFU of several minutes. */
export async function checkWritable(ctx: Pick<CliBase, 'writeFile'>, file: string): Promise<void> {
  try {
    await ctx.writeFile(file, new Uint8Array());
  } catch (e) {
    throw cannotWrite(file, e);
  }
}

function cannotWrite(file: string, e: unknown): UsageError {
  return new UsageError(`cannot write ${file}: ${(e as Error).message}`, 'give a path in a directory you can write to');
}

/** Downloads the capture and writes it; returns what went wrong, if anything. */
export async function saveCapture(ctx: CliContext, jobId: string, file: string): Promise<DecodedError | undefined> {
  let data: Uint8Array;
  try {
    data = await downloadJobCapture(ctx.client, jobId, { signal: ctx.forced });
  } catch (e) {
    return decodeError(e);
  }
  try {
    await ctx.writeFile(file, data);
  } catch (e) {
    const decoded = cannotWrite(file, e).decoded;
    return { ...decoded, remedy: `${decoded.remedy ?? ''}; the capture stays on the server: bledfu jobs capture ${jobRef(ctx, jobId)} <file>` };
  }
  // Only to say whether the server's size limit cut it short; the file is written either way.
  const truncated = await ctx.client.getJob({ jobId }, unary(ctx)).then(
    (r) => r.job?.capture?.truncated === true,
    () => false,
  );
  ctx.out.line(
    `HCI capture of job ${jobId}: ${formatBytes(data.length)} written to ${file} (btsnoop: open it in Wireshark or with btmon -r)` +
      (truncated ? '; truncated at the server\'s size limit' : ''),
  );
  ctx.out.record({ type: 'capture', jobId, file, size: data.length, truncated });
  return undefined;
}

/** `bledfu jobs capture <id> <file>` */
export async function jobCaptureCommand(ctx: CliContext, jobId: string, file: string): Promise<ExitCode> {
  const failure = await saveCapture(ctx, jobId, file);
  return failure === undefined ? EXIT.ok : ctx.out.error(failure);
}
