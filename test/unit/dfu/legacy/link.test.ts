/**
 * LegacyLink (server/dfu/legacy/link.ts) against a scripted device: what it writes where, how the
 * firmware stream is paced by packet receipt notifications, and which notifications end it with
 * which error. The device answers from the writes it sees, so nothing here waits on time.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../../server/ble/address.js';
import type { Connection, GattCharacteristic, Subscription } from '../../../../server/ble/types.js';
import { AsyncQueue } from '../../../../server/common/asyncQueue.js';
import { realClock } from '../../../../server/common/clock.js';
import { hasCode } from '../../../../server/common/errors.js';
import { silentLogger } from '../../../../server/common/logger.js';
import { LegacyLink } from '../../../../server/dfu/legacy/link.js';

const CP: GattCharacteristic = { uuid: '00001531-1212-EFDE-1523-785FEABCD123', handle: 10, valueHandle: 11, properties: 0x18, cccdHandle: 12 };
const PACKET: GattCharacteristic = { uuid: '00001532-1212-EFDE-1523-785FEABCD123', handle: 13, valueHandle: 14, properties: 0x04 };

interface Script {
  /** Notifications after a control point write. */
  onControlPoint?: (value: Uint8Array) => number[][];
  /** Notifications after a DFU Packet write, given the bytes received so far and the packets so far. */
  onPacket?: (received: number, packets: number) => number[][];
}

/** A connection whose peer is a script; records every write as "cp:hex" or "pk:<length>". */
function scripted(script: Script, mtu = 23): { conn: Connection; writes: string[] } {
  const queue = new AsyncQueue<Uint8Array>();
  const closed = new AbortController();
  const writes: string[] = [];
  let received = 0;
  let packets = 0;
  const notify = (ns: number[][]): void => {
    for (const n of ns) queue.push(Uint8Array.from(n));
  };
  const sub: Subscription = {
    receive: (signal) => queue.receive(signal),
    close: () => undefined,
    [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
  };
  const conn = {
    address: parseAddress('F0:0D:C0:DE:00:06'),
    mtu,
    parameters: { intervalUs: 7500, latency: 0, supervisionTimeoutMs: 4000 },
    closed: closed.signal,
    discoverServices: async () => [],
    read: async () => new Uint8Array(0),
    write: async (_handle: number, value: Uint8Array) => {
      writes.push(`cp:${Buffer.from(value).toString('hex')}`);
      notify(script.onControlPoint?.(value) ?? []);
    },
    writeWithoutResponse: async (_handle: number, value: Uint8Array) => {
      writes.push(`pk:${value.length}`);
      received += value.length;
      packets++;
      notify(script.onPacket?.(received, packets) ?? []);
    },
    subscribe: async () => sub,
    disconnect: async () => closed.abort(),
  } as unknown as Connection;
  return { conn, writes };
}

const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];

async function open(conn: Connection): Promise<LegacyLink> {
  return LegacyLink.open(conn, CP, PACKET, { requestTimeoutMs: 10_000, signal: new AbortController().signal, clock: realClock, logger: silentLogger() });
}

describe('LegacyLink', () => {
  it('streams the firmware in 20-byte packets at MTU 23, one PRN every n packets, and ends on 10 03 01', async () => {
    const image = new Uint8Array(130);
    const { conn, writes } = scripted({
      onPacket: (received, packets) => (received === image.length ? [[0x10, 0x03, 0x01]] : packets % 3 === 0 ? [[0x11, ...u32(received)]] : []),
    });
    const link = await open(conn);
    const confirmed: number[] = [];
    await link.stream(image, 3, 'the firmware', (n) => confirmed.push(n));
    assert.deepEqual(writes, ['pk:20', 'pk:20', 'pk:20', 'pk:20', 'pk:20', 'pk:20', 'pk:10']);
    assert.deepEqual(confirmed, [60, 120, 130]);
  });

  it('the init packet: every write but the last whole words (packetSize), sent verbatim', async () => {
    const { conn, writes } = scripted({});
    const link = await open(conn);
    assert.equal(link.packetSize, 20);
    await link.writeAll(new Uint8Array(46));
    assert.deepEqual(writes, ['pk:20', 'pk:20', 'pk:6']);
  });

  it('a PRN reporting more bytes than were sent is a DFU_PROTOCOL_ERROR', async () => {
    const { conn } = scripted({ onPacket: (received, packets) => (packets === 2 ? [[0x11, ...u32(received + 4)]] : []) });
    const link = await open(conn);
    await assert.rejects(link.stream(new Uint8Array(200), 2, 'the firmware', () => undefined), (e: unknown) => hasCode(e, 'DFU_PROTOCOL_ERROR') && /reports 44 bytes, only 40 were sent/.test(e.message));
  });

  it('a failure answered while streaming (10 03 03) ends it with DFU_REMOTE_ERROR LEGACY_NOT_SUPPORTED', async () => {
    const { conn } = scripted({ onPacket: (_received, packets) => (packets === 2 ? [[0x10, 0x03, 0x03]] : []) });
    const link = await open(conn);
    await assert.rejects(
      link.stream(new Uint8Array(200), 10, 'the firmware', () => undefined),
      (e: unknown) => hasCode(e, 'DFU_REMOTE_ERROR') && e.facts.dfuResultName === 'LEGACY_NOT_SUPPORTED' && e.facts.context?.protocol === 'legacy',
    );
  });

  it('request(): the response to that request, skipping a late PRN; a response to another request is a DFU_PROTOCOL_ERROR', async () => {
    const { conn, writes } = scripted({ onControlPoint: (v) => (v[0] === 0x04 ? [[0x11, ...u32(100)], [0x10, 0x04, 0x01]] : [[0x10, 0x01, 0x01]]) });
    const link = await open(conn);
    await link.request({ op: 'validate' }, 'Validate');
    await assert.rejects(link.request({ op: 'initDfuParams', phase: 'complete' }, 'the init packet'), (e: unknown) => hasCode(e, 'DFU_PROTOCOL_ERROR') && /got one to START_DFU/.test(e.message));
    assert.deepEqual(writes, ['cp:04', 'cp:0201']);
  });
});
