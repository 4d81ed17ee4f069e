/**
 * A typed bledfu client over nice-grpc with the generated service definition. Rich error details
 * are decoded by the client middleware, so decodeError() sees the server's ErrorInfo.
 */
import {
  ChannelCredentials,
  createChannel,
  createClientFactory,
  Metadata,
  type CallOptions,
  type ChannelOptions,
  type Client,
  type ClientMiddleware,
  type ClientMiddlewareCall,
} from 'nice-grpc';
import { deadlineMiddleware, type DeadlineOptions } from 'nice-grpc-client-middleware-deadline';
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
  /**
   * The name the server is known by when `address` is one of its IP addresses ("host:port"):
   * sent as the HTTP/2 authority and, with TLS, checked against the server's certificate, which
   * names the service rather than each pod's address.
   */
  readonly authority?: string;
  /**
   * A middleware run around every call before the client's own (an in-process test or simulation
   * uses it to hold the server's virtual clock while its calls travel).
   */
  readonly middleware?: ClientMiddleware;
}

/** The standard gRPC health service (grpc.health.v1.Health) of a bledfu server. */
export type HealthClient = Client<typeof HealthDefinition, DeadlineOptions>;

/**
 * Every call also takes `deadline` (a Date, or milliseconds from now): past it the call is
 * cancelled and fails with DEADLINE_EXCEEDED (decodeError: code "DEADLINE_EXCEEDED").
 */
export type BledfuClient = Client<BledfuServiceDefinition, DeadlineOptions> & {
  /** The server's health service, on the same channel and with the same credentials. */
  readonly health: HealthClient;
  /** Closes the channel; calls in flight fail. */
  close(): void;
};

/** How a caller bounds one call: cancel it with `signal`, or let it end at `deadline`. */
export interface CallControl {
  readonly signal?: AbortSignal;
  /** A Date, or milliseconds from now; past it the call fails with DEADLINE_EXCEEDED. */
  readonly deadline?: Date | number;
}

/** CallControl as the generated client's call options (absent fields left out). */
export function callOptions(call: CallControl): { signal?: AbortSignal; deadline?: Date | number } {
  return {
    ...(call.signal === undefined ? {} : { signal: call.signal }),
    ...(call.deadline === undefined ? {} : { deadline: call.deadline }),
  };
}

export function createBledfuClient(address: string, options: BledfuClientOptions = {}): BledfuClient {
  const credentials = options.credentials ?? channelCredentials(options);
  const channel = createChannel(address, credentials, channelOptions(options.authority));
  let factory = createClientFactory()
    .use(options.middleware ?? ((call, callOptions) => call.next(call.request, callOptions)))
    .use(errorDetailsClientMiddleware)
    .use(deadlineMiddleware);
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

function channelOptions(authority: string | undefined): ChannelOptions {
  if (authority === undefined) return {};
  // The certificate check takes a host name, the authority header keeps the port; a plaintext
  // channel ignores the TLS option.
  const host = authority.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return { 'grpc.default_authority': authority, 'grpc.ssl_target_name_override': host };
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
