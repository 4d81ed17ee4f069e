/**
 * Composition root: wires config and the injected pieces (adapters, DFU engine, package reader,
 * device finder) into the job layer and the gRPC service. Tests and server/main.ts both build the
 * server through here, so what tests exercise is what production runs.
 */
import { setMaxListeners } from 'node:events';
import { createServer } from 'nice-grpc';
import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';
import { errorDetailsServerMiddleware } from 'nice-grpc-error-details';
import { BledfuServiceDefinition } from '../proto/gen/bledfu/v1/service.js';
import { createJobAudit } from './audit/jobAudit.js';
import { serveMetrics, type MetricsServer } from './metrics/http.js';
import { createServerMetrics } from './metrics/registry.js';
import type { AuditLog } from './audit/log.js';
import { realClock, type Clock, type Timer } from './common/clock.js';
import type { Logger } from './common/logger.js';
import { isVirtualClock } from './sim/clock.js';
import { holdClockWhile, releaseClockHold } from './clockHold.js';
import type { Config } from './config/settings.js';
import { DEFAULT_CONFIG } from './config/settings.js';
import type { DeviceMemory, DfuRunner } from './dfu/types.js';
import { CampaignManager } from './campaigns/manager.js';
import { JobManager } from './jobs/manager.js';
import { PackageStore, type ReadPackage } from './jobs/packageStore.js';
import type { AdapterDirectory } from './jobs/types.js';
import type { FindDevice, SerialPortListing } from './rpc/deps.js';
import { createHealthService, HealthDefinition } from './rpc/health.js';
import { createReflectionService, ReflectionV1AlphaDefinition, ReflectionV1Definition } from './rpc/reflection.js';
import { ConnectSessions } from './rpc/connectSessions.js';
import { createBledfuService } from './rpc/service.js';
import { callerMiddleware, type TokenTable } from './rpc/auth.js';
import { createCallGate, type CallGateStats } from './rpc/callGate.js';
import { clientCertificateInterceptor } from './rpc/clientCertificate.js';
import { refuseMalformedRequests, tolerantGeneric, tolerantTsProto } from './rpc/malformed.js';
import type { ServerCredentials } from '@grpc/grpc-js';

export type AppConfig = Pick<
  Config,
  'listen' | 'maxConcurrentDfus' | 'maxRequestBytes' | 'packageStoreBytes' | 'jobRetention' | 'shutdownGraceMs'
> &
  Partial<Pick<Config, 'keepaliveTimeMs' | 'keepaliveTimeoutMs' | 'metricsListen' | 'maxQueuedDfus' | 'maxQueuedDfusTotal' | 'maxMessageBytes' | 'maxConcurrentUploads'>>;

export interface AppDeps {
  readonly adapters: AdapterDirectory;
  readonly runner: DfuRunner;
  readonly readPackage: ReadPackage;
  /** Run on an upload before it is hashed (PackageStoreOptions.screen); bledfud: the zip container check. */
  readonly screenPackage?: (bytes: Uint8Array) => void;
  readonly findDevice: FindDevice;
  /** The host's serial ports; tests give a fixed list. */
  readonly listSerialPorts: () => Promise<readonly SerialPortListing[]>;
  readonly logger: Logger;
  /**
   * The server's one clock (the adapter registry's `clock`): job timestamps, durations and rates,
   * engine waits, scan timeouts, audit times, the shutdown grace. Default the real clock.
   */
  readonly clock?: Clock;
  /**
   * Where waits for the network run: real time even when `clock` is the simulator's (a StartDfu
   * waiting for a package slot waits for other calls' bytes). Default the real clock; tests pass
   * one they move by hand.
   */
  readonly networkClock?: Clock;
  /**
   * Devices met in their bootloader (bledfud keeps it in the data directory, so a restarted server
   * still finds a device left in DFU mode by its application's name or address); none when absent.
   */
  readonly devices?: DeviceMemory;
  /** Durable record of every DFU job (bledfud always opens one); ListAuditRecords reads it. */
  readonly audit?: AuditLog;
  /** TLS and tokens (server/rpc/security.ts); default plaintext and open, for loopback. */
  readonly security?: { readonly credentials: ServerCredentials; readonly tokens: TokenTable | undefined };
  /**
   * prom-client's process and Node.js metrics next to bledfu's, when metrics are served (default
   * true). Tests turn them off: their collectors cannot be stopped once started.
   */
  readonly processMetrics?: boolean;
}

export interface App {
  readonly jobs: JobManager;
  readonly campaigns: CampaignManager;
  /** Every package's unpacked images, uploaded or held by jobs; its usage() is the memory they take. */
  readonly packages: PackageStore;
  /** The transport gate's counts: package bodies being received, admitted, refused unread. */
  readonly gate: () => CallGateStats;
  /**
   * Binds and serves; `address` is host:port with the real port (useful with port 0), and
   * `metricsAddress` the same for the metrics endpoint when config.metricsListen is set. Rejects
   * (with nothing left listening) when either address cannot be bound.
   */
  start(): Promise<{ readonly address: string; readonly port: number; readonly metricsAddress?: string }>;
  /**
   * Stops accepting calls, cancels jobs (each engine leaves its device resumable) and waits for
   * them, ends open streams, then closes the server. Adapters belong to the caller.
   */
  stop(): Promise<void>;
}

/** Room in a StartDfu message for the fields around the package bytes. */
export const REQUEST_OVERHEAD_BYTES = 64 * 1024;

export function createApp(config: AppConfig, deps: AppDeps): App {
  const logger = deps.logger;
  const clock = deps.clock ?? realClock;
  const stopping = new AbortController();
  // Every open stream (Scan, Connect, health Watch) listens here until it ends (common/signals.ts
  // detaches it), so the count is the number of open streams, not a leak: no warning past 10.
  setMaxListeners(0, stopping.signal);
  const jobs = new JobManager({
    runner: deps.runner,
    logger: logger.child({ component: 'jobs' }),
    maxConcurrentPerAdapter: config.maxConcurrentDfus,
    retainFinished: config.jobRetention,
    maxQueuedPerAdapter: config.maxQueuedDfus ?? DEFAULT_CONFIG.maxQueuedDfus,
    maxQueuedTotal: config.maxQueuedDfusTotal ?? DEFAULT_CONFIG.maxQueuedDfusTotal,
    clock,
    ...(deps.audit === undefined ? {} : { audit: createJobAudit(deps.audit, clock) }),
    ...(deps.devices === undefined ? {} : { devices: deps.devices }),
  });
  // Beside the job manager: each campaign starts ordinary jobs through it.
  const campaigns = new CampaignManager({
    jobs,
    adapters: deps.adapters,
    ...(deps.devices === undefined ? {} : { devices: deps.devices }),
    logger: logger.child({ component: 'campaigns' }),
    clock,
  });
  // On the accelerated simulator a package read on a worker thread must not let modelled time run on.
  const readPackage = isVirtualClock(clock) ? holdClockWhile(clock, deps.readPackage) : deps.readPackage;
  const packages = new PackageStore({
    readPackage,
    maxTotalBytes: config.packageStoreBytes,
    ...(deps.screenPackage === undefined ? {} : { screen: deps.screenPackage }),
  });
  const metricsListen = config.metricsListen ?? '';
  // Nothing is observed when metrics are off: no listeners, no collectors.
  const metrics =
    metricsListen === ''
      ? undefined
      : createServerMetrics({ jobs, campaigns, adapters: deps.adapters, processMetrics: deps.processMetrics ?? true });
  let metricsServer: MetricsServer | undefined;
  const gate = createCallGate({
    tokens: deps.security?.tokens,
    packageMessageBytes: Math.max(config.maxRequestBytes + REQUEST_OVERHEAD_BYTES, config.maxMessageBytes ?? DEFAULT_CONFIG.maxMessageBytes),
    maxConcurrentUploads: config.maxConcurrentUploads ?? DEFAULT_CONFIG.maxConcurrentUploads,
    ...(deps.networkClock === undefined ? {} : { clock: deps.networkClock }),
    logger: logger.child({ component: 'auth' }),
    ...(metrics === undefined ? {} : { onRefused: metrics.countGrpcCall }),
  });
  const server = createServer({
    // The small limit for every method; the gate raises it for package calls it lets in.
    'grpc.max_receive_message_length': config.maxMessageBytes ?? DEFAULT_CONFIG.maxMessageBytes,
    // The gate, then the verified client certificate's name for callerMiddleware (mutual TLS
    // identities).
    interceptors: [gate.interceptor, clientCertificateInterceptor],
    'grpc.keepalive_time_ms': config.keepaliveTimeMs ?? DEFAULT_CONFIG.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': config.keepaliveTimeoutMs ?? DEFAULT_CONFIG.keepaliveTimeoutMs,
  })
    .use(isVirtualClock(clock) ? releaseClockHold(clock) : passThrough)
    .use(metrics?.grpcMiddleware ?? passThrough)
    .use(errorDetailsServerMiddleware)
    .use(callerMiddleware(deps.security?.tokens, logger.child({ component: 'auth' })))
    .use(refuseMalformedRequests(logger.child({ component: 'rpc' })));
  // Served with decoders that never throw: a request that does not decode ends INVALID_ARGUMENT
  // (rpc/malformed.ts) instead of grpc-js's INTERNAL.
  server.add(
    tolerantTsProto(BledfuServiceDefinition),
    createBledfuService({
      adapters: deps.adapters,
      jobs,
      campaigns,
      packages,
      readPackage,
      findDevice: deps.findDevice,
      listSerialPorts: deps.listSerialPorts,
      logger: logger.child({ component: 'rpc' }),
      clock,
      maxPackageBytes: config.maxRequestBytes,
      stopping: stopping.signal,
      connections: new ConnectSessions(),
      ...(deps.audit === undefined ? {} : { audit: deps.audit }),
    }),
  );

  server.add(tolerantTsProto(HealthDefinition), createHealthService(deps.adapters, stopping.signal));
  // Reflection lists itself but does not describe itself (its protos are not in proto/); health
  // is described like our own service (proto/grpc/health/v1).
  const reflection = createReflectionService(['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']);
  server.add(tolerantGeneric(ReflectionV1Definition), reflection);
  server.add(tolerantGeneric(ReflectionV1AlphaDefinition), reflection);

  let stopped: Promise<void> | undefined;

  return {
    jobs,
    campaigns,
    packages,
    gate: gate.stats,
    async start() {
      // Metrics first: a port clash there is a setting to fix, and nothing has been exposed yet.
      if (metrics !== undefined) metricsServer = await serveMetrics(metrics.registry, metricsListen, logger.child({ component: 'metrics' }));
      let port: number;
      try {
        port = await server.listen(config.listen, deps.security?.credentials);
      } catch (e) {
        await metricsServer?.close();
        throw e;
      }
      const host = config.listen.slice(0, config.listen.lastIndexOf(':'));
      const address = `${host}:${port}`;
      logger.info({ address }, 'listening');
      return { address, port, ...(metricsServer === undefined ? {} : { metricsAddress: metricsServer.address }) };
    },
    stop() {
      stopped ??= (async () => {
        logger.info('stopping: no new calls, cancelling jobs');
        const closed = server.shutdown();
        // Campaigns first: they take no device from here on, and end as the jobs cancelled below end.
        campaigns.shutdown();
        if (!(await within(clock, jobs.shutdown(), config.shutdownGraceMs))) {
          logger.warn({ graceMs: config.shutdownGraceMs }, 'jobs did not end within the grace period');
        }
        stopping.abort();
        if (!(await within(clock, closed, config.shutdownGraceMs))) {
          logger.warn('calls still open after the grace period: closing them');
          server.forceShutdown();
        }
        // Last, so a scrape still sees how the cancelled jobs ended.
        metrics?.close();
        await metricsServer?.close();
        logger.info('stopped');
      })();
      return stopped;
    },
  };
}

async function* passThrough<Request, Response>(
  call: ServerMiddlewareCall<Request, Response>,
  context: CallContext,
): AsyncGenerator<Response, Response | void, undefined> {
  return yield* call.next(call.request, context);
}

/** True if `promise` settled within `ms`; the timer never outlives the wait. */
async function within(clock: Clock, promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: Timer | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = clock.setTimer(ms, () => resolve(false), { label: 'shutdown grace' });
  });
  try {
    return await Promise.race([promise.then(() => true as const, () => true as const), timeout]);
  } finally {
    timer?.cancel();
  }
}
