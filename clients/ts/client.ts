/**
 * A typed bledfu client over nice-grpc with the generated service definition. Rich error details
 * are decoded by the client middleware, so decodeError() sees the server's ErrorInfo.
 */
import { ChannelCredentials, createChannel, createClientFactory, Metadata, type CallOptions, type Client, type ClientMiddlewareCall } from 'nice-grpc';
import { errorDetailsClientMiddleware } from 'nice-grpc-error-details';
import { BledfuServiceDefinition } from '../../proto/gen/bledfu/v1/service.js';
import { HealthDefinition } from '../../proto/gen/grpc/health/v1/health.js';

export const DEFAULT_SERVER = '127.0.0.1:50051';

export interface BledfuClientOptions {
  /**
   * Full control over the channel; overrides ca/cert/key. Default: TLS when `ca` (or cert/key)
   * is given, else plaintext (the server listens on loopback by default).
   */
  readonly credentials?: ChannelCredentials;
  /** PEM CA the server's certificate must chain to; turns TLS on. */
  readonly ca?: Uint8Array;
  /** PEM client certificate and key for a server that requires mutual TLS; turn TLS on. */
  readonly cert?: Uint8Array;
  readonly key?: Uint8Array;
  /** Bearer token sent with every call (server --tokens-file). */
  readonly token?: string;
}

/** The standard gRPC health service (grpc.health.v1.Health) of a bledfu server. */
export type HealthClient = Client<typeof HealthDefinition>;

export type BledfuClient = Client<BledfuServiceDefinition> & {
  /** The server's health service, on the same channel and with the same credentials. */
  readonly health: HealthClient;
  /** Closes the channel; calls in flight fail. */
  close(): void;
};

export function createBledfuClient(address: string, options: BledfuClientOptions = {}): BledfuClient {
  const channel = createChannel(address, options.credentials ?? channelCredentials(options));
  let factory = createClientFactory().use(errorDetailsClientMiddleware);
  if (options.token !== undefined) factory = factory.use(bearerToken(options.token));
  const client = factory.create(BledfuServiceDefinition, channel);
  return Object.assign(client, { health: factory.create(HealthDefinition, channel), close: () => channel.close() });
}

function channelCredentials(options: BledfuClientOptions): ChannelCredentials {
  if ((options.cert === undefined) !== (options.key === undefined)) throw new TypeError('cert and key go together: give both or neither');
  if (options.ca === undefined && options.cert === undefined) return ChannelCredentials.createInsecure();
  const buf = (b: Uint8Array | undefined): Buffer | null => (b === undefined ? null : Buffer.from(b));
  // No ca with a client cert: the server is checked against the system's trusted roots.
  return ChannelCredentials.createSsl(buf(options.ca), buf(options.key), buf(options.cert));
}

/** Adds `authorization: Bearer <token>` to every call, keeping metadata the caller set. */
function bearerToken(token: string) {
  const value = `Bearer ${token}`;
  return async function* auth<Request, Response>(
    call: ClientMiddlewareCall<Request, Response>,
    options: CallOptions,
  ): AsyncGenerator<Response, Response | void, undefined> {
    const metadata = Metadata(options.metadata).set('authorization', value);
    return yield* call.next(call.request, { ...options, metadata });
  };
}
