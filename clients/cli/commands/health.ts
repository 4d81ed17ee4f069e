/**
 * `bledfu health`: asks the server's standard health service whether it can do radio work, for
 * probes such as the container image's HEALTHCHECK. The exit code is the answer: 0 only when
 * SERVING, 1 when the server answered anything else, 7 (no server) when it did not answer.
 */
import { Status, servingStatusToJSON, ServingStatus, type DecodedError } from '../../ts/index.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';

export interface HealthFlags {
  readonly service: string;
}

/** A probe must answer quickly: without a global --timeout, health waits this long. */
const DEFAULT_TIMEOUT_MS = 3_000;

export async function healthCommand(ctx: CliContext, server: string, flags: HealthFlags): Promise<ExitCode> {
  const timeoutMs = ctx.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = AbortSignal.timeout(timeoutMs);
  let status: ServingStatus;
  try {
    ({ status } = await ctx.client.health.check({ service: flags.service }, { signal: AbortSignal.any([ctx.forced, deadline]) }));
  } catch (e) {
    // A server that accepts the connection but does not answer in time is as good as none for a
    // probe; without this the abort would read as "cancelled" (exit 6).
    if (deadline.aborted && !ctx.forced.aborted) return ctx.out.error(noAnswer(server, timeoutMs));
    throw e;
  }
  const name = status === ServingStatus.UNRECOGNIZED ? 'UNKNOWN' : servingStatusToJSON(status);
  ctx.out.line(name);
  ctx.out.record({ type: 'health', service: flags.service, status: name });
  return status === ServingStatus.SERVING ? EXIT.ok : EXIT.other;
}

function noAnswer(server: string, timeoutMs: number): DecodedError {
  return {
    // The code that maps to the "no server" exit code (exitCodes.ts).
    code: 'SERVER_UNREACHABLE',
    grpcCode: Status.DEADLINE_EXCEEDED,
    grpcCodeName: 'DEADLINE_EXCEEDED',
    message: `no answer from ${server} within ${timeoutMs / 1000}s`,
    remedy: 'check that bledfud is running and --server / BLEDFU_SERVER points at it, or give a longer --timeout',
    metadata: {},
  };
}
