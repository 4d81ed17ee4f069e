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
