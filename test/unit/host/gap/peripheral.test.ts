import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../../server/ble/address.js';
import { concatBytes, fromHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import { silentLogger } from '../../../../server/common/logger.js';
import { GapPeripheral, type PeripheralAdvertising, type PeripheralConnection } from '../../../../server/host/gap/peripheral.js';
import type { DecodedCommand } from '../../../../server/host/hci/commands.js';
import { HciHost } from '../../../../server/host/hci/controller.js';
import type { HciEvent } from '../../../../server/host/hci/events.js';
import { ACL_PB } from '../../../../server/host/hci/packets.js';
import { FakeController } from '../../../helpers/fakeController.js';
import { settle } from '../../../helpers/manualClock.js';

const CENTRAL = '00:AA:01:00:00:42';
const ADV: PeripheralAdvertising = {
  address: parseAddress('F0:0D:C0:DE:00:01', 'random'),
  intervalMs: 100,
  data: fromHex('020106 03020a18'),
  scanResponse: fromHex('020a00'),
  connectable: true,
};

interface Recorded {
  readonly connections: PeripheralConnection[];
  readonly l2cap: { cid: number; payload: Uint8Array }[];
  readonly disconnects: number[];
  parameterChanges: number;
}

async function setup(): Promise<{ fake: FakeController; gap: GapPeripheral; seen: Recorded }> {
  const fake = new FakeController({ leBufferLength: 27, leBufferCount: 2 });
  const logger = silentLogger();
  const hci = new HciHost(fake.host, { logger, commandTimeoutMs: 1000 });
  const seen: Recorded = { connections: [], l2cap: [], disconnects: [], parameterChanges: 0 };
  const gap = new GapPeripheral(hci, {
    logger,
    onConnection: (c) => {
      seen.connections.push(c);
      return {
        onL2cap: (cid, payload) => seen.l2cap.push({ cid, payload }),
        onParametersChanged: () => seen.parameterChanges++,
        onDisconnected: (reason) => seen.disconnects.push(reason),
      };
    },
  });
  await gap.open();
  return { fake, gap, seen };
}

function peripheralConnection(handle: number, status = 0): HciEvent {
  return {
    kind: 'leConnectionComplete',
    status,
    handle,
    role: 1,
    peerAddressType: 0,
    peerAddress: CENTRAL,
    connInterval: 24,
    connLatency: 0,
    supervisionTimeout: 400,
    centralClockAccuracy: 0,
  };
}

/** The advertising commands the controller saw from index `from` on, as short strings. */
function advertisingCommands(fake: FakeController, from = 0): string[] {
  return fake.commands.slice(from).flatMap((c: DecodedCommand) => {
    switch (c.name) {
      case 'leSetRandomAddress':
        return [`random ${c.params.address}`];
      case 'leSetAdvertisingParameters':
        return [`params ${c.params.advertisingIntervalMin}/${c.params.advertisingIntervalMax} type ${c.params.advertisingType} own ${c.params.ownAddressType}`];
      case 'leSetAdvertisingData':
        return [`data ${c.params.data.length}`];
      case 'leSetScanResponseData':
        return [`scanRsp ${c.params.data.length}`];
      case 'leSetAdvertisingEnable':
        return [`enable ${c.params.enable}`];
      default:
        return [];
    }
  });
}

describe('GAP peripheral role', () => {
  it('opens the controller: reset, its address, event masks, LE buffers', async () => {
    const { fake, gap } = await setup();
    assert.deepEqual(
      fake.commands.map((c) => c.name),
      ['reset', 'readBdAddr', 'setEventMask', 'leSetEventMask', 'leReadBufferSize'],
    );
    assert.deepEqual(gap.address, { value: 'C0:FF:EE:00:00:01', type: 'public' });
  });

  it('advertises from a random address, does nothing for the same wish, and moves when the address changes', async () => {
    const { fake, gap } = await setup();
    await gap.setAdvertising(ADV);
    // 100 ms = 160 units of 0.625 ms; ADV_IND (0) from the random address (own type 1).
    assert.deepEqual(advertisingCommands(fake), ['random F0:0D:C0:DE:00:01', 'params 160/160 type 0 own 1', 'data 7', 'scanRsp 3', 'enable 1']);
    const mark = fake.commands.length;
    await gap.setAdvertising({ ...ADV, data: ADV.data.slice() });
    assert.deepEqual(advertisingCommands(fake, mark), []);
    await gap.setAdvertising({ ...ADV, address: parseAddress('F0:0D:C0:DE:00:02', 'random'), intervalMs: 25 });
    assert.deepEqual(advertisingCommands(fake, mark), ['enable 0', 'random F0:0D:C0:DE:00:02', 'params 40/40 type 0 own 1', 'data 7', 'scanRsp 3', 'enable 1']);
    const mark2 = fake.commands.length;
    await gap.setAdvertising(undefined);
    await gap.setAdvertising(undefined);
    assert.deepEqual(advertisingCommands(fake, mark2), ['enable 0']);
  });

  it('applies only the latest of a burst of changes once the one running is done', async () => {
    const { fake, gap } = await setup();
    const first = gap.setAdvertising(ADV);
    const second = gap.setAdvertising(undefined);
    const third = gap.setAdvertising(ADV);
    await Promise.all([first, second, third]);
    // The 2nd and 3rd changes both ran after the 1st and saw the same (latest) wish: nothing to do.
    assert.deepEqual(advertisingCommands(fake), ['random F0:0D:C0:DE:00:01', 'params 160/160 type 0 own 1', 'data 7', 'scanRsp 3', 'enable 1']);
  });

  it('hands over a connection, re-enables advertising after it without re-sending what the controller kept', async () => {
    const { fake, gap, seen } = await setup();
    await gap.setAdvertising(ADV);
    await fake.sendEvent(peripheralConnection(0x40));
    await settle();
    assert.equal(seen.connections.length, 1);
    const c = seen.connections[0] as PeripheralConnection;
    assert.equal(c.handle, 0x40);
    assert.deepEqual(c.peerAddress, { value: CENTRAL, type: 'public' });
    assert.deepEqual(c.parameters, { intervalUs: 30_000, latency: 0, supervisionTimeoutMs: 4000 });
    // Connecting ended the advertising: the same wish now only needs the enable again.
    const mark = fake.commands.length;
    await gap.setAdvertising(ADV);
    assert.deepEqual(advertisingCommands(fake, mark), ['enable 1']);
  });

  it('carries L2CAP both ways: reassembled ACL in, fragmented to the buffer size out', async () => {
    const { fake, seen } = await setup();
    await fake.sendEvent(peripheralConnection(0x40));
    await settle();
    const frame = fromHex('0700 0400 0a 0300 aabbcc dd');
    await fake.sendAclPacket({ handle: 0x40, pb: ACL_PB.firstFlushable, bc: 0, data: frame.subarray(0, 5) });
    await fake.sendAclPacket({ handle: 0x40, pb: ACL_PB.continuing, bc: 0, data: frame.subarray(5) });
    await settle();
    assert.deepEqual(seen.l2cap, [{ cid: 4, payload: fromHex('0a0300aabbccdd') }]);

    const c = seen.connections[0] as PeripheralConnection;
    const payload = Uint8Array.from({ length: 60 }, (_, i) => i);
    const mark = fake.acl.length;
    await c.sendL2cap(4, payload);
    await settle();
    const sent = fake.acl.slice(mark);
    // 64 octets of L2CAP frame in 27-octet ACL fragments: 27 + 27 + 10.
    assert.deepEqual(sent.map((p) => [p.handle, p.pb, p.data.length]), [[0x40, ACL_PB.firstNonFlushable, 27], [0x40, ACL_PB.continuing, 27], [0x40, ACL_PB.continuing, 10]]);
    assert.deepEqual(concatBytes(sent.map((p) => p.data)), concatBytes([fromHex('3c000400'), payload]));
  });

  it('accepts valid connection parameter requests with the asked values and refuses invalid ones', async () => {
    const { fake, seen } = await setup();
    await fake.sendEvent(peripheralConnection(0x40));
    await fake.sendEvent({ kind: 'leRemoteConnectionParameterRequest', handle: 0x40, intervalMin: 12, intervalMax: 12, maxLatency: 0, timeout: 600 });
    const reply = await fake.waitForCommand('leRemoteConnectionParameterRequestReply');
    assert.deepEqual(reply.params, { handle: 0x40, connIntervalMin: 12, connIntervalMax: 12, maxLatency: 0, supervisionTimeout: 600, minCeLength: 0, maxCeLength: 0 });
    await fake.sendEvent({ kind: 'leConnectionUpdateComplete', status: 0, handle: 0x40, connInterval: 12, connLatency: 0, supervisionTimeout: 600 });
    await settle();
    assert.equal(seen.parameterChanges, 1);
    assert.deepEqual(seen.connections[0]?.parameters, { intervalUs: 15_000, latency: 0, supervisionTimeoutMs: 6000 });

    // Supervision timeout shorter than the interval allows: refused as unacceptable (0x3B).
    await fake.sendEvent({ kind: 'leRemoteConnectionParameterRequest', handle: 0x40, intervalMin: 800, intervalMax: 800, maxLatency: 0, timeout: 100 });
    const negative = await fake.waitForCommand('leRemoteConnectionParameterRequestNegativeReply');
    assert.deepEqual(negative.params, { handle: 0x40, reason: 0x3b });
  });

  it('terminates a link with the reason given and reports it as ended by the local host', async () => {
    const { fake, seen } = await setup();
    // This controller echoes the reason sent, as BlueZ's emulator does.
    fake.on('disconnect', (c) => {
      if (c.name === 'disconnect') {
        setImmediate(() => void fake.sendEvent({ kind: 'disconnectionComplete', status: 0, handle: c.params.handle, reason: c.params.reason }));
      }
      return { kind: 'status', status: 0 } as const;
    });
    await fake.sendEvent(peripheralConnection(0x40));
    await settle();
    const c = seen.connections[0] as PeripheralConnection;
    await c.disconnect(0x08);
    const cmd = await fake.waitForCommand('disconnect');
    assert.deepEqual(cmd.params, { handle: 0x40, reason: 0x08 });
    assert.deepEqual(seen.disconnects, [0x16]);
    assert.ok(hasCode(c.closed.reason, 'LINK_LOST'));
    await assert.rejects(c.sendL2cap(4, Uint8Array.of(1)), (e: unknown) => hasCode(e, 'LINK_LOST'));
  });

  it('reports a central terminating with its reason, and a link the controller no longer knows as down', async () => {
    const { fake, seen } = await setup();
    await fake.sendEvent(peripheralConnection(0x40));
    await fake.sendEvent(peripheralConnection(0x41));
    await fake.sendEvent({ kind: 'disconnectionComplete', status: 0, handle: 0x40, reason: 0x13 });
    await settle();
    assert.deepEqual(seen.disconnects, [0x13]);
    // The peer controller vanished without a word (btvirt): Disconnect says Unknown Connection Identifier.
    fake.on('disconnect', () => ({ kind: 'status', status: 0x02 }));
    const second = seen.connections[1] as PeripheralConnection;
    await second.disconnect(0x13);
    assert.equal(second.closed.aborted, true);
    assert.deepEqual(seen.disconnects, [0x13, 0x16]);
  });

  it('ignores a failed connection and central-role connections', async () => {
    const { fake, seen } = await setup();
    await fake.sendEvent(peripheralConnection(0x40, 0x3e));
    await fake.sendEvent({ ...peripheralConnection(0x41), role: 0 } as HciEvent);
    await settle();
    assert.equal(seen.connections.length, 0);
  });
});
