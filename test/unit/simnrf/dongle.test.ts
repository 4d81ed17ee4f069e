import assert from 'node:assert/strict';
import { virtualClock } from '../../../server/sim/clock.js';
import { afterEach, describe, it } from 'node:test';
import { addressToBytes, parseAddress } from '../../../server/ble/address.js';
import { uuidToBytes, UUIDS } from '../../../server/ble/uuid.js';
import type { ApiVersion } from '../../../server/backends/nrf/serialization/constants.js';
import type { ConnParams, GapAddr } from '../../../server/backends/nrf/serialization/structs.js';
import type { ScanParams } from '../../../server/backends/nrf/serialization/versions.js';
import { openSimNrfDongle, type SimNrfDongle, type SimNrfDongleOptions } from '../../../server/simnrf/dongle.js';
import { createSimWorld, type SimWorld } from '../../../server/sim/world.js';
import { fromHex, toHex } from '../../../server/common/bytes.js';
import { ManualClock, settle } from '../../helpers/manualClock.js';
import { h5LinkVectors, NEEDS_NRF_VECTORS } from '../../helpers/nrf-vectors.js';
import { TestNrfHost } from '../../helpers/simnrf-host.js';

const DEVICE = 'F0:0D:C0:DE:00:01';
const peer = (address = DEVICE): GapAddr => ({ idPeer: false, type: 1, address: addressToBytes(parseAddress(address)) });
const CONN: ConnParams = { minConnInterval: 6, maxConnInterval: 24, slaveLatency: 0, connSupTimeout: 400 };

function scanParams(api: ApiVersion, timeout = 0, active = false): ScanParams {
  return api === 5
    ? { api: 5, active, useWhitelist: false, advDirReport: false, interval: 0xa0, window: 0x50, timeout }
    : { api: 6, extended: false, reportIncompleteEvts: false, active, filterPolicy: 0, scanPhys: 1, channelMask: new Uint8Array(5), interval: 0xa0, window: 0x50, timeout };
}
const BUFFER = { bufferId: 1, len: 31 };

interface Setup {
  readonly world: SimWorld;
  readonly dongle: SimNrfDongle;
  readonly host: TestNrfHost;
}

const open: Setup[] = [];

/** The host runs on the world's clock, as a server on the accelerated simulator does. */
const clockOf = (world: SimWorld) => virtualClock(world.scheduler, 0);

async function setup(api: ApiVersion, options: Partial<SimNrfDongleOptions> = {}, link = true): Promise<Setup> {
  const world = createSimWorld({ devices: [{}] });
  const dongle = openSimNrfDongle(world, { api, retransmitMs: 40, bootMs: 5, ...options });
  const host = new TestNrfHost(dongle.transport, api, link ? undefined : { retransmitMs: 40, resetWaitMs: 20, openTimeoutMs: 5000, maxTransmissions: 30 }, clockOf(world));
  const s = { world, dongle, host };
  open.push(s);
  if (link) await host.open();
  return s;
}

afterEach(async () => {
  for (const s of open.splice(0)) {
    await s.host.close();
    await s.dongle.close();
    await s.world.close();
  }
});

/** cfg_set for tag 1 (MTU 247, event length 6, write queue 2), enable, DFU base registered. */
async function enable(host: TestNrfHost, writeQueue = 2): Promise<void> {
  await host.ok({ kind: 'cfgSet', config: { id: 'connGap', connCfgTag: 1, connCount: 1, eventLength: 6 } });
  await host.ok({ kind: 'cfgSet', config: { id: 'connGatt', connCfgTag: 1, attMtu: 247 } });
  await host.ok({ kind: 'cfgSet', config: { id: 'connGattc', connCfgTag: 1, writeCmdTxQueueSize: writeQueue } });
  await host.ok({ kind: 'enable' });
  const base = uuidToBytes(UUIDS.dfuControlPoint);
  const r = await host.ok({ kind: 'uuidVsAdd', base });
  assert.deepEqual(r.output, { uuidType: 2 });
}

async function connect(host: TestNrfHost, api: ApiVersion): Promise<number> {
  await host.ok({ kind: 'gapConnect', peerAddr: peer(), scanParams: scanParams(api), connParams: CONN, connCfgTag: 1 });
  const connected = await host.event('gapConnected');
  assert.equal(connected.role, 2);
  return connected.connHandle;
}

for (const api of [5, 6] as const) {
  describe(`simulated connectivity dongle, API v${api}`, () => {
    it('reports its SoftDevice and address, refuses calls before enable and configuration after it', async () => {
      const { host } = await setup(api);
      const v = await host.ok({ kind: 'versionGet' });
      assert.deepEqual(v.output, { version: { versionNumber: 9, companyId: 0x59, subversionNumber: api === 5 ? 0xa5 : 0xb6 } });
      assert.equal((await host.call({ kind: 'gapScanStop' })).result, 0x3001, 'BLE_ERROR_NOT_ENABLED');
      assert.equal((await host.call({ kind: 'cfgSet', config: { id: 'connGatt', connCfgTag: 1, attMtu: 248 } })).result, 7, 'MTU above 247');
      assert.equal((await host.call({ kind: 'cfgSet', config: { id: 'connGap', connCfgTag: 1, connCount: 1, eventLength: 1 } })).result, 7);
      await enable(host);
      assert.equal((await host.call({ kind: 'enable' })).result, 8, 'enabled twice: INVALID_STATE');
      assert.equal((await host.call({ kind: 'cfgSet', config: { id: 'connGatt', connCfgTag: 1, attMtu: 100 } })).result, 8);
      const again = await host.ok({ kind: 'uuidVsAdd', base: uuidToBytes(UUIDS.dfuPacket) });
      assert.deepEqual(again.output, { uuidType: 2 }, 'same base (bytes 12-13 aside): same type');
      const addr = await host.ok({ kind: 'gapAddrGet' });
      assert.equal(addr.output?.addr.type, 1);
    });

    it('answers a too large configuration with NRF_ERROR_NO_MEM and keeps the last one that fitted', async () => {
      const { host } = await setup(api);
      await host.ok({ kind: 'cfgSet', config: { id: 'connGap', connCfgTag: 1, connCount: 4, eventLength: 6 } });
      await host.ok({ kind: 'cfgSet', config: { id: 'connGatt', connCfgTag: 1, attMtu: 247 } });
      assert.equal((await host.call({ kind: 'cfgSet', config: { id: 'connGattc', connCfgTag: 1, writeCmdTxQueueSize: 8 } })).result, 4);
      await host.ok({ kind: 'cfgSet', config: { id: 'connGattc', connCfgTag: 1, writeCmdTxQueueSize: 4 } });
      await host.ok({ kind: 'enable' });
    });

    it('scans: reports the devices on the air' + (api === 6 ? ', pausing after each report until continued' : ''), async () => {
      const { host } = await setup(api);
      await enable(host);
      await host.ok({ kind: 'gapScanStart', params: scanParams(api), ...(api === 6 ? { reportBuffer: BUFFER } : {}) });
      assert.equal((await host.call({ kind: 'gapScanStart', params: scanParams(api), ...(api === 6 ? { reportBuffer: BUFFER } : {}) })).result, 8);
      const report = await host.event('gapAdvReport');
      assert.deepEqual(report.peerAddr, peer());
      assert.equal(report.connHandle, 0xffff);
      if (api === 6) {
        assert.equal(report.api, 6);
        if (report.api === 6) assert.equal(report.bufferId, 1);
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(host.events.filter((e) => e.kind === 'gapAdvReport').length, 0, 'paused until continued');
        await host.ok({ kind: 'gapScanStart', params: null, reportBuffer: BUFFER });
        assert.equal((await host.call({ kind: 'gapScanStart', params: null, reportBuffer: BUFFER })).result, 8, 'continue while running');
      }
      await host.event('gapAdvReport');
      await host.ok({ kind: 'gapScanStop' });
      assert.equal((await host.call({ kind: 'gapScanStop' })).result, 8);
    });

    it('ends a scan with a timeout event' + (api === 6 ? ' that hands the report buffer back' : ''), async () => {
      const { host } = await setup(api);
      await enable(host);
      await host.ok({ kind: 'gapScanStart', params: scanParams(api, api === 5 ? 1 : 50), ...(api === 6 ? { reportBuffer: BUFFER } : {}) });
      const timeout = await host.event('gapTimeout');
      assert.equal(timeout.src, 1);
      if (api === 6) assert.deepEqual(timeout.releasedBuffer, BUFFER);
      else assert.equal(timeout.releasedBuffer, undefined);
    });

    it('connects, discovers, exchanges the MTU, updates data length and PHY, writes, gets notified, disconnects', async () => {
      const { host } = await setup(api);
      await enable(host);
      const conn = await connect(host, api);
      // The bootloader-less app may ask for parameters; whatever comes is answered.
      assert.equal((await host.call({ kind: 'gattcExchangeMtuRequest', connHandle: conn, clientRxMtu: 248 })).result, 7, 'above the tag MTU');
      await host.ok({ kind: 'gattcExchangeMtuRequest', connHandle: conn, clientRxMtu: 247 });
      const mtu = await host.event('gattcExchangeMtuRsp');
      assert.ok(mtu.serverRxMtu >= 23);
      assert.equal((await host.call({ kind: 'gattcExchangeMtuRequest', connHandle: conn, clientRxMtu: 247 })).result, 8, 'once per link');
      const dl = await host.ok({ kind: 'gapDataLengthUpdate', connHandle: conn, params: { maxTxOctets: 251, maxRxOctets: 251, maxTxTimeUs: 0, maxRxTimeUs: 0 }, wantLimitation: true });
      assert.deepEqual(dl.output, { limitation: { txPayloadLimitedOctets: 0, rxPayloadLimitedOctets: 0, txRxTimeLimitedUs: 0 } });
      assert.equal((await host.event('gapDataLengthUpdate')).effectiveParams.maxTxOctets, 251);
      await host.ok({ kind: 'gapPhyUpdate', connHandle: conn, phys: { txPhys: 2, rxPhys: 2 } });
      assert.deepEqual(await host.event('gapPhyUpdate'), { kind: 'gapPhyUpdate', connHandle: conn, status: 0, txPhy: 2, rxPhy: 2 });

      await host.ok({ kind: 'gattcPrimaryServicesDiscover', connHandle: conn, startHandle: 1, uuid: null });
      assert.equal(
        (await host.call({ kind: 'gattcCharacteristicsDiscover', connHandle: conn, range: { startHandle: 1, endHandle: 0xffff } })).result,
        17,
        'one client procedure at a time: NRF_ERROR_BUSY',
      );
      const services = await host.event('gattcPrimSrvcDiscRsp');
      assert.equal(services.gattStatus, 0);
      assert.ok(services.services.some((s) => s.uuid.type === 1 && s.uuid.uuid === 0x1800));
      await host.ok({ kind: 'gapDisconnect', connHandle: conn, hciStatusCode: 0x13 });
      assert.equal((await host.call({ kind: 'gapDisconnect', connHandle: conn, hciStatusCode: 0x13 })).result, 8);
      assert.deepEqual(await host.event('gapDisconnected'), { kind: 'gapDisconnected', connHandle: conn, reason: 0x16 });
      assert.equal((await host.call({ kind: 'gapDisconnect', connHandle: conn, hciStatusCode: 0x13 })).result, 0x3002);
    });

    it('runs a DFU target: peer parameter request, vendor UUIDs, descriptors, write request, notification, write-command flow control', async () => {
      const { world, host } = await setup(api);
      world.devices[0]?.device.reset({ enterBootloader: true });
      await enable(host, 2);
      await host.ok({ kind: 'gapConnect', peerAddr: peer('F0:0D:C0:DE:00:02'), scanParams: scanParams(api), connParams: CONN, connCfgTag: 1 });
      const conn = (await host.event('gapConnected')).connHandle;
      const request = await host.event('gapConnParamUpdateRequest');
      assert.deepEqual(request.connParams, { minConnInterval: 12, maxConnInterval: 12, slaveLatency: 0, connSupTimeout: 600 });
      await host.ok({ kind: 'gapConnParamUpdate', connHandle: conn, connParams: request.connParams });
      assert.equal((await host.event('gapConnParamUpdate')).connParams.minConnInterval, 12);
      await host.ok({ kind: 'gattcExchangeMtuRequest', connHandle: conn, clientRxMtu: 247 });
      await host.event('gattcExchangeMtuRsp');

      await host.ok({ kind: 'gattcPrimaryServicesDiscover', connHandle: conn, startHandle: 1, uuid: { uuid: 0xfe59, type: 1 } });
      const [dfu] = (await host.event('gattcPrimSrvcDiscRsp')).services;
      assert.ok(dfu !== undefined);
      await host.ok({ kind: 'gattcCharacteristicsDiscover', connHandle: conn, range: { startHandle: dfu.startHandle, endHandle: dfu.endHandle } });
      const chars = (await host.event('gattcCharDiscRsp')).chars;
      const cp = chars.find((c) => c.uuid.type === 2 && c.uuid.uuid === 0x0001);
      const packet = chars.find((c) => c.uuid.type === 2 && c.uuid.uuid === 0x0002);
      assert.ok(cp !== undefined && packet !== undefined, 'CP and packet as vendor type 2');
      assert.equal(cp.props.notify, true);
      assert.equal(packet.props.writeWoResp, true);
      await host.ok({ kind: 'gattcDescriptorsDiscover', connHandle: conn, range: { startHandle: cp.handleValue + 1, endHandle: dfu.endHandle } });
      const cccd = (await host.event('gattcDescDiscRsp')).descs.find((d) => d.uuid.uuid === 0x2902 && d.uuid.type === 1);
      assert.ok(cccd !== undefined);

      await host.ok({ kind: 'gattcRead', connHandle: conn, handle: cp.handleValue, offset: 0 });
      const read = await host.event('gattcReadRsp');
      assert.equal(read.gattStatus, 0x0102, 'read not permitted, in gatt_status');
      assert.equal(read.errorHandle, cp.handleValue);

      const write = (handle: number, writeOp: number, value: Uint8Array) =>
        host.call({ kind: 'gattcWrite', connHandle: conn, params: { writeOp, flags: 0, handle, offset: 0, value } });
      assert.equal((await write(cccd.handle, 1, Uint8Array.of(1, 0))).result, 0);
      assert.equal((await write(cp.handleValue, 1, Uint8Array.of(2, 0, 0))).result, 17, 'a write request is pending: BUSY');
      const written = await host.event('gattcWriteRsp');
      assert.deepEqual([written.gattStatus, written.handle, written.writeOp, [...written.data]], [0, cccd.handle, 1, [1, 0]]);
      assert.equal((await write(cp.handleValue, 1, Uint8Array.of(2, 0, 0))).result, 0); // Set PRN 0
      await host.event('gattcWriteRsp', (e) => e.handle === cp.handleValue);
      const hvx = await host.event('gattcHvx');
      assert.deepEqual([hvx.handle, hvx.type, [...hvx.data]], [cp.handleValue, 1, [0x60, 0x02, 0x01]]);

      assert.equal((await write(packet.handleValue, 2, new Uint8Array(245))).result, 12, 'longer than MTU - 3: DATA_SIZE');
      assert.equal((await write(packet.handleValue, 2, new Uint8Array(20))).result, 0);
      assert.equal((await write(packet.handleValue, 2, new Uint8Array(20))).result, 0);
      assert.equal((await write(packet.handleValue, 2, new Uint8Array(20))).result, 19, 'queue of 2 full: RESOURCES');
      let credits = 0;
      while (credits < 2) credits += (await host.event('gattcWriteCmdTxComplete')).count;
      assert.equal(credits, 2);
      assert.equal((await write(packet.handleValue, 2, new Uint8Array(20))).result, 0, 'credits are back');
      assert.equal((await write(packet.handleValue, 3, new Uint8Array(2))).result, 6, 'signed writes are not modelled');
      assert.equal((await host.call({ kind: 'gattcHvConfirm', connHandle: conn, handle: cp.handleValue })).result, 8, 'no indication pending');
    });

    it('answers an unknown opcode with NOT_SUPPORTED and resets on a malformed command, like the firmware', async () => {
      const { dongle, host } = await setup(api);
      await enable(host);
      const resets = dongle.control.stats.resets;
      const before = host.delivered.length;
      host.sendRaw(Uint8Array.of(0x00, 0x88, 0x00, 0x00));
      await host.until(() => host.delivered.length > before, 'the answer to opcode 0x88');
      assert.deepEqual([...(host.delivered.at(-1) as Uint8Array)], [0x01, 0x88, 6, 0, 0, 0]);
      host.sendRaw(Uint8Array.of(0x00, 0x60, 0x00)); // sd_ble_enable with a byte too many
      await host.until(() => host.linkDowns.includes('peerReset'), 'the device to restart');
      assert.ok(dongle.control.stats.resets > resets);
      await host.until(() => host.up, 'the link to come back');
      assert.equal((await host.call({ kind: 'gapScanStop' })).result, 0x3001, 'everything forgotten: not enabled');
    });
  });
}

describe('simulated connectivity dongle: line faults and resets', () => {
  const robust = { retransmitMs: 30, resetWaitMs: 20, openTimeoutMs: 10_000, maxTransmissions: 30 };

  it('recovers lost and corrupted frames in both directions by retransmission', async () => {
    const world = createSimWorld({ devices: [{}] });
    const dongle = openSimNrfDongle(world, { api: 6, retransmitMs: 30, maxTransmissions: 30, bootMs: 5, faults: { lossRate: 0.15, corruptRate: 0.1, seed: 7 } });
    const host = new TestNrfHost(dongle.transport, 6, robust, clockOf(world));
    open.push({ world, dongle, host });
    await host.open();
    await enable(host);
    for (let i = 0; i < 30; i++) {
      const v = await host.ok({ kind: 'versionGet' });
      assert.equal(v.output?.version.subversionNumber, 0xb6);
    }
    const stats = dongle.control.stats;
    assert.ok(stats.lost > 0 && stats.corrupted > 0, JSON.stringify(stats));
    assert.ok(stats.deviceRetransmissions > 0, 'the device retransmitted its unacknowledged packets');
    assert.equal(stats.resets, 0);
  });

  it('survives garbage on the line, also injected at run time', async () => {
    const { dongle, host } = await setup(6, { faults: { garbageRate: 0.3, garbageBytes: 12, seed: 3 } }, false);
    await host.open();
    await enable(host);
    dongle.control.injectGarbage(Uint8Array.of(0xc0, 0xdb, 0x01, 0xc0, 0x00));
    for (let i = 0; i < 10; i++) await host.ok({ kind: 'versionGet' });
    assert.ok(dongle.control.stats.garbageBursts > 1);
  });

  it('never comes up when the device does not answer SYNC, and does once it does', async () => {
    const world = createSimWorld({ devices: [{}] });
    const dongle = openSimNrfDongle(world, { api: 6, retransmitMs: 20, bootMs: 5, faults: { noSync: true } });
    const host = new TestNrfHost(dongle.transport, 6, { retransmitMs: 20, resetWaitMs: 10, openTimeoutMs: 500 }, clockOf(world));
    open.push({ world, dongle, host });
    await assert.rejects(host.open(), /did not come up: noResponse/);
    assert.equal(dongle.control.linkState, 'uninitialized');
    assert.equal(dongle.control.stats.framesToHost, 0, 'not a single byte from the device');
    dongle.control.clearFaults();
    await host.open();
    await host.ok({ kind: 'versionGet' });
  });

  it('resets after a number of packets: the host sees a restart, the air link vanishes, everything is forgotten', async () => {
    const { world, dongle, host } = await setup(6);
    await enable(host);
    const conn = await connect(host, 6);
    assert.equal(world.air.links.length, 1);
    const resets = dongle.control.stats.resets;
    dongle.control.setFaults({ resetAfterPackets: 2 });
    await host.ok({ kind: 'gattcExchangeMtuRequest', connHandle: conn, clientRxMtu: 247 });
    await assert.rejects(host.call({ kind: 'versionGet' }), /link went down \(peerReset\)/);
    assert.ok(dongle.control.stats.resets > resets);
    await host.until(() => world.air.links.length === 0, 'the link to end on the air');
    await host.until(() => host.up, 'the link to come back');
    assert.equal((await host.call({ kind: 'gapDisconnect', connHandle: conn, hciStatusCode: 0x13 })).result, 0x3001);
    await enable(host);
    await connect(host, 6); // the device advertises again once its supervision timeout noticed
  });

  it('resets on demand (control.reset) and on the serialization reset command', async () => {
    const { dongle, host } = await setup(5);
    await enable(host);
    dongle.control.reset();
    await host.until(() => host.linkDowns.length === 1, 'the device to restart');
    await host.until(() => host.up, 'the link to come back');
    host.sendRaw(Uint8Array.of(0x05, 0x01));
    await host.until(() => host.linkDowns.length === 2, 'the device to restart again');
    assert.deepEqual(host.linkDowns, ['peerReset', 'peerReset']);
  });

  it('is pulled out with the world\'s dongle: the host reads the end of the line, no opening while unplugged', async () => {
    const { world, host } = await setup(6);
    await enable(host);
    await connect(host, 6);
    world.unplugDongle();
    await host.until(() => host.linkDowns.includes('closed'), 'the line to close');
    assert.equal(world.air.links.length, 1, 'the peripheral notices only by supervision timeout');
    assert.throws(() => openSimNrfDongle(world, { api: 6 }), /unplugged/);
    world.replugDongle();
    const again = openSimNrfDongle(world, { api: 6 });
    await again.close();
  });

  it('lets its links vanish when the host closes the port', async () => {
    const { world, host } = await setup(5);
    await enable(host);
    await connect(host, 5);
    await host.close();
    await host.until(() => world.air.busy === false || world.air.links.length === 0, 'the link to end');
  });

  it('takes modelled time to move bytes over a 1 Mbaud line', async () => {
    const { world, host } = await setup(6, { baud: 1_000_000 });
    const start = world.nowMs();
    for (let i = 0; i < 20; i++) await host.ok({ kind: 'versionGet' });
    // Each call: command (≥ 11 bytes) + its ACK (6) + response (≥ 17) + ACK (6), 10 bits a byte.
    assert.ok(world.nowMs() - start >= (20 * 40 * 10) / 1000, `modelled ${world.nowMs() - start} ms`);
  });

  it('repairs a lost frame by the host\'s retransmission, which costs modelled time as on a real line', async () => {
    const { world, dongle, host } = await setup(6);
    await enable(host);
    await connect(host, 6);
    // Something far ahead: the repair must not let modelled time run to it.
    world.scheduler.after(60_000, () => undefined, 'test: far event');
    const clean = world.nowMs();
    await host.ok({ kind: 'versionGet' });
    const cleanMs = world.nowMs() - clean;
    dongle.control.setFaults({ lossRate: 1, direction: 'toDevice' });
    const t0 = world.nowMs();
    const answer = host.ok({ kind: 'versionGet' });
    await host.until(() => dongle.control.stats.lost > 0, 'the command to be lost');
    dongle.control.clearFaults();
    await answer;
    const lossyMs = world.nowMs() - t0;
    // The host's retransmission interval (40 ms here) passed in modelled time, and not much more.
    assert.ok(lossyMs >= 40 && lossyMs < cleanMs + 40 * 4, `with the loss ${lossyMs} ms, without ${cleanMs} ms`);
    assert.ok(!(world.scheduler.nowMs() >= 60_000), 'the far event did not come due');
  });

  it('answers the first-contact transcript byte for byte through its SoftDevice (API v6)', NEEDS_NRF_VECTORS, async () => {
    const world = createSimWorld({ devices: [{}] });
    const timers = new ManualClock();
    const dongle = openSimNrfDongle(world, { api: 6, baud: 0, deviceTimers: timers, bootMs: 50, retransmitMs: 400 });
    const received: string[] = [];
    void (async () => {
      try {
        for await (const chunk of dongle.transport.readable()) received.push(toHex(chunk));
      } catch {
        // closed at the end of the test
      }
    })();
    const transcript = h5LinkVectors().transcript_first_contact;
    const frame = (step: number): Uint8Array => fromHex(transcript.find((s) => s.step === step)?.slip_frame_hex ?? '');
    const host = async (step: number): Promise<void> => {
      await dongle.transport.write(frame(step));
      await settle(5);
    };
    try {
      timers.fire(50); // power-on boot
      await host(0); // RESET: the device reboots…
      await host(1); // …so this SYNC is not heard; the host repeats it below
      timers.fire(50);
      timers.fire(400);
      await settle(5);
      for (const step of [3, 1, 5, 7, 5, 9, 12, 13, 16]) await host(step);
      const expected = transcript.filter((s) => s.direction === 'device->host' && s.step <= 15).map((s) => s.slip_frame_hex);
      assert.deepEqual(received, expected);
    } finally {
      await dongle.close();
      await world.close();
    }
  });
});
