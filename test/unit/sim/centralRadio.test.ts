/**
 * One radio per central (server/sim/centralRadio.ts): the connection events of all links of one
 * central never overlap, each busy link gets about its share of the air, the central's aggregate
 * never exceeds what one radio can carry, and two centrals do not constrain each other. Bare
 * centrals and silent peripherals on the air, modelled time only.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimAir, type AirLink, type CentralNode, type CentralLinkObserver } from '../../../server/sim/air.js';
import type { ConnectionEventRecord } from '../../../server/sim/centralRadio.js';
import type { SimPeripheral } from '../../../server/sim/peripheral.js';
import { DEFAULT_RADIO, pduAirTimeUs } from '../../../server/sim/radio.js';
import { SimScheduler } from '../../../server/sim/scheduler.js';
import { encodeL2capFrame } from '../../../server/host/l2cap/frames.js';

const until = (s: SimScheduler, at: number): Promise<void> => new Promise((resolve) => s.at(at, resolve));

function central(n: number): CentralNode {
  return { address: { value: `C0:00:00:00:00:0${n}`, type: 'public' }, onAdvertisement: () => undefined };
}

const noObserver: CentralLinkObserver = {
  onConnected: () => undefined,
  onData: () => undefined,
  onParametersUpdated: () => undefined,
  onDataLengthChanged: () => undefined,
  onPhyUpdated: () => undefined,
  onDisconnected: () => undefined,
};

let nextDevice = 1;

/** Connects a fresh silent peripheral to `c` at `intervalMs`; resolves with the link once it is up. */
function connect(air: SimAir, c: CentralNode, intervalMs: number): Promise<AirLink> {
  const address = { value: `F0:00:00:00:${(nextDevice++).toString(16).padStart(2, '0').toUpperCase()}:01`, type: 'random' as const };
  return new Promise((resolve) => {
    let connected: AirLink | undefined;
    let advertising = true;
    const device: SimPeripheral = {
      label: address.value,
      rssi: -40,
      advertising: () => (advertising ? { address, intervalMs: 20, data: new Uint8Array(), scanResponse: new Uint8Array(), connectable: true } : undefined),
      accept: () => {
        advertising = false;
        queueMicrotask(() => resolve(connected as AirLink));
        return { onL2cap: () => undefined, onParametersChanged: () => undefined, onDisconnected: () => undefined };
      },
      attachRadio: () => undefined,
    };
    air.addPeripheral(device);
    air.initiate(c, address, { intervalMs, latency: 0, supervisionTimeoutMs: 4000 }, { ...noObserver, onConnected: (link) => (connected = link) });
  });
}

/** The central keeps two large L2CAP frames queued on the link until `stop()`. */
function keepBusy(link: AirLink): { stop(): void } {
  let stopped = false;
  const frame = encodeL2capFrame({ cid: 0x0040, payload: new Uint8Array(2000) });
  const send = (): void => {
    if (!stopped) link.sendFromCentral(frame, true, send);
  };
  send();
  send();
  return { stop: () => (stopped = true) };
}

interface Measured {
  /** Granted (not lost) events of each central, in order, over the whole run. */
  readonly events: Map<CentralNode, ConnectionEventRecord[]>;
  /** Octets each link carried during the measuring window, by link id. */
  readonly octets: Map<number, number>;
  /** Lost events during the window. */
  readonly lost: number;
  readonly windowMs: number;
}

const WINDOW_MS = 3000;

/**
 * `links[i]` links on central i, all at `intervalMs`, 2M PHY and 251-octet data length, every one
 * busy sending; measured over WINDOW_MS once they all are.
 */
async function run(links: readonly number[], intervalMs: number): Promise<Measured> {
  const scheduler = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
  const air = new SimAir(scheduler);
  const events = new Map<CentralNode, ConnectionEventRecord[]>();
  const octets = new Map<number, number>();
  let window: { from: number; to: number } | undefined;
  let lost = 0;
  air.onConnectionEvent((c, e) => {
    if (!e.lost) {
      const list = events.get(c) ?? [];
      list.push(e);
      events.set(c, list);
    }
    if (window === undefined || e.start < window.from || e.start >= window.to) return;
    if (e.lost) lost++;
    octets.set(e.linkId, (octets.get(e.linkId) ?? 0) + e.octets);
  });
  const all: AirLink[] = [];
  for (const [i, n] of links.entries()) {
    const c = central(i + 1);
    // One connection attempt at a time, as a controller makes them.
    for (let k = 0; k < n; k++) all.push(await connect(air, c, intervalMs));
  }
  for (const link of all) {
    link.requestDataLength(251);
    link.requestPhy(0x02, 0x02);
  }
  await until(scheduler, scheduler.nowMs() + 200);
  const busy = all.map(keepBusy);
  const from = scheduler.nowMs() + 100;
  window = { from, to: from + WINDOW_MS };
  await until(scheduler, window.to);
  for (const b of busy) b.stop();
  for (const link of all) assert.equal(link.phy, '2M');
  scheduler.close();
  return { events, octets, lost, windowMs: WINDOW_MS };
}

/** What one radio can carry at most in `ms`: back-to-back full 251-octet exchanges at 2M, nothing else. */
function radioCapacityOctets(ms: number): number {
  const exchangeUs = pduAirTimeUs(251, '2M') + pduAirTimeUs(0, '2M') + 2 * DEFAULT_RADIO.ifsUs;
  return Math.floor((ms * 1000) / exchangeUs) * 251;
}

function assertNoOverlap(events: readonly ConnectionEventRecord[]): void {
  const sorted = [...events].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as ConnectionEventRecord;
    const e = sorted[i] as ConnectionEventRecord;
    assert.ok(e.start >= prev.end - 1e-9, `link ${e.linkId}'s event at ${e.start} starts before link ${prev.linkId}'s ends (${prev.end})`);
  }
}

const total = (m: Measured): number => [...m.octets.values()].reduce((a, b) => a + b, 0);

describe('one radio per central', () => {
  it('1, 2, 4, 8 busy links at 7.5 ms: events never overlap, each link gets ≈ 1/N, the total stays within one radio', async () => {
    const single = await run([1], 7.5);
    for (const n of [1, 2, 4, 8]) {
      const m = n === 1 ? single : await run([n], 7.5);
      const [events] = [...m.events.values()];
      assert.ok(events !== undefined && events.length > 0);
      assertNoOverlap(events);
      assert.equal(m.octets.size, n, 'every link carried data');
      const sum = total(m);
      assert.ok(sum <= radioCapacityOctets(m.windowMs), `N=${n}: ${sum} octets in ${m.windowMs} ms is more than one radio carries`);
      // A single link at 7.5 ms with 7.5 ms events already fills the radio: more links share it.
      assert.ok(sum <= total(single) * 1.02, `N=${n}: ${sum} octets, more than one link alone (${total(single)})`);
      assert.ok(sum >= total(single) * 0.6, `N=${n}: ${sum} octets, the radio mostly idle (one link alone: ${total(single)})`);
      for (const [id, o] of m.octets) {
        const share = o / (sum / n);
        assert.ok(share > 0.85 && share < 1.15, `N=${n}: link ${id} carried ${o} of ${sum} octets (${share.toFixed(2)} of a fair share)`);
      }
      // Eight 0.94 ms slots are too short for a 1.4 ms exchange: the links take turns.
      if (n === 8) assert.ok(m.lost > 0, 'N=8: links lose events to each other');
    }
  });

  it('two links at 15 ms with 7.5 ms events are spread across the interval: each gets as much as one alone', async () => {
    const one = await run([1], 15);
    const two = await run([2], 15);
    const [events] = [...two.events.values()];
    assertNoOverlap(events ?? []);
    assert.equal(two.lost, 0, 'their slots do not collide');
    for (const [id, o] of two.octets) assert.ok(o >= total(one) * 0.97, `link ${id}: ${o} octets, one alone: ${total(one)}`);
  });

  it('two centrals do not constrain each other: each carries what it would alone, and their events overlap in time', async () => {
    const alone = await run([4], 7.5);
    const pair = await run([4, 4], 7.5);
    const centrals = [...pair.events.values()];
    assert.equal(centrals.length, 2);
    for (const events of centrals) assertNoOverlap(events);
    const byCentral = centrals.map((events) => new Set(events.map((e) => e.linkId)));
    for (const ids of byCentral) {
      const sum = [...ids].reduce((a, id) => a + (pair.octets.get(id) ?? 0), 0);
      assert.ok(sum >= total(alone) * 0.95 && sum <= total(alone) * 1.05, `central carried ${sum} octets, alone ${total(alone)}`);
    }
    const [a, b] = centrals as [ConnectionEventRecord[], ConnectionEventRecord[]];
    const overlapping = a.some((x) => b.some((y) => y.start < x.end && x.start < y.end));
    assert.ok(overlapping, 'the two centrals used the air at the same time');
  });

  it('is deterministic: the same links give the same events', async () => {
    const first = await run([4], 7.5);
    const second = await run([4], 7.5);
    assert.deepEqual([...second.events.values()], [...first.events.values()]);
    assert.deepEqual(second.octets, first.octets);
  });
});
