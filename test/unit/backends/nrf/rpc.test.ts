import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NrfLink } from '../../../../server/backends/nrf/link.js';
import { NrfRpc } from '../../../../server/backends/nrf/rpc.js';
import { hasCode, type BledfuError } from '../../../../server/common/errors.js';
import { silentLogger } from '../../../../server/common/logger.js';
import { FakeNrfDongle } from '../../../helpers/nrfFakeDongle.js';

const FAST_LINK = { resetWaitMs: 5, retransmitMs: 30, openTimeoutMs: 500 };

async function openRpc(dongle: FakeNrfDongle, responseTimeoutMs = 1_000): Promise<{ link: NrfLink; rpc: NrfRpc }> {
  const link = new NrfLink(dongle.host, { ...FAST_LINK, logger: silentLogger() });
  const rpc = new NrfRpc(link, { logger: silentLogger(), api: 6, responseTimeoutMs });
  await link.open();
  return { link, rpc };
}

describe('nrf link + rpc on a scripted dongle', () => {
  it('a command whose packet the device did not acknowledge is sent again, and answered once', async () => {
    const dongle = new FakeNrfDongle({ api: 6 });
    const { link, rpc } = await openRpc(dongle);
    try {
      dongle.dropNextHostPackets = 2;
      const r = await rpc.call({ kind: 'gapScanStop' });
      assert.equal(r.result, 0);
      assert.equal(link.traffic.retransmissions, 2);
      assert.equal(dongle.of('gapScanStop').length, 1, 'delivered to the SoftDevice once');
    } finally {
      await link.close();
    }
  });

  it('calls go out one at a time, in order, each after the previous response', async () => {
    const dongle = new FakeNrfDongle({ api: 6 });
    const { link, rpc } = await openRpc(dongle);
    try {
      const results = await Promise.all([
        rpc.call({ kind: 'gapScanStop' }),
        rpc.call({ kind: 'gapConnectCancel' }),
        rpc.call({ kind: 'gattcHvConfirm', connHandle: 1, handle: 2 }),
      ]);
      assert.deepEqual(results.map((r) => r.kind), ['gapScanStop', 'gapConnectCancel', 'gattcHvConfirm']);
      assert.deepEqual(dongle.commands.map((c) => c.kind), ['gapScanStop', 'gapConnectCancel', 'gattcHvConfirm']);
    } finally {
      await link.close();
    }
  });

  it('an acknowledged command that is never answered fails with SERIAL_NO_RESPONSE; three in a row fail the RPC layer for good', async () => {
    const dongle = new FakeNrfDongle({ api: 6 });
    const { link, rpc } = await openRpc(dongle, 50);
    try {
      dongle.on('gapScanStop', () => 'silent');
      const lost = (e: unknown): boolean => hasCode(e, 'SERIAL_NO_RESPONSE') && /sd_ble_gap_scan_stop/.test(e.message);
      await assert.rejects(rpc.call({ kind: 'gapScanStop' }), lost);
      await assert.rejects(rpc.call({ kind: 'gapScanStop' }), lost);
      assert.equal(rpc.failed.aborted, false, 'a lost answer or two: the line is noisy, the device is there');
      // An answer in between starts the count again.
      assert.equal((await rpc.call({ kind: 'gapConnectCancel' })).result, 0);
      await assert.rejects(rpc.call({ kind: 'gapScanStop' }), lost);
      await assert.rejects(rpc.call({ kind: 'gapScanStop' }), lost);
      assert.equal(rpc.failed.aborted, false);
      const last = rpc.call({ kind: 'gapScanStop' });
      const queued = rpc.call({ kind: 'gapConnectCancel' });
      await assert.rejects(last, lost);
      await assert.rejects(queued, (e: unknown) => hasCode(e, 'SERIAL_NO_RESPONSE'));
      assert.ok(rpc.failed.aborted);
      assert.equal((rpc.failed.reason as BledfuError).code, 'SERIAL_NO_RESPONSE');
    } finally {
      await link.close();
    }
  });

  it('a call abandoned before its turn is never sent; the next one goes out', async () => {
    const dongle = new FakeNrfDongle({ api: 6 });
    const { link, rpc } = await openRpc(dongle);
    try {
      let answer: (() => void) | undefined;
      dongle.on('gapScanStop', () => {
        answer = () => dongle.emit({ kind: 'gapDisconnected', connHandle: 0, reason: 0x13 });
        return undefined;
      });
      const give = new AbortController();
      give.abort();
      await assert.rejects(rpc.call({ kind: 'gapScanStop' }, give.signal), (e: unknown) => hasCode(e, 'CANCELLED'));
      const r = await rpc.call({ kind: 'gapConnectCancel' });
      assert.equal(r.kind, 'gapConnectCancel');
      assert.equal(answer, undefined, 'a call abandoned before its turn is never sent');
      assert.deepEqual(dongle.commands.map((c) => c.kind), ['gapConnectCancel']);
    } finally {
      await link.close();
    }
  });
});
