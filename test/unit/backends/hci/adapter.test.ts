import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHciAdapter } from '../../../../server/backends/hci/adapter.js';
import { parseAddress } from '../../../../server/ble/address.js';
import type { Adapter } from '../../../../server/ble/types.js';
import { uuidToBytes, UUIDS } from '../../../../server/ble/uuid.js';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import { silentLogger } from '../../../../server/common/logger.js';
import { ATT_ERROR } from '../../../../server/host/att/errors.js';
import { ATT_OPCODES, type AttPdu } from '../../../../server/host/att/pdu.js';
import { maskOf } from '../../../../server/host/hci/commands.js';
import { SUPPORTED_COMMAND_BITS, supportedCommandsBitmapOf, type AdvertisedCommandName } from '../../../../server/host/hci/supportedCommands.js';
import { decodeL2capFrame, decodeSignalingCommand, encodeSignalingCommand, L2CAP_CID } from '../../../../server/host/l2cap/frames.js';
import { connectionComplete, FakeController, type FakeControllerOptions } from '../../../helpers/fakeController.js';
import { ManualClock, settle } from '../../../helpers/manualClock.js';

const PEER = 'F0:12:34:56:78:9A';
const HANDLE = 0x40;

/** A small Secure DFU-like attribute table: GAP service, then FE59 with control point + packet. */
interface Attr {
  readonly handle: number;
  readonly type: string;
  readonly value: Uint8Array;
  readonly end?: number;
}
const decl = (props: number, valueHandle: number, uuid: string): Uint8Array =>
  Uint8Array.from([props, valueHandle & 0xff, valueHandle >> 8, ...uuidToBytes(uuid)]);
const TABLE: readonly Attr[] = [
  { handle: 1, type: '2800', value: uuidToBytes('1800'), end: 3 },
  { handle: 2, type: '2803', value: decl(0x02, 3, '2A00') },
  { handle: 3, type: '2A00', value: new TextEncoder().encode('DfuTarg') },
  { handle: 0x10, type: '2800', value: uuidToBytes('FE59'), end: 0x15 },
  { handle: 0x11, type: '2803', value: decl(0x18, 0x12, UUIDS.dfuControlPoint) },
  { handle: 0x12, type: UUIDS.dfuControlPoint, value: new Uint8Array() },
  { handle: 0x13, type: '2902', value: fromHex('0000') },
  { handle: 0x14, type: '2803', value: decl(0x04, 0x15, UUIDS.dfuPacket) },
  { handle: 0x15, type: UUIDS.dfuPacket, value: new Uint8Array() },
];

function attServer(pdu: AttPdu): AttPdu | undefined {
  const notFound = (op: keyof typeof ATT_OPCODES, handle: number): AttPdu => ({
    op: 'errorRsp',
    requestOpcode: ATT_OPCODES[op],
    handle,
    errorCode: ATT_ERROR.attributeNotFound,
  });
  const inRange = (a: Attr, s: number, e: number): boolean => a.handle >= s && a.handle <= e;
  switch (pdu.op) {
    case 'exchangeMtuReq':
      return { op: 'exchangeMtuRsp', mtu: 185 };
    case 'readByGroupTypeReq': {
      const found = TABLE.filter((a) => a.type === pdu.type && inRange(a, pdu.startHandle, pdu.endHandle));
      // One per response, to exercise the continuation.
      const a = found[0];
      return a === undefined ? notFound(pdu.op, pdu.startHandle) : { op: 'readByGroupTypeRsp', entries: [{ handle: a.handle, endGroupHandle: a.end ?? a.handle, value: a.value }] };
    }
    case 'readByTypeReq': {
      const found = TABLE.filter((a) => a.type === pdu.type && inRange(a, pdu.startHandle, pdu.endHandle));
      const a = found[0];
      return a === undefined ? notFound(pdu.op, pdu.startHandle) : { op: 'readByTypeRsp', entries: [{ handle: a.handle, value: a.value }] };
    }
    case 'findInformationReq': {
      const found = TABLE.filter((a) => inRange(a, pdu.startHandle, pdu.endHandle));
      return found.length === 0
        ? notFound(pdu.op, pdu.startHandle)
        : { op: 'findInformationRsp', entries: found.filter((a) => a.type.length === 4).map((a) => ({ handle: a.handle, uuid: a.type })) };
    }
    case 'readReq': {
      const a = TABLE.find((x) => x.handle === pdu.handle);
      return a === undefined
        ? { op: 'errorRsp', requestOpcode: ATT_OPCODES.readReq, handle: pdu.handle, errorCode: ATT_ERROR.invalidHandle }
        : { op: 'readRsp', value: a.value };
    }
    case 'writeReq':
      return pdu.handle === 0x15
        ? { op: 'errorRsp', requestOpcode: ATT_OPCODES.writeReq, handle: pdu.handle, errorCode: 0x03 }
        : { op: 'writeRsp' };
    default:
      return undefined;
  }
}

async function open(
  options: FakeControllerOptions = {},
  timers?: ManualClock,
  maxConnections?: number,
): Promise<{ fake: FakeController; adapter: Adapter }> {
  const fake = new FakeController({ att: attServer, ...options });
  const adapter = await createHciAdapter(fake.host, {
    id: 'test',
    spec: 'fake:',
    kind: 'hci-uart',
    logger: silentLogger(),
    commandTimeoutMs: 1000,
    attTimeoutMs: 30_000,
    ...(timers === undefined ? {} : { clock: timers }),
    ...(maxConnections === undefined ? {} : { maxConnections }),
  });
  return { fake, adapter };
}

async function connect(fake: FakeController, adapter: Adapter, mtu?: number) {
  const connecting = adapter.connect(parseAddress(PEER), mtu === undefined ? {} : { mtu });
  await fake.waitForCommand('leCreateConnection');
  await fake.sendEvent(connectionComplete(HANDLE, PEER));
  return connecting;
}

describe('HCI adapter', () => {
  it('opens the controller and reports its identity', async () => {
    const { fake, adapter } = await open();
    assert.deepEqual(fake.commands.slice(0, 3).map((c) => c.name), ['reset', 'readLocalVersionInformation', 'readBdAddr']);
    const leMask = await fake.waitForCommand('leSetEventMask');
    assert.equal(leMask.params.mask & maskOf([0, 1, 2]), maskOf([0, 1, 2]));
    const info = adapter.info();
    assert.equal(info.state, 'ready');
    assert.equal(info.address?.value, 'C0:FF:EE:00:00:01');
    assert.match(info.identity, /Bluetooth 5\.3.*Nordic Semiconductor \(0x0059\)/);
    await adapter.close();
    assert.equal(adapter.info().state, 'closed');
  });

  it('falls back to Read Buffer Size when LE Read Buffer Size reports 0', async () => {
    const { fake, adapter } = await open({ leBufferLength: 0, leBufferCount: 0 });
    await fake.waitForCommand('readBufferSize');
    await adapter.close();
  });

  it('connects, exchanges the MTU and skips DLE and 2M PHY the controller refuses', async () => {
    const { fake, adapter } = await open({ leFeatures: maskOf([5, 8]) });
    fake.on('leSetDataLength', () => ({ kind: 'status', status: 0x01 }));
    fake.on('leSetPhy', () => ({ kind: 'status', status: 0x11 }));
    const create = fake.waitForCommand('leCreateConnection');
    const connection = await connect(fake, adapter, 247);
    assert.equal((await create).params.peerAddress, PEER);
    assert.equal(connection.mtu, 185);
    assert.equal(connection.address.value, PEER);
    assert.equal(connection.parameters.intervalUs, 30_000);
    assert.ok(fake.commands.some((c) => c.name === 'leSetPhy'));
    assert.equal(adapter.info().activeConnections, 1);
    const disconnecting = connection.disconnect();
    await fake.waitForCommand('disconnect');
    await fake.sendEvent({ kind: 'disconnectionComplete', status: 0, handle: HANDLE, reason: 0x16 });
    await disconnecting;
    assert.ok(hasCode(connection.closed.reason, 'LINK_LOST'));
    assert.equal(adapter.info().activeConnections, 0);
    await adapter.close();
  });

  it('connects without an LE Set PHY the controller leaves unanswered, and never sends it again on that controller', async () => {
    const timers = new ManualClock();
    const { fake, adapter } = await open({ leFeatures: maskOf([5, 8]) }, timers);
    fake.on('leSetPhy', () => ({ kind: 'silent' }));
    const count = (name: string): number => fake.commands.filter((c) => c.name === name).length;
    const first = connect(fake, adapter);
    await fake.waitForCommand('leSetPhy');
    await settle();
    assert.equal(timers.fire(1000), 1, 'the command timeout of the unanswered LE Set PHY');
    const a = await first;
    assert.equal(a.mtu, 185);
    const down = a.disconnect();
    await fake.waitForCommand('disconnect');
    await down;
    const from = fake.commands.length;
    const second = await connect(fake, adapter);
    assert.ok(fake.commands.slice(from).some((c) => c.name === 'leSetDataLength'), 'LE Set Data Length is still sent');
    assert.equal(count('leSetPhy'), 1);
    assert.equal(adapter.info().activeConnections, 1);
    assert.equal(second.address.value, PEER);
    await adapter.close();
  });

  it('never sends LE Set PHY or LE Set Data Length to a controller whose Supported_Commands lacks them', async () => {
    const all = Object.keys(SUPPORTED_COMMAND_BITS) as AdvertisedCommandName[];
    const supported = supportedCommandsBitmapOf(all.filter((n) => n !== 'leSetPhy' && n !== 'leSetDataLength' && n !== 'leWriteSuggestedDefaultDataLength'));
    const { fake, adapter } = await open({ leFeatures: maskOf([5, 8]), supportedCommands: supported });
    const connection = await connect(fake, adapter);
    assert.equal(connection.mtu, 185);
    assert.ok(fake.commands.some((c) => c.name === 'readLocalSupportedCommands'));
    assert.deepEqual(
      fake.commands.filter((c) => c.name === 'leSetPhy' || c.name === 'leSetDataLength' || c.name === 'leWriteSuggestedDefaultDataLength'),
      [],
    );
    await adapter.close();
  });

  it('discovers services, characteristics and CCCDs, reads, and reports ATT errors by name', async () => {
    const { fake, adapter } = await open();
    const connection = await connect(fake, adapter);
    const services = await connection.discoverServices();
    assert.deepEqual(
      services.map((s) => [s.uuid, s.startHandle, s.endHandle]),
      [
        ['1800', 1, 3],
        ['FE59', 0x10, 0x15],
      ],
    );
    const dfu = services[1]?.characteristics ?? [];
    assert.deepEqual(dfu, [
      { uuid: UUIDS.dfuControlPoint, handle: 0x11, valueHandle: 0x12, properties: 0x18, cccdHandle: 0x13 },
      { uuid: UUIDS.dfuPacket, handle: 0x14, valueHandle: 0x15, properties: 0x04 },
    ]);
    assert.equal(new TextDecoder().decode(await connection.read(3)), 'DfuTarg');
    await assert.rejects(connection.write(0x15, fromHex('01')), (e: unknown) => {
      assert.ok(hasCode(e, 'ATT_ERROR'));
      assert.equal(e.facts.attError, 3);
      assert.match(e.message, /Write Not Permitted \(0x03\)/);
      return true;
    });
    await adapter.close();
  });

  it('with characteristicsOf, lists every service but explores only the named ones (fewer ATT requests)', async () => {
    const { fake, adapter } = await open();
    const connection = await connect(fake, adapter);
    const before = fake.attSent(HANDLE).length;
    const all = await connection.discoverServices();
    const full = fake.attSent(HANDLE).length - before;
    const from = fake.attSent(HANDLE).length;
    const only = await connection.discoverServices(undefined, { characteristicsOf: [UUIDS.secureDfuService] });
    const sent = fake.attSent(HANDLE).slice(from);
    assert.deepEqual(
      only.map((s) => [s.uuid, s.startHandle, s.endHandle, s.characteristics.length]),
      [
        ['1800', 1, 3, 0],
        ['FE59', 0x10, 0x15, 2],
      ],
    );
    assert.deepEqual(only[1]?.characteristics, all[1]?.characteristics);
    assert.ok(all[0]?.characteristics.length !== 0, 'a full discovery explores Generic Access');
    // Generic Access (handles 1–3) is never asked about.
    const explored = sent.filter((p) => p.op !== 'readByGroupTypeReq');
    assert.ok(explored.length > 0 && explored.every((p) => 'startHandle' in p && p.startHandle >= 0x10), JSON.stringify(sent));
    assert.ok(sent.length < full, `${sent.length} requests with characteristicsOf, ${full} without`);
    await adapter.close();
  });

  it('subscribes through the CCCD and delivers notifications; write commands go out as Write Command', async () => {
    const { fake, adapter } = await open();
    const connection = await connect(fake, adapter);
    const [, dfu] = await connection.discoverServices();
    const cp = dfu?.characteristics[0];
    assert.ok(cp);
    const sub = await connection.subscribe(cp, 'notify');
    assert.deepEqual(fake.attSent(HANDLE).at(-1), { op: 'writeReq', handle: 0x13, value: fromHex('0100') });
    await connection.writeWithoutResponse(0x15, fromHex('aabb'));
    assert.deepEqual(fake.attSent(HANDLE).at(-1), { op: 'writeCmd', handle: 0x15, value: fromHex('aabb') });
    await fake.sendAtt(HANDLE, { op: 'handleValueNtf', handle: 0x12, value: fromHex('600101') });
    await fake.sendAtt(HANDLE, { op: 'handleValueNtf', handle: 0x99, value: fromHex('00') });
    await fake.sendAtt(HANDLE, { op: 'handleValueInd', handle: 0x12, value: fromHex('600301') });
    assert.equal(toHex(await sub.receive()), '600101');
    assert.equal(toHex(await sub.receive()), '600301');
    await settle();
    assert.deepEqual(fake.attSent(HANDLE).at(-1), { op: 'handleValueCfm' });
    await adapter.close();
  });

  it('keeps one ATT request outstanding and queues the rest', async () => {
    const { fake, adapter } = await open({ att: (pdu) => (pdu.op === 'readReq' ? undefined : attServer(pdu)) });
    const connection = await connect(fake, adapter);
    const from = fake.attSent(HANDLE).length;
    const a = connection.read(1);
    const b = connection.read(2);
    await settle();
    assert.deepEqual(fake.attSent(HANDLE).slice(from), [{ op: 'readReq', handle: 1 }]);
    await fake.sendAtt(HANDLE, { op: 'readRsp', value: fromHex('01') });
    assert.equal(toHex(await a), '01');
    await settle();
    assert.deepEqual(fake.attSent(HANDLE).slice(from), [
      { op: 'readReq', handle: 1 },
      { op: 'readReq', handle: 2 },
    ]);
    await fake.sendAtt(HANDLE, { op: 'readRsp', value: fromHex('02') });
    assert.equal(toHex(await b), '02');
    await adapter.close();
  });

  it('times out an unanswered ATT request with ATT_TIMEOUT naming it, and drops the link', async () => {
    const timers = new ManualClock();
    const { fake, adapter } = await open({ att: (pdu) => (pdu.op === 'readReq' ? undefined : attServer(pdu)) }, timers);
    const connection = await connect(fake, adapter);
    const reading = connection.read(7);
    await settle();
    assert.equal(timers.fire(30_000), 1);
    await assert.rejects(reading, (e: unknown) => hasCode(e, 'ATT_TIMEOUT') && /ATT Read Request/.test(e.message));
    await fake.waitForCommand('disconnect');
    await adapter.close();
  });

  it('fails pending ATT requests with LINK_LOST naming the disconnect reason', async () => {
    const { fake, adapter } = await open({ att: (pdu) => (pdu.op === 'readReq' ? undefined : attServer(pdu)) });
    const connection = await connect(fake, adapter);
    const sub = await connection.subscribe({ uuid: 'X', handle: 0x11, valueHandle: 0x12, properties: 0x10, cccdHandle: 0x13 }, 'notify');
    const reading = connection.read(3);
    await settle();
    await fake.sendEvent({ kind: 'disconnectionComplete', status: 0, handle: HANDLE, reason: 0x08 });
    const isLost = (e: unknown): boolean =>
      hasCode(e, 'LINK_LOST') && e.facts.hciStatus === 0x08 && e.message === 'link lost: Connection Timeout (0x08)';
    await assert.rejects(reading, isLost);
    await assert.rejects(sub.receive(), isLost);
    await assert.rejects(connection.write(0x12, fromHex('01')), isLost);
    assert.ok(isLost(connection.closed.reason));
    await adapter.close();
  });

  it('answers an L2CAP Connection Parameter Update Request and applies it', async () => {
    const { fake, adapter } = await open();
    await connect(fake, adapter);
    const request = encodeSignalingCommand({ kind: 'connectionParameterUpdateRequest', identifier: 9, intervalMin: 6, intervalMax: 12, latency: 0, timeout: 400 });
    await fake.sendL2cap(HANDLE, L2CAP_CID.leSignaling, request);
    const update = await fake.waitForCommand('leConnectionUpdate');
    assert.deepEqual(update.params, { handle: HANDLE, connIntervalMin: 6, connIntervalMax: 12, maxLatency: 0, supervisionTimeout: 400, minCeLength: 0, maxCeLength: 0 });
    const reply = await fake.waitForAcl((p) => p.handle === HANDLE && decodeL2capFrame(p.data).cid === L2CAP_CID.leSignaling);
    assert.deepEqual(decodeSignalingCommand(decodeL2capFrame(reply.data).payload), { kind: 'connectionParameterUpdateResponse', identifier: 9, result: 0 });
    // Unreasonable parameters (timeout shorter than the interval allows) are rejected.
    const from = fake.acl.length;
    await fake.sendL2cap(HANDLE, L2CAP_CID.leSignaling, encodeSignalingCommand({ kind: 'connectionParameterUpdateRequest', identifier: 10, intervalMin: 800, intervalMax: 800, latency: 0, timeout: 10 }));
    const rejected = await fake.waitForAcl((p) => decodeL2capFrame(p.data).cid === L2CAP_CID.leSignaling, from);
    assert.deepEqual(decodeSignalingCommand(decodeL2capFrame(rejected.data).payload), { kind: 'connectionParameterUpdateResponse', identifier: 10, result: 1 });
    // Unknown signaling commands get Command Reject; pairing gets Pairing Not Supported.
    const from2 = fake.acl.length;
    await fake.sendL2cap(HANDLE, L2CAP_CID.leSignaling, fromHex('14 0b 02 00 aa bb'));
    const rej = await fake.waitForAcl((p) => decodeL2capFrame(p.data).cid === L2CAP_CID.leSignaling, from2);
    assert.equal(toHex(decodeL2capFrame(rej.data).payload), '010b02000000');
    await fake.sendL2cap(HANDLE, L2CAP_CID.smp, fromHex('01 03 00 01 10 07 07'));
    const smp = await fake.waitForAcl((p) => decodeL2capFrame(p.data).cid === L2CAP_CID.smp);
    assert.equal(toHex(decodeL2capFrame(smp.data).payload), '0505');
    await adapter.close();
  });

  it('gives up connecting after the timeout with LE Create Connection Cancel and CONNECT_FAILED', async () => {
    const timers = new ManualClock();
    const { fake, adapter } = await open({}, timers);
    fake.on('leCreateConnectionCancel', () => {
      void fake.sendEvent(connectionComplete(0, '00:00:00:00:00:00', 0x02));
      return { kind: 'ok' };
    });
    const connecting = adapter.connect(parseAddress(PEER), { timeoutMs: 5000 });
    await fake.waitForCommand('leCreateConnection');
    await settle();
    assert.equal(timers.fire(5000), 1);
    await assert.rejects(connecting, (e: unknown) => hasCode(e, 'CONNECT_FAILED'));
    assert.ok(fake.commands.some((c) => c.name === 'leCreateConnectionCancel'));
    await adapter.close();
  });

  it('scans, merges scan responses, and stops scanning when the signal aborts', async () => {
    const { fake, adapter } = await open();
    const ac = new AbortController();
    const seen: string[] = [];
    const scanning = (async () => {
      for await (const adv of adapter.scan({ active: true, signal: ac.signal })) {
        seen.push(`${adv.address.value} ${adv.name ?? '-'} ${adv.serviceUuids.join(',')} ${adv.connectable}`);
        if (seen.length === 2) ac.abort();
      }
    })();
    await fake.waitForCommand('leSetScanEnable');
    await fake.sendEvent({
      kind: 'leAdvertisingReport',
      reports: [
        { eventType: 0, addressType: 1, address: PEER, data: fromHex('020106 0303 59fe'.replace(/ /g, '')), rssi: -50 },
        { eventType: 4, addressType: 1, address: PEER, data: fromHex('080944667554617267'), rssi: -51 },
      ],
    });
    await scanning;
    assert.deepEqual(seen, [`${PEER} - FE59 true`, `${PEER} DfuTarg FE59 true`]);
    await settle();
    const enables = fake.commands.filter((c) => c.name === 'leSetScanEnable').map((c) => (c.params as { enable: number }).enable);
    assert.deepEqual(enables, [1, 0]);
    await adapter.close();
  });

  it('lets two scans share the controller scan: one enable, one disable after both stop', async () => {
    const { fake, adapter } = await open();
    const from = fake.commands.length;
    const scanners = [new AbortController(), new AbortController()].map((ac) => {
      const seen: string[] = [];
      const done = (async () => {
        for await (const adv of adapter.scan({ active: true, signal: ac.signal })) seen.push(`${adv.address.value} ${adv.name ?? '-'}`);
      })();
      return { ac, seen, done };
    });
    await settle();
    await fake.sendEvent({
      kind: 'leAdvertisingReport',
      reports: [
        { eventType: 0, addressType: 1, address: PEER, data: fromHex('0201060303 59fe'.replace(/ /g, '')), rssi: -50 },
        { eventType: 4, addressType: 1, address: PEER, data: fromHex('080944667554617267'), rssi: -51 },
      ],
    });
    await settle();
    const enables = (): number[] =>
      fake.commands.slice(from).flatMap((c) => (c.name === 'leSetScanEnable' ? [c.params.enable] : []));
    for (const s of scanners) assert.deepEqual(s.seen, [`${PEER} -`, `${PEER} DfuTarg`]);
    scanners[0]?.ac.abort();
    await scanners[0]?.done;
    assert.deepEqual(enables(), [1]);
    scanners[1]?.ac.abort();
    await scanners[1]?.done;
    assert.deepEqual(enables(), [1, 0]);
    await adapter.close();
  });

  it('queues a second connect behind the first and connects both in turn', async () => {
    const { fake, adapter } = await open();
    const other = 'F0:12:34:56:78:9B';
    const first = adapter.connect(parseAddress(PEER));
    const second = adapter.connect(parseAddress(other));
    await fake.waitForCommand('leCreateConnection');
    await settle();
    const creates = (): string[] => fake.commands.flatMap((c) => (c.name === 'leCreateConnection' ? [c.params.peerAddress] : []));
    assert.deepEqual(creates(), [PEER]);
    await fake.sendEvent(connectionComplete(HANDLE, PEER));
    await settle();
    assert.deepEqual(creates(), [PEER, other], 'the second LE Create Connection follows the first completion');
    await fake.sendEvent(connectionComplete(HANDLE + 1, other));
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.address.value, PEER);
    assert.equal(b.address.value, other);
    assert.equal(adapter.info().activeConnections, 2);
    await adapter.close();
  });

  it('still refuses with ADAPTER_BUSY at maxConnections, also for an attempt that waited in line', async () => {
    const { fake, adapter } = await open({}, undefined, 1);
    const first = adapter.connect(parseAddress(PEER));
    const second = adapter.connect(parseAddress('F0:12:34:56:78:9B'));
    await fake.waitForCommand('leCreateConnection');
    await fake.sendEvent(connectionComplete(HANDLE, PEER));
    await first;
    await assert.rejects(second, (e: unknown) => hasCode(e, 'ADAPTER_BUSY'));
    await assert.rejects(adapter.connect(parseAddress('F0:12:34:56:78:9C')), (e: unknown) => hasCode(e, 'ADAPTER_BUSY'));
    assert.equal(fake.commands.filter((c) => c.name === 'leCreateConnection').length, 1);
    await adapter.close();
  });

  it('fails every connection and the adapter when the transport closes', async () => {
    const { fake, adapter } = await open();
    const connection = await connect(fake, adapter);
    await fake.close();
    await settle();
    assert.ok(hasCode(connection.closed.reason, 'ADAPTER_UNAVAILABLE'));
    assert.equal(adapter.info().state, 'failed');
    assert.ok(hasCode(adapter.info().error, 'ADAPTER_UNAVAILABLE'));
    await assert.rejects(connection.read(3), (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE'));
    await adapter.close();
  });
});
