/**
 * The station's server, built the way bledfud builds it (server/main.ts): an audit log in the
 * data directory, the adapter registry on `sim:` specs, createApp with the real job manager,
 * Secure DFU engine, package reader and device finder, served on loopback; and a gRPC client to it.
 *
 * The simulated worlds (air, boards, their flash) and the scheduler they run on belong to the
 * station, not to the server, so a server killed and started again on the same data directory
 * finds the boards as they were and goes on at the same modelled instant: the registry is given
 * the station's scheduler and start instant, so the server's clock is the station's. The client
 * holds that clock while each call is on its way (server/clockHold.ts).
 */
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { createApp, type App, type AppConfig } from '../app.js';
import { AuditLog } from '../audit/log.js';
import { openAdapters, type AdapterRegistry } from '../backends/registry.js';
import { findDevice } from '../ble/discovery.js';
import type { Logger } from '../common/logger.js';
import { readAnyPackage as readPackage } from '../dfu/package/anyPackage.js';
import { runDfu } from '../dfu/engine.js';
import type { SimWorld } from '../sim/world.js';
import { DEVICE_MEMORY_FILE, FileDeviceMemory } from '../jobs/deviceMemory.js';
import { holdClockWhileSent } from '../clockHold.js';
import { createBledfuClient, type BledfuClient } from '../../clients/ts/index.js';
import type { StationClock } from './time.js';

interface Live extends ServerSession {
  readonly registry: AdapterRegistry;
  readonly app: App;
  readonly audit: AuditLog;
}

/** One server instance as its callers see it. */
export interface ServerSession {
  readonly client: BledfuClient;
  /**
   * A second client of the same server on its own connection (another peer): the bench
   * technician's, whose Connect calls a refused StartDfu names.
   */
  readonly technician: BledfuClient;
  /** Which instance (counts kills). */
  readonly generation: number;
  /** Aborted when this instance is killed. */
  readonly lifetime: AbortSignal;
}

export interface StationServerOptions {
  readonly specs: readonly string[];
  /** By adapter index: specs[i] drives worlds[i]. */
  readonly worlds: readonly SimWorld[];
  /** The scheduler the worlds run on and the day's start instant: the server's clock. */
  readonly time: StationClock;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly maxConcurrentDfus: number;
}

export class StationServer {
  readonly auditPath: string;
  readonly #o: StationServerOptions;
  #live: Live | undefined;
  #up: Promise<Live>;
  #resolveUp: (live: Live) => void = () => undefined;
  /** Counts server instances: an operator whose call spans a change lost its server. */
  #generation = 0;
  #killing = false;
  #lifetime = StationServer.#newLifetime();

  // Every call to the server listens to it: as many as there are operators.
  static #newLifetime(): AbortController {
    const c = new AbortController();
    setMaxListeners(0, c.signal);
    return c;
  }

  constructor(options: StationServerOptions) {
    this.#o = options;
    this.auditPath = join(options.dataDir, 'audit.jsonl');
    this.#up = this.#pendingUp();
  }

  get generation(): number {
    return this.#generation;
  }

  /** The old server is being torn down: a dongle put back now would be opened by it. */
  get killing(): boolean {
    return this.#killing;
  }

  #pendingUp(): Promise<Live> {
    return new Promise<Live>((resolve) => {
      this.#resolveUp = resolve;
    });
  }

  async start(): Promise<void> {
    const { clock, scheduler, startEpochMs } = this.#o.time;
    // One file, never rotated: the day's checker reads its lines from auditPath (a modelled
    // week would otherwise rotate it by age).
    const { log: audit, recovery } = AuditLog.open(this.auditPath, clock, { rotateAgeMs: 0, rotateBytes: Number.MAX_SAFE_INTEGER });
    const logger = this.#o.logger;
    for (const r of recovery.interrupted) logger.warn({ jobId: r.jobId }, 'station: audit log: job interrupted by the kill, recorded as INTERRUPTED');
    const registry = await openAdapters(this.#o.specs, logger.child({ component: 'adapters' }), {
      simScheduler: scheduler,
      clockStartEpochMs: startEpochMs,
      simWorld: (id) => this.#o.worlds[Number(id.replace(/^sim/, ''))],
      dataDir: this.#o.dataDir,
    });
    // As bledfud keeps it: a restarted server still knows where it sent each device.
    const devices = FileDeviceMemory.open(join(this.#o.dataDir, DEVICE_MEMORY_FILE), logger.child({ component: 'devices' }), { now: () => registry.clock.now() });
    const config: AppConfig = {
      listen: '127.0.0.1:0',
      maxConcurrentDfus: this.#o.maxConcurrentDfus,
      maxRequestBytes: 4 * 1024 * 1024,
      packageStoreBytes: 16 * 1024 * 1024,
      jobRetention: 10_000,
      shutdownGraceMs: 5_000,
    };
    const app = createApp(config, { adapters: registry, clock: registry.clock, runner: runDfu, readPackage, findDevice, listSerialPorts: async () => [], logger, audit, devices });
    let address: string;
    try {
      ({ address } = await app.start());
    } catch (e) {
      await registry.close();
      audit.close();
      throw e;
    }
    const live: Live = {
      registry,
      app,
      audit,
      client: createBledfuClient(address, { middleware: holdClockWhileSent(clock) }),
      technician: createBledfuClient(address, { middleware: holdClockWhileSent(clock) }),
      generation: this.#generation,
      lifetime: this.#lifetime.signal,
    };
    this.#live = live;
    this.#resolveUp(live);
  }

  /** The client of the server that is up now (waits through a kill). */
  async client(): Promise<BledfuClient> {
    return (await this.#up).client;
  }

  /** The server instance that is up now, its client and lifetime together (waits through a kill). */
  async session(): Promise<ServerSession> {
    const { client, technician, generation, lifetime } = await this.#up;
    return { client, technician, generation, lifetime };
  }

  /**
   * A hard stop, as far as one process allows: the clients' connections drop, the audit log is
   * closed first so nothing more reaches it (as if the process had died: the next start records
   * the running jobs as interrupted), the dongles lose power (every link drops, the boards keep
   * their flash), then the old server and adapters are torn down. `keepUnplugged` names dongles a
   * station event holds out; the others are plugged back in for the next server.
   */
  async kill(keepUnplugged: ReadonlySet<number>): Promise<void> {
    const live = this.#retire();
    if (live === undefined) return;
    this.#lifetime.abort();
    this.#lifetime = StationServer.#newLifetime();
    live.client.close();
    live.technician.close();
    live.audit.close();
    for (const w of this.#o.worlds) if (w.donglePlugged) w.unplugDongle();
    try {
      await live.app.stop();
    } finally {
      await live.registry.close();
    }
    this.#powerBack(keepUnplugged);
  }

  /**
   * Takes the running server out of service (kill and shutdown alike): a new generation begins and
   * the next session waits for the next start. Undefined when none runs.
   */
  #retire(): Live | undefined {
    const live = this.#live;
    if (live === undefined) return undefined;
    this.#killing = true;
    this.#live = undefined;
    this.#generation++;
    this.#up = this.#pendingUp();
    return live;
  }

  /** Plugs the dongles back in for the next server, but those a station event holds out. */
  #powerBack(keepUnplugged: ReadonlySet<number>): void {
    this.#o.worlds.forEach((w, i) => {
      if (!keepUnplugged.has(i)) w.replugDongle();
    });
    this.#killing = false;
  }

  /**
   * A graceful stop, as SIGTERM gives bledfud: the server ends its campaigns (SERVER_SHUTDOWN)
   * and jobs while its clients are still connected, so a watcher sees them end; then the
   * connections, adapters and audit log close and the dongles lose power, as in kill().
   */
  async shutdown(keepUnplugged: ReadonlySet<number>): Promise<void> {
    const live = this.#retire();
    if (live === undefined) return;
    try {
      await live.app.stop();
    } finally {
      this.#lifetime.abort();
      this.#lifetime = StationServer.#newLifetime();
      live.client.close();
      live.technician.close();
      for (const w of this.#o.worlds) if (w.donglePlugged) w.unplugDongle();
      await live.registry.close();
      live.audit.close();
    }
    this.#powerBack(keepUnplugged);
  }

  /** The package store of the server that is up now (leases held by jobs, bytes). */
  async packageUsage(): Promise<ReturnType<App['packages']['usage']>> {
    return (await this.#up).app.packages.usage();
  }

  /** Starts the next server after a kill. */
  async restart(): Promise<void> {
    await this.start();
  }

  async close(): Promise<void> {
    const live = this.#live;
    this.#live = undefined;
    if (live === undefined) return;
    try {
      await live.app.stop();
    } finally {
      live.client.close();
      live.technician.close();
      await live.registry.close();
      live.audit.close();
    }
  }
}
