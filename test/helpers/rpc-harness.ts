/**
 * A real bledfu gRPC server on 127.0.0.1:0 built by createApp, with a fake adapter, a controlled
 * DFU runner and a fake package reader, plus a real client from clients/ts.
 */
import type { DeviceAddress } from '../../server/ble/address.js';
import { parseAddress } from '../../server/ble/address.js';
import { createApp, type App, type AppConfig, type AppDeps } from '../../server/app.js';
import { BledfuError } from '../../server/common/errors.js';
import { silentLogger, type Logger } from '../../server/common/logger.js';
import type { FindDevice, SerialPortListing } from '../../server/rpc/deps.js';
import { createBledfuClient, type BledfuClient, type BledfuClientOptions } from '../../clients/ts/index.js';
import { FakeAdapter, FakeAdapterDirectory } from './fake-adapter.js';
import { ControlledRunner, fakeReadPackage } from './fake-adapter-runner.js';

export const DEVICE = parseAddress('F0:12:34:56:78:9A');
export const DEVICE_NAME = 'DfuTarg';

export interface Harness {
  readonly app: App;
  readonly address: string;
  /** host:port of GET /metrics when the config set metricsListen. */
  readonly metricsAddress: string | undefined;
  readonly client: BledfuClient;
  readonly adapter: FakeAdapter;
  readonly runner: ControlledRunner;
  readonly reader: ReturnType<typeof fakeReadPackage>;
  /** Replace to make Connect's device lookup fail in a particular way. */
  findDevice: FindDevice;
  /** What ListSerialPorts reports. */
  serialPorts: SerialPortListing[];
  /** Another client (credentials for a protected server), closed with the harness. */
  newClient(options?: BledfuClientOptions): BledfuClient;
  close(): Promise<void>;
}

/** Finds DEVICE by address or DEVICE_NAME by name; anything else is DEVICE_NOT_FOUND. */
export const fakeFindDevice: FindDevice = async (_adapter, match) => {
  const found: DeviceAddress | undefined =
    match.kind === 'address' ? (match.address.value === DEVICE.value ? match.address : undefined) : match.name === DEVICE_NAME ? DEVICE : undefined;
  if (found === undefined) throw new BledfuError('DEVICE_NOT_FOUND', 'no such device advertising', { layer: 'ble', remedy: 'is it powered?' });
  return { address: found };
};

export async function startHarness(
  config: Partial<AppConfig> = {},
  logger: Logger = silentLogger(),
  /** TLS and tokens, process metrics, an audit log: what a test of those sets. */
  deps: Pick<AppDeps, 'security' | 'processMetrics' | 'audit' | 'networkClock'> = {},
): Promise<Harness> {
  const adapter = new FakeAdapter('fake0');
  const runner = new ControlledRunner();
  const reader = fakeReadPackage();
  const clients: BledfuClient[] = [];
  const harness: { findDevice: FindDevice; serialPorts: SerialPortListing[] } = { findDevice: fakeFindDevice, serialPorts: [] };
  const app = createApp(
    {
      listen: '127.0.0.1:0',
      maxConcurrentDfus: 2,
      maxRequestBytes: 1024 * 1024,
      packageStoreBytes: 4 * 1024 * 1024,
      jobRetention: 50,
      shutdownGraceMs: 5_000,
      ...config,
    },
    {
      adapters: new FakeAdapterDirectory([adapter]),
      runner: runner.run,
      readPackage: reader.read,
      findDevice: (a, m, o) => harness.findDevice(a, m, o),
      listSerialPorts: async () => harness.serialPorts,
      logger,
      ...deps,
    },
  );
  const { address, metricsAddress } = await app.start();
  const newClient = (options: BledfuClientOptions = {}): BledfuClient => {
    const c = createBledfuClient(address, options);
    clients.push(c);
    return c;
  };
  const client = newClient();
  return Object.assign(harness, {
    app,
    address,
    metricsAddress,
    client,
    adapter,
    runner,
    reader,
    newClient,
    async close() {
      try {
        await app.stop();
      } finally {
        for (const c of clients) c.close();
      }
    },
  });
}
