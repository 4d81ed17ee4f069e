/**
 * A typed bledfu client over nice-grpc with the generated service definition. Rich error details
 * are decoded by the client middleware, so decodeError() sees the server's ErrorInfo.
 */
import { ChannelCredentials, createChannel, createClientFactory, type Client } from 'nice-grpc';
import { errorDetailsClientMiddleware } from 'nice-grpc-error-details';
import { BledfuServiceDefinition } from '../../proto/gen/bledfu/v1/service.js';

export const DEFAULT_SERVER = '127.0.0.1:50051';

export interface BledfuClientOptions {
  /** Default: insecure (the server listens on loopback by default). */
  readonly credentials?: ChannelCredentials;
}

export type BledfuClient = Client<BledfuServiceDefinition> & {
  /** Closes the channel; calls in flight fail. */
  close(): void;
};

export function createBledfuClient(address: string, options: BledfuClientOptions = {}): BledfuClient {
  const channel = createChannel(address, options.credentials ?? ChannelCredentials.createInsecure());
  const client = createClientFactory().use(errorDetailsClientMiddleware).create(BledfuServiceDefinition, channel);
  return Object.assign(client, { close: () => channel.close() });
}
