/**
 * The whole server on the accelerated simulator, as bledfud builds it (server/main.ts): the
 * adapter registry opens `sim:` (virtual HCI controller over H4 bytes, or with `dongle` the
 * simulated Nordic connectivity dongle over SLIP/H5; simulated air and nRF5 devices), createApp wires the real job manager, Secure DFU engine, package reader and device
 * finder, and a generated client talks to it over gRPC on 127.0.0.1.
 *
 * On top, a passive observer of the simulated air and devices, so tests can assert what reached
 * a device without trusting the server's own account of it: scans and connection attempts made
 * by the controller, connections each device accepted, and the bytes written to its DFU Packet
 * characteristic (split by the object type the bootloader had selected). Links are broken with
 * the simulator's own fault injection (`world.faults`).
 */
import type { App, AppConfig } from '../../server/app.js';
import type { Clock } from '../../server/common/clock.js';
import { openAdapters, type AdapterRegistry, type OpenAdaptersOptions } from '../../server/backends/registry.js';
import { UUIDS } from '../../server/ble/uuid.js';
import { LEGACY_UUIDS } from '../../server/sim/devices/legacy/protocol.js';
import type { PeripheralLink, PeripheralLinkHandler } from '../../server/sim/peripheral.js';
import type { SimConfig, SimDeviceView, SimWorld } from '../../server/sim/world.js';
import type { BledfuClient } from '../../clients/ts/index.js';
import { serveRegistry, testLogger, type ServeOptions } from './app-server.js';

export { fixtureBytes as fixture } from './dfu-fixtures.js';
// The stream helpers predate job-events.ts; the simulator's tests keep importing them from here.
export { addressTarget, drain, finished, journey, progresses, revisionOf, states, until, type Drained } from './job-events.js';

/** ATT Write Command (what the engine uses for the DFU Packet characteristic). */
const ATT_WRITE_COMMAND = 0x52;
const ATT_CID = 0x0004;

/** What one simulated device saw on the air since the server started. */
export interface DeviceObservation {
  /** Connections the device accepted (application or bootloader). */
  connections: number;
  /** Of those, connections that ended with the device still running (not by a reset). */
  disconnections: number;
  /** Bytes written to the DFU Packet characteristic while the command (init packet) object was selected (legacy: size and init packets). */
  commandBytes: number;
  /** Bytes written to the DFU Packet characteristic while a data object was selected (legacy: after Receive firmware image). */
  dataBytes: number;
  /** The central's address as each accepted connection showed it to the device ("random:C0:…"). */
  centrals: string[];
}

export interface AirObservation {
  /** Times the controller started scanning. */
  scans: number;
  /** Whether the controller is scanning now. */
  scanning: boolean;
  /** Connection attempts the controller put on the air. */
  initiations: number;
  /** The controller's own address at each scan start ("public:…" or "random:…"). */
  scanAddresses: string[];
}

export interface SimServer {
  readonly registry: AdapterRegistry;
  /**
   * The server's one clock (registry.clock): the accelerated simulator's modelled time. Schedule
   * a test's or a station's own actions on it: clock.sleep(ms) for an operator's pause,
   * clock.setTimer(ms, fn) for a fault at a modelled instant; both pull modelled time forward.
   */
  readonly clock: Clock;
  readonly world: SimWorld;
  readonly app: App;
  readonly address: string;
  /** host:port of GET /metrics when the config set metricsListen. */
  readonly metricsAddress: string | undefined;
  readonly client: BledfuClient;
  readonly air: Readonly<AirObservation>;
  device(index?: number): SimDeviceView;
  observed(index?: number): Readonly<DeviceObservation>;
  /** Resolves when the device's next connection ends with the device still running (not by a reset). */
  nextDisconnection(index?: number): Promise<void>;
  /** Resolves once the controller is not scanning (at once if it is not). */
  scanStopped(): Promise<void>;
  newClient(): BledfuClient;
  /**
   * Stops the server (as bledfud on SIGTERM: jobs cancelled, calls ended) and starts a new one on
   * the same adapters and simulated world, as a restarted bledfud would find them; returns a
   * client of the new one (app, address, client and newClient then refer to it).
   */
  restart(serve?: ServeOptions): Promise<BledfuClient>;
  close(): Promise<void>;
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
    o.obs.centrals.push(`${link.peerAddress.type}:${link.peerAddress.value}`);
    return {
      onL2cap: (cid, payload) => {
        const bootloader = device.bootloader;
        const legacy = device.legacyBootloader;
        if (cid === ATT_CID && payload.length >= 3 && payload[0] === ATT_WRITE_COMMAND) {
          const handle = (payload[1] as number) | ((payload[2] as number) << 8);
          const n = payload.length - 3;
          if (bootloader !== undefined && handle === bootloader.database.handlesOf(UUIDS.dfuPacket)?.value) {
            if (bootloader.target.snapshot.currentType === 'data') o.obs.dataBytes += n;
            else o.obs.commandBytes += n;
          } else if (legacy !== undefined && handle === legacy.database.handlesOf(LEGACY_UUIDS.packet)?.value) {
            // Legacy: firmware after Receive firmware image (03); the size and init packets otherwise.
            if (legacy.target.expectsFirmware) o.obs.dataBytes += n;
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

/**
 * The dongle the simulated server drives: the virtual HCI controller (bledfu's own host stack), or
 * the simulated Nordic connectivity dongle (the nrf backend, byte for byte over SLIP/H5).
 */
export type SimDongle =
  | { readonly kind: 'hci' }
  | {
      readonly kind: 'nrf';
      readonly api: 5 | 6;
      /** Line faults, line speed… of every dongle opened; `onOpen` receives each one. */
      readonly simNrf?: OpenAdaptersOptions['simNrf'];
    };

/** The dongles every end-to-end DFU scenario runs on. */
export const SIM_DONGLES: readonly (SimDongle & { readonly label: string })[] = [
  { kind: 'hci', label: 'HCI controller' },
  { kind: 'nrf', api: 6, label: 'nRF connectivity dongle' },
];

function simSpec(dongle: SimDongle): string {
  return dongle.kind === 'hci' ? 'sim:' : `sim:?dongle=nrf&api=${dongle.api}`;
}

export async function startSimServer(
  sim: Partial<SimConfig> = {},
  config: Partial<AppConfig> = {},
  dongle: SimDongle = { kind: 'hci' },
  serve: ServeOptions = {},
  registryOptions: Pick<OpenAdaptersOptions, 'dataDir' | 'maxConnections'> = {},
): Promise<SimServer> {
  const logger = serve.logger ?? testLogger();
  const registry = await openAdapters([simSpec(dongle)], logger.child({ component: 'adapters' }), {
    sim,
    ...registryOptions,
    ...(dongle.kind === 'nrf' && dongle.simNrf !== undefined ? { simNrf: dongle.simNrf } : {}),
  });
  const world = registry.simWorld('sim0');
  const opened = registry.list()[0]?.info();
  if (world === undefined || opened?.state !== 'ready') {
    await registry.close();
    throw new Error(`the sim: adapter did not open: ${opened?.error?.message ?? 'no world'}`);
  }

  const air: AirObservation = { scans: 0, scanning: false, initiations: 0, scanAddresses: [] };
  const scanStopWaiters: (() => void)[] = [];
  const setScanning = world.air.setScanning.bind(world.air);
  world.air.setScanning = (central, scan) => {
    if (scan !== undefined && !air.scanning) {
      air.scans++;
      air.scanAddresses.push(`${central.address.type}:${central.address.value}`);
    }
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
    obs: { connections: 0, disconnections: 0, commandBytes: 0, dataBytes: 0, centrals: [] },
    waiters: [],
  }));
  world.devices.forEach((view, i) => observeDevice(view, observers[i] as Observer));

  let served: Awaited<ReturnType<typeof serveRegistry>>;
  try {
    served = await serveRegistry(registry, logger, config, serve);
  } catch (e) {
    await registry.close();
    throw e;
  }
  const pick = <T>(xs: readonly T[], index: number): T => {
    const x = xs[index];
    if (x === undefined) throw new Error(`no simulated device ${index}`);
    return x;
  };
  let closed: Promise<void> | undefined;
  return {
    registry,
    clock: registry.clock,
    world,
    get app() {
      return served.app;
    },
    get address() {
      return served.address;
    },
    get metricsAddress() {
      return served.metricsAddress;
    },
    get client() {
      return served.client;
    },
    air,
    device: (index = 0) => pick(world.devices, index),
    observed: (index = 0) => pick(observers, index).obs,
    nextDisconnection: (index = 0) => new Promise<void>((resolve) => pick(observers, index).waiters.push(resolve)),
    scanStopped: () => new Promise<void>((resolve) => (air.scanning ? scanStopWaiters.push(resolve) : resolve())),
    newClient: () => served.newClient(),
    async restart(options: ServeOptions = {}) {
      await served.close();
      served = await serveRegistry(registry, logger, config, options);
      return served.client;
    },
    close() {
      closed ??= (async () => {
        try {
          await served.close();
        } finally {
          await registry.close();
        }
      })();
      return closed;
    },
  };
}
