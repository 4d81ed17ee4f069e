/**
 * The simulated air on its own: a bare central and peripheral, modelled time only.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimAir, type AirLink, type CentralLinkObserver } from '../../../server/sim/air.js';
import type { PeripheralLink, SimPeripheral } from '../../../server/sim/peripheral.js';
import { SimScheduler } from '../../../server/sim/scheduler.js';

const CENTRAL = { address: { value: 'C0:00:00:00:00:01', type: 'public' as const }, onAdvertisement: () => undefined };
const DEVICE = { value: 'F0:00:00:00:00:01', type: 'random' as const };

/** Connects a silent peripheral; resolves with both ends of the link once it is up. */
function connectBare(air: SimAir, timeoutMs: number, downs: string[]): Promise<{ link: AirLink; peripheral: PeripheralLink }> {
  return new Promise((resolve) => {
    let connected: AirLink | undefined;
    let advertising = true;
    const device: SimPeripheral = {
      label: 'bare',
      rssi: -40,
      advertising: () => (advertising ? { address: DEVICE, intervalMs: 20, data: new Uint8Array(), scanResponse: new Uint8Array(), connectable: true } : undefined),
      accept: (peripheral) => {
        advertising = false;
        queueMicrotask(() => resolve({ link: connected as AirLink, peripheral }));
        return {
          onL2cap: () => undefined,
          onParametersChanged: () => undefined,
          onDisconnected: (reason) => downs.push(`peripheral 0x${reason.toString(16)} @${air.scheduler.nowMs()}`),
        };
      },
      attachRadio: () => undefined,
    };
    air.addPeripheral(device);
    const observer: CentralLinkObserver = {
      onConnected: (link) => (connected = link),
      onData: () => undefined,
      onParametersUpdated: () => undefined,
      onDataLengthChanged: () => undefined,
      onPhyUpdated: () => undefined,
      onDisconnected: (_link, reason) => downs.push(`central 0x${reason.toString(16)} @${air.scheduler.nowMs()}`),
    };
    air.initiate(CENTRAL, DEVICE, { intervalMs: 15, latency: 0, supervisionTimeoutMs: timeoutMs }, observer);
  });
}

const until = (s: SimScheduler, at: number): Promise<void> => new Promise((resolve) => s.at(at, resolve));

describe('SimAir supervision timeout', () => {
  it('counts from the last connection event, which an idle but healthy link still has every interval', async () => {
    const scheduler = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
    const air = new SimAir(scheduler);
    const downs: string[] = [];
    const { peripheral } = await connectBare(air, 4000, downs);
    // Nothing to send for 20 s: the link layer still meets every 15 ms.
    await until(scheduler, 20_000);
    peripheral.vanish();
    await until(scheduler, 30_000);
    assert.equal(downs.length, 1);
    const at = Number(downs[0]?.split('@')[1]);
    assert.match(downs[0] ?? '', /^central 0x8 /);
    // Within one interval of 20 s + 4 s, not at once.
    assert.ok(at > 23_980 && at <= 24_000, downs[0]);
    scheduler.close();
  });

  it('ends a lost path on both sides after the supervision timeout, also on an idle link', async () => {
    const scheduler = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
    const air = new SimAir(scheduler);
    const downs: string[] = [];
    const { peripheral } = await connectBare(air, 6000, downs);
    await until(scheduler, 10_000);
    peripheral.lose();
    await until(scheduler, 20_000);
    assert.equal(downs.length, 2);
    for (const d of downs) {
      const at = Number(d.split('@')[1]);
      assert.ok(at > 15_980 && at <= 16_000, d);
    }
    scheduler.close();
  });
});

describe('SimAir centrals seen', () => {
  it('records the address a link came from, as the peripheral saw it, and keeps it after the link closed', async () => {
    const scheduler = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
    const air = new SimAir(scheduler);
    assert.deepEqual(air.centralsSeen(), []);
    const { link, peripheral } = await connectBare(air, 4000, []);
    assert.deepEqual(peripheral.peerAddress, CENTRAL.address);
    assert.deepEqual(air.centralsSeen(), [{ address: CENTRAL.address, links: 1 }]);
    // Closed links stay counted: the record is the air's whole life.
    link.terminate(0x13);
    await until(scheduler, 1_000);
    assert.deepEqual(air.centralsSeen(), [{ address: CENTRAL.address, links: 1 }]);
    scheduler.close();
  });
});
