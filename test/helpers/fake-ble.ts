/**
 * A minimal in-memory Adapter/Connection for DFU tests. Peripherals decide what they advertise
 * and how their GATT behaves; links can be dropped from either side, failing everything pending
 * with LINK_LOST as the ble/types contract requires.
 */
import { parseAddress, type DeviceAddress } from '../../server/ble/address.js';
import { exploring } from '../../server/ble/gattDiscovery.js';
import type {
  DiscoveryOptions,
  Adapter,
  AdapterInfo,
  Advertisement,
  ConnectParams,
  Connection,
  GattCharacteristic,
  GattService,
  ScanParams,
  Subscription,
} from '../../server/ble/types.js';
import { AsyncQueue } from '../../server/common/asyncQueue.js';
import { abortReason, BledfuError } from '../../server/common/errors.js';

export interface FakeAdvertising {
  readonly address: DeviceAddress;
  readonly name?: string;
  readonly serviceUuids: readonly string[];
}

/** The peripheral side of one connection. */
export interface FakeGatt {
  readonly services: readonly GattService[];
  read(handle: number): Uint8Array;
  /** Throw a BledfuError ATT_ERROR to refuse. */
  write(handle: number, value: Uint8Array): void;
  writeWithoutResponse(handle: number, value: Uint8Array): void;
  onDisconnect(): void;
}

export interface FakePeripheral {
  /** What it advertises right now, or undefined when it does not. */
  advertising(): FakeAdvertising | undefined;
  /** Accepts a connection; `link` lets it notify and drop. */
  accept(link: FakeLink): FakeGatt;
}

export interface FakeLink {
  readonly mtu: number;
  notify(valueHandle: number, value: Uint8Array): void;
  /** The peripheral resets or goes away: the central sees LINK_LOST. */
  drop(): void;
}

export function attError(code: number, message: string): BledfuError {
  return new BledfuError('ATT_ERROR', message, { layer: 'att', facts: { attError: code } });
}

class FakeConnection implements Connection {
  readonly address: DeviceAddress;
  readonly mtu: number;
  readonly parameters = { intervalUs: 15000, latency: 0, supervisionTimeoutMs: 6000 };
  readonly #closed = new AbortController();
  readonly #subs = new Map<number, AsyncQueue<Uint8Array>>();
  #gatt: FakeGatt | undefined;

  constructor(address: DeviceAddress, mtu: number) {
    this.address = address;
    this.mtu = mtu;
  }
  get closed(): AbortSignal {
    return this.#closed.signal;
  }
  attach(gatt: FakeGatt): void {
    this.#gatt = gatt;
  }
  link(): FakeLink {
    return {
      mtu: this.mtu,
      notify: (handle, value) => {
        if (!this.#closed.signal.aborted) this.#subs.get(handle)?.push(Uint8Array.from(value));
      },
      drop: () => this.#down(0x08),
    };
  }
  #down(reason: number): void {
    if (this.#closed.signal.aborted) return;
    const err = new BledfuError('LINK_LOST', `link to ${this.address.value} lost (reason 0x${reason.toString(16)})`, { layer: 'ble', facts: { hciStatus: reason } });
    this.#closed.abort(err);
    for (const q of this.#subs.values()) q.fail(err);
    this.#gatt?.onDisconnect();
  }
  async #op<T>(signal: AbortSignal | undefined, f: (g: FakeGatt) => T): Promise<T> {
    // A macrotask per operation, so timers (timeouts, cancel) interleave as on a real link.
    await new Promise((r) => setImmediate(r));
    if (this.#closed.signal.aborted) throw abortReason(this.#closed.signal);
    if (signal?.aborted) throw abortReason(signal);
    return f(this.#gatt as FakeGatt);
  }
  discoverServices(signal?: AbortSignal, options?: DiscoveryOptions): Promise<readonly GattService[]> {
    // As the backends do: every service listed, only the asked-for ones explored.
    const explore = exploring(options);
    return this.#op(signal, (g) => g.services.map((svc) => (explore(svc.uuid) ? svc : { ...svc, characteristics: [] })));
  }
  read(valueHandle: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.#op(signal, (g) => g.read(valueHandle));
  }
  write(valueHandle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.#op(signal, (g) => g.write(valueHandle, value));
  }
  writeWithoutResponse(valueHandle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (value.length > this.mtu - 3) throw new Error(`write of ${value.length} bytes exceeds MTU ${this.mtu}`);
    return this.#op(signal, (g) => g.writeWithoutResponse(valueHandle, value));
  }
  async subscribe(characteristic: GattCharacteristic, mode: 'notify' | 'indicate', signal?: AbortSignal): Promise<Subscription> {
    const cccd = characteristic.cccdHandle;
    if (cccd === undefined) throw new Error('no CCCD');
    await this.#op(signal, (g) => g.write(cccd, Uint8Array.of(mode === 'notify' ? 1 : 2, 0)));
    const q = new AsyncQueue<Uint8Array>();
    this.#subs.set(characteristic.valueHandle, q);
    return {
      receive: (s?: AbortSignal) =>
        q.receive(s).catch((e: unknown) => {
          throw this.#closed.signal.aborted ? abortReason(this.#closed.signal) : e;
        }),
      close: () => {
        this.#subs.delete(characteristic.valueHandle);
      },
      [Symbol.asyncIterator]: () => q[Symbol.asyncIterator](),
    };
  }
  async disconnect(): Promise<void> {
    this.#down(0x16);
  }
}

export class FakeAdapter implements Adapter {
  readonly id = 'fake0';
  readonly peripherals: FakePeripheral[];
  /** Extra devices that only advertise (noise for "seen instead" lists). */
  readonly bystanders: FakeAdvertising[] = [];
  connects: string[] = [];
  scans = 0;
  activeScans = 0;
  /** Never fails: tests of link loss drop links, not the adapter. */
  readonly failed: AbortSignal = new AbortController().signal;

  constructor(peripherals: FakePeripheral[]) {
    this.peripherals = peripherals;
  }

  info(): AdapterInfo {
    return { id: this.id, kind: 'simulated', spec: 'fake:', state: 'ready', identity: 'fake', activeConnections: 0, maxConnections: 4 };
  }

  async *scan(params: ScanParams): AsyncIterable<Advertisement> {
    this.scans++;
    this.activeScans++;
    try {
      while (!params.signal.aborted) {
        const ads = [...this.peripherals.map((p) => p.advertising()), ...this.bystanders];
        for (const a of ads) {
          if (a === undefined || params.signal.aborted) continue;
          yield {
            address: a.address,
            rssi: -50,
            ...(a.name === undefined ? {} : { name: a.name }),
            serviceUuids: a.serviceUuids,
            manufacturerData: [],
            connectable: true,
            data: new Uint8Array(0),
            receivedAt: Date.now(),
          };
        }
        await new Promise<void>((resolve) => {
          const onAbort = (): void => {
            clearTimeout(t);
            resolve();
          };
          const t = setTimeout(() => {
            params.signal.removeEventListener('abort', onAbort);
            resolve();
          }, 2);
          params.signal.addEventListener('abort', onAbort, { once: true });
        });
      }
    } finally {
      this.activeScans--;
    }
  }

  async connect(address: DeviceAddress, params?: ConnectParams): Promise<Connection> {
    await new Promise((r) => setImmediate(r));
    if (params?.signal?.aborted) throw abortReason(params.signal);
    this.connects.push(address.value);
    const p = this.peripherals.find((x) => x.advertising()?.address.value === address.value);
    if (p === undefined) throw new BledfuError('CONNECT_FAILED', `nothing advertising at ${address.value}`, { layer: 'ble' });
    const conn = new FakeConnection(address, Math.min(params?.mtu ?? 247, 247));
    conn.attach(p.accept(conn.link()));
    return conn;
  }

  async close(): Promise<void> {}
}

export const addr = (s: string): DeviceAddress => parseAddress(s);
