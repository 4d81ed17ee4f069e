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
  /** Added to every record (with several servers: the one a routed command runs on). */
  readonly #tag: Readonly<Record<string, unknown>>;

  constructor(io: Io, json: boolean, tag: Readonly<Record<string, unknown>> = {}) {
    this.io = io;
    this.json = json;
    this.#tag = tag;
  }

  /** The same output, its records carrying `server`. */
  forServer(server: string): Output {
    return new Output(this.io, this.json, { ...this.#tag, server });
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
    if (this.json) this.io.stdout.write(`${JSON.stringify({ ...value, ...this.#tag })}\n`);
  }

  /** Reports a failure that does not decide the exit code (the command's outcome does); `server`: whose. */
  warning(error: DecodedError, server?: string): void {
    if (this.json) this.record({ type: 'warning', ...error, ...(server === undefined ? {} : { server }) });
    else this.io.stderr.write(`warning: ${server === undefined ? '' : `${server}: `}${formatError(error)}\n`);
  }

  /** Reports a failure and returns the exit code for it. */
  error(error: DecodedError): ExitCode {
    const exitCode = exitCodeFor(error);
    if (this.json) this.record({ type: 'error', ...error, exitCode });
    else this.io.stderr.write(`error: ${formatError(error)}\n`);
    return exitCode;
  }
}
