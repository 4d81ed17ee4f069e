/**
 * The whole server over btvirt, built like production: the registry opens an `hci:<pty>` spec
 * (serial port → pty → emulated controller, under the supervisor), createApp serves it over gRPC,
 * and simulated nRF5 devices run as peripherals on further controllers of the same emulator —
 * out of process by default, so the server's process holds only the server and its client.
 */
import { rm, symlink } from 'node:fs/promises';
import type { AppConfig } from '../../../server/app.js';
import { openAdapters, type AdapterRegistry } from '../../../server/backends/registry.js';
import type { Logger } from '../../../server/common/logger.js';
import type { SimDeviceConfig } from '../../../server/sim/world.js';
import { serveRegistry, testLogger, type ServedApp } from '../app-server.js';
import { startEmulator, type Emulator, type PtyController } from './emulator.js';
import { startSimPeripherals, type SimPeripherals } from './peripherals.js';

export interface BtvirtServerOptions {
  /** Simulated devices, each on its own controller (defaults per index, as the simulator's). */
  readonly devices: readonly Partial<SimDeviceConfig>[];
  /** Run the devices in this process (default: their own process). */
  readonly inProcess?: boolean;
  /** Query parameters of the dongle's `hci:` spec, e.g. { max: '3' }. */
  readonly spec?: Readonly<Record<string, string>>;
  readonly app?: Partial<AppConfig>;
  readonly logger?: Logger;
  /** The server's data directory (station-addresses.json); default none, addresses kept in memory. */
  readonly dataDir?: string;
  /**
   * Open the dongle through this symlink to its pty, as users name a USB dongle by its stable
   * /dev/serial/by-id path: the same port across emulators (and servers). Replaced if present.
   */
  readonly portLink?: string;
  /** The dongle's controller answers Read BD_ADDR with zeros, like Zephyr's hci_uart. */
  readonly dongleWithoutPublicAddress?: boolean;
}

export interface BtvirtServer extends ServedApp {
  readonly emu: Emulator;
  /** The controller the server's adapter opened as a serial port (btvirt's first slot). */
  readonly dongle: PtyController;
  readonly registry: AdapterRegistry;
  readonly devices: SimPeripherals;
  /** btvirt's log so far (for failure messages). */
  log(): Promise<string>;
  close(): Promise<void>;
}

/** Closes what was opened so far, last first; the first error wins. */
async function unwind(steps: readonly (() => Promise<void>)[]): Promise<void> {
  let failure: unknown;
  for (const step of [...steps].reverse()) {
    try {
      await step();
    } catch (e) {
      failure ??= e;
    }
  }
  if (failure !== undefined) throw failure;
}

export async function startBtvirtServer(options: BtvirtServerOptions): Promise<BtvirtServer> {
  const logger = options.logger ?? testLogger();
  const opened: (() => Promise<void>)[] = [];
  let emu: Emulator | undefined;
  try {
    emu = await startEmulator({ withoutPublicAddress: options.dongleWithoutPublicAddress === true ? 1 : 0 });
    const started = emu;
    opened.push(() => started.stop());
    // The dongle first: it takes slot 0, the devices' controllers the next ones.
    const dongle = await emu.addController();
    const query = new URLSearchParams(options.spec ?? {}).toString();
    let port = dongle.path;
    if (options.portLink !== undefined) {
      await rm(options.portLink, { force: true });
      await symlink(dongle.path, options.portLink);
      port = options.portLink;
    }
    const spec = `hci:${port}${query === '' ? '' : `?${query}`}`;
    const registry = await openAdapters([spec], logger.child({ component: 'adapters' }), options.dataDir === undefined ? {} : { dataDir: options.dataDir });
    opened.push(() => registry.close());
    const info = registry.list()[0]?.info();
    if (info?.state !== 'ready') throw new Error(`${spec} did not open: ${info?.error?.message ?? info?.state ?? 'no adapter'}`);
    const devices = await startSimPeripherals(emu, { devices: options.devices, outOfProcess: options.inProcess !== true, logger });
    opened.push(() => devices.close());
    const served = await serveRegistry(registry, logger, options.app);
    opened.push(() => served.close());
    let closed: Promise<void> | undefined;
    return {
      ...served,
      emu: started,
      dongle,
      registry,
      devices,
      log: () => started.log(),
      close: () => (closed ??= unwind(opened)),
    };
  } catch (e) {
    const log = (await emu?.log()) ?? '';
    await unwind(opened).catch(() => undefined);
    throw new Error(`${String(e)}${log === '' ? '' : `\nbtvirt log:\n${log}`}`, { cause: e });
  }
}
