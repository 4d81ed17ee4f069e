import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openAdapters } from '../../../server/backends/registry.js';
import { parseAddress } from '../../../server/ble/address.js';
import { hasCode } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';

describe('adapter registry', () => {
  it('opens sim: adapters, keeps an adapter that failed listed with its error, and finds adapters by id', async () => {
    const registry = await openAdapters(['sim:', 'hci:/dev/ttyACM0', 'sim:?devices=2'], silentLogger());
    try {
      const infos = registry.list().map((a) => a.info());
      assert.deepEqual(
        infos.map((i) => [i.id, i.kind, i.state]),
        [
          ['sim0', 'simulated', 'ready'],
          ['hci0', 'hci-uart', 'failed'],
          ['sim1', 'simulated', 'ready'],
        ],
      );
      const failed = infos[1];
      assert.ok(failed?.error !== undefined && hasCode(failed.error, 'ADAPTER_UNAVAILABLE'));
      assert.match(failed.error.remedy ?? '', /sim:/);
      assert.equal(registry.get().id, 'sim0', 'no id: the first ready adapter');
      assert.equal(registry.get('sim1').id, 'sim1');
      assert.equal(registry.simWorld('sim1')?.devices.length, 2);
      assert.equal(registry.simWorld('hci0'), undefined);
      await assert.rejects(registry.get('hci0').connect(parseAddress('F0:0D:C0:DE:00:01')), (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE'));
      assert.throws(() => registry.get('nope'), (e: unknown) => hasCode(e, 'ADAPTER_NOT_FOUND') && /sim0, hci0, sim1/.test(e.remedy ?? ''));
      assert.equal(typeof registry.get('sim0').modelledTimeMs?.(), 'number');
    } finally {
      await registry.close();
    }
  });

  it('says no adapter is ready, and why, when none is', async () => {
    const registry = await openAdapters(['nrf:/dev/ttyACM1'], silentLogger());
    try {
      assert.throws(() => registry.get(), (e: unknown) => hasCode(e, 'ADAPTER_NOT_FOUND') && /nrf0 failed/.test(e.remedy ?? ''));
    } finally {
      await registry.close();
    }
  });
});
