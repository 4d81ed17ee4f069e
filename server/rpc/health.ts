/**
 * The standard gRPC health checking service (grpc.health.v1.Health), so load balancers, container
 * orchestrators and grpc_health_probe can ask whether bledfu can do radio work. The server is
 * SERVING while at least one adapter is ready and NOT_SERVING otherwise (every dongle unplugged
 * or failing); the same answer goes for the whole server ("") and for bledfu.v1.BledfuService.
 *
 * The messages and the service definition are generated from proto/grpc/health/v1/health.proto,
 * which the `bledfu health` command (clients/ts) uses too.
 */
import { ServerError, Status, type CallContext, type ServiceImplementation } from 'nice-grpc';
import {
  HealthCheckResponse_ServingStatus,
  HealthDefinition,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from '../../proto/gen/grpc/health/v1/health.js';
import { quoteInput } from '../common/quote.js';
import { linkSignals } from '../common/signals.js';
import type { AdapterDirectory } from '../jobs/types.js';

export { HealthDefinition, type HealthCheckRequest, type HealthCheckResponse };
export const ServingStatus = HealthCheckResponse_ServingStatus;
export type ServingStatus = HealthCheckResponse_ServingStatus;

/** The services whose health we report, besides the whole server (""). */
export const BLEDFU_SERVICE_NAME = 'bledfu.v1.BledfuService';

function currentStatus(adapters: AdapterDirectory): ServingStatus {
  return adapters.list().some((a) => a.info().state === 'ready') ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
}

function known(service: string): boolean {
  return service === '' || service === BLEDFU_SERVICE_NAME;
}

export function createHealthService(adapters: AdapterDirectory, stopping: AbortSignal): ServiceImplementation<typeof HealthDefinition> {
  return {
    check(request: HealthCheckRequest): Promise<HealthCheckResponse> {
      if (!known(request.service)) throw new ServerError(Status.NOT_FOUND, `unknown service ${quoteInput(request.service)}`);
      return Promise.resolve({ status: currentStatus(adapters) });
    },

    // As the health protocol asks: an unknown service is not an error here, its watchers get
    // SERVICE_UNKNOWN (it could appear later; ours never do, so that is all they get).
    async *watch(request: HealthCheckRequest, context: CallContext): AsyncGenerator<HealthCheckResponse> {
      if (!known(request.service)) {
        yield { status: ServingStatus.SERVICE_UNKNOWN };
        await ended(context.signal, stopping);
        return;
      }
      let wake: (() => void) | undefined;
      let changed = false;
      const off = adapters.onChange?.(() => {
        changed = true;
        wake?.();
      });
      const onEnd = (): void => wake?.();
      context.signal.addEventListener('abort', onEnd);
      stopping.addEventListener('abort', onEnd);
      try {
        let last: ServingStatus | undefined;
        while (!context.signal.aborted && !stopping.aborted) {
          changed = false;
          const status = currentStatus(adapters);
          if (status !== last) {
            last = status;
            yield { status };
          }
          if (!changed) {
            await new Promise<void>((resolve) => {
              wake = resolve;
              if (context.signal.aborted || stopping.aborted) resolve();
            });
            wake = undefined;
          }
        }
      } finally {
        off?.();
        context.signal.removeEventListener('abort', onEnd);
        stopping.removeEventListener('abort', onEnd);
      }
    },
  };
}

/** Resolves when the call ends or the server stops. */
async function ended(...signals: AbortSignal[]): Promise<void> {
  // Linked, not AbortSignal.any: `stopping` lives as long as the server (see common/signals.ts).
  const linked = linkSignals(...signals);
  try {
    await new Promise<void>((resolve) => {
      if (linked.signal.aborted) resolve();
      else linked.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    linked.dispose();
  }
}
