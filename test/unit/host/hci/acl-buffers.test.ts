/**
 * The controller's shared ACL buffers (server/host/hci/aclBuffers.ts): a busy link cannot keep
 * every buffer while other links wait, and the accounting says how the links fared.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BledfuError, hasCode } from '../../../../server/common/errors.js';
import { silentLogger } from '../../../../server/common/logger.js';
import { AclBufferScheduler } from '../../../../server/host/hci/aclBuffers.js';
import { HciHost } from '../../../../server/host/hci/controller.js';
import { ACL_PB } from '../../../../server/host/hci/packets.js';
import { FakeController } from '../../../helpers/fakeController.js';
import { ManualClock, settle } from '../../../helpers/manualClock.js';

/** Queues `n` buffer requests for `handle`; each grant appends the handle to `order`. */
function want(s: AclBufferScheduler, handle: number, n: number, order: number[]): Promise<void>[] {
  return Array.from({ length: n }, () => s.acquire(handle).then(() => void order.push(handle)));
}

const link = (s: AclBufferScheduler, handle: number) => s.accounting().links.find((l) => l.handle === handle);

describe('AclBufferScheduler', () => {
  it('lets a link alone use every buffer, then waits for completions', async () => {
    const s = new AclBufferScheduler(3);
    const order: number[] = [];
    const granted = want(s, 1, 4, order);
    await settle(2);
    assert.deepEqual(order, [1, 1, 1]);
    assert.equal(s.available, 0);
    s.completed(1, 1);
    await Promise.all(granted);
    assert.deepEqual(order, [1, 1, 1, 1]);
    assert.deepEqual(link(s, 1), { handle: 1, packetsSent: 4, waits: 1, maxInFlight: 3, unfairWaits: 0 });
  });

  it('gives freed buffers to the links that wait, not back to the link holding them all', async () => {
    const s = new AclBufferScheduler(3);
    const order: number[] = [];
    void want(s, 1, 10, order); // a DFU stream: far more fragments than buffers
    await settle(2);
    assert.deepEqual(order, [1, 1, 1]);
    void want(s, 2, 3, order);
    void want(s, 3, 3, order);
    await settle(2);
    // First come, first served would now give link 1 the next buffer (its waiters queued first).
    s.completed(1, 1);
    await settle(2);
    s.completed(1, 1);
    await settle(2);
    assert.deepEqual(order.slice(3), [2, 3], 'each freed buffer went to a link holding none');
    // Three active links, three buffers: a share of one each. Link 2's completion goes to link 2
    // or 3 (fewest in flight), never to link 1, which still holds its one.
    s.completed(2, 1);
    await settle(2);
    assert.equal(s.inFlight(1), 1);
    assert.equal(order.at(-1), 2, 'the only link holding none got it');
    s.completed(1, 1);
    await settle(2);
    assert.equal(order.at(-1), 1, 'link 1, now holding none, gets its turn again');
    for (const l of s.accounting().links) {
      assert.equal(l.unfairWaits, 0, `link ${l.handle}`);
    }
    assert.equal(link(s, 1)?.maxInFlight, 3, 'it had them all before anyone else wanted one');
    assert.ok((link(s, 2)?.waits ?? 0) > 0 && (link(s, 3)?.waits ?? 0) > 0);
  });

  it('caps a link at ceil(total / active links) while others wait, and serves the fewest in flight first', async () => {
    const s = new AclBufferScheduler(4);
    const order: number[] = [];
    void want(s, 1, 8, order);
    void want(s, 2, 8, order);
    await settle(2);
    // Link 1 took all 4 before link 2 asked. Share with two active links: 2 each.
    assert.deepEqual(order, [1, 1, 1, 1]);
    s.completed(1, 3);
    await settle(2);
    // Three freed: fewest in flight first, ties to the link served longest ago.
    assert.deepEqual(order.slice(4), [2, 1, 2]);
    assert.equal(s.inFlight(1), 2);
    assert.equal(s.inFlight(2), 2);
    assert.equal(s.available, 0);
    // Everything completes: buffers alternate, neither link exceeds 2 while the other waits.
    for (let i = 0; i < 12; i++) {
      s.completed(1, 1);
      s.completed(2, 1);
      await settle(2);
    }
    assert.equal(link(s, 1)?.packetsSent, 8);
    assert.equal(link(s, 2)?.packetsSent, 8);
    assert.equal(link(s, 1)?.unfairWaits, 0);
    assert.equal(link(s, 2)?.unfairWaits, 0);
  });

  it('leaves a buffer free rather than put a link over its share while another waits', async () => {
    const s = new AclBufferScheduler(8);
    const order: number[] = [];
    void want(s, 1, 3, order);
    void want(s, 2, 3, order);
    void want(s, 3, 2, order);
    await settle(2);
    assert.equal(s.available, 0);
    void want(s, 1, 2, order);
    void want(s, 2, 2, order);
    s.completed(3, 1);
    await settle(2);
    // Three active links: a share of ceil(8 / 3) = 3, which links 1 and 2 already hold.
    assert.equal(order.length, 8);
    assert.equal(s.available, 1);
    s.completed(3, 1); // link 3 is idle now: two active links, a share of 4 each
    await settle(2);
    assert.deepEqual(order.slice(8), [1, 2]);
    assert.equal(s.available, 0);
    assert.ok(s.accounting().links.every((l) => l.unfairWaits === 0));
  });

  it('frees a gone link\'s buffers, forgets aborted waiters, and fails every waiter with the controller', async () => {
    const s = new AclBufferScheduler(2);
    await s.acquire(1);
    await s.acquire(1);
    const ac = new AbortController();
    const aborted = s.acquire(2, ac.signal);
    const later = s.acquire(3);
    ac.abort(new BledfuError('CANCELLED', 'stop', { layer: 'hci' }));
    await assert.rejects(aborted, (e: unknown) => hasCode(e, 'CANCELLED'));
    s.linkGone(1);
    await later;
    assert.equal(s.inFlight(3), 1);
    assert.equal(s.available, 1);
    await s.acquire(3);
    const stuck = s.acquire(4);
    s.fail(new BledfuError('ADAPTER_UNAVAILABLE', 'gone', { layer: 'hci' }));
    await assert.rejects(stuck, (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE'));
    await assert.rejects(s.acquire(4), (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE'));
  });
});

describe('HciHost ACL on shared buffers', () => {
  it('interleaves fragments of different links but never two PDUs of one link', async () => {
    const fake = new FakeController({ completeAcl: false });
    const hci = new HciHost(fake.host, { logger: silentLogger(), commandTimeoutMs: 1000, clock: new ManualClock() });
    hci.start();
    hci.configureAcl(27, 3);
    const frame = (tag: number): Uint8Array => new Uint8Array(60).fill(tag); // 3 fragments
    const sends = [hci.sendAcl(1, frame(0xa1)), hci.sendAcl(1, frame(0xa2)), hci.sendAcl(2, frame(0xb1))];
    await settle();
    assert.equal(fake.acl.length, 3);
    for (let i = 0; i < 9 && fake.acl.length < 9; i++) {
      const last = fake.acl.at(-1);
      // Complete the oldest outstanding fragment of whichever link sent first.
      const done = fake.acl[i];
      if (done === undefined || last === undefined) break;
      await fake.sendEvent({ kind: 'numberOfCompletedPackets', entries: [{ handle: done.handle, count: 1 }] });
      await settle();
    }
    await Promise.all(sends);
    const seq = fake.acl.map((p) => `${p.handle}:${(p.data[0] ?? 0).toString(16)}:${p.pb === ACL_PB.continuing ? 'c' : 's'}`);
    // Link 2's PDU starts as soon as link 1 gives a buffer back, before link 1's second PDU.
    const firstB = seq.findIndex((x) => x.startsWith('2:'));
    const secondA = seq.findIndex((x) => x.startsWith('1:a2'));
    assert.ok(firstB >= 0 && firstB < secondA, seq.join(' '));
    // On each link, fragments arrive start, continuing, continuing per PDU, PDUs in order.
    const perLink = (h: number) => seq.filter((x) => x.startsWith(`${h}:`)).map((x) => x.slice(2)).join(' ');
    assert.equal(perLink(1), 'a1:s a1:c a1:c a2:s a2:c a2:c');
    assert.equal(perLink(2), 'b1:s b1:c b1:c');
    const acct = hci.aclBufferAccounting();
    assert.equal(acct?.links.find((l) => l.handle === 2)?.packetsSent, 3);
    assert.ok(acct?.links.every((l) => l.unfairWaits === 0));
    await hci.close();
  });
});
