/**
 * The gRPC service as bledfud builds it (server/main.ts), on whatever adapter registry a test
 * opened: createApp with the real job manager, Secure DFU engine, package reader and device
 * finder, listening on 127.0.0.1, and generated clients for it.
 */
import { pino } from 'pino';
import { createApp, type App, type AppConfig } from '../../server/app.js';
import type { AuditLog } from '../../server/audit/log.js';
import type { AdapterRegistry } from '../../server/backends/registry.js';
import { findDevice } from '../../server/ble/discovery.js';
import { silentLogger, type Logger } from '../../server/common/logger.js';
import { readAnyPackage as readPackage } from '../../server/dfu/package/anyPackage.js';
import { runDfu } from '../../server/dfu/engine.js';
import type { DeviceMemory } from '../../server/dfu/types.js';
import { InMemoryDeviceMemory } from '../../server/jobs/deviceMemory.js';
import type { PackageReaders } from '../../server/jobs/packageReaders.js';
import { createBledfuClient, type BledfuClient } from '../../clients/ts/index.js';
import { isVirtualClock } from '../../server/sim/clock.js';
import { holdClockWhileSent } from '../../server/clockHold.js';

export const TEST_APP_CONFIG: AppConfig = {
  listen: '127.0.0.1:0',
  maxConcurrentDfus: 2,
  maxRequestBytes: 4 * 1024 * 1024,
  packageStoreBytes: 16 * 1024 * 1024,
  jobRetention: 50,
  shutdownGraceMs: 5_000,
};

/** BLEDFU_TEST_LOG=debug (or info, …) shows the server's and the simulator's logs on stderr. */
export function testLogger(): Logger {
  const level = process.env['BLEDFU_TEST_LOG'];
  return level === undefined || level === '' ? silentLogger() : pino({ level }, pino.destination(2));
}

export interface ServedApp {
  readonly app: App;
  readonly address: string;
  /** host:port of GET /metrics when the config set metricsListen. */
  readonly metricsAddress: string | undefined;
  readonly client: BledfuClient;
  newClient(): BledfuClient;
  /** Stops the service and closes its clients; the registry stays the caller's to close. */
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Devices met in their bootloader; default a fresh in-memory one (bledfud always has one, kept in its data directory). */
  readonly devices?: DeviceMemory;
  /**
   * The package readers; default readPackage in-process. bledfud uses worker threads
   * (startPackageReaders): tests about the event loop under heavy uploads pass theirs.
   */
  readonly packageReaders?: PackageReaders;
  /** The audit log jobs are recorded in (ListAuditRecords reads it); default none. */
  readonly audit?: AuditLog;
  /** The server's logger; default testLogger() (silent unless BLEDFU_TEST_LOG is set). */
  readonly logger?: Logger;
}

export async function serveRegistry(registry: AdapterRegistry, logger: Logger, config: Partial<AppConfig> = {}, options: ServeOptions = {}): Promise<ServedApp> {
  const app = createApp({ ...TEST_APP_CONFIG, ...config }, {
    adapters: registry,
    // The registry's clock is the server's (the accelerated simulator's modelled time on sim:).
    clock: registry.clock,
    runner: runDfu,
    readPackage: options.packageReaders?.read ?? readPackage,
    ...(options.packageReaders === undefined ? {} : { screenPackage: options.packageReaders.screen }),
    findDevice,
    listSerialPorts: async () => [],
    logger,
    devices: options.devices ?? new InMemoryDeviceMemory({ now: () => registry.clock.now() }),
    ...(options.audit === undefined ? {} : { audit: options.audit }),
  });
  const { address, metricsAddress } = await app.start();
  const clients: BledfuClient[] = [];
  const clock = registry.clock;
  const newClient = (): BledfuClient => {
    const c = createBledfuClient(address, isVirtualClock(clock) ? { middleware: holdClockWhileSent(clock) } : {});
    clients.push(c);
    return c;
  };
  let closed: Promise<void> | undefined;
  return {
    app,
    address,
    metricsAddress,
    client: newClient(),
    newClient,
    close() {
      closed ??= (async () => {
        try {
          await app.stop();
        } finally {
          for (const c of clients) c.close();
        }
      })();
      return closed;
    },
  };
}
