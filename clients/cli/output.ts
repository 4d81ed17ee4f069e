/**
 * Where the CLI writes: human text (stdout, errors on stderr) or NDJSON on stdout (--json), one
 * object per line, errors included, so a script reads a single stream.
 */
import { formatError, type DecodedError } from '../ts/index.js';
import { exitCodeFor, type ExitCode } from './exitCodes.js';

export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
}

export class Output {
  readonly json: boolean;
  readonly io: Io;

  constructor(io: Io, json: boolean) {
    this.io = io;
    this.json = json;
  }

  get interactive(): boolean {
    return !this.json && this.io.stdout.isTTY === true;
  }

  /** A human line (ignored in --json mode). */
  line(text: string): void {
    if (!this.json) this.io.stdout.write(`${text}\n`);
  }

  /** A machine record (ignored in human mode). */
  record(value: Record<string, unknown>): void {
    if (this.json) this.io.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Reports a failure that does not decide the exit code (the command's outcome does). */
  warning(error: DecodedError): void {
    if (this.json) this.record({ type: 'warning', ...error });
    else this.io.stderr.write(`warning: ${formatError(error)}\n`);
  }

  /** Reports a failure and returns the exit code for it. */
  error(error: DecodedError): ExitCode {
    const exitCode = exitCodeFor(error);
    if (this.json) this.record({ type: 'error', ...error, exitCode });
    else this.io.stderr.write(`error: ${formatError(error)}\n`);
    return exitCode;
  }
}
