/**
 * The simulator's serial line with a baud rate (server/sim/serialLine.ts), alone and as the
 * virtual HCI controller's UART: bytes take 10 bits / baud each, in order, each direction on its
 * own, and what was written arrives only once its last byte has crossed. Modelled time only
 * (the paced case runs 10 modelled ms at real speed).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBledfuError } from '../../../server/common/errors.js';
import { SimScheduler } from '../../../server/sim/scheduler.js';
import { SerialLine, serialLinePair } from '../../../server/sim/serialLine.js';
import { createSimWorld } from '../../../server/sim/world.js';
import type { ByteDuplex } from '../../../server/transport/types.js';

interface Arrival {
  readonly at: number;
  readonly bytes: Uint8Array;
}

/** Records every chunk `end` reads, with the modelled time it arrived. */
function record(end: ByteDuplex, scheduler: SimScheduler): { readonly arrivals: Arrival[]; readonly done: Promise<unknown> } {
  const arrivals: Arrival[] = [];
  const done = (async () => {
    for await (const bytes of end.readable()) arrivals.push({ at: scheduler.nowMs(), bytes });
  })().catch((e: unknown) => e);
  return { arrivals, done };
}

const until = (s: SimScheduler, at: number): Promise<void> => new Promise((resolve) => s.at(at, resolve));
const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const concat = (chunks: readonly Uint8Array[]): Uint8Array => Uint8Array.from(chunks.flatMap((c) => [...c]));

describe('SerialLine', () => {
  it('N bytes take N × 10 / baud of modelled time, and arrive only once the last one crossed', async () => {
    const scheduler = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
    const [host, device] = serialLinePair(new SerialLine(scheduler, 1_000_000));
    const got = record(device, scheduler);
    const sent = bytes(1000, 1);
    await host.write(sent);
    await until(scheduler, 9.99);
    assert.equal(got.arrivals.length, 0, 'nothing before the 1000th byte crossed');
    await until(scheduler, 20);
    assert.equal(got.arrivals.length, 1);
    assert.ok(Math.abs((got.arrivals[0]?.at ?? 0) - 10) < 1e-9, `arrived at ${got.arrivals[0]?.at} ms, 1000 bytes at 1 Mbaud take 10 ms`);
    assert.deepEqual(got.arrivals[0]?.bytes, sent);
    await host.close();
    scheduler.close();
  });

  it('keeps the order of what was written, each write queued behind the ones before it', async () => {
    const scheduler = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
    const [host, device] = serialLinePair(new SerialLine(scheduler, 115_200));
    const got = record(device, scheduler);
    const chunks = [bytes(100, 1), bytes(1, 2), bytes(300, 3), bytes(7, 4)];
    for (const c of chunks) void host.write(c);
    await until(scheduler, 100);
    assert.deepEqual(concat(got.arrivals.map((a) => a.bytes)), concat(chunks));
    let crossed = 0;
    for (const [i, a] of got.arrivals.entries()) {
      crossed += chunks[i]?.length ?? 0;
      const expected = (crossed * 10 * 1000) / 115_200;
      assert.ok(Math.abs(a.at - expected) < 1e-9, `write ${i} arrived at ${a.at} ms, expected ${expected}`);
    }
    await host.close();
    scheduler.close();
  });

  it('carries each direction on its own: 1000 bytes each way at once both arrive after 10 ms', async () => {
    const scheduler = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
    const [host, device] = serialLinePair(new SerialLine(scheduler, 1_000_000));
    const atDevice = record(device, scheduler);
    const atHost = record(host, scheduler);
    void host.write(bytes(1000, 5));
    void device.write(bytes(1000, 6));
    await until(scheduler, 50);
    assert.deepEqual(
      [atDevice.arrivals.map((a) => a.at), atHost.arrivals.map((a) => a.at)],
      [[10], [10]],
    );
    await host.close();
    scheduler.close();
  });

  it('baud 0 carries bytes at once (no modelled time)', async () => {
    const scheduler = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
    const [host, device] = serialLinePair(new SerialLine(scheduler, 0));
    const got = record(device, scheduler);
    await host.write(bytes(5000, 7));
    await until(scheduler, 1);
    assert.deepEqual(got.arrivals.map((a) => [a.at, a.bytes.length]), [[0, 5000]]);
    await host.close();
    scheduler.close();
  });

  it('closing one end closes the other as a pulled cable does', async () => {
    const scheduler = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
    const [host, device] = serialLinePair(new SerialLine(scheduler, 1_000_000));
    const got = record(host, scheduler);
    await device.close();
    const error = await got.done;
    assert.ok(isBledfuError(error) && error.code === 'TRANSPORT_CLOSED', String(error));
    assert.equal(host.closed.aborted, true);
    scheduler.close();
  });

  it('works paced (speed 1): the bytes arrive intact, no earlier in modelled time than the line allows', async () => {
    const scheduler = new SimScheduler({ speed: 1 });
    const [host, device] = serialLinePair(new SerialLine(scheduler, 1_000_000));
    const got = record(device, scheduler);
    const start = scheduler.nowMs();
    const sent = bytes(1000, 8);
    await host.write(sent);
    // The line's event is due 10 modelled ms after the write reached it: wait a little longer.
    await new Promise<void>((resolve) => scheduler.at(start + 20, resolve));
    assert.equal(got.arrivals.length, 1);
    assert.deepEqual(got.arrivals[0]?.bytes, sent);
    assert.ok((got.arrivals[0]?.at ?? 0) - start >= 10 - 1e-9, `arrived ${(got.arrivals[0]?.at ?? 0) - start} ms after it was written`);
    await host.close();
    scheduler.close();
  });
});

describe("the virtual HCI controller's UART (sim baud)", () => {
  it('an HCI Reset and its Command Complete each take their bytes × 10 / baud to cross', async () => {
    const world = createSimWorld({ baud: 115_200 });
    const host = world.openHostTransport();
    const got = record(host, world.scheduler);
    // H4 command: HCI Reset (0x0C03), no parameters: 4 bytes.
    await host.write(Uint8Array.of(0x01, 0x03, 0x0c, 0x00));
    // A host timer: it pulls modelled time even when the world has nothing under way.
    await new Promise<void>((resolve) => world.scheduler.at(5, resolve, 'test: look', 'host'));
    // H4 event: Command Complete (1 credit, opcode 0x0C03, status 0): 7 bytes, in one chunk.
    assert.deepEqual(got.arrivals.map((a) => [...a.bytes]), [[0x04, 0x0e, 0x04, 0x01, 0x03, 0x0c, 0x00]]);
    const expected = ((4 + 7) * 10 * 1000) / 115_200;
    assert.ok(Math.abs((got.arrivals[0]?.at ?? 0) - expected) < 1e-9, `answer at ${got.arrivals[0]?.at} ms, expected ${expected}`);
    await world.close();
  });
});
