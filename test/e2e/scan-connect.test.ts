import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AdapterKind, AddressType, decodeError, Status, type Target } from '../../clients/ts/index.js';
import { parseAddress } from '../../server/ble/address.js';
import { whenAborted } from '../../server/common/clock.js';
import { DEVICE, fakeFindDevice, startHarness, type Harness } from '../helpers/rpc-harness.js';

const TARGET: Target = { selector: { $case: 'address', address: { value: DEVICE.value, type: AddressType.ADDRESS_TYPE_RANDOM } } };

describe('ListAdapters, Scan and Connect over gRPC', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  it('lists adapters', async () => {
    const { adapters } = await h.client.listAdapters({});
    assert.equal(adapters.length, 1);
    assert.equal(adapters[0]?.id, 'fake0');
    assert.equal(adapters[0]?.kind, AdapterKind.ADAPTER_KIND_SIMULATED);
  });

  it('lists the host\'s serial ports with what bledfu knows of their USB ids', async () => {
    h.serialPorts = [
      {
        path: '/dev/ttyACM0',
        byIdPath: '/dev/serial/by-id/usb-ZEPHYR_HCI_UART_1234-if00',
        vendorId: '2fe3',
        productId: '0100',
        serialNumber: '1234',
        driver: 'cdc_acm',
        known: { name: 'Zephyr USB device', hint: 'hci:' },
      },
      { path: '/dev/ttyAMA0', driver: 'uart-pl011' },
    ];
    const { ports } = await h.client.listSerialPorts({});
    assert.equal(ports.length, 2);
    assert.equal(ports[0]?.byIdPath, '/dev/serial/by-id/usb-ZEPHYR_HCI_UART_1234-if00');
    assert.equal(ports[0]?.vendorId, '2fe3');
    assert.equal(ports[0]?.knownName, 'Zephyr USB device');
    assert.equal(ports[0]?.hint, 'hci:');
    assert.equal(ports[1]?.path, '/dev/ttyAMA0');
    assert.equal(ports[1]?.vendorId, '');
    assert.equal(ports[1]?.knownName, '');
  });

  it('filters, suppresses duplicates by address, and stops the adapter scan when cancelled', async () => {
    const stop = new AbortController();
    const stream = h.client.scan(
      { adapterId: '', filter: { name: '', namePrefix: 'Dfu', address: '', serviceUuid: '', minRssi: -70, dfuBootloaderOnly: false }, duration: undefined, allowDuplicates: false, active: true },
      { signal: stop.signal },
    )[Symbol.asyncIterator]();
    const first = stream.next();
    const before = h.adapter.scanCount;
    await h.adapter.scanStarted(before + 1);
    const a = parseAddress('F0:00:00:00:00:0A');
    const b = parseAddress('F0:00:00:00:00:0B');
    h.adapter.advertise({ address: a, name: 'Other' });
    h.adapter.advertise({ address: a, name: 'DfuTarg', rssi: -90 });
    h.adapter.advertise({ address: a, name: 'DfuTarg', serviceUuids: ['FE59'] });
    h.adapter.advertise({ address: a, name: 'DfuTarg' });
    h.adapter.advertise({ address: b, name: 'DfuTarg2' });
    const r1 = await first;
    const r2 = await stream.next();
    assert.equal(r1.value?.advertisement?.address?.value, a.value);
    assert.equal(r1.value?.advertisement?.dfuBootloader, true);
    assert.equal(r2.value?.advertisement?.address?.value, b.value);
    stop.abort();
    await assert.rejects(stream.next());
    await h.adapter.scansStopped();
    assert.equal(h.adapter.activeScans, 0);
  });

  it('ends a scan normally after its duration', async () => {
    const results = [];
    for await (const r of h.client.scan({ adapterId: '', filter: undefined, duration: { seconds: 0, nanos: 50_000_000 }, allowDuplicates: true, active: false })) {
      results.push(r);
    }
    assert.deepEqual(results, []);
    await h.adapter.scansStopped();
  });

  it('rejects a malformed scan filter with INVALID_ARGUMENT', async () => {
    const stream = h.client.scan({
      adapterId: '',
      filter: { name: '', namePrefix: '', address: 'garbage', serviceUuid: '', minRssi: undefined, dfuBootloaderOnly: false },
      duration: undefined,
      allowDuplicates: false,
      active: false,
    });
    const e = await (async () => {
      for await (const _ of stream) void _;
    })().catch((err: unknown) => err);
    assert.equal(decodeError(e).grpcCode, Status.INVALID_ARGUMENT);
  });

  it('connects, reports the GATT layout, then the link loss with its reason', async () => {
    const n = h.adapter.connections.length;
    const stream = h.client.connect({ adapterId: '', target: TARGET, scanTimeout: undefined, mtu: 185 })[Symbol.asyncIterator]();
    const connected = await stream.next();
    const c = connected.value?.event;
    assert.equal(c?.$case, 'connected');
    if (c?.$case === 'connected') {
      assert.equal(c.connected.mtu, 185);
      assert.equal(c.connected.address?.value, DEVICE.value);
      assert.equal(c.connected.services[0]?.uuid, 'FE59');
      assert.equal(c.connected.services[0]?.characteristics.length, 2);
      assert.equal(c.connected.parameters?.supervisionTimeoutMs, 4000);
    }
    (await h.adapter.connection(n)).drop(0x08);
    const d = (await stream.next()).value?.event;
    assert.equal(d?.$case, 'disconnected');
    if (d?.$case === 'disconnected') {
      assert.equal(d.disconnected.reason, 8);
      assert.match(d.disconnected.reasonText, /timeout/);
    }
    assert.equal((await stream.next()).done, true);
  });

  it('disconnects when the client cancels the call', async () => {
    const n = h.adapter.connections.length;
    const stop = new AbortController();
    const stream = h.client.connect({ adapterId: '', target: TARGET, scanTimeout: undefined, mtu: 0 }, { signal: stop.signal })[Symbol.asyncIterator]();
    await stream.next();
    const conn = await h.adapter.connection(n);
    stop.abort();
    await whenAborted(conn.closed);
    assert.equal(conn.disconnectCalls, 1);
  });

  it('reports a device that is not there as NOT_FOUND, and an unexpected failure as UNKNOWN without details', async () => {
    const nope: Target = { selector: { $case: 'name', name: 'Nobody' } };
    const notFound = await (async () => {
      for await (const _ of h.client.connect({ adapterId: '', target: nope, scanTimeout: undefined, mtu: 0 })) void _;
    })().catch((e: unknown) => e);
    assert.equal(decodeError(notFound).code, 'DEVICE_NOT_FOUND');
    assert.equal(decodeError(notFound).grpcCode, Status.NOT_FOUND);

    h.findDevice = async () => {
      throw new TypeError('cannot read properties of undefined (reading "secret")');
    };
    try {
      const unknown = await (async () => {
        for await (const _ of h.client.connect({ adapterId: '', target: TARGET, scanTimeout: undefined, mtu: 0 })) void _;
      })().catch((e: unknown) => e);
      const d = decodeError(unknown);
      assert.equal(d.grpcCode, Status.UNKNOWN);
      assert.equal(d.message, 'internal error');
    } finally {
      h.findDevice = fakeFindDevice;
    }
  });
});

describe('server stop with open streams', () => {
  it('ends an open-ended scan and a live connection instead of hanging', async () => {
    const h = await startHarness();
    const scan = (async () => {
      for await (const _ of h.client.scan({ adapterId: '', filter: undefined, duration: undefined, allowDuplicates: false, active: false })) void _;
    })();
    const connect = h.client.connect({ adapterId: '', target: TARGET, scanTimeout: undefined, mtu: 0 })[Symbol.asyncIterator]();
    await connect.next();
    await h.adapter.scanStarted(1);
    await h.close();
    await scan;
    assert.equal((await connect.next()).done, true);
    assert.equal(h.adapter.connections[0]?.disconnectCalls, 1);
    assert.equal(h.adapter.activeScans, 0);
  });
});
