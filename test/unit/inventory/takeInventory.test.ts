/**
 * takeInventory on scripted adapters and a manual clock: merging across adapters, the order and
 * the bound of the answer, and the probes' rules (how many at once, which devices never, what a
 * failed or hung probe leaves).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress, type DeviceAddress } from '../../../server/ble/address.js';
import type { Advertisement, Connection, ConnectParams, GattService } from '../../../server/ble/types.js';
import { UUIDS } from '../../../server/ble/uuid.js';
import { abortReason, BledfuError, hasCode } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';
import { INVENTORY_LIMITS, takeInventory } from '../../../server/inventory/inventory.js';
import type { InventoryDeps, InventoryParams, InventoryResult } from '../../../server/inventory/types.js';
import { FakeAdapter, FakeConnection } from '../../helpers/fake-adapter.js';
import { ManualClock, settle } from '../../helpers/manualClock.js';

const LISTEN_MS = 3_000;
const a = (n: number): DeviceAddress => parseAddress(`F0:00:00:00:00:${n.toString(16).padStart(2, '0').toUpperCase()}`);

const BUTTONLESS: readonly GattService[] = [
  { uuid: 'FE59', startHandle: 0x10, endHandle: 0x13, characteristics: [{ uuid: UUIDS.buttonlessWithoutBonds, handle: 0x11, valueHandle: 0x12, properties: 0x28, cccdHandle: 0x13 }] },
];

type Behaviour = { readonly services: readonly GattService[] } | { readonly fail: BledfuError } | 'hang';

/** An adapter whose connections behave per device, counting how many are up at once. */
class ProbeAdapter extends FakeAdapter {
  readonly behaviour = new Map<string, Behaviour>();
  readonly connected: string[] = [];
  open = 0;
  mostOpen = 0;

  readonly #connecting: { address: string; resolve: () => void }[] = [];

  /** Resolves once a connection to `address` was asked for. */
  connecting(address: DeviceAddress): Promise<void> {
    if (this.connected.includes(address.value)) return Promise.resolve();
    return new Promise((resolve) => this.#connecting.push({ address: address.value, resolve }));
  }

  readonly #disconnecting: { address: string; resolve: () => void }[] = [];

  /** Resolves once the probe link to `address` is down (call before it could be). */
  disconnected(address: DeviceAddress): Promise<void> {
    return new Promise((resolve) => this.#disconnecting.push({ address: address.value, resolve }));
  }

  override async connect(address: DeviceAddress, params?: ConnectParams): Promise<Connection> {
    this.connected.push(address.value);
    for (const w of this.#connecting.filter((w) => w.address === address.value)) w.resolve();
    const b = this.behaviour.get(address.value) ?? { services: [] };
    if (b === 'hang') {
      // Until the probe's own deadline gives up on it.
      return new Promise((_resolve, reject) => params?.signal?.addEventListener('abort', () => reject(abortReason(params.signal as AbortSignal)), { once: true }));
    }
    if ('fail' in b) throw b.fail;
    this.open++;
    this.mostOpen = Math.max(this.mostOpen, this.open);
    const c = new FakeConnection(address, 247, b.services);
    this.connections.push(c);
    const disconnect = c.disconnect.bind(c);
    c.disconnect = async () => {
      if (!c.closed.aborted) this.open--;
      await disconnect();
      for (const w of this.#disconnecting.filter((w) => w.address === address.value)) w.resolve();
    };
    return c;
  }
}

interface Setup {
  readonly clock: ManualClock;
  readonly deps: InventoryDeps;
  busy: Map<string, string>;
  held: Set<string>;
  freeLinks: number;
}

function setup(): Setup {
  const clock = new ManualClock();
  const s: Setup = {
    clock,
    busy: new Map(),
    held: new Set(),
    freeLinks: 4,
    deps: {
      clock,
      logger: silentLogger(),
      jobUpdating: (address) => s.busy.get(address.value),
      connectHolds: (address) => s.held.has(address.value),
      applicationOf: (bl) => (bl.value === a(0x21).value ? a(0x20) : undefined),
      freeLinksForProbes: (adapter) => s.freeLinks - ((adapter as ProbeAdapter).open ?? 0),
    },
  };
  return s;
}

/** Runs an inventory: lets the scans start, delivers the advertisements, then ends the listening. */
async function run(
  s: Setup,
  adapters: readonly ProbeAdapter[],
  heard: readonly (readonly [ProbeAdapter, Partial<Advertisement> & { address: DeviceAddress }])[],
  params: Partial<InventoryParams> = {},
): Promise<InventoryResult> {
  const result = takeInventory(s.deps, {
    adapters,
    accept: () => true,
    durationMs: LISTEN_MS,
    probe: false,
    maxDevices: INVENTORY_LIMITS.maxDevices,
    signal: new AbortController().signal,
    ...params,
  });
  await Promise.all(adapters.map((x) => x.scanStarted()));
  for (const [adapter, ad] of heard) adapter.advertise(ad);
  await settle();
  assert.equal(s.clock.fire(LISTEN_MS), 1, 'one listening timer, on the server clock');
  return result;
}

describe('takeInventory: listening', () => {
  it('lists a device several adapters hear once, with the strongest RSSI and that adapter; strongest first', async () => {
    const s = setup();
    const [x, y] = [new ProbeAdapter('x'), new ProbeAdapter('y')];
    const r = await run(s, [x, y], [
      [x, { address: a(1), rssi: -70, name: 'one', serviceUuids: [UUIDS.deviceInformationService] }],
      [y, { address: a(1), rssi: -45, serviceUuids: ['1234'] }],
      [x, { address: a(1), rssi: -60 }],
      [y, { address: a(2), rssi: -50, serviceUuids: ['FE59'], name: 'DfuTarg' }],
      [x, { address: a(3), rssi: 127 }],
    ]);
    assert.deepEqual(
      r.devices.map((d) => [d.address.value, d.rssi, d.adapterId, d.name, d.kind]),
      [
        [a(1).value, -45, 'y', 'one', 'unknown'],
        [a(2).value, -50, 'y', 'DfuTarg', 'bootloader'],
        // 127 is "not measured": weaker than any measured value.
        [a(3).value, 127, 'x', undefined, 'unknown'],
      ],
    );
    assert.deepEqual(r.devices[0]?.serviceUuids, [UUIDS.deviceInformationService, '1234']);
    assert.equal(r.truncated, false);
    assert.equal(x.connected.length + y.connected.length, 0, 'not probed without probe');
  });

  it('keeps only the advertisements the filter accepts, and at most maxDevices, the strongest', async () => {
    const s = setup();
    const x = new ProbeAdapter();
    const heard = [1, 2, 3, 4].map((n) => [x, { address: a(n), rssi: -40 - n, name: n === 4 ? 'other' : 'SENSOR' }] as const);
    const r = await run(s, [x], heard, { accept: (ad) => ad.name === 'SENSOR', maxDevices: 2 });
    assert.deepEqual(r.devices.map((d) => d.address.value), [a(1).value, a(2).value]);
    assert.equal(r.truncated, true);
  });

  it('a bootloader carries the application the device memory knows, else its address - 1 as a guess', async () => {
    const s = setup();
    const x = new ProbeAdapter();
    const r = await run(s, [x], [
      [x, { address: a(0x21), serviceUuids: ['FE59'] }],
      [x, { address: a(0x31), serviceUuids: ['FE59'], rssi: -60 }],
    ]);
    const bl = (n: number) => r.devices.find((d) => d.address.value === a(n).value);
    assert.equal(bl(0x21)?.applicationAddress?.value, a(0x20).value);
    assert.equal(bl(0x21)?.applicationAddressKnown, true);
    assert.equal(bl(0x31)?.applicationAddress?.value, a(0x30).value);
    assert.equal(bl(0x31)?.applicationAddressKnown, false);
  });

  it('a cancelled call ends with CANCELLED, not an answer', async () => {
    const s = setup();
    const x = new ProbeAdapter();
    const call = new AbortController();
    const result = takeInventory(s.deps, { adapters: [x], accept: () => true, durationMs: LISTEN_MS, probe: true, maxDevices: 10, signal: call.signal });
    await x.scanStarted();
    x.advertise({ address: a(1) });
    call.abort();
    await assert.rejects(result, (e) => hasCode(e, 'CANCELLED'));
  });
});

describe('takeInventory: probing', () => {
  it('probes only connectable, unclassified devices nobody holds, two at a time per adapter; a failed probe is that device\'s error', async () => {
    const s = setup();
    const x = new ProbeAdapter();
    for (const n of [1, 2, 3, 4, 5]) x.behaviour.set(a(n).value, { services: BUTTONLESS });
    x.behaviour.set(a(6).value, { fail: new BledfuError('CONNECT_FAILED', 'no answer', { layer: 'ble' }) });
    s.busy.set(a(7).value, 'job-7');
    s.held.add(a(8).value);
    const r = await run(
      s,
      [x],
      [
        ...[1, 2, 3, 4, 5, 6, 7, 8].map((n) => [x, { address: a(n), rssi: -40 - n }] as const),
        [x, { address: a(9), connectable: false, rssi: -60 }],
        [x, { address: a(10), serviceUuids: ['FE59'], rssi: -61 }],
      ],
      { probe: true },
    );
    assert.deepEqual(x.connected.sort(), [1, 2, 3, 4, 5, 6].map((n) => a(n).value).sort(), 'not the busy, held, non-connectable or bootloader ones');
    assert.equal(x.mostOpen, INVENTORY_LIMITS.probesPerAdapter);
    assert.ok(x.connections.every((c) => c.closed.aborted), 'every probe link is down');
    const d = (n: number) => r.devices.find((e) => e.address.value === a(n).value);
    for (const n of [1, 2, 3, 4, 5]) assert.equal(d(n)?.kind, 'buttonless');
    assert.equal(d(1)?.serviceUuids.includes('FE59'), true, 'GATT services join the advertised ones');
    assert.equal(d(6)?.kind, 'unknown');
    assert.equal(d(6)?.probeError?.code, 'CONNECT_FAILED');
    assert.equal(d(7)?.busyJobId, 'job-7');
    assert.equal(d(7)?.kind, 'unknown');
    assert.equal(d(8)?.busyJobId, undefined);
    assert.equal(d(8)?.probeError, undefined);
    assert.equal(d(9)?.kind, 'unknown');
    assert.equal(d(10)?.kind, 'bootloader');
  });

  it('takes no link the jobs need: one free link means one probe at a time; none means every device says why it was not probed', async () => {
    const s = setup();
    s.freeLinks = 1;
    const x = new ProbeAdapter();
    for (const n of [1, 2, 3]) x.behaviour.set(a(n).value, { services: BUTTONLESS });
    const r = await run(s, [x], [1, 2, 3].map((n) => [x, { address: a(n) }] as const), { probe: true });
    assert.equal(x.mostOpen, 1);
    assert.ok(r.devices.every((d) => d.kind === 'buttonless'));

    const t = setup();
    t.freeLinks = 0;
    const y = new ProbeAdapter();
    const none = await run(t, [y], [1, 2].map((n) => [y, { address: a(n) }] as const), { probe: true });
    assert.equal(y.connected.length, 0);
    assert.deepEqual(none.devices.map((d) => d.probeError?.code), ['ADAPTER_BUSY', 'ADAPTER_BUSY']);
  });

  it('a probe that hangs ends at its deadline (server clock) with TIMEOUT; the others are answered', async () => {
    const s = setup();
    const x = new ProbeAdapter();
    x.behaviour.set(a(1).value, 'hang');
    x.behaviour.set(a(2).value, { services: BUTTONLESS });
    const otherDone = x.disconnected(a(2));
    const result = run(s, [x], [1, 2].map((n) => [x, { address: a(n), rssi: -40 - n }] as const), { probe: true });
    await x.connecting(a(1));
    await otherDone;
    // The other probe has ended by itself (its deadline may not be disposed yet: firing it is harmless); the hung one waits for its deadline.
    assert.ok(s.clock.fire(INVENTORY_LIMITS.probeMs) >= 1);
    const r = await result;
    assert.equal(r.devices[0]?.probeError?.code, 'TIMEOUT');
    assert.equal(r.devices[1]?.kind, 'buttonless');
  });
});
