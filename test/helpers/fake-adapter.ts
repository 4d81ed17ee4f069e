/**
 * A scriptable Adapter for job and RPC tests: advertisements are pushed by the test, connections
 * are fake links the test can drop, and the "modelled" clock is a counter the test advances.
 */
import type { DeviceAddress } from '../../server/ble/address.js';
import type {
  Adapter,
  AdapterInfo,
  Advertisement,
  Connection,
  ConnectParams,
  GattCharacteristic,
  GattService,
  ScanParams,
  Subscription,
} from '../../server/ble/types.js';
import { AsyncQueue } from '../../server/common/asyncQueue.js';
import { BledfuError } from '../../server/common/errors.js';
import type { AdapterDirectory } from '../../server/jobs/types.js';

export class FakeConnection implements Connection {
  readonly address: DeviceAddress;
  readonly mtu: number;
  readonly parameters = { intervalUs: 7500, latency: 0, supervisionTimeoutMs: 4000 };
  readonly #closed = new AbortController();
  readonly services: readonly GattService[];
  disconnectCalls = 0;

  constructor(address: DeviceAddress, mtu: number, services: readonly GattService[]) {
    this.address = address;
    this.mtu = mtu;
    this.services = services;
  }
  get closed(): AbortSignal {
    return this.#closed.signal;
  }
  /** The remote dropped the link with this HCI reason. */
  drop(hciStatus = 0x08): void {
    this.#closed.abort(new BledfuError('LINK_LOST', 'link lost', { layer: 'ble', facts: { hciStatus } }));
  }
  async discoverServices(): Promise<readonly GattService[]> {
    return this.services;
  }
  async read(): Promise<Uint8Array> {
    return new Uint8Array();
  }
  async write(): Promise<void> {}
  async writeWithoutResponse(): Promise<void> {}
  async subscribe(_c: GattCharacteristic): Promise<Subscription> {
    const q = new AsyncQueue<Uint8Array>();
    return { receive: (s) => q.receive(s), close: () => q.end(), [Symbol.asyncIterator]: () => q[Symbol.asyncIterator]() };
  }
  async disconnect(): Promise<void> {
    this.disconnectCalls++;
    this.#closed.abort(new BledfuError('LINK_LOST', 'disconnected by us', { layer: 'ble', facts: { hciStatus: 0x16 } }));
  }
}

export const DFU_SERVICES: readonly GattService[] = [
  {
    uuid: 'FE59',
    startHandle: 0x10,
    endHandle: 0x15,
    characteristics: [
      { uuid: '8EC90001-F315-4F60-9FB8-838830DAEA50', handle: 0x11, valueHandle: 0x12, properties: 0x18, cccdHandle: 0x13 },
      { uuid: '8EC90002-F315-4F60-9FB8-838830DAEA50', handle: 0x14, valueHandle: 0x15, properties: 0x04 },
    ],
  },
];

export class FakeAdapter implements Adapter {
  readonly id: string;
  modelledMs = 0;
  readonly connections: FakeConnection[] = [];
  readonly #connectWaiters: ((c: FakeConnection) => void)[] = [];

  /** The n-th connection (0-based), waiting for it. */
  connection(n = 0): Promise<FakeConnection> {
    const c = this.connections[n];
    if (c !== undefined) return Promise.resolve(c);
    return new Promise((resolve) => this.#connectWaiters.push(() => this.connections[n] !== undefined && resolve(this.connections[n] as FakeConnection)));
  }
  readonly #scanners = new Set<AsyncQueue<Advertisement>>();
  scanCount = 0;
  closed = false;
  /** info() says 'opening' (a dongle unplugged, being reopened) while set. */
  unplugged = false;
  /** What info() reports as the adapter's connection limit. */
  maxConnections = 4;
  /** Never fails: tests of link loss drop links, not the adapter. */
  readonly failed: AbortSignal = new AbortController().signal;
  readonly #scanWaiters: (() => void)[] = [];

  constructor(id = 'fake0') {
    this.id = id;
  }

  info(): AdapterInfo {
    return {
      id: this.id,
      kind: 'simulated',
      spec: 'fake:',
      state: this.closed ? 'closed' : this.unplugged ? 'opening' : 'ready',
      address: { value: 'C0:00:00:00:00:01', type: 'random' },
      identity: 'fake adapter for tests',
      activeConnections: this.connections.filter((c) => !c.closed.aborted).length,
      maxConnections: this.maxConnections,
    };
  }

  /** Scans currently open. */
  get activeScans(): number {
    return this.#scanners.size;
  }

  /** Delivers an advertisement to every open scan. */
  advertise(ad: Partial<Advertisement> & { address: DeviceAddress }): void {
    const full: Advertisement = {
      rssi: -50,
      serviceUuids: [],
      manufacturerData: [],
      connectable: true,
      data: new Uint8Array([2, 1, 6]),
      receivedAt: Date.now(),
      ...ad,
    };
    for (const q of this.#scanners) q.push(full);
  }

  /** Resolves once `n` scans have been started in total. */
  scanStarted(n = 1): Promise<void> {
    if (this.scanCount >= n) return Promise.resolve();
    return new Promise((resolve) => this.#scanWaiters.push(() => this.scanCount >= n && resolve()));
  }

  /** Resolves once no scan is open (each scan's consumer stopped or its signal aborted). */
  scansStopped(): Promise<void> {
    if (this.#scanners.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#stopWaiters.push(resolve));
  }
  readonly #stopWaiters: (() => void)[] = [];

  scan(params: ScanParams): AsyncIterable<Advertisement> {
    this.scanCount++;
    const q: AsyncQueue<Advertisement> = new AsyncQueue({
      onReturn: () => {
        this.#scanners.delete(q);
        if (this.#scanners.size === 0) for (const w of this.#stopWaiters.splice(0)) w();
      },
    });
    this.#scanners.add(q);
    if (params.signal.aborted) q.end();
    else params.signal.addEventListener('abort', () => q.end(), { once: true });
    for (const w of this.#scanWaiters) w();
    return q;
  }

  async connect(address: DeviceAddress, params?: ConnectParams): Promise<Connection> {
    const c = new FakeConnection(address, params?.mtu ?? 247, DFU_SERVICES);
    this.connections.push(c);
    for (const w of this.#connectWaiters) w(c);
    return c;
  }

  modelledTimeMs(): number {
    return this.modelledMs;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export class FakeAdapterDirectory implements AdapterDirectory {
  readonly adapters: readonly FakeAdapter[];
  constructor(adapters: readonly FakeAdapter[] = [new FakeAdapter()]) {
    this.adapters = adapters;
  }
  readonly #listeners = new Set<() => void>();
  list(): readonly FakeAdapter[] {
    return this.adapters;
  }
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  /** Tells the listeners an adapter may have changed state (as the registry does on unplug and replug). */
  changed(): void {
    for (const l of this.#listeners) l();
  }
  get(id?: string): FakeAdapter {
    const found = id === undefined || id === '' ? this.adapters[0] : this.adapters.find((a) => a.id === id);
    if (found === undefined) throw new BledfuError('ADAPTER_NOT_FOUND', `no adapter "${id ?? ''}"`, { layer: 'rpc' });
    return found;
  }
}
