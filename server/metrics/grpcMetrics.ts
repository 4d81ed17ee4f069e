/**
 * gRPC call counts as nice-grpc server middleware. It runs outermost, so calls the token check
 * refuses are counted too (UNAUTHENTICATED, PERMISSION_DENIED); calls the transport gate refuses
 * before any middleware runs (rpc/callGate.ts) are counted through `count`.
 */
import { ServerError, Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc-common';
import { Counter, type Registry } from 'prom-client';

export type GrpcMetricsMiddleware = <Request, Response>(
  call: ServerMiddlewareCall<Request, Response>,
  context: CallContext,
) => AsyncGenerator<Response, Response | void, undefined>;

export interface GrpcCallMetrics {
  readonly middleware: GrpcMetricsMiddleware;
  /** Counts a call that ended without reaching the middleware; `path` is /package.Service/Method. */
  readonly count: (path: string, code: Status) => void;
}

export function grpcCallMetrics(registry: Registry): GrpcCallMetrics {
  const requests = new Counter({
    name: 'bledfu_grpc_requests_total',
    help: 'gRPC calls that ended, by method (package.Service/Method) and status code name (OK, NOT_FOUND, …).',
    labelNames: ['method', 'code'] as const,
    registers: [registry],
  });
  const middleware = async function* countCall<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    // Only the server's registered methods get here (grpc-js answers unknown ones itself), so the label stays bounded.
    const method = call.method.path.replace(/^\//, '');
    let code = 'OK';
    try {
      return yield* call.next(call.request, context);
    } catch (e) {
      code = statusName(e);
      throw e;
    } finally {
      // A stream the client walked away from ends here without an error.
      if (code === 'OK' && context.signal.aborted) code = 'CANCELLED';
      requests.inc({ method, code });
    }
  };
  return { middleware, count: (path, code) => requests.inc({ method: path.replace(/^\//, ''), code: Status[code] ?? 'UNKNOWN' }) };
}

function statusName(error: unknown): string {
  if (error instanceof ServerError) return Status[error.code] ?? 'UNKNOWN';
  // nice-grpc answers an abort error with CANCELLED, anything else with UNKNOWN.
  if (error instanceof Error && error.name === 'AbortError') return 'CANCELLED';
  return 'UNKNOWN';
}
