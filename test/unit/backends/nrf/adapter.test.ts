import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createNrfAdapter, type NrfAdapterOptions } from '../../../../server/backends/nrf/adapter.js';
import type { CommandOf } from '../../../../server/backends/nrf/serialization/commands.js';
import type { NrfEvent } from '../../../../server/backends/nrf/serialization/events.js';
import type { GapAddr } from '../../../../server/backends/nrf/serialization/structs.js';
import { parseAddress } from '../../../../server/ble/address.js';
import type { Adapter, Advertisement } from '../../../../server/ble/types.js';
import { uuidToBytes, UUIDS } from '../../../../server/ble/uuid.js';
import { hasCode, isBledfuError, type BledfuError } from '../../../../server/common/errors.js';
import { silentLogger } from '../../../../server/common/logger.js';
import { FakeNrfDongle, type FakeDongleOptions } from '../../../helpers/nrfFakeDongle.js';
import { settle } from '../../../helpers/manualClock.js';
import { createMemoryDuplexPair } from '../../../../server/transport/memory.js';

const PEER = parseAddress('F0:0D:C0:DE:00:01', 'random');
const PEER_ADDR: GapAddr = { idPeer: false, type: 1, address: Uint8Array.of(0x01, 0x00, 0xde, 0xc0, 0x0d, 0xf0) };
const HANDLE = 3;
const FAST_LINK = { resetWaitMs: 5, retransmitMs: 50, openTimeoutMs: 500 };

function options(over: Partial<NrfAdapterOptions> = {}): NrfAdapterOptions {
  return { id: 'nrf0', spec: 'nrf:test', kind: 'nordic-connectivity', logger: silentLogger(), link: FAST_LINK, ...over };
}

async function open(fake: Partial<FakeDongleOptions> & { api: 5 | 6 }, over: Partial<NrfAdapterOptions> = {}): Promise<{ dongle: FakeNrfDongle; adapter: Adapter }> {
  const dongle = new FakeNrfDongle(fake);
  const adapter = await createNrfAdapter(dongle.host, options(over));
  return { dongle, adapter };
}

async function openError(dongle: FakeNrfDongle, over: Partial<NrfAdapterOptions> = {}): Promise<BledfuError> {
  try {
    const a = await createNrfAdapter(dongle.host, options(over));
    await a.close();
  } catch (e) {
    assert.ok(isBledfuError(e), String(e));
    return e;
  }
  assert.fail('the adapter opened');
}

const connected = (api: 5 | 6): NrfEvent => ({
  kind: 'gapConnected',
  connHandle: HANDLE,
  peerAddr: PEER_ADDR,
  role: 2,
  connParams: { minConnInterval: 6, maxConnInterval: 12, slaveLatency: 0, connSupTimeout: 400 },
  ...(api === 6 ? { advHandle: 0xff, advData: { bufferId: 0, len: 0 }, scanRspData: { bufferId: 0, len: 0 } } : {}),
});

/** A dongle whose peer connects at once and answers MTU 185, data length and PHY. */
function connectingDongle(dongle: FakeNrfDongle, api: 5 | 6): void {
  dongle.on('gapConnect', () => ({ events: [connected(api)] }));
  dongle.on('gattcExchangeMtuRequest', (c) => ({
    events: [{ kind: 'gattcExchangeMtuRsp', connHandle: c.connHandle, gattStatus: 0, errorHandle: 0, serverRxMtu: 185 }],
  }));
  dongle.on('gapDataLengthUpdate', (c) =>
    c.params === null
      ? undefined
      : {
          output: { limitation: null },
          events: [{ kind: 'gapDataLengthUpdate', connHandle: c.connHandle, effectiveParams: { maxTxOctets: 251, maxRxOctets: 251, maxTxTimeUs: 2120, maxRxTimeUs: 2120 } }],
        },
  );
  dongle.on('gapPhyUpdate', (c) => ({ events: [{ kind: 'gapPhyUpdate', connHandle: c.connHandle, status: 0, txPhy: 2, rxPhy: 2 }] }));
  dongle.on('gapDisconnect', (c) => ({ events: [{ kind: 'gapDisconnected', connHandle: c.connHandle, reason: 0x16 }] }));
}

describe('nrf adapter: bring-up', () => {
  for (const api of [5, 6] as const) {
    it(`API v${api}: identifies the firmware, then configures role count, GAP, GATT and GATTC on tag 1, enables, registers the DFU base`, async () => {
      const { dongle, adapter } = await open({ api });
      try {
        assert.deepEqual(
          dongle.commands.map((c) => (c.kind === 'cfgSet' ? `cfgSet:${c.config.id}` : c.kind)),
          ['versionGet', 'cfgSet:gapRoleCount', 'cfgSet:connGap', 'cfgSet:connGatt', 'cfgSet:connGattc', 'enable', 'uuidVsAdd', 'gapAddrGet'],
        );
        const configs = dongle.of('cfgSet').map((c) => c.config);
        assert.deepEqual(configs[0], {
          id: 'gapRoleCount',
          periphRoleCount: 0,
          centralRoleCount: 4,
          centralSecCount: 0,
          ...(api === 6 ? { advSetCount: 1, qosChannelSurveyRoleAvailable: false } : {}),
        });
        assert.deepEqual(configs.slice(1), [
          { id: 'connGap', connCfgTag: 1, connCount: 4, eventLength: 6 },
          { id: 'connGatt', connCfgTag: 1, attMtu: 247 },
          { id: 'connGattc', connCfgTag: 1, writeCmdTxQueueSize: 8 },
        ]);
        assert.deepEqual([...(dongle.of('uuidVsAdd')[0]?.base ?? [])], [...uuidToBytes(UUIDS.dfuControlPoint)]);
        const info = adapter.info();
        assert.equal(info.state, 'ready');
        assert.equal(info.kind, 'nordic-connectivity');
        assert.equal(info.address?.value, 'C0:1B:DC:F0:00:01');
        assert.match(info.identity, api === 5 ? /S132 5\.1\.0 \(API v5, FWID 0x00A5\)/ : /S140 6\.1\.1 \(API v6, FWID 0x00B6\)/);
        assert.equal(info.maxConnections, 4);
        assert.equal(dongle.resets, 1, 'the link was opened with an H5 RESET');
      } finally {
        await adapter.close();
      }
    });
  }

  it('api=5 on an API v6 firmware: SERIAL_WRONG_PROTOCOL naming the firmware to flash, before any configuration', async () => {
    const dongle = new FakeNrfDongle({ api: 6 });
    const e = await openError(dongle, { api: 5 });
    assert.equal(e.code, 'SERIAL_WRONG_PROTOCOL');
    assert.match(e.message, /S140 6\.1\.1 \(API v6.*asks for api=5/);
    assert.match(e.remedy ?? '', /api=6/);
    assert.match(e.remedy ?? '', /connectivity_4\.1\.4_usb_with_s132_5\.1\.0_dfu_pkg\.zip/);
    assert.deepEqual(dongle.commands.map((c) => c.kind), ['versionGet']);
  });

  it('a SoftDevice of another API (S130, API v2): refused, naming the v5/v6 firmware', async () => {
    const dongle = new FakeNrfDongle({ api: 6, fwid: 0x87 });
    const e = await openError(dongle);
    assert.equal(e.code, 'SERIAL_WRONG_PROTOCOL');
    assert.match(e.message, /S130 2\.0\.1 \(API v2/);
    assert.match(e.remedy ?? '', /connectivity_4\.1\.4_usb_with_s140_6\.1\.1/);
  });

  it('no version before enable: the role count keeps its default (3 links) and the version is read after enabling', async () => {
    const { dongle, adapter } = await open({ api: 5, versionBeforeEnable: false });
    try {
      assert.deepEqual(
        dongle.commands.map((c) => (c.kind === 'cfgSet' ? `cfgSet:${c.config.id}` : c.kind)),
        ['versionGet', 'cfgSet:connGap', 'cfgSet:connGatt', 'cfgSet:connGattc', 'enable', 'versionGet', 'uuidVsAdd', 'gapAddrGet'],
      );
      const gap = dongle.of('cfgSet')[0]?.config;
      assert.equal(gap?.id === 'connGap' ? gap.connCount : undefined, 3);
      assert.equal(adapter.info().maxConnections, 3);
      assert.match(adapter.info().identity, /API v5/);
    } finally {
      await adapter.close();
    }
  });

  it('NO_MEM from sd_ble_enable: the write queue shrinks, then the number of links, until it fits', async () => {
    const dongle = new FakeNrfDongle({ api: 6 });
    let queue = 0;
    let links = 0;
    dongle.on('cfgSet', (c) => {
      if (c.config.id === 'connGattc') queue = c.config.writeCmdTxQueueSize;
      if (c.config.id === 'connGap') links = c.config.connCount;
      return undefined;
    });
    // RAM for 2 links with one queued write command each.
    dongle.on('enable', () => (queue <= 1 && links <= 2 ? undefined : { result: 4 }));
    const adapter = await createNrfAdapter(dongle.host, options());
    try {
      assert.deepEqual(
        dongle.of('cfgSet').filter((c) => c.config.id === 'connGattc').map((c) => (c.config.id === 'connGattc' ? c.config.writeCmdTxQueueSize : 0)),
        [8, 4, 2, 1, 1, 1],
      );
      assert.equal(adapter.info().maxConnections, 2);
    } finally {
      await adapter.close();
    }
  });

  it('a device that never answers SYNC: SERIAL_NO_RESPONSE, and the transport is closed', async () => {
    const [host, device] = createMemoryDuplexPair();
    const heard: number[] = [];
    const reading = (async () => {
      for await (const chunk of device.readable()) heard.push(...chunk);
    })().catch(() => undefined);
    try {
      await createNrfAdapter(host, options({ link: { ...FAST_LINK, retransmitMs: 10, maxTransmissions: 3 } }));
      assert.fail('opened');
    } catch (e) {
      assert.ok(hasCode(e, 'SERIAL_NO_RESPONSE'), String(e));
      assert.match(e.message, /no SYNC RESPONSE from the nRF device after 3 tries/);
    }
    assert.ok(host.closed.aborted);
    await reading;
    // A delimiter, RESET, then three SYNCs.
    assert.deepEqual(heard.slice(0, 7), [0xc0, 0xc0, 0x00, 0x05, 0x00, 0xfb, 0xc0]);
    assert.equal(heard.length, 1 + 6 + 3 * 8);
  });
});

describe('nrf adapter: scanning', () => {
  const report6 = (scanResponse: boolean, data: number[]): NrfEvent => ({
    kind: 'gapAdvReport',
    api: 6,
    connHandle: 0xffff,
    type: { connectable: !scanResponse, scannable: !scanResponse, directed: false, scanResponse, extendedPdu: false, status: 0, reserved: 0 },
    peerAddr: PEER_ADDR,
    directAddr: { idPeer: false, type: 0, address: new Uint8Array(6) },
    primaryPhy: 1,
    secondaryPhy: 0,
    txPower: 127,
    rssi: -40,
    chIndex: 37,
    setId: 0xff,
    dataId: 0,
    bufferId: 1,
    data: Uint8Array.from(data),
    auxPointer: { auxOffset: 0, auxPhy: 0 },
  });

  it('API v6: starts with a report buffer, continues after every report, merges the scan response, stops when the consumer leaves', async () => {
    const { dongle, adapter } = await open({ api: 6 });
    try {
      const stop = new AbortController();
      const seen: Advertisement[] = [];
      const scanning = (async () => {
        for await (const adv of adapter.scan({ active: true, signal: stop.signal })) {
          seen.push(adv);
          if (seen.length === 2) stop.abort();
        }
      })();
      await settle();
      const start = dongle.of('gapScanStart')[0];
      assert.ok(start?.params?.api === 6);
      assert.equal(start.params.active, true);
      assert.deepEqual(start.reportBuffer, { bufferId: 1, len: 31 });
      // Flags + complete name "DfuTarg", then a scan response with 16-bit UUID FE59.
      dongle.emit(report6(false, [0x02, 0x01, 0x06, 0x08, 0x09, ...new TextEncoder().encode('DfuTarg')]));
      await settle();
      dongle.emit(report6(true, [0x03, 0x03, 0x59, 0xfe]));
      await scanning;
      await settle();
      assert.equal(seen[0]?.name, 'DfuTarg');
      assert.equal(seen[0]?.connectable, true);
      assert.equal(seen[0]?.address.value, PEER.value);
      assert.deepEqual(seen[1]?.serviceUuids, ['FE59']);
      assert.equal(seen[1]?.name, 'DfuTarg', 'the scan response was appended to the advertising data');
      const starts = dongle.of('gapScanStart');
      assert.equal(starts.length, 3, 'one start and one continue per report');
      assert.deepEqual(starts.slice(1).map((s) => [s.params, s.reportBuffer]), [
        [null, { bufferId: 1, len: 31 }],
        [null, { bufferId: 1, len: 31 }],
      ]);
      assert.equal(dongle.of('gapScanStop').length, 1);
    } finally {
      await adapter.close();
    }
  });

  it('API v5: no buffer and no continue; timeout in seconds', async () => {
    const { dongle, adapter } = await open({ api: 5 });
    try {
      const stop = new AbortController();
      const scanning = (async () => {
        for await (const _ of adapter.scan({ active: false, signal: stop.signal })) stop.abort();
      })();
      await settle();
      dongle.emit({
        kind: 'gapAdvReport',
        api: 5,
        connHandle: 0xffff,
        peerAddr: PEER_ADDR,
        directAddr: { idPeer: false, type: 0, address: new Uint8Array(6) },
        rssi: -50,
        scanRsp: false,
        type: 0,
        data: Uint8Array.of(0x02, 0x01, 0x06),
      });
      await scanning;
      await settle();
      const starts = dongle.of('gapScanStart');
      assert.equal(starts.length, 1);
      assert.deepEqual(starts[0]?.params, { api: 5, active: false, useWhitelist: false, advDirReport: false, interval: 0x60, window: 0x30, timeout: 0 });
      assert.equal(starts[0]?.reportBuffer, undefined);
    } finally {
      await adapter.close();
    }
  });
});

describe('nrf adapter: connections', () => {
  it('connects with tag 1, then exchanges MTU 247, asks for 251-byte packets and 2M; the connection reports what was agreed', async () => {
    const { dongle, adapter } = await open({ api: 6 });
    connectingDongle(dongle, 6);
    try {
      const conn = await adapter.connect(PEER, { timeoutMs: 4_000 });
      const c = dongle.of('gapConnect')[0];
      assert.deepEqual(c?.peerAddr, PEER_ADDR);
      assert.equal(c?.connCfgTag, 1);
      assert.equal(c?.scanParams.api === 6 && c.scanParams.timeout, 400, 'v6 connect timeout in 10 ms units');
      assert.deepEqual(dongle.of('gattcExchangeMtuRequest').map((m) => m.clientRxMtu), [247]);
      assert.deepEqual(dongle.of('gapDataLengthUpdate')[0]?.params, { maxTxOctets: 251, maxRxOctets: 251, maxTxTimeUs: 0, maxRxTimeUs: 0 });
      assert.deepEqual(dongle.of('gapPhyUpdate')[0]?.phys, { txPhys: 2, rxPhys: 2 });
      assert.equal(conn.mtu, 185);
      assert.equal(conn.address.value, PEER.value);
      assert.deepEqual(conn.parameters, { intervalUs: 15_000, latency: 0, supervisionTimeoutMs: 4_000 });
      assert.equal(adapter.info().activeConnections, 1);
      await conn.disconnect();
      assert.ok(conn.closed.aborted);
      assert.deepEqual(dongle.of('gapDisconnect').map((d) => [d.connHandle, d.hciStatusCode]), [[HANDLE, 0x13]]);
      assert.equal(adapter.info().activeConnections, 0);
    } finally {
      await adapter.close();
    }
  });

  it('the link dropping is LINK_LOST with the HCI reason', async () => {
    const { dongle, adapter } = await open({ api: 5 });
    connectingDongle(dongle, 5);
    try {
      const conn = await adapter.connect(PEER);
      const c = dongle.of('gapConnect')[0];
      assert.equal(c?.scanParams.api === 5 && c.scanParams.timeout, 10, 'v5 connect timeout in seconds');
      dongle.emit({ kind: 'gapDisconnected', connHandle: HANDLE, reason: 0x08 });
      await settle();
      assert.ok(conn.closed.aborted);
      const reason = conn.closed.reason as BledfuError;
      assert.equal(reason.code, 'LINK_LOST');
      assert.equal(reason.facts.hciStatus, 0x08);
      await assert.rejects(conn.read(0x10), (e: unknown) => hasCode(e, 'LINK_LOST'));
    } finally {
      await adapter.close();
    }
  });

  it('the SoftDevice ending the attempt (GAP timeout, src conn) is CONNECT_FAILED', async () => {
    const { dongle, adapter } = await open({ api: 6 });
    dongle.on('gapConnect', () => ({ events: [{ kind: 'gapTimeout', connHandle: 0xffff, src: 2 }] }));
    try {
      await assert.rejects(adapter.connect(PEER, { timeoutMs: 200 }), (e: unknown) => hasCode(e, 'CONNECT_FAILED') && /within 200 ms/.test(e.message));
    } finally {
      await adapter.close();
    }
  });

  it("answers the peer's requests: MTU, connection parameters, data length, PHY, system attributes, user memory, indications", async () => {
    const { dongle, adapter } = await open({ api: 6 });
    connectingDongle(dongle, 6);
    try {
      const conn = await adapter.connect(PEER);
      const params = { minConnInterval: 12, maxConnInterval: 12, slaveLatency: 0, connSupTimeout: 400 };
      dongle.emit({ kind: 'gattsExchangeMtuRequest', connHandle: HANDLE, clientRxMtu: 100 });
      dongle.emit({ kind: 'gapConnParamUpdateRequest', connHandle: HANDLE, connParams: params });
      dongle.emit({ kind: 'gapConnParamUpdateRequest', connHandle: HANDLE, connParams: { ...params, connSupTimeout: 5 } });
      dongle.emit({ kind: 'gapDataLengthUpdateRequest', connHandle: HANDLE, peerParams: { maxTxOctets: 251, maxRxOctets: 251, maxTxTimeUs: 2120, maxRxTimeUs: 2120 } });
      dongle.emit({ kind: 'gapPhyUpdateRequest', connHandle: HANDLE, peerPreferredPhys: { txPhys: 3, rxPhys: 3 } });
      dongle.emit({ kind: 'gattsSysAttrMissing', connHandle: HANDLE, hint: 0 });
      dongle.emit({ kind: 'userMemRequest', connHandle: HANDLE, type: 1 });
      dongle.emit({ kind: 'gattcHvx', connHandle: HANDLE, gattStatus: 0, errorHandle: 0, handle: 0x22, type: 2, data: Uint8Array.of(1) });
      await settle(40);
      assert.deepEqual(dongle.of('gattsExchangeMtuReply').map((c) => c.serverRxMtu), [247]);
      assert.equal(conn.mtu, 100);
      assert.deepEqual(dongle.of('gapConnParamUpdate').map((c) => c.connParams), [params, null], 'acceptable parameters accepted, others rejected');
      assert.deepEqual(dongle.of('gapDataLengthUpdate').slice(1).map((c) => [c.params, c.wantLimitation]), [[null, false]]);
      assert.deepEqual(dongle.of('gapPhyUpdate').slice(1).map((c) => c.phys), [{ txPhys: 3, rxPhys: 3 }]);
      assert.deepEqual(dongle.of('gattsSysAttrSet').map((c) => [c.sysAttrData, c.flags]), [[null, 0]]);
      assert.deepEqual(dongle.of('userMemReply').map((c) => c.connHandle), [HANDLE]);
      assert.deepEqual(dongle.of('gattcHvConfirm').map((c) => c.handle), [0x22]);
      dongle.emit({ kind: 'gapConnParamUpdate', connHandle: HANDLE, connParams: params });
      await settle();
      assert.equal(conn.parameters.intervalUs, 15_000);
    } finally {
      await adapter.close();
    }
  });
});

describe('nrf adapter: GATT client', () => {
  /** Secure DFU service (16-bit) with the control point (vendor base 2) and packet (base unknown: type 0). */
  function gattServer(dongle: FakeNrfDongle): void {
    const status = (found: boolean) => ({ connHandle: HANDLE, gattStatus: found ? 0 : 0x010a, errorHandle: 0 });
    dongle.on('gattcPrimaryServicesDiscover', (c: CommandOf<'gattcPrimaryServicesDiscover'>) => {
      const services = c.startHandle <= 0x10 ? [{ uuid: { uuid: 0xfe59, type: 1 }, startHandle: 0x10, endHandle: 0x15 }] : [];
      return { events: [{ kind: 'gattcPrimSrvcDiscRsp', ...status(services.length > 0), services }] };
    });
    const chars = [
      { uuid: { uuid: 0x0001, type: 2 }, props: props({ write: true, notify: true }), extProps: false, handleDecl: 0x11, handleValue: 0x12 },
      { uuid: { uuid: 0x0000, type: 0 }, props: props({ writeWoResp: true }), extProps: false, handleDecl: 0x14, handleValue: 0x15 },
    ];
    dongle.on('gattcCharacteristicsDiscover', (c) => {
      const found = chars.filter((ch) => ch.handleDecl >= c.range.startHandle && ch.handleDecl <= c.range.endHandle);
      return { events: [{ kind: 'gattcCharDiscRsp', ...status(found.length > 0), chars: found }] };
    });
    dongle.on('gattcDescriptorsDiscover', (c) => {
      const descs = c.range.startHandle <= 0x13 ? [{ handle: 0x13, uuid: { uuid: 0x2902, type: 1 } }] : [];
      return { events: [{ kind: 'gattcDescDiscRsp', ...status(descs.length > 0), descs }] };
    });
    dongle.on('gattcRead', (c) => {
      const data = c.handle === 0x14 ? Uint8Array.from([0x04, 0x15, 0x00, ...uuidToBytes(UUIDS.dfuPacket)]) : Uint8Array.of(0xab);
      return { events: [{ kind: 'gattcReadRsp', connHandle: HANDLE, gattStatus: 0, errorHandle: 0, handle: c.handle, offset: c.offset, data }] };
    });
    dongle.on('gattcWrite', (c) =>
      c.params.writeOp === 1
        ? {
            events: [
              c.params.handle === 0x99
                ? { kind: 'gattcWriteRsp', connHandle: HANDLE, gattStatus: 0x0103, errorHandle: 0x99, handle: 0x99, writeOp: 1, offset: 0, data: new Uint8Array() }
                : { kind: 'gattcWriteRsp', connHandle: HANDLE, gattStatus: 0, errorHandle: 0, handle: c.params.handle, writeOp: 1, offset: 0, data: new Uint8Array() },
            ],
          }
        : undefined,
    );
  }
  const props = (p: Partial<Record<'broadcast' | 'read' | 'writeWoResp' | 'write' | 'notify' | 'indicate' | 'authSignedWr', boolean>>) => ({
    broadcast: false,
    read: false,
    writeWoResp: false,
    write: false,
    notify: false,
    indicate: false,
    authSignedWr: false,
    ...p,
  });

  it('discovers services, characteristics (vendor base and unknown base) and CCCDs', async () => {
    const { dongle, adapter } = await open({ api: 6 });
    connectingDongle(dongle, 6);
    gattServer(dongle);
    try {
      const conn = await adapter.connect(PEER);
      const services = await conn.discoverServices();
      assert.deepEqual(services, [
        {
          uuid: 'FE59',
          startHandle: 0x10,
          endHandle: 0x15,
          characteristics: [
            { uuid: UUIDS.dfuControlPoint, handle: 0x11, valueHandle: 0x12, properties: 0x18, cccdHandle: 0x13 },
            { uuid: UUIDS.dfuPacket, handle: 0x14, valueHandle: 0x15, properties: 0x04 },
          ],
        },
      ]);
      // The unknown base was read from the characteristic declaration.
      assert.deepEqual(dongle.of('gattcRead').map((r) => r.handle), [0x14]);
    } finally {
      await adapter.close();
    }
  });

  it('with characteristicsOf, a service not named is listed but not explored', async () => {
    const { dongle, adapter } = await open({ api: 6 });
    connectingDongle(dongle, 6);
    gattServer(dongle);
    try {
      const conn = await adapter.connect(PEER);
      const services = await conn.discoverServices(undefined, { characteristicsOf: [UUIDS.deviceInformationService] });
      assert.deepEqual(services, [{ uuid: 'FE59', startHandle: 0x10, endHandle: 0x15, characteristics: [] }]);
      assert.equal(dongle.of('gattcCharacteristicsDiscover').length, 0);
      assert.equal(dongle.of('gattcDescriptorsDiscover').length, 0);
    } finally {
      await adapter.close();
    }
  });

  it('write requests surface ATT errors by name; subscriptions deliver notifications', async () => {
    const { dongle, adapter } = await open({ api: 6 });
    connectingDongle(dongle, 6);
    gattServer(dongle);
    try {
      const conn = await adapter.connect(PEER);
      await assert.rejects(conn.write(0x99, Uint8Array.of(1)), (e: unknown) => hasCode(e, 'ATT_ERROR') && e.facts.attError === 0x03);
      const [service] = await conn.discoverServices();
      const cp = service?.characteristics[0];
      assert.ok(cp);
      const sub = await conn.subscribe(cp, 'notify');
      const cccd = dongle.of('gattcWrite').find((w) => w.params.handle === 0x13);
      assert.deepEqual([...(cccd?.params.value ?? [])], [1, 0]);
      dongle.emit({ kind: 'gattcHvx', connHandle: HANDLE, gattStatus: 0, errorHandle: 0, handle: 0x12, type: 1, data: Uint8Array.of(0x60, 0x01, 0x01) });
      assert.deepEqual([...(await sub.receive())], [0x60, 0x01, 0x01]);
      sub.close();
    } finally {
      await adapter.close();
    }
  });

  it('write commands wait for a free slot of the SoftDevice queue (WRITE_CMD_TX_COMPLETE) and retry after NRF_ERROR_RESOURCES', async () => {
    const dongle = new FakeNrfDongle({ api: 6 });
    dongle.on('cfgSet', (c) => (c.config.id === 'connGattc' && c.config.writeCmdTxQueueSize > 2 ? { result: 4 } : undefined));
    const adapter = await createNrfAdapter(dongle.host, options());
    connectingDongle(dongle, 6);
    let full = false;
    dongle.on('gattcWrite', () => {
      if (!full) return undefined;
      full = false;
      return { result: 19 };
    });
    try {
      const conn = await adapter.connect(PEER);
      await conn.writeWithoutResponse(0x15, Uint8Array.of(1));
      await conn.writeWithoutResponse(0x15, Uint8Array.of(2));
      let third = false;
      const pending = conn.writeWithoutResponse(0x15, Uint8Array.of(3)).then(() => (third = true));
      await settle();
      assert.equal(third, false, 'no free slot: the third write waits');
      assert.equal(dongle.of('gattcWrite').length, 2);
      // One slot back, but the SoftDevice still says its queue is full: the write waits for the next.
      full = true;
      dongle.emit({ kind: 'gattcWriteCmdTxComplete', connHandle: HANDLE, gattStatus: 0, errorHandle: 0, count: 1 });
      await settle();
      assert.equal(third, false);
      assert.equal(dongle.of('gattcWrite').length, 3);
      dongle.emit({ kind: 'gattcWriteCmdTxComplete', connHandle: HANDLE, gattStatus: 0, errorHandle: 0, count: 2 });
      await pending;
      assert.deepEqual(dongle.of('gattcWrite').map((w) => [w.params.writeOp, w.params.value?.[0]]), [
        [2, 1],
        [2, 2],
        [2, 3],
        [2, 3],
      ]);
    } finally {
      await adapter.close();
    }
  });
});

describe('nrf adapter: a noisy line', () => {
  it('a lost answer to a write command or a write request: the write went out, the procedure still ends on its event', async () => {
    const { dongle, adapter } = await open({ api: 6 }, { responseTimeoutMs: 50 });
    connectingDongle(dongle, 6);
    try {
      const conn = await adapter.connect(PEER);
      dongle.on('gattcWrite', (c) =>
        c.params.writeOp === 1
          ? {
              responseLost: true,
              events: [{ kind: 'gattcWriteRsp', connHandle: HANDLE, gattStatus: 0, errorHandle: 0, handle: c.params.handle, writeOp: 1, offset: 0, data: new Uint8Array() }],
            }
          : { responseLost: true },
      );
      await conn.writeWithoutResponse(0x15, Uint8Array.of(1));
      await conn.write(0x12, Uint8Array.of(2));
      assert.equal(adapter.failed.aborted, false);
      assert.equal(conn.closed.aborted, false);
    } finally {
      await adapter.close();
    }
  });

  it('a WRITE_CMD_TX_COMPLETE that never comes does not stop write commands for good: after a while the SoftDevice is asked anyway', async () => {
    const dongle = new FakeNrfDongle({ api: 6 });
    dongle.on('cfgSet', (c) => (c.config.id === 'connGattc' && c.config.writeCmdTxQueueSize > 1 ? { result: 4 } : undefined));
    const adapter = await createNrfAdapter(dongle.host, options());
    connectingDongle(dongle, 6);
    try {
      const conn = await adapter.connect(PEER);
      await conn.writeWithoutResponse(0x15, Uint8Array.of(1));
      // Its TX_COMPLETE was lost: the next write waits, then asks; the queue is free, so it goes.
      let sent = false;
      const second = conn.writeWithoutResponse(0x15, Uint8Array.of(2)).then(() => (sent = true));
      await settle();
      assert.equal(sent, false, 'it waits for a slot first');
      assert.equal(dongle.of('gattcWrite').length, 1);
      await second;
      assert.equal(dongle.of('gattcWrite').length, 2);
    } finally {
      await adapter.close();
    }
  });
});

describe('nrf adapter: failure', () => {
  it('the transport closing fails the adapter with the transport error as cause, and its links', async () => {
    const { dongle, adapter } = await open({ api: 6 });
    connectingDongle(dongle, 6);
    const conn = await adapter.connect(PEER);
    await dongle.close();
    await settle();
    assert.ok(adapter.failed.aborted);
    const reason = adapter.failed.reason as BledfuError;
    assert.equal(reason.code, 'ADAPTER_UNAVAILABLE');
    assert.ok(hasCode(reason.cause, 'TRANSPORT_CLOSED'));
    assert.ok(conn.closed.aborted);
    assert.equal(adapter.info().state, 'failed');
    await adapter.close();
  });

  it('the device restarting (SYNC while active): links are LINK_LOST, the SoftDevice is set up again, scans and connects wait for it', async () => {
    const { dongle, adapter } = await open({ api: 6 });
    connectingDongle(dongle, 6);
    try {
      const conn = await adapter.connect(PEER);
      const before = dongle.commands.length;
      dongle.restart();
      await settle();
      assert.ok(conn.closed.aborted);
      assert.equal((conn.closed.reason as BledfuError).code, 'LINK_LOST');
      assert.match((conn.closed.reason as BledfuError).message, /restarted/);
      // Asked meanwhile: waits for the set-up instead of failing.
      const stop = new AbortController();
      const scanning = (async () => {
        for await (const _ of adapter.scan({ active: false, signal: stop.signal })) break;
      })();
      const again = adapter.connect(PEER);
      const conn2 = await again;
      assert.equal(adapter.info().state, 'ready');
      assert.equal(adapter.failed.aborted, false);
      assert.equal(dongle.resets, 2, 'the link was re-established from an H5 RESET');
      const after = dongle.commands.slice(before).map((c) => c.kind);
      assert.deepEqual(after.slice(0, 8), ['versionGet', 'cfgSet', 'cfgSet', 'cfgSet', 'cfgSet', 'enable', 'uuidVsAdd', 'gapAddrGet']);
      assert.ok(after.includes('gapScanStart'), 'the waiting scan started once the device was set up');
      assert.equal(conn2.closed.aborted, false);
      stop.abort();
      await scanning;
    } finally {
      await adapter.close();
    }
  });
});
