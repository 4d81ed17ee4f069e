/**
 * The whole server on the accelerated simulator, as bledfud builds it (server/main.ts): the
 * adapter registry opens `sim:` (virtual HCI controller over H4 bytes, simulated air and nRF5
 * devices), createApp wires the real job manager, Secure DFU engine, package reader and device
 * finder, and a generated client talks to it over gRPC on 127.0.0.1.
 *
 * On top, a passive observer of the simulated air and devices, so tests can assert what reached
 * a device without trusting the server's own account of it: scans and connection attempts made
 * by the controller, connections each device accepted, and the bytes written to its DFU Packet
 * characteristic (split by the object type the bootloader had selected). Links are broken with
 * the simulator's own fault injection (`world.faults`).
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { createApp, type App, type AppConfig } from '../../server/app.js';
import { openAdapters, type AdapterRegistry } from '../../server/backends/registry.js';
import { findDevice } from '../../server/ble/discovery.js';
import { UUIDS } from '../../server/ble/uuid.js';
import { silentLogger, type Logger } from '../../server/common/logger.js';
import { readPackage } from '../../server/dfu/package/package.js';
import { runSecureDfu } from '../../server/dfu/secure/engine.js';
import type { PeripheralLink, PeripheralLinkHandler } from '../../server/sim/peripheral.js';
import type { SimConfig, SimDeviceView, SimWorld } from '../../server/sim/world.js';
import { AddressType, createBledfuClient, jobStateName, type BledfuClient, type DfuEvent, type DfuProgress, type Target } from '../../clients/ts/index.js';

/** ATT Write Command (what the engine uses for the DFU Packet characteristic). */
const ATT_WRITE_COMMAND = 0x52;
const ATT_CID = 0x0004;

/** What one simulated device saw on the air since the server started. */
export interface DeviceObservation {
  /** Connections the device accepted (application or bootloader). */
  connections: number;
  /** Of those, connections that ended with the device still running (not by a reset). */
  disconnections: number;
  /** Bytes written to the DFU Packet characteristic while the command (init packet) object was selected. */
  commandBytes: number;
  /** Bytes written to the DFU Packet characteristic while a data object was selected. */
  dataBytes: number;
}

export interface AirObservation {
  /** Times the controller started scanning. */
  scans: number;
  /** Whether the controller is scanning now. */
  scanning: boolean;
  /** Connection attempts the controller put on the air. */
  initiations: number;
}

export interface SimServer {
  readonly registry: AdapterRegistry;
  readonly world: SimWorld;
  readonly app: App;
  readonly address: string;
  readonly client: BledfuClient;
  readonly air: Readonly<AirObservation>;
  device(index?: number): SimDeviceView;
  observed(index?: number): Readonly<DeviceObservation>;
  /** Resolves when the device's next connection ends with the device still running (not by a reset). */
  nextDisconnection(index?: number): Promise<void>;
  /** Resolves once the controller is not scanning (at once if it is not). */
  scanStopped(): Promise<void>;
  newClient(): BledfuClient;
  close(): Promise<void>;
}

const APP_CONFIG: AppConfig = {
  listen: '127.0.0.1:0',
  maxConcurrentDfus: 2,
  maxRequestBytes: 4 * 1024 * 1024,
  packageStoreBytes: 16 * 1024 * 1024,
  jobRetention: 50,
  shutdownGraceMs: 5_000,
};

/** BLEDFU_TEST_LOG=debug (or info, …) shows the server's and the simulator's logs on stderr. */
function testLogger(): Logger {
  const level = process.env['BLEDFU_TEST_LOG'];
  return level === undefined || level === '' ? silentLogger() : pino({ level }, pino.destination(2));
}

const FIXTURES = new URL('../fixtures/dfu/', import.meta.url);

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(name, FIXTURES)));
}


interface Observer {
  readonly obs: DeviceObservation;
  readonly waiters: (() => void)[];
}

function observeDevice(view: SimDeviceView, o: Observer): void {
  const device = view.device;
  const accept = device.accept.bind(device);
  device.accept = (link: PeripheralLink): PeripheralLinkHandler => {
    const inner = accept(link);
    o.obs.connections++;
    return {
      onL2cap: (cid, payload) => {
        const bootloader = device.bootloader;
        if (cid === ATT_CID && bootloader !== undefined && payload.length >= 3 && payload[0] === ATT_WRITE_COMMAND) {
          const handle = (payload[1] as number) | ((payload[2] as number) << 8);
          if (handle === bootloader.database.handlesOf(UUIDS.dfuPacket)?.value) {
            const n = payload.length - 3;
            if (bootloader.target.snapshot.currentType === 'data') o.obs.dataBytes += n;
            else o.obs.commandBytes += n;
          }
        }
        inner.onL2cap(cid, payload);
      },
      onParametersChanged: () => inner.onParametersChanged(),
      onDisconnected: (reason) => {
        o.obs.disconnections++;
        inner.onDisconnected(reason);
        for (const w of o.waiters.splice(0)) w();
      },
    };
  };
}

export async function startSimServer(sim: Partial<SimConfig> = {}, config: Partial<AppConfig> = {}): Promise<SimServer> {
  const logger = testLogger();
  const registry = await openAdapters(['sim:'], logger.child({ component: 'adapters' }), { sim });
  const world = registry.simWorld('sim0');
  if (world === undefined) {
    await registry.close();
    throw new Error('the sim: adapter did not open');
  }

  const air: AirObservation = { scans: 0, scanning: false, initiations: 0 };
  const scanStopWaiters: (() => void)[] = [];
  const setScanning = world.air.setScanning.bind(world.air);
  world.air.setScanning = (central, scan) => {
    if (scan !== undefined && !air.scanning) air.scans++;
    air.scanning = scan !== undefined;
    setScanning(central, scan);
    if (!air.scanning) for (const w of scanStopWaiters.splice(0)) w();
  };
  const initiate = world.air.initiate.bind(world.air);
  world.air.initiate = (...args) => {
    air.initiations++;
    return initiate(...args);
  };
  const observers: Observer[] = world.devices.map(() => ({
    obs: { connections: 0, disconnections: 0, commandBytes: 0, dataBytes: 0 },
    waiters: [],
  }));
  world.devices.forEach((view, i) => observeDevice(view, observers[i] as Observer));

  const app = createApp({ ...APP_CONFIG, ...config }, {
    adapters: registry,
    runner: runSecureDfu,
    readPackage,
    findDevice,
    listSerialPorts: async () => [],
    logger,
  });
  let address: string;
  try {
    ({ address } = await app.start());
  } catch (e) {
    await registry.close();
    throw e;
  }
  const clients: BledfuClient[] = [];
  const newClient = (): BledfuClient => {
    const c = createBledfuClient(address);
    clients.push(c);
    return c;
  };
  const pick = <T>(xs: readonly T[], index: number): T => {
    const x = xs[index];
    if (x === undefined) throw new Error(`no simulated device ${index}`);
    return x;
  };
  let closed: Promise<void> | undefined;
  return {
    registry,
    world,
    app,
    address,
    client: newClient(),
    air,
    device: (index = 0) => pick(world.devices, index),
    observed: (index = 0) => pick(observers, index).obs,
    nextDisconnection: (index = 0) => new Promise<void>((resolve) => pick(observers, index).waiters.push(resolve)),
    scanStopped: () => new Promise<void>((resolve) => (air.scanning ? scanStopWaiters.push(resolve) : resolve())),
    newClient,
    close() {
      closed ??= (async () => {
        try {
          await app.stop();
        } finally {
          for (const c of clients) c.close();
          await registry.close();
        }
      })();
      return closed;
    },
  };
}

// --- job streams -----------------------------------------------------------------------------

export interface Drained {
  readonly events: DfuEvent[];
  /** What the stream threw at its end (a failed job ends its call with the job's error). */
  readonly error: unknown;
}

/** Collects a stream's events and how it ended. */
export async function drain(events: AsyncIterable<DfuEvent>): Promise<Drained> {
  const out: DfuEvent[] = [];
  try {
    for await (const e of events) out.push(e);
    return { events: out, error: undefined };
  } catch (error) {
    return { events: out, error };
  }
}

/** Reads up to the first event satisfying `pred`, leaving the iterator open; collects what it read. */
export async function until(it: AsyncIterator<DfuEvent>, pred: (e: DfuEvent) => boolean, seen?: DfuEvent[]): Promise<DfuEvent> {
  for (;;) {
    const r = await it.next();
    if (r.done === true) throw new Error('stream ended before the awaited event');
    seen?.push(r.value);
    if (pred(r.value)) return r.value;
  }
}

export const states = (events: readonly DfuEvent[]): string[] => events.flatMap((e) => (e.type === 'state' ? [e.stateName] : []));
export const progresses = (events: readonly DfuEvent[]): DfuProgress[] => events.flatMap((e) => (e.type === 'progress' ? [e.progress] : []));
export function finished(events: readonly DfuEvent[]): Extract<DfuEvent, { type: 'finished' }> | undefined {
  const last = events.at(-1);
  return last?.type === 'finished' ? last : undefined;
}

/** A target by address, as a user would type it (the simulated devices use random static addresses). */
export function addressTarget(value: string): Target {
  return { selector: { $case: 'address', address: { value, type: AddressType.ADDRESS_TYPE_RANDOM } } };
}

/** "app v<fw_version> <first 8 hex of the SHA-256>": how the simulated application names its image. */
export function revisionOf(fwVersion: number, sha256: string): string {
  return `app v${fwVersion} ${sha256.slice(0, 8)}`;
}

/** The states a job went through as one stream saw them: the snapshot's, then each change (QUEUED left out). */
export function journey(events: readonly DfuEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    const name = e.type === 'snapshot' ? jobStateName(e.job.state) : e.type === 'state' ? e.stateName : undefined;
    if (name !== undefined && name !== 'QUEUED' && out.at(-1) !== name) out.push(name);
  }
  return out;
}
