/**
 * The btvirt fixture itself: controllers get btvirt's slot addresses in creation order, pty and
 * socket controllers answer HCI, and stop() leaves no process or directory behind.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { silentLogger } from '../../server/common/logger.js';
import { HciHost } from '../../server/host/hci/controller.js';
import { btvirtSkipReason, startEmulator } from '../helpers/btvirt/emulator.js';

const skip = btvirtSkipReason();

describe('btvirt emulator fixture', { skip }, () => {
  it('creates controllers one at a time at their slot addresses, and cleans up', async () => {
    const emu = await startEmulator();
    try {
      const pty = await emu.addController();
      const direct = await emu.connectController();
      assert.equal(pty.address, '00:AA:01:00:00:42');
      assert.equal(direct.address, '00:AA:01:01:00:42');
      assert.ok(existsSync(pty.path), 'the pty link exists');
      assert.ok(emu.socketPath.length < 108);

      const host = new HciHost(direct.transport, { logger: silentLogger() });
      host.start();
      await host.send('reset', {});
      assert.equal((await host.send('readBdAddr', {})).address, direct.address);
      const buffers = await host.send('leReadBufferSize', {});
      assert.deepEqual(buffers, { leAclDataPacketLength: 192, totalNumLeAclDataPackets: 1 });
      await host.close();

      await pty.stop();
      // The slot is free again: the next controller takes it.
      const again = await emu.connectController();
      assert.equal(again.address, '00:AA:01:00:00:42');
      await again.transport.close();
    } finally {
      await emu.stop();
    }
    assert.equal(existsSync(emu.dir), false, 'the emulator directory is removed');
  });
});

describe('btvirt connection handles with several links on one central', { skip }, () => {
  it("carries each peripheral's data on its own link, both ways, under each side's own handle", async () => {
    const emu = await startEmulator();
    const hosts: HciHost[] = [];
    try {
      const open = async (): Promise<HciHost> => {
        const host = new HciHost((await emu.connectController()).transport, { logger: silentLogger() });
        hosts.push(host);
        host.start();
        await host.send('reset', {});
        host.configureAcl(192, 1);
        return host;
      };
      const central = await open();
      const received = new Map<HciHost, { handle: number; frame: number[] }[]>();
      const connected = new Map<HciHost, number>();
      const peripherals: HciHost[] = [];
      for (const i of [1, 2]) {
        const p = await open();
        peripherals.push(p);
        p.onEvent((e) => {
          if (e.kind === 'leConnectionComplete') connected.set(p, e.handle);
        });
        await p.send('leSetRandomAddress', { address: `C0:00:00:00:00:0${i}` });
        await p.send('leSetAdvertisingParameters', {
          advertisingIntervalMin: 160,
          advertisingIntervalMax: 160,
          advertisingType: 0,
          ownAddressType: 1,
          peerAddressType: 0,
          peerAddress: '00:00:00:00:00:00',
          channelMap: 7,
          filterPolicy: 0,
        });
        await p.send('leSetAdvertisingEnable', { enable: 1 });
      }
      for (const h of [central, ...peripherals]) {
        received.set(h, []);
        h.onAclFrame((handle, frame) => received.get(h)?.push({ handle, frame: [...frame] }));
      }
      const centralHandles: number[] = [];
      central.onEvent((e) => {
        if (e.kind === 'leConnectionComplete' && e.status === 0) centralHandles.push(e.handle);
      });
      for (const i of [1, 2]) {
        await central.send('leCreateConnection', {
          scanInterval: 0x60,
          scanWindow: 0x60,
          initiatorFilterPolicy: 0,
          peerAddressType: 1,
          peerAddress: `C0:00:00:00:00:0${i}`,
          ownAddressType: 0,
          connIntervalMin: 24,
          connIntervalMax: 24,
          maxLatency: 0,
          supervisionTimeout: 400,
          minCeLength: 0,
          maxCeLength: 0,
        });
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(centralHandles.length, 2);
      const [c1, c2] = centralHandles as [number, number];
      assert.notEqual(c1, c2);
      const [p1, p2] = peripherals as [HciHost, HciHost];
      // Each peripheral's controller has one link: btvirt gives it the first handle.
      assert.equal(connected.get(p1), 0x2a);
      assert.equal(connected.get(p2), 0x2a);

      const frame = (tag: number): Uint8Array => Uint8Array.of(1, 0, 4, 0, tag);
      await p2.sendAcl(0x2a, frame(0x22));
      await p1.sendAcl(0x2a, frame(0x11));
      await central.sendAcl(c2, frame(0xc2));
      await central.sendAcl(c1, frame(0xc1));
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(received.get(central), [
        { handle: c2, frame: [1, 0, 4, 0, 0x22] },
        { handle: c1, frame: [1, 0, 4, 0, 0x11] },
      ]);
      assert.deepEqual(received.get(p1), [{ handle: 0x2a, frame: [1, 0, 4, 0, 0xc1] }]);
      assert.deepEqual(received.get(p2), [{ handle: 0x2a, frame: [1, 0, 4, 0, 0xc2] }]);
    } finally {
      for (const h of hosts) await h.close().catch(() => undefined);
      await emu.stop();
    }
  });
});
