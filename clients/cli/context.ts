/** What every command receives: the client (or the fleet), the output, and the user's interrupts. */
import { Status, type BledfuClient, type BledfuFleet, type CallControl, type DecodedError, type Target } from '../ts/index.js';
import { AddressType } from '../ts/index.js';
import type { ReadFile, WriteFile } from './files.js';
import type { Output } from './output.js';

/** What a command has whether it talks to one server or to several. */
export interface CliBase {
  readonly out: Output;
  /**
   * Aborted on the first Ctrl-C: commands stop gracefully (`dfu` cancels its own job and awaits
   * its end; a watch stops watching and never cancels).
   */
  readonly interrupted: AbortSignal;
  /** Aborted on the second Ctrl-C: stop waiting at once (saying what became of the job). */
  readonly forced: AbortSignal;
  readonly readFile: ReadFile;
  /** Creates or replaces the file (by default in place; see WriteOptions). */
  readonly writeFile: WriteFile;
  /** --timeout: the deadline of each request-response call, in ms; unset = none. */
  readonly timeoutMs?: number;
}

export interface CliContext extends CliBase {
  readonly client: BledfuClient;
  /** With several servers: the one this command was routed to (job references name it). */
  readonly server?: string;
}

/** With several servers (a list in --server, or a dns:/// name). */
export interface FleetContext extends CliBase {
  readonly fleet: BledfuFleet;
}

/** Options of a request-response call: the second Ctrl-C and --timeout end it. */
export function unary(ctx: CliBase): CallControl {
  return { signal: ctx.forced, ...(ctx.timeoutMs === undefined ? {} : { deadline: ctx.timeoutMs }) };
}

/** How the user refers to a job: `<server>/<id>` when it was routed to one of several servers. */
export function jobRef(ctx: CliContext, jobId: string): string {
  return ctx.server === undefined ? jobId : `${ctx.server}/${jobId}`;
}

/** A mistake in the command line, reported like a server INVALID_ARGUMENT (exit code 2). */
export function usageError(message: string, remedy?: string): DecodedError {
  return {
    code: 'USAGE',
    grpcCode: Status.INVALID_ARGUMENT,
    grpcCodeName: 'INVALID_ARGUMENT',
    message,
    ...(remedy === undefined ? {} : { remedy }),
    metadata: {},
  };
}

export class UsageError extends Error {
  readonly decoded: DecodedError;
  constructor(message: string, remedy?: string) {
    super(message);
    this.decoded = usageError(message, remedy);
  }
}

export function targetFrom(opts: { address?: string; name?: string }): Target {
  if ((opts.address === undefined) === (opts.name === undefined)) {
    throw new UsageError('give exactly one of --address or --name');
  }
  if (opts.address !== undefined) {
    return { selector: { $case: 'address', address: { value: opts.address, type: AddressType.ADDRESS_TYPE_UNSPECIFIED } } };
  }
  return { selector: { $case: 'name', name: opts.name as string } };
}

export function parseNumber(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${flag} must be a number from ${min} to ${max}, got "${text}"`);
  return n;
}
