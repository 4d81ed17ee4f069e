/**
 * Opens adapters from spec strings and owns their lifetimes. One scheme per backend:
 *   sim:[?devices=N&speed=S&key=…]          the built-in simulator (virtual HCI controller + simulated nRF5 devices)
 *   hci:<port>[?baud=B&rtscts=on&max=N]     a standard HCI controller (H4) on a serial port
 * `nrf:<port>` (Nordic connectivity firmware) is refused with a clear message until its backend
 * lands. Every adapter that can open is supervised (supervisor.ts): when its dongle goes away its
 * jobs fail with a clear error, and it comes back under the same id once the dongle is back. An
 * adapter that fails to open stays listed in state "failed" with its error, so ListAdapters tells
 * the user why, and the rest of the server keeps working.
 */
import { existsSync } from 'node:fs';
import type { Adapter, AdapterInfo } from '../ble/types.js';
import { BledfuError, isBledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Timers } from '../host/hci/timers.js';
import type { AdapterDirectory } from '../jobs/types.js';
import { parseSimSpec, createSimWorld, type SimConfig, type SimWorld } from '../sim/world.js';
import { createHciAdapter, type HciAdapterOptions } from './hci/adapter.js';
import type { HciSerialSpec } from './hci/serial.js';
import { SupervisedAdapter } from './supervisor.js';

export interface AdapterRegistry extends AdapterDirectory {
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

export interface OpenAdaptersOptions {
  /** Merged over what a `sim:` spec says (tests use it to configure devices precisely). */
  readonly sim?: Partial<SimConfig>;
  /** Connection limit of every adapter whose spec does not set one (`max=`). */
  readonly maxConnections?: number;
  readonly hci?: HciOpener;
  /** Reopening a lost dongle: first delay, doubled up to max. Default 500 ms to 5 s. */
  readonly retryDelayMs?: { readonly first: number; readonly max: number };
  /** For tests: timers driving the reopening delays. */
  readonly timers?: Timers;
}

const SCHEMES = ['sim', 'hci'] as const;

const portPresent = (serial: HciSerialSpec): boolean => existsSync(serial.path);

/**
 * The serial backend, loaded only when an `hci:` spec needs it: the serial port library has a
 * native part, and a machine without it should still run the simulator.
 */
async function loadSerialHci(): Promise<HciOpener> {
  try {
    const serial = await import('./hci/serial.js');
    return { parse: serial.parseHciSpec, open: serial.openHciSerialAdapter, present: portPresent };
  } catch (e) {
    throw new BledfuError('ADAPTER_UNAVAILABLE', `the serial port library cannot be loaded on this machine: ${e instanceof Error ? e.message : String(e)}`, {
      layer: 'backend',
      remedy: 'reinstall bledfu here (npm ci) so that serialport gets its native part for this platform',
      cause: e,
    });
  }
}

/** The `hci:` opener for `specs`: the injected one, the serial backend, or why there is none. */
async function hciOpenerFor(specs: readonly string[], injected: HciOpener | undefined): Promise<HciOpener | BledfuError | undefined> {
  if (injected !== undefined) return injected;
  if (!specs.some((spec) => schemeOf(spec) === 'hci')) return undefined;
  return loadSerialHci().catch((e: unknown) => e as BledfuError);
}

/**
 * Refuses a malformed `sim:` or `hci:` spec (INVALID_ARGUMENT naming it), so that a typo stops the
 * server at startup rather than leaving an adapter that can never open. Schemes are checked by
 * the config; a serial backend that cannot load is not a spec error (the adapter is listed failed).
 */
export async function checkAdapterSpecs(specs: readonly string[], hci?: HciOpener): Promise<void> {
  const opener = await hciOpenerFor(specs, hci);
  for (const spec of specs) {
    const scheme = schemeOf(spec);
    if (scheme === 'sim') parseSimSpec(spec);
    else if (scheme === 'hci' && opener !== undefined && !isBledfuError(opener)) opener.parse(spec);
  }
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

interface Entry {
  readonly adapter: Adapter;
  readonly world?: SimWorld;
}

function kindOf(scheme: string): AdapterInfo['kind'] {
  return scheme === 'sim' ? 'simulated' : scheme === 'nrf' ? 'nordic-connectivity' : 'hci-uart';
}

/** Builds the supervised adapter for a spec (not opened yet); throws for a spec that can never open. */
function supervise(
  spec: string,
  id: string,
  logger: Logger,
  options: OpenAdaptersOptions,
  hciOpener: HciOpener | BledfuError | undefined,
): Entry & { adapter: SupervisedAdapter } {
  const scheme = schemeOf(spec);
  const common = {
    id,
    spec,
    logger,
    ...(options.retryDelayMs === undefined ? {} : { retryDelayMs: options.retryDelayMs }),
    ...(options.timers === undefined ? {} : { timers: options.timers }),
  };
  switch (scheme) {
    case 'sim': {
      const world = createSimWorld({ ...parseSimSpec(spec), ...options.sim }, logger.child({ adapter: id, component: 'sim' }));
      const adapterOptions: HciAdapterOptions = {
        id,
        spec,
        kind: 'simulated',
        logger,
        ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
      };
      const adapter = new SupervisedAdapter({
        ...common,
        kind: 'simulated',
        // Each opening is a fresh virtual controller on the same air: the devices and their flash stay.
        open: async () => createHciAdapter(world.openHostTransport(), adapterOptions),
        canOpen: () => world.donglePlugged,
        modelledTimeMs: () => world.nowMs(),
        ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
      });
      return { adapter, world };
    }
    case 'hci': {
      if (hciOpener === undefined || isBledfuError(hciOpener)) {
        throw hciOpener ?? new BledfuError('INTERNAL', 'no serial backend for hci:', { layer: 'backend' });
      }
      const hci = hciOpener;
      const serial = hci.parse(spec);
      const maxConnections = serial.maxConnections ?? options.maxConnections;
      // A reopened dongle appends to the same capture file, after what was recorded up to the loss.
      const adapterOptions: Omit<HciAdapterOptions, 'kind'> = {
        id,
        spec,
        logger,
        ...(maxConnections === undefined ? {} : { maxConnections }),
        ...(serial.capture === undefined ? {} : { capture: serial.capture }),
      };
      const present = hci.present ?? portPresent;
      const adapter = new SupervisedAdapter({
        ...common,
        kind: 'hci-uart',
        open: (signal) => hci.open(serial, adapterOptions, signal),
        canOpen: () => present(serial),
        ...(maxConnections === undefined ? {} : { maxConnections }),
      });
      return { adapter };
    }
    case 'nrf':
      throw new BledfuError('ADAPTER_UNAVAILABLE', 'the nrf: backend (Nordic connectivity firmware) is not available in this version', {
        layer: 'backend',
        remedy: 'flash the dongle with an HCI controller firmware (e.g. Zephyr hci_uart) and use "hci:<port>", or use the simulator ("sim:")',
      });
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
  const counters = new Map<string, number>();
  const entries: Entry[] = [];
  const starting: Promise<void>[] = [];
  const hciOpener = await hciOpenerFor(specs, options.hci);
  for (const spec of specs) {
    const scheme = schemeOf(spec) || 'adapter';
    const n = counters.get(scheme) ?? 0;
    counters.set(scheme, n + 1);
    const id = `${scheme}${n}`;
    let entry: ReturnType<typeof supervise>;
    try {
      entry = supervise(spec, id, logger, options, hciOpener);
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
    list: () => adapters,
    get: (id?: string) => {
      if (id === undefined || id === '') {
        const ready = adapters.find((a) => a.info().state === 'ready');
        if (ready) return ready;
        throw new BledfuError('ADAPTER_NOT_FOUND', adapters.length === 0 ? 'no adapters configured' : 'no adapter is ready', {
          layer: 'backend',
          remedy:
            adapters.length === 0
              ? 'start the server with --adapters sim: (or a dongle spec)'
              : `see ListAdapters for why: ${adapters.map((a) => `${a.id} ${a.info().state}`).join(', ')}`,
        });
      }
      const found = adapters.find((a) => a.id === id);
      if (!found) {
        throw new BledfuError('ADAPTER_NOT_FOUND', `no adapter "${id}"`, {
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
            await e.world?.close();
          }
        }),
      );
    },
  };
}
