/**
 * Opens adapters from spec strings and owns their lifetimes. One scheme per backend:
 *   sim:[?devices=N&speed=S&key=…&dongle=hci|nrf&api=5|6]  the built-in simulator: simulated nRF5 devices, and
 *                                           as dongle a virtual HCI controller (default) or a simulated
 *                                           Nordic connectivity-firmware dongle (dongle=nrf, API v6 unless api=5)
 *   hci:<port>[?baud=B&rtscts=on&max=N]     a standard HCI controller (H4) on a serial port
 *   nrf:<port>[?baud=B&api=auto|5|6&max=N]  an nRF52 board running Nordic's connectivity firmware
 *   auto:<port>[?…]                         probe the port, then open it as hci: or nrf:
 * One clock per server (serverClock below): all `sim:` adapters share one simulator scheduler. An
 * accelerated simulator (the default speed) makes it the server's clock, so it cannot share a
 * server with real dongles or paced simulators; otherwise the server runs on the real clock.
 * Every adapter that can open is supervised (supervisor.ts): when its dongle goes away its
 * jobs fail with a clear error, and it comes back under the same id once the dongle is back. An
 * adapter that fails to open stays listed in state "failed" with its error, so ListAdapters tells
 * the user why, and the rest of the server keeps working.
 */
import { join } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import type { Adapter, AdapterInfo } from '../ble/types.js';
import { BledfuError, isBledfuError } from '../common/errors.js';
import { quoteInput } from '../common/quote.js';
import type { Logger } from '../common/logger.js';
import { realClock, type Clock } from '../common/clock.js';
import type { AdapterDirectory } from '../jobs/types.js';
import { virtualClock } from '../sim/clock.js';
import { SimScheduler } from '../sim/scheduler.js';
import { trustedKeyFromFile } from '../sim/keyFile.js';
import { parseSimSpec, createSimWorld, DEFAULT_SIM_CONFIG, type SimConfig, type SimWorld } from '../sim/world.js';
import type { AutoAdapterOptions } from './autoSerial.js';
import { createHciAdapter, type HciAdapterOptions } from './hci/adapter.js';
import { FileStationAddressStore, MemoryStationAddressStore, STATION_ADDRESS_FILE, type StationAddressStore } from './hci/stationAddress.js';
import type { HciSerialSpec } from './hci/serial.js';
import type { NrfAdapterOptions } from './nrf/adapter.js';
import type { H5LinkOptions } from './nrf/h5Link.js';
import type { ApiVersion } from './nrf/serialization/constants.js';
import { parseAutoSpec, parseNrfSpec, type AutoSerialSpec, type NrfSerialSpec } from './serialSpec.js';
import { attachNrfAdapter } from './nrf/attach.js';
import { openSimNrfDongle, type SimNrfDongle, type SimNrfDongleOptions } from '../simnrf/dongle.js';
import { SupervisedAdapter } from './supervisor.js';

export interface AdapterRegistry extends AdapterDirectory {
  /**
   * The server's one clock, which createApp and everything above the adapters must use: the
   * simulator's modelled time when the `sim:` adapters are accelerated (a VirtualClock), else the
   * real clock. A test or a station simulation schedules its own actions on it (operator waits,
   * an unplug at time T); on a virtual clock, its foreground timers pull modelled time forward.
   */
  readonly clock: Clock;
  /** The simulated world behind a `sim:` adapter (fault injection, unplugging the dongle, device inspection). */
  simWorld(adapterId: string): SimWorld | undefined;
  close(): Promise<void>;
}

/** How `hci:` dongles are opened; tests inject fakes. */
export interface HciOpener {
  readonly parse: (spec: string) => HciSerialSpec;
  readonly open: (serial: HciSerialSpec, options: Omit<HciAdapterOptions, 'kind'>, signal?: AbortSignal) => Promise<Adapter>;
  /** Cheap check before a reopening attempt. Default: the port's device file exists. */
  readonly present?: (serial: HciSerialSpec) => boolean;
}

/** How `nrf:` dongles are opened; tests inject fakes. */
export interface NrfOpener {
  readonly open: (serial: NrfSerialSpec, options: Omit<NrfAdapterOptions, 'kind' | 'api'>, signal?: AbortSignal) => Promise<Adapter>;
  /** Cheap check before a reopening attempt. Default: the port's device file exists. */
  readonly present?: (serial: NrfSerialSpec) => boolean;
}

/** How `auto:` ports are probed and opened; tests inject fakes. */
export interface AutoOpener {
  readonly open: (spec: AutoSerialSpec, options: AutoAdapterOptions, signal?: AbortSignal) => Promise<Adapter>;
}

export interface OpenAdaptersOptions {
  /** Merged over what a `sim:` spec says (tests use it to configure devices precisely). */
  readonly sim?: Partial<SimConfig>;
  /**
   * The world a `sim:` adapter drives, when the caller owns it (by adapter id; undefined: the
   * registry makes one from the spec). Such a world outlives the registry: close() leaves it open,
   * so a server stopped and started again finds its devices as they were (flash, DFU progress).
   */
  readonly simWorld?: (adapterId: string) => SimWorld | undefined;
  /**
   * Options of every simulated connectivity dongle a `sim:?dongle=nrf` adapter opens (line faults,
   * line speed, device timing; the spec's api= wins), a hook receiving each one opened (tests drive
   * faults), and the host side's H5 timing for it (tests shorten retransmission with the device's).
   */
  readonly simNrf?: Partial<SimNrfDongleOptions> & {
    readonly onOpen?: (dongle: SimNrfDongle) => void;
    readonly hostLink?: H5LinkOptions;
  };
  /** Connection limit of every adapter whose spec does not set one (`max=`). */
  readonly maxConnections?: number;
  /**
   * The server's data directory: static random addresses made for HCI dongles without a public
   * address are kept there (station-addresses.json), so devices see the same station after a
   * restart. Default: kept in memory only, for the life of the registry.
   */
  readonly dataDir?: string;
  readonly hci?: HciOpener;
  readonly nrf?: NrfOpener;
  readonly auto?: AutoOpener;
  /** Reopening a lost dongle: first delay, doubled up to max. Default 500 ms to 5 s. */
  readonly retryDelayMs?: { readonly first: number; readonly max: number };
  /**
   * The clock of a server without accelerated simulators (default the real clock; tests drive
   * reopening delays with a manual one). An accelerated simulator brings its own (serverTime).
   */
  readonly clock?: Clock;
  /**
   * Epoch instant where an accelerated simulator's clock starts (default: now). A station
   * simulation fixes it so that the same seed prints the same timestamps.
   */
  readonly clockStartEpochMs?: number;
  /**
   * The simulator scheduler of a caller whose simulated devices outlive the server (a station
   * simulation that kills and restarts it): the `sim:` adapters' worlds (see simWorld) and the
   * server's clock run on it, so modelled time goes on across a restart. Left open at close().
   */
  readonly simScheduler?: SimScheduler;
}

const SCHEMES = ['sim', 'hci', 'nrf', 'auto'] as const;

const portPresent = (serial: { readonly path: string }): boolean => existsSync(serial.path);

/**
 * The device node behind the port (a by-id link followed): a replugged dongle gets a new node,
 * so another inode. undefined while absent.
 */
function portIdentity(serial: { readonly path: string }): string | undefined {
  try {
    const st = statSync(serial.path, { throwIfNoEntry: false });
    return st === undefined ? undefined : `${st.rdev}:${st.ino}`;
  } catch {
    return undefined; // not stat-able (e.g. a path through a non-directory): as absent
  }
}

/**
 * A serial backend, loaded only when a spec needs it: the serial port library has a native part,
 * and a machine without it should still run the simulator.
 */
async function loadSerial<T>(load: () => Promise<T>): Promise<T | BledfuError> {
  try {
    return await load();
  } catch (e) {
    return new BledfuError('ADAPTER_UNAVAILABLE', `the serial port library cannot be loaded on this machine: ${e instanceof Error ? e.message : String(e)}`, {
      layer: 'backend',
      remedy: 'reinstall bledfu here (npm ci) so that serialport gets its native part for this platform',
      cause: e,
    });
  }
}

interface SerialOpeners {
  readonly hci: HciOpener | BledfuError | undefined;
  readonly nrf: NrfOpener | BledfuError | undefined;
  readonly auto: AutoOpener | BledfuError | undefined;
}

/** The serial openers `specs` need: injected ones, the serial backends, or why there are none. */
async function serialOpenersFor(specs: readonly string[], injected: Pick<OpenAdaptersOptions, 'hci' | 'nrf' | 'auto'>): Promise<SerialOpeners> {
  const needs = (scheme: string): boolean => specs.some((spec) => schemeOf(spec) === scheme);
  return {
    hci:
      injected.hci ??
      (needs('hci')
        ? await loadSerial(async () => {
            const serial = await import('./hci/serial.js');
            return { parse: serial.parseHciSpec, open: serial.openHciSerialAdapter, present: portPresent };
          })
        : undefined),
    nrf:
      injected.nrf ??
      (needs('nrf') ? await loadSerial(async () => ({ open: (await import('./nrf/open.js')).openNrfSerialAdapter, present: portPresent })) : undefined),
    auto: injected.auto ?? (needs('auto') ? await loadSerial(async () => ({ open: (await import('./autoSerial.js')).openAutoSerialAdapter })) : undefined),
  };
}

/**
 * Refuses a malformed spec (INVALID_ARGUMENT naming it), so that a typo stops the server at
 * startup rather than leaving an adapter that can never open. Schemes are checked by the config;
 * a serial backend that cannot load is not a spec error (the adapter is listed failed).
 */
export async function checkAdapterSpecs(specs: readonly string[], hci?: HciOpener): Promise<void> {
  const openers = await serialOpenersFor(specs, hci === undefined ? {} : { hci });
  for (const spec of specs) {
    const scheme = schemeOf(spec);
    if (scheme === 'sim') {
      // A missing or wrong key file is a typo too: refused here rather than left as a failed adapter.
      const keyFile = parseSimSpec(spec).keyFile;
      if (keyFile !== undefined) trustedKeyFromFile(keyFile);
    } else if (scheme === 'hci' && openers.hci !== undefined && !isBledfuError(openers.hci)) openers.hci.parse(spec);
    else if (scheme === 'nrf') parseNrfSpec(spec);
    else if (scheme === 'auto') parseAutoSpec(spec);
  }
  simSpeedOf(specs, {});
}

const speedText = (speed: number): string => (speed === Number.POSITIVE_INFINITY ? 'max' : String(speed));

/**
 * The one speed of the server's `sim:` adapters (undefined without any), or INVALID_ARGUMENT when
 * they cannot share one clock: an accelerated simulator runs the whole server on its modelled
 * time, which a real dongle (answering in real time) or a paced simulator cannot follow.
 */
export function simSpeedOf(specs: readonly string[], sim: Partial<SimConfig>): number | undefined {
  const speeds = new Set<number>();
  const real: string[] = [];
  for (const spec of specs) {
    const scheme = schemeOf(spec);
    if (scheme === 'sim') {
      let parsed: Partial<SimConfig>;
      try {
        parsed = parseSimSpec(spec);
      } catch {
        continue; // listed failed by openAdapters; not a clock question
      }
      speeds.add(sim.speed ?? parsed.speed ?? DEFAULT_SIM_CONFIG.speed);
    } else if (SCHEMES.includes(scheme as (typeof SCHEMES)[number])) {
      real.push(spec);
    }
  }
  if (speeds.size === 0) return undefined;
  const accelerated = speeds.has(Number.POSITIVE_INFINITY);
  if (accelerated && real.length > 0) {
    throw new BledfuError(
      'INVALID_ARGUMENT',
      `an accelerated simulator (sim: runs at speed=max unless told otherwise) cannot share a server with real dongles (${real.join(', ')}): the server would run on the simulator's modelled time, which a real dongle cannot follow`,
      { layer: 'config', remedy: 'pace the simulator to real time beside real dongles: add speed=1 to its spec, e.g. "sim:?speed=1"' },
    );
  }
  if (speeds.size > 1) {
    throw new BledfuError(
      'INVALID_ARGUMENT',
      `the sim: adapters of one server run on one clock, but their speeds differ (${[...speeds].map(speedText).join(', ')})`,
      {
        layer: 'config',
        remedy: accelerated
          ? 'give every sim: adapter the same speed: all speed=max (the default; tests, CI) or all speed=1 (beside real dongles, demos)'
          : 'give every sim: adapter the same speed=',
      },
    );
  }
  return [...speeds][0];
}

function schemeOf(spec: string): string {
  const i = spec.indexOf(':');
  return i < 0 ? '' : spec.slice(0, i).toLowerCase();
}

/** An adapter that could not be opened and will not be retried: listed with its error, refuses all work. */
class FailedAdapter implements Adapter {
  readonly id: string;
  readonly failed: AbortSignal;
  readonly #spec: string;
  readonly #kind: AdapterInfo['kind'];
  readonly #error: BledfuError;

  constructor(id: string, spec: string, kind: AdapterInfo['kind'], error: BledfuError) {
    this.id = id;
    this.#spec = spec;
    this.#kind = kind;
    this.#error = error;
    this.failed = AbortSignal.abort(error);
  }
  info(): AdapterInfo {
    return {
      id: this.id,
      kind: this.#kind,
      spec: this.#spec,
      state: 'failed',
      identity: '',
      activeConnections: 0,
      maxConnections: 0,
      error: this.#error,
    };
  }
  #refuse(): BledfuError {
    return new BledfuError('ADAPTER_UNAVAILABLE', `adapter ${this.id} is not usable: ${this.#error.message}`, {
      layer: 'backend',
      ...(this.#error.remedy === undefined ? {} : { remedy: this.#error.remedy }),
      cause: this.#error,
    });
  }
  // eslint-disable-next-line require-yield
  async *scan(): AsyncIterable<never> {
    throw this.#refuse();
  }
  async connect(): Promise<never> {
    throw this.#refuse();
  }
  async close(): Promise<void> {}
}

/**
 * Every configured adapter is failed, opening or reconnecting: the dongles are there but unusable
 * now, which is UNAVAILABLE (a link or adapter problem, retry once fixed), not NOT_FOUND (which
 * means no adapter by that id). Says each one's state and error, and their remedies, so a client
 * that prints only this error still tells the user what to fix.
 */
function noAdapterReady(infos: readonly AdapterInfo[]): BledfuError {
  const why = infos.map((i) => `${i.id} ${i.state}${i.error === undefined ? '' : ` (${i.error.code}: ${i.error.message})`}`);
  const remedies = [...new Set(infos.flatMap((i) => (i.error?.remedy === undefined ? [] : [`${i.id}: ${i.error.remedy}`])))];
  return new BledfuError('ADAPTER_UNAVAILABLE', `no adapter is ready: ${why.join(', ')}`, {
    layer: 'backend',
    remedy: remedies.length > 0 ? remedies.join('; ') : 'wait for the adapters to open, or see ListAdapters (bledfu adapters) for why they cannot',
  });
}

interface Entry {
  readonly adapter: Adapter;
  readonly world?: SimWorld;
  /** The world is the caller's: not closed with the registry. */
  readonly borrowed?: boolean;
}

function kindOf(scheme: string): AdapterInfo['kind'] {
  return scheme === 'sim' ? 'simulated' : scheme === 'nrf' ? 'nordic-connectivity' : 'hci-uart';
}

function usable<T>(opener: T | BledfuError | undefined, scheme: string): T {
  if (opener === undefined || isBledfuError(opener)) {
    throw opener ?? new BledfuError('INTERNAL', `no serial backend for ${scheme}:`, { layer: 'backend' });
  }
  return opener;
}

/** Builds the supervised adapter for a spec (not opened yet); throws for a spec that can never open. */
function supervise(
  spec: string,
  id: string,
  logger: Logger,
  options: OpenAdaptersOptions,
  openers: SerialOpeners,
  time: ServerTime,
  addressStore: StationAddressStore,
): Entry & { adapter: SupervisedAdapter } {
  const scheme = schemeOf(spec);
  const clock = time.clock;
  const common = {
    id,
    spec,
    logger,
    clock,
    ...(options.retryDelayMs === undefined ? {} : { retryDelayMs: options.retryDelayMs }),
  };
  switch (scheme) {
    case 'sim': {
      const config = { ...parseSimSpec(spec), ...options.sim };
      const dongle = config.dongle ?? { kind: 'hci' };
      const given = options.simWorld?.(id);
      if (given !== undefined && given.scheduler !== time.scheduler) {
        throw new BledfuError('INTERNAL', `the simulated world given for ${id} runs on another scheduler than the server's (pass it as simScheduler)`, { layer: 'backend' });
      }
      const world = given ?? createSimWorld(config, logger.child({ adapter: id, component: 'sim' }), time.scheduler);
      const adapterOptions: HciAdapterOptions = {
        id,
        spec,
        kind: 'simulated',
        logger,
        clock,
        addressStore,
        ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
      };
      const adapter = new SupervisedAdapter({
        ...common,
        kind: 'simulated',
        // Each opening is a fresh dongle on the same air: the devices and their flash stay.
        open:
          dongle.kind === 'nrf'
            ? (signal) => openSimNrf(world, dongle.api, adapterOptions, options, signal)
            : async () => createHciAdapter(world.openHostTransport(), adapterOptions),
        canOpen: () => world.donglePlugged,
        // A replugged simulated dongle is noticed at once (the reopening delays are background
        // timers, which do not move the virtual clock by themselves).
        onPlugged: (listener) => world.onPlugged(listener),
        modelledTimeMs: () => world.nowMs(),
        ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
      });
      return { adapter, world, borrowed: given !== undefined };
    }
    case 'hci': {
      const hci = usable(openers.hci, 'hci');
      const serial = hci.parse(spec);
      const maxConnections = serial.maxConnections ?? options.maxConnections;
      // A reopened dongle appends to the same capture file, after what was recorded up to the loss.
      const adapterOptions: Omit<HciAdapterOptions, 'kind'> = {
        id,
        spec,
        logger,
        clock,
        addressStore,
        ...(maxConnections === undefined ? {} : { maxConnections }),
        ...(serial.capture === undefined ? {} : { capture: serial.capture }),
      };
      const present = hci.present ?? portPresent;
      const adapter = new SupervisedAdapter({
        ...common,
        kind: 'hci-uart',
        open: (signal) => hci.open(serial, adapterOptions, signal),
        canOpen: () => present(serial),
        identity: () => portIdentity(serial),
        ...(maxConnections === undefined ? {} : { maxConnections }),
      });
      return { adapter };
    }
    case 'nrf': {
      const serial = parseNrfSpec(spec);
      const nrf = usable(openers.nrf, 'nrf');
      const maxConnections = serial.maxConnections ?? options.maxConnections;
      const adapterOptions = { id, spec, logger, clock, ...(maxConnections === undefined ? {} : { maxConnections }) };
      const present = nrf.present ?? portPresent;
      const adapter = new SupervisedAdapter({
        ...common,
        kind: 'nordic-connectivity',
        open: (signal) => nrf.open(serial, adapterOptions, signal),
        canOpen: () => present(serial),
        identity: () => portIdentity(serial),
        ...(maxConnections === undefined ? {} : { maxConnections }),
      });
      return { adapter };
    }
    case 'auto': {
      const serial = parseAutoSpec(spec);
      const auto = usable(openers.auto, 'auto');
      const maxConnections = serial.maxConnections ?? options.maxConnections;
      const adapterOptions = { id, spec, logger, clock, addressStore, ...(maxConnections === undefined ? {} : { maxConnections }) };
      const adapter = new SupervisedAdapter({
        ...common,
        // Until the probe said what is there; info() then shows the opened backend's kind.
        kind: 'hci-uart',
        open: (signal) => auto.open(serial, adapterOptions, signal),
        canOpen: () => portPresent(serial),
        identity: () => portIdentity(serial),
        ...(maxConnections === undefined ? {} : { maxConnections }),
      });
      return { adapter };
    }
    default:
      throw new BledfuError('INVALID_ARGUMENT', `unknown adapter spec "${spec}"`, {
        layer: 'config',
        remedy: `adapter specs start with one of: ${SCHEMES.map((s) => `${s}:`).join(', ')}`,
      });
  }
}

export async function openAdapters(
  specs: readonly string[],
  logger: Logger,
  options: OpenAdaptersOptions = {},
): Promise<AdapterRegistry> {
  const time = serverTime(specs, logger, options);
  const counters = new Map<string, number>();
  const entries: Entry[] = [];
  const starting: Promise<void>[] = [];
  const openers = await serialOpenersFor(specs, options);
  const addressStore: StationAddressStore =
    options.dataDir === undefined
      ? new MemoryStationAddressStore()
      : new FileStationAddressStore(join(options.dataDir, STATION_ADDRESS_FILE), logger.child({ component: 'station-addresses' }));
  for (const spec of specs) {
    const scheme = schemeOf(spec) || 'adapter';
    const n = counters.get(scheme) ?? 0;
    counters.set(scheme, n + 1);
    const id = `${scheme}${n}`;
    let entry: ReturnType<typeof supervise>;
    try {
      entry = supervise(spec, id, logger, options, openers, time, addressStore);
    } catch (e) {
      // Our own errors are written for users; anything else is a bug whose text stays in the log
      // (with its stack) rather than in ListAdapters.
      const error = isBledfuError(e)
        ? e
        : new BledfuError('ADAPTER_UNAVAILABLE', `cannot open ${spec}: internal error (details in the server log)`, { layer: 'backend', cause: e });
      logger.child({ adapter: id }).error({ spec, err: isBledfuError(e) ? error : e, remedy: error.remedy }, 'adapter cannot be used');
      entries.push({ adapter: new FailedAdapter(id, spec, kindOf(scheme), error) });
      continue;
    }
    entries.push(entry);
    starting.push(entry.adapter.start());
  }
  // All at once: a port that never answers costs its command timeout, which must not hold up the
  // others. The default adapter is still the first *listed* that is ready (get() below).
  await Promise.all(starting);
  const adapters = entries.map((e) => e.adapter);

  return {
    clock: time.clock,
    list: () => adapters,
    onChange: (listener: () => void) => {
      const offs = entries.flatMap((e) => (e.adapter instanceof SupervisedAdapter ? [e.adapter.onStateChange(() => listener())] : []));
      return () => {
        for (const off of offs) off();
      };
    },
    get: (id?: string) => {
      if (id === undefined || id === '') {
        const ready = adapters.find((a) => a.info().state === 'ready');
        if (ready) return ready;
        if (adapters.length === 0) {
          throw new BledfuError('ADAPTER_NOT_FOUND', 'no adapters configured', {
            layer: 'backend',
            remedy: 'start the server with --adapters sim: (or a dongle spec)',
          });
        }
        throw noAdapterReady(adapters.map((a) => a.info()));
      }
      const found = adapters.find((a) => a.id === id);
      if (!found) {
        throw new BledfuError('ADAPTER_NOT_FOUND', `no adapter ${quoteInput(id)}`, {
          layer: 'backend',
          remedy: `known adapters: ${adapters.map((a) => a.id).join(', ') || 'none'}`,
        });
      }
      return found;
    },
    simWorld: (id: string) => entries.find((e) => e.adapter.id === id)?.world,
    close: async () => {
      await Promise.allSettled(
        entries.map(async (e) => {
          try {
            await e.adapter.close();
          } finally {
            if (e.borrowed !== true) await e.world?.close();
          }
        }),
      );
      if (options.simScheduler === undefined) time.scheduler?.close();
    },
  };
}

/** The server's one clock, and the simulator scheduler its `sim:` adapters share (if any). */
interface ServerTime {
  readonly clock: Clock;
  readonly scheduler: SimScheduler | undefined;
}

function serverTime(specs: readonly string[], logger: Logger, options: OpenAdaptersOptions): ServerTime {
  const speed = simSpeedOf(specs, options.sim ?? {});
  if (speed === undefined) return { clock: options.clock ?? realClock, scheduler: undefined };
  const log = logger.child({ component: 'sim' });
  const given = options.simScheduler;
  if (given !== undefined && given.speed !== speed) {
    throw new BledfuError('INTERNAL', `the given simulator scheduler runs at speed ${given.speed}, the sim: adapters at ${speed}`, { layer: 'backend' });
  }
  const scheduler = given ?? new SimScheduler({ speed, onError: (error, label) => log.error({ err: error, event: label }, 'sim: event failed') });
  if (!scheduler.accelerated) return { clock: options.clock ?? realClock, scheduler };
  if (options.clock !== undefined) {
    throw new BledfuError('INTERNAL', 'an accelerated simulator brings the server clock; do not pass one', { layer: 'backend' });
  }
  return { clock: virtualClock(scheduler, options.clockStartEpochMs ?? realClock.now()), scheduler };
}

/** A `sim:?dongle=nrf` opening: a fresh simulated connectivity dongle, driven by the nrf backend. */
async function openSimNrf(
  world: SimWorld,
  api: ApiVersion,
  adapterOptions: HciAdapterOptions,
  options: OpenAdaptersOptions,
  signal: AbortSignal,
): Promise<Adapter> {
  const { onOpen, hostLink, ...dongleOptions } = options.simNrf ?? {};
  const dongle = openSimNrfDongle(world, { ...dongleOptions, api }, adapterOptions.logger.child({ adapter: adapterOptions.id, component: 'simnrf' }));
  onOpen?.(dongle);
  let adapter: Adapter;
  try {
    adapter = await attachNrfAdapter(
      dongle.transport,
      { where: 'the simulated dongle', specPath: adapterOptions.spec },
      {
        ...adapterOptions,
        kind: 'simulated',
        ...(hostLink === undefined ? {} : { link: hostLink }),
      },
      signal,
    );
  } catch (e) {
    await dongle.close();
    throw e;
  }
  // Closed or failed for good: this dongle is done; the next opening makes a fresh one.
  adapter.failed.addEventListener('abort', () => void dongle.close(), { once: true });
  return adapter;
}
