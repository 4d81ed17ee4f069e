/**
 * The standard gRPC health checking service (grpc.health.v1.Health), so load balancers, container
 * orchestrators and grpc_health_probe can ask whether bledfu can do radio work. The server is
 * SERVING while at least one adapter is ready and NOT_SERVING otherwise (every dongle unplugged
 * or failing); the same answer goes for the whole server ("") and for bledfu.v1.BledfuService.
 *
 * Its two messages are one field each, so they are encoded here rather than generated: that
 * keeps the proto package ours alone and needs no extra dependency.
 */
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { ServerError, Status, type CallContext, type ServiceImplementation } from 'nice-grpc';
import { linkSignals } from '../common/signals.js';
import type { AdapterDirectory } from '../jobs/types.js';

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
export const ServingStatus = {
  UNKNOWN: 0,
  SERVING: 1,
  NOT_SERVING: 2,
  SERVICE_UNKNOWN: 3,
} as const;
export type ServingStatus = (typeof ServingStatus)[keyof typeof ServingStatus];

export interface HealthCheckRequest {
  readonly service: string;
}
export interface HealthCheckResponse {
  readonly status: ServingStatus;
}

function encodeRequest(m: HealthCheckRequest): Uint8Array {
  const w = new BinaryWriter();
  if (m.service !== '') w.uint32(10).string(m.service);
  return w.finish();
}

function decodeRequest(bytes: Uint8Array): HealthCheckRequest {
  const r = new BinaryReader(bytes);
  let service = '';
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (field === 1 && type === 2) service = r.string();
    else r.skip(type);
  }
  return { service };
}

function encodeResponse(m: HealthCheckResponse): Uint8Array {
  const w = new BinaryWriter();
  if (m.status !== ServingStatus.UNKNOWN) w.uint32(8).int32(m.status);
  return w.finish();
}

function decodeResponse(bytes: Uint8Array): HealthCheckResponse {
  const r = new BinaryReader(bytes);
  let status: number = ServingStatus.UNKNOWN;
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (field === 1 && type === 0) status = r.int32();
    else r.skip(type);
  }
  return { status: status as ServingStatus };
}

const codec = {
  requestSerialize: encodeRequest,
  requestDeserialize: decodeRequest,
  responseSerialize: encodeResponse,
  responseDeserialize: decodeResponse,
};

export const HealthDefinition = {
  check: { path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false, options: {}, ...codec },
  watch: { path: '/grpc.health.v1.Health/Watch', requestStream: false, responseStream: true, options: {}, ...codec },
} as const;

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
      if (!known(request.service)) throw new ServerError(Status.NOT_FOUND, `unknown service "${request.service}"`);
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
