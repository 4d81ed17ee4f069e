/**
 * Opens adapters from spec strings and owns their lifetimes. One scheme per backend:
 *   sim:[?devices=N&speed=S&key=…]   the built-in simulator (virtual HCI controller + simulated nRF5 devices)
 * Serial dongles (`hci:<port>`, `nrf:<port>`) are refused with a clear message until their
 * backends land. An adapter that fails to open stays listed in state "failed" with its error, so
 * ListAdapters tells the user why, and the rest of the server keeps working.
 */
import type { Adapter, AdapterInfo } from '../ble/types.js';
import { BledfuError, isBledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { AdapterDirectory } from '../jobs/types.js';
import { parseSimSpec, createSimWorld, type SimConfig, type SimWorld } from '../sim/world.js';
import { createHciAdapter } from './hci/adapter.js';

export interface AdapterRegistry extends AdapterDirectory {
  /** The simulated world behind a `sim:` adapter (fault injection, device inspection). */
  simWorld(adapterId: string): SimWorld | undefined;
  close(): Promise<void>;
}

export interface OpenAdaptersOptions {
  /** Merged over what a `sim:` spec says (tests use it to configure devices precisely). */
  readonly sim?: Partial<SimConfig>;
  readonly maxConnections?: number;
}

const SCHEMES = ['sim'] as const;

function schemeOf(spec: string): string {
  const i = spec.indexOf(':');
  return i < 0 ? '' : spec.slice(0, i).toLowerCase();
}

/** An adapter that could not be opened: listed with its error, refuses all work with it. */
class FailedAdapter implements Adapter {
  readonly id: string;
  readonly #spec: string;
  readonly #kind: AdapterInfo['kind'];
  readonly #error: BledfuError;

  constructor(id: string, spec: string, kind: AdapterInfo['kind'], error: BledfuError) {
    this.id = id;
    this.#spec = spec;
    this.#kind = kind;
    this.#error = error;
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

/** Adds the simulator's modelled clock to the HCI adapter that drives it, and closes the world with it. */
class SimulatedAdapter implements Adapter {
  readonly id: string;
  readonly #inner: Adapter;
  readonly world: SimWorld;

  constructor(inner: Adapter, world: SimWorld) {
    this.id = inner.id;
    this.#inner = inner;
    this.world = world;
  }
  info(): AdapterInfo {
    return this.#inner.info();
  }
  scan(params: Parameters<Adapter['scan']>[0]): ReturnType<Adapter['scan']> {
    return this.#inner.scan(params);
  }
  connect(...args: Parameters<Adapter['connect']>): ReturnType<Adapter['connect']> {
    return this.#inner.connect(...args);
  }
  modelledTimeMs(): number {
    return this.world.nowMs();
  }
  async close(): Promise<void> {
    try {
      await this.#inner.close();
    } finally {
      await this.world.close();
    }
  }
}

async function openOne(
  spec: string,
  id: string,
  logger: Logger,
  options: OpenAdaptersOptions,
): Promise<Adapter> {
  const scheme = schemeOf(spec);
  switch (scheme) {
    case 'sim': {
      const fromSpec = parseSimSpec(spec);
      const world = createSimWorld({ ...fromSpec, ...options.sim }, logger.child({ adapter: id, component: 'sim' }));
      try {
        const inner = await createHciAdapter(world.openHostTransport(), {
          id,
          spec,
          kind: 'simulated',
          logger,
          ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
        });
        return new SimulatedAdapter(inner, world);
      } catch (e) {
        await world.close();
        throw e;
      }
    }
    case 'hci':
    case 'nrf':
      throw new BledfuError('ADAPTER_UNAVAILABLE', `the ${scheme}: backend (serial dongles) is not available in this version`, {
        layer: 'backend',
        remedy: 'use the built-in simulator ("sim:") for now; serial dongles are the next milestone',
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
  const adapters: Adapter[] = [];
  for (const spec of specs) {
    const scheme = schemeOf(spec) || 'adapter';
    const n = counters.get(scheme) ?? 0;
    counters.set(scheme, n + 1);
    const id = `${scheme}${n}`;
    const log = logger.child({ adapter: id });
    try {
      // The HCI adapter binds its id to its own logger; hand it the unbound one.
      adapters.push(await openOne(spec, id, logger, options));
      log.info({ spec }, 'adapter ready');
    } catch (e) {
      // Our own errors are written for users; anything else is a bug whose text stays in the log
      // (with its stack) rather than in ListAdapters.
      const error = isBledfuError(e)
        ? e
        : new BledfuError('ADAPTER_UNAVAILABLE', `cannot open ${spec}: internal error (details in the server log)`, {
            layer: 'backend',
            cause: e,
          });
      log.error({ spec, err: isBledfuError(e) ? error : e, remedy: error.remedy }, 'adapter failed to open');
      const kind: AdapterInfo['kind'] = scheme === 'sim' ? 'simulated' : scheme === 'nrf' ? 'nordic-connectivity' : 'hci-uart';
      adapters.push(new FailedAdapter(id, spec, kind, error));
    }
  }

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
    simWorld: (id: string) => {
      const a = adapters.find((x) => x.id === id);
      return a instanceof SimulatedAdapter ? a.world : undefined;
    },
    close: async () => {
      await Promise.allSettled(adapters.map((a) => a.close()));
    },
  };
}
