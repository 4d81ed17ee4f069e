/**
 * A real `hci:` adapter (serial port, our host stack) on a btvirt controller behind a pty, pulled
 * out and plugged back in: stopping the controller's relay removes the pty like an unplugged USB
 * dongle; a new controller in the same btvirt slot brings the same device path back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openAdapters } from '../../server/backends/registry.js';
import { hasCode, isBledfuError } from '../../server/common/errors.js';
import { silentLogger } from '../../server/common/logger.js';
import { btvirtSkipReason, startEmulator } from '../helpers/btvirt/emulator.js';

const skip = btvirtSkipReason();

async function until(what: string, done: () => boolean, signal: AbortSignal): Promise<void> {
  while (!done()) {
    if (signal.aborted) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('hci: dongle unplugged and replugged (btvirt)', { skip }, () => {
  it('fails a running scan with "dongle hci0 went away (unplugged?)", lists the adapter failed, and reopens it when the port is back', { timeout: 30_000 }, async () => {
    const emu = await startEmulator();
    let registry: Awaited<ReturnType<typeof openAdapters>> | undefined;
    try {
      const dongle = await emu.addController();
      registry = await openAdapters([`hci:${dongle.path}?rtscts=off&max=2`], silentLogger(), { retryDelayMs: { first: 50, max: 200 } });
      const adapter = registry.get('hci0');
      assert.equal(adapter.info().state, 'ready', String(adapter.info().error?.message));
      assert.equal(adapter.info().address?.value, dongle.address);
      assert.equal(adapter.info().maxConnections, 2);

      const stop = new AbortController();
      // Settles as soon as the dongle goes, while the test is still pulling it out.
      const scanEnd = (async () => {
        for await (const _ of adapter.scan({ active: true, signal: stop.signal })) {
          // Nothing advertises here; the scan only has to be running when the dongle goes.
        }
      })().then(
        () => new Error('the scan ended normally'),
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 100));

      await dongle.stop();
      const e = await scanEnd;
      assert.ok(hasCode(e, 'ADAPTER_UNAVAILABLE'), String(e));
      assert.equal(e.message, 'dongle hci0 went away (unplugged?)');
      assert.ok(isBledfuError(e.cause), 'the transport failure is attached');
      assert.equal(adapter.info().state, 'failed');
      assert.equal(adapter.info().error?.message, 'dongle hci0 went away (unplugged?)');

      // The same btvirt slot, so the same address and the same pty path: "plugged in again".
      const again = await emu.addController();
      assert.equal(again.path, dongle.path);
      await until('the adapter to come back', () => adapter.info().state === 'ready', AbortSignal.timeout(10_000));
      assert.equal(registry.get(), adapter, 'the same adapter, under the same id');
      assert.equal(adapter.info().address?.value, again.address);
      // It works again: a scan starts on the new controller.
      const probe = new AbortController();
      const restarted = (async () => {
        for await (const _ of adapter.scan({ active: false, signal: probe.signal })) break;
      })();
      await new Promise((r) => setTimeout(r, 100));
      probe.abort();
      await restarted;
    } finally {
      await registry?.close();
      await emu.stop();
    }
  });
});
