/**
 * Issue 13, item 1: a controller without a public address (HCI Read BD_ADDR answers zeros, as
 * Zephyr's hci_uart on an nRF52840 dongle). Through gRPC on the simulator: scans, connections and
 * DFUs use a static random address — the controller's own when a Zephyr controller offers one,
 * else one bledfu makes and keeps in the data directory — and ListAdapters shows it and its source.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AdapterState, AddressSource, AddressType, downloadJobCapture, startDfu, type Adapter } from '../../clients/ts/index.js';
import { adapterLine } from '../../clients/cli/commands/adapters.js';
import { STATION_ADDRESS_FILE } from '../../server/backends/hci/stationAddress.js';
import { addressTarget, drain, finished, startSimServer, type SimServer } from '../helpers/sim-server.js';
import { projectZip } from '../helpers/project-packages.js';
import { parseBtsnoop } from '../helpers/btsnoop.js';
import { CONTROLLER_PROFILES, parseSimSpec } from '../../server/sim/world.js';

const dirs: string[] = [];
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bledfu-no-public-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function adapter(s: SimServer): Promise<Adapter> {
  const { adapters } = await s.client.listAdapters({});
  const a = adapters[0];
  assert.ok(a);
  return a;
}

/** Connects to the device's application through gRPC and leaves at once. */
async function connectOnce(s: SimServer): Promise<void> {
  const leave = new AbortController();
  const stream = s.client
    .connect({ adapterId: '', target: addressTarget(s.device().address.value), scanTimeout: undefined, mtu: 0 }, { signal: AbortSignal.any([leave.signal, AbortSignal.timeout(10_000)]) })
    [Symbol.asyncIterator]();
  const first = (await stream.next()).value?.event;
  assert.equal(first?.$case, 'connected');
  const gone = s.nextDisconnection();
  leave.abort();
  await stream.next().catch(() => undefined); // the call ends CANCELLED: we hung up
  await gone;
}

/** Zephyr's vendor Read Static Addresses (OGF 0x3F, OCF 0x0009). */
const ZEPHYR_READ_STATIC_ADDRESSES = 0xfc09;

/** LE Meta subevent Data Length Change: handle, max TX octets, max TX time, max RX octets, max RX time. */
const LE_DATA_LENGTH_CHANGE = 0x07;
const LE_SET_DATA_LENGTH = 0x2022;

const isStaticRandom = (value: string): boolean => (Number.parseInt(value.slice(0, 2), 16) & 0xc0) === 0xc0;

describe('A controller without a public address', () => {
  it('scans, connects and updates as a generated static random address, the same after a restart with the same data directory', { timeout: 60_000 }, async () => {
    const dir = dataDir();
    let station: string;
    const s = await startSimServer({ publicAddress: false }, {}, { kind: 'hci' }, {}, { dataDir: dir });
    try {
      const a = await adapter(s);
      assert.equal(a.addressSource, AddressSource.ADDRESS_SOURCE_GENERATED);
      assert.equal(a.address?.type, AddressType.ADDRESS_TYPE_RANDOM);
      station = a.address?.value ?? '';
      assert.ok(isStaticRandom(station), `${station} is not a static random address`);
      assert.notEqual(station, '00:00:00:00:00:00');
      assert.ok(adapterLine(a).includes(`${station} (generated)`), adapterLine(a));

      const r = await drain(startDfu(s.client, { package: { data: await projectZip('app-small') }, target: addressTarget(s.device().address.value) }, { signal: AbortSignal.timeout(30_000) }));
      assert.equal(r.error, undefined, `the DFU failed: ${String(r.error)}`);
      assert.equal(finished(r.events)?.result.success, true);
      // The device saw the station as its static random address on every connection (app and bootloader).
      assert.ok(s.observed().connections >= 2);
      assert.deepEqual(new Set(s.observed().centrals), new Set([`random:${station}`]));
      // The scans (looking for the device, then for its bootloader) were made as that address too.
      assert.ok(s.air.scanAddresses.length >= 1);
      assert.deepEqual(new Set(s.air.scanAddresses), new Set([`random:${station}`]));
      const kept = JSON.parse(readFileSync(join(dir, STATION_ADDRESS_FILE), 'utf8')) as { addresses: Record<string, string> };
      assert.deepEqual(Object.values(kept.addresses), [station]);
    } finally {
      await s.close();
    }

    // A new server (and a fresh dongle) on the same data directory is the same station.
    const again = await startSimServer({ publicAddress: false }, {}, { kind: 'hci' }, {}, { dataDir: dir });
    try {
      const a = await adapter(again);
      assert.equal(a.address?.value, station);
      assert.equal(a.addressSource, AddressSource.ADDRESS_SOURCE_GENERATED);
      await connectOnce(again);
      assert.deepEqual(again.observed().centrals, [`random:${station}`]);
    } finally {
      await again.close();
    }

    // Another data directory: another station.
    const elsewhere = await startSimServer({ publicAddress: false }, {}, { kind: 'hci' }, {}, { dataDir: dataDir() });
    try {
      assert.notEqual((await adapter(elsewhere)).address?.value, station);
    } finally {
      await elsewhere.close();
    }
  });

  it('uses the static address a Zephyr controller offers (vendor Read Static Addresses) rather than making one', { timeout: 30_000 }, async () => {
    const dir = dataDir();
    const own = 'C3:11:22:33:44:55';
    const s = await startSimServer({ publicAddress: false, vendorStaticAddress: own }, {}, { kind: 'hci' }, {}, { dataDir: dir });
    try {
      const a = await adapter(s);
      assert.equal(a.addressSource, AddressSource.ADDRESS_SOURCE_CONTROLLER_STATIC);
      assert.deepEqual(a.address, { value: own, type: AddressType.ADDRESS_TYPE_RANDOM });
      assert.match(a.identity, /Zephyr/);
      assert.ok(adapterLine(a).includes(`${own} (controller static)`), adapterLine(a));
      await connectOnce(s);
      assert.deepEqual(s.observed().centrals, [`random:${own}`]);
      assert.equal(existsSync(join(dir, STATION_ADDRESS_FILE)), false, 'nothing is generated when the controller has its own');
    } finally {
      await s.close();
    }
  });

  it('a Zephyr-like controller that never answers Read Static Addresses still opens, on a generated address', { timeout: 30_000 }, async () => {
    const s = await startSimServer(
      { publicAddress: false, vendorStaticAddress: 'C3:11:22:33:44:55', unansweredCommands: [ZEPHYR_READ_STATIC_ADDRESSES] },
      {},
      { kind: 'hci' },
      {},
      { dataDir: dataDir() },
    );
    try {
      const a = await adapter(s);
      assert.equal(a.state, AdapterState.ADAPTER_STATE_READY, a.error?.message);
      assert.equal(a.addressSource, AddressSource.ADDRESS_SOURCE_GENERATED);
      const station = a.address?.value ?? '';
      assert.ok(isStaticRandom(station) && station !== 'C3:11:22:33:44:55', station);
      assert.deepEqual(a.workarounds, ['Zephyr Read Static Addresses: the controller did not answer it; carried on without it']);
      await connectOnce(s);
      assert.deepEqual(s.observed().centrals, [`random:${station}`]);
    } finally {
      await s.close();
    }
  });

  it('a controller with a public address keeps scanning and connecting as it (the default)', { timeout: 30_000 }, async () => {
    const dir = dataDir();
    const s = await startSimServer({ vendorStaticAddress: 'C3:11:22:33:44:55' }, {}, { kind: 'hci' }, {}, { dataDir: dir });
    try {
      const a = await adapter(s);
      assert.equal(a.addressSource, AddressSource.ADDRESS_SOURCE_PUBLIC);
      assert.deepEqual(a.address, { value: '00:1B:DC:F0:00:01', type: AddressType.ADDRESS_TYPE_PUBLIC });
      assert.ok(adapterLine(a).includes('00:1B:DC:F0:00:01  links'), adapterLine(a));
      await connectOnce(s);
      assert.deepEqual(s.observed().centrals, ['public:00:1B:DC:F0:00:01']);
      assert.equal(existsSync(join(dir, STATION_ADDRESS_FILE)), false);
    } finally {
      await s.close();
    }
  });

  it('the nrf backend shows the SoftDevice\'s own static address, and the devices see the station as it (never zeros)', { timeout: 30_000 }, async () => {
    const s = await startSimServer({}, {}, { kind: 'nrf', api: 6 });
    try {
      const a = await adapter(s);
      assert.equal(a.addressSource, AddressSource.ADDRESS_SOURCE_CONTROLLER_STATIC);
      assert.equal(a.address?.type, AddressType.ADDRESS_TYPE_RANDOM);
      const own = a.address?.value ?? '';
      assert.ok(isStaticRandom(own), `${own} is not a static random address`);
      await connectOnce(s);
      assert.deepEqual(s.observed().centrals, [`random:${own}`]);
    } finally {
      await s.close();
    }
  });
});

describe('sim:?controller= profiles of real controllers (docs/controllers.md)', () => {
  it('controller=zephyr: the controller static address, 7 × 27-byte shared buffers, links kept at 27-octet LL payloads, and a DFU that completes as that address', { timeout: 60_000 }, async () => {
    const spec = parseSimSpec('sim:?controller=zephyr');
    const s = await startSimServer(spec, {}, { kind: 'hci' }, {}, { dataDir: dataDir() });
    try {
      const a = await adapter(s);
      assert.equal(a.addressSource, AddressSource.ADDRESS_SOURCE_CONTROLLER_STATIC);
      assert.equal(a.address?.value, CONTROLLER_PROFILES.zephyr.vendorStaticAddress);
      const r = await drain(
        startDfu(s.client, { package: { data: await projectZip('app-small') }, target: addressTarget(s.device().address.value), captureHci: true }, { signal: AbortSignal.timeout(30_000) }),
      );
      assert.equal(r.error, undefined, `the DFU failed: ${String(r.error)}`);
      const f = finished(r.events);
      assert.equal(f?.result.success, true);
      assert.deepEqual(new Set(s.observed().centrals), new Set([`random:${CONTROLLER_PROFILES.zephyr.vendorStaticAddress}`]));
      // bledfu asks 251-octet LL payloads; Zephyr's controller (BT_CTLR_DATA_LENGTH_MAX 27) keeps 27 both ways.
      const records = parseBtsnoop(await downloadJobCapture(s.client, f?.jobId ?? '')).records;
      const asked = records.filter((x) => x.sent && x.data[0] === 0x01 && ((x.data[1] ?? 0) | ((x.data[2] ?? 0) << 8)) === LE_SET_DATA_LENGTH);
      assert.ok(asked.length >= 1, 'bledfu asked for longer LL payloads');
      // The controller reports a Data Length Change only when the lengths change: from 27, none.
      const changes = records.filter((x) => !x.sent && x.data[0] === 0x04 && x.data[1] === 0x3e && x.data[3] === LE_DATA_LENGTH_CHANGE);
      for (const c of changes) {
        const octets = (at: number): number => (c.data[at] ?? 0) | ((c.data[at + 1] ?? 0) << 8);
        assert.deepEqual([octets(6), octets(10)], [27, 27], 'max TX and RX octets');
      }
    } finally {
      await s.close();
    }
  });

  it('controller=btvirt-like keeps its public address and completes a DFU through its single 192-byte buffer; unknown profiles are refused', { timeout: 60_000 }, async () => {
    const s = await startSimServer(parseSimSpec('sim:?controller=btvirt-like'), {}, { kind: 'hci' }, {}, { dataDir: dataDir() });
    try {
      const a = await adapter(s);
      assert.equal(a.addressSource, AddressSource.ADDRESS_SOURCE_PUBLIC);
      const r = await drain(startDfu(s.client, { package: { data: await projectZip('app-small') }, target: addressTarget(s.device().address.value) }, { signal: AbortSignal.timeout(30_000) }));
      assert.equal(finished(r.events)?.result.success, true, String(r.error));
    } finally {
      await s.close();
    }
    assert.throws(() => parseSimSpec('sim:?controller=hci-uart'), /bad value "hci-uart" for controller/);
    assert.throws(() => parseSimSpec('sim:?controller=zephyr&dongle=nrf'), /controller= applies only to the HCI controller/);
    assert.deepEqual(parseSimSpec('sim:?controller=zephyr&acl=3x27').aclBuffers, 3);
  });
});
