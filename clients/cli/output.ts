/**
 * Where the CLI writes: human text (stdout, errors on stderr) or NDJSON on stdout (--json), one
 * object per line, errors included, so a script reads a single stream.
 */
import { formatError, type DecodedError } from '../ts/index.js';
import { exitCodeFor, type ExitCode } from './exitCodes.js';
import type { OutputRecord } from './recordTypes.js';

export interface Io {
  /** `columns`: a terminal's width, for the live progress line (80 when unknown). */
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  readonly stderr: NodeJS.WritableStream;
}

/** ErrorInfo metadata keys the record already carries as fields of their own (errorFields). */
const SURFACED_METADATA = new Set(['remedy', 'layer', 'dfu_result', 'dfu_result_name', 'dfu_extended_error', 'dfu_extended_error_name', 'att_error', 'hci_status']);

/**
 * An error as `error` and `warning` records carry it: one spelling per fact. The device's codes
 * have the names of bledfu.v1.ErrorDetail (as in a `finished` record's result.error), and
 * `metadata` keeps only the ErrorInfo entries not already a field (e.g. `context_*`), so no
 * fact appears twice under a camelCase and a snake_case name.
 */
export function errorFields(error: DecodedError): Record<string, unknown> {
  const { dfuExtended, dfuExtendedName, metadata, ...rest } = error;
  const extra = Object.fromEntries(Object.entries(metadata).filter(([key]) => !SURFACED_METADATA.has(key)));
  return {
    ...rest,
    ...(dfuExtended === undefined ? {} : { dfuExtendedError: dfuExtended }),
    ...(dfuExtendedName === undefined ? {} : { dfuExtendedErrorName: dfuExtendedName }),
    metadata: extra,
  };
}

/** The line a terminal shows at its bottom and redraws in place; shared by an Output and its forServer copies. */
interface LiveSlot {
  text: string | undefined;
}

export class Output {
  readonly json: boolean;
  readonly io: Io;
  /** Added to every record (with several servers: the one a routed command runs on). */
  readonly #tag: Readonly<Record<string, unknown>>;
  readonly #live: LiveSlot;

  constructor(io: Io, json: boolean, tag: Readonly<Record<string, unknown>> = {}, live: LiveSlot = { text: undefined }) {
    this.io = io;
    this.json = json;
    this.#tag = tag;
    this.#live = live;
  }

  /** The same output, its records carrying `server`. */
  forServer(server: string): Output {
    return new Output(this.io, this.json, { ...this.#tag, server }, this.#live);
  }

  get interactive(): boolean {
    return !this.json && this.io.stdout.isTTY === true;
  }

  /** The terminal's width (80 when stdout does not say, or says less than 20: an unsized pseudo-terminal). */
  get columns(): number {
    // A pseudo-terminal nobody sized (script(1), some CI runners, a serial console) says 0.
    const c = this.io.stdout.columns;
    return c === undefined || c < 20 ? 80 : c;
  }

  /**
   * The terminal's height, when stdout says (a live block taller than it cannot be redrawn in
   * place); undefined for an unsized pseudo-terminal (0 rows).
   */
  get rows(): number | undefined {
    const r = this.io.stdout.rows;
    return r === undefined || r < 5 ? undefined : r;
  }

  /**
   * Shows `text` as the live line (replacing the previous one), or erases it (undefined). Only on
   * a terminal; the caller keeps `text` within `columns` - 1, or a redraw lands on the wrong line.
   * `text` may hold several lines (`\n`, as `campaign`'s live table): each within `columns` - 1,
   * and fewer than the terminal's rows, for the same reason.
   */
  live(text: string | undefined): void {
    if (!this.interactive) return;
    const previous = this.#live.text;
    if (text === undefined) {
      if (previous !== undefined) this.io.stdout.write(eraseSequence(previous));
    } else if (previous !== undefined && previous.includes('\n')) {
      this.io.stdout.write(`${eraseSequence(previous)}${drawSequence(text)}`);
    } else this.io.stdout.write(`\r${drawSequence(text)}`);
    this.#live.text = text;
  }

  /** Writes with the live line out of the way: erased first, drawn again below what was written. */
  #aside(write: () => void): void {
    const live = this.#live.text;
    if (live !== undefined) this.io.stdout.write(eraseSequence(live));
    write();
    if (live !== undefined) this.io.stdout.write(`\r${drawSequence(live)}`);
  }

  /** A human line (ignored in --json mode); on a terminal above the live line. */
  line(text: string): void {
    if (!this.json) this.#aside(() => this.io.stdout.write(`${text}\n`));
  }

  /** A line for the person at the keyboard, on stderr in every mode (so --json stdout stays NDJSON); above the live line. */
  note(text: string): void {
    this.#aside(() => this.io.stderr.write(`${text}\n`));
  }

  /** A machine record (ignored in human mode). */
  record(value: OutputRecord): void {
    if (this.json) this.io.stdout.write(`${JSON.stringify({ ...value, ...this.#tag })}\n`);
  }

  /** Reports a failure that does not decide the exit code (the command's outcome does); `server`: whose. */
  warning(error: DecodedError, server?: string): void {
    if (this.json) this.record({ type: 'warning', ...errorFields(error), ...(server === undefined ? {} : { server }) });
    else this.#aside(() => this.io.stderr.write(`warning: ${server === undefined ? '' : `${server}: `}${formatError(error)}\n`));
  }

  /** Reports a failure and returns the exit code for it. */
  error(error: DecodedError): ExitCode {
    const exitCode = exitCodeFor(error);
    if (this.json) this.record({ type: 'error', ...errorFields(error), exitCode });
    else this.#aside(() => this.io.stderr.write(`error: ${formatError(error)}\n`));
    return exitCode;
  }
}

/**
 * Erases a live block the cursor is on the last line of: a single line as always (`\r`, erase to
 * its end); several lines by going up to the first and erasing from there to the screen's end.
 */
function eraseSequence(text: string): string {
  const lines = text.split('\n').length;
  return lines === 1 ? '\r\x1b[K' : `\r\x1b[${lines - 1}A\x1b[J`;
}

/** Each line of the block followed by erase-to-end-of-line, so a shorter redraw leaves nothing behind. */
function drawSequence(text: string): string {
  return text
    .split('\n')
    .map((line) => `${line}\x1b[K`)
    .join('\n');
}
