/**
 * When the simulated bootloader's answers leave it, against its flash queue (bootloader.ts): a
 * PRN is sent on the packet's reception, as the SDK's request handler answers a DP write once its
 * bytes are handed to fstorage; only a data Execute waits for the queue.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../server/ble/address.js';
import { toHex } from '../../../server/common/bytes.js';
import { UUIDS } from '../../../server/ble/uuid.js';
import { Bootloader, type DfuFaultHooks } from '../../../server/sim/devices/bootloader.js';
import { NrfChip } from '../../../server/sim/devices/chip.js';
import { GattServer } from '../../../server/sim/devices/gattServer.js';
import type { PeripheralLink } from '../../../server/sim/peripheral.js';
import { SimScheduler } from '../../../server/sim/scheduler.js';
import { projectPackageImage, targetConfig } from './helpers.js';

const NO_FAULTS: DfuFaultHooks = {
  controlPoint: () => ({ refuse: undefined, delayMs: 0 }),
  afterControlPoint: () => false,
  packet: (value) => value,
  afterPacket: () => false,
  afterLegacyResponse: () => false,
};

/** A bootloader on a bare scheduler, its notifications recorded with the modelled time they leave at. */
function rig(): {
  scheduler: SimScheduler;
  bootloader: Bootloader;
  notes: { at: number; hex: string }[];
  cp: (hex: string) => Promise<{ at: number; hex: string }>;
  dp: (value: Uint8Array) => void;
} {
  const scheduler = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
  const chip = new NrfChip();
  const bootloader = new Bootloader({
    chip,
    scheduler,
    appAddress: parseAddress('C0:11:22:33:44:55'),
    target: targetConfig('bledfu-demo'),
    inactivityTimeoutMs: 120_000,
    continuationTimeoutMs: 10_000,
    faults: NO_FAULTS,
    reset: () => undefined,
  });
  const notes: { at: number; hex: string }[] = [];
  // The answer awaited: the next notification answering this opcode (a PRN answers 03).
  let waiting: { readonly op: string; readonly resolve: (n: { at: number; hex: string }) => void } | undefined;
  const gatt = new GattServer({
    database: bootloader.database,
    mtuPolicy: bootloader.mtuPolicy,
    send: (pdu, onSent) => {
      // An ATT Handle Value Notification: opcode, handle, value.
      const note = { at: scheduler.nowMs(), hex: toHex(pdu.subarray(3), ' ') };
      notes.push(note);
      const w = waiting;
      if (w !== undefined && note.hex.startsWith(`60 ${w.op}`)) {
        waiting = undefined;
        w.resolve(note);
      }
      onSent?.();
    },
  });
  const cpHandles = bootloader.database.handlesOf(UUIDS.dfuControlPoint);
  const dpHandles = bootloader.database.handlesOf(UUIDS.dfuPacket);
  assert.ok(cpHandles?.cccd !== undefined && dpHandles !== undefined);
  gatt.setCccd(cpHandles.cccd, 1);
  bootloader.onConnected({ link: { lose: () => undefined } as unknown as PeripheralLink, gatt, signal: () => undefined });
  const write = (handle: number, value: Uint8Array, kind: 'request' | 'command'): void => {
    const result = bootloader.database.attribute(handle)?.write?.(value, kind, gatt);
    assert.equal(result, undefined, 'write accepted');
  };
  return {
    scheduler,
    bootloader,
    notes,
    cp: (hex) =>
      new Promise((resolve) => {
        waiting = { op: hex.slice(0, 2), resolve };
        write(cpHandles.value, Uint8Array.from(hex.split(' ').map((b) => Number.parseInt(b, 16))), 'request');
      }),
    dp: (value) => write(dpHandles.value, value, 'command'),
  };
}

const le32 = (n: number): string => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff].map((b) => b.toString(16).padStart(2, '0')).join(' ');

describe('simulated bootloader: when answers leave against the flash queue', () => {
  it('sends the PRN of a data object\'s last packet on reception, while its page erase and writes are still queued; Execute waits for them', async () => {
    const { dat, bin } = await projectPackageImage('app');
    const { scheduler, notes, cp, dp } = rig();
    assert.equal((await cp('06 01')).hex.slice(0, 8), '60 06 01');
    await cp(`01 01 ${le32(dat.length)}`);
    for (let at = 0; at < dat.length; at += 244) dp(dat.subarray(at, at + 244));
    assert.equal((await cp('04')).hex, '60 04 01');
    assert.equal((await cp('02 11 00')).hex, '60 02 01', 'PRN 17');
    // Create queues the page erase and answers at once.
    const created = await cp('01 02 00 10 00 00');
    assert.equal(created.hex, '60 01 01');
    const t0 = scheduler.nowMs();
    // All 17 packets of the object arrive at one instant: 16 × 244 + 192 bytes.
    const before = notes.length;
    for (let at = 0; at < 4096; at += 244) dp(bin.subarray(at, Math.min(4096, at + 244)));
    const execute = await cp('04');
    const prns = notes.slice(before, -1);
    assert.equal(prns.length, 1, 'one PRN: the 17th packet');
    const prn = prns[0]!;
    assert.ok(prn.hex.startsWith(`60 03 01 ${le32(4096)}`), `the PRN carries offset 4096: ${prn.hex}`);
    // On reception: before the erase (≈ 85 ms) and the writes queued ahead of it are done.
    assert.equal(prn.at, t0, 'the PRN leaves when its packet arrives');
    assert.equal(execute.hex, '60 04 01');
    assert.ok(execute.at > t0 + 80, `Execute answers once the queued erase and writes are done (${execute.at - t0} ms later)`);
  });
});
