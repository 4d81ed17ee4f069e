import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import { silentLogger } from '../../../../server/common/logger.js';
import { HciHost } from '../../../../server/host/hci/controller.js';
import { ACL_PB } from '../../../../server/host/hci/packets.js';
import { FakeController } from '../../../helpers/fakeController.js';
import { ManualClock, settle } from '../../../helpers/manualClock.js';

function setup(timers = new ManualClock()): { fake: FakeController; hci: HciHost; timers: ManualClock } {
  const fake = new FakeController({ completeAcl: false });
  const hci = new HciHost(fake.host, { logger: silentLogger(), commandTimeoutMs: 1000, clock: timers });
  hci.start();
  return { fake, hci, timers };
}

describe('HciHost commands', () => {
  it('sends no more commands than the controller has credits for', async () => {
    const { fake, hci } = setup();
    fake.on('reset', () => ({ kind: 'silent' }));
    const first = hci.send('reset', {});
    const second = hci.send('leSetScanEnable', { enable: 0, filterDuplicates: 0 });
    await settle();
    assert.deepEqual(fake.commands.map((c) => c.name), ['reset']);
    await fake.completeCommand('reset', 0, {}, 1);
    await first;
    await second;
    assert.deepEqual(fake.commands.map((c) => c.name), ['reset', 'leSetScanEnable']);
    await hci.close();
  });

  it('returns decoded return parameters', async () => {
    const { hci } = setup();
    const v = await hci.send('readLocalVersionInformation', {});
    assert.equal(v.companyId, 0x0059);
    assert.deepEqual(await hci.send('readBdAddr', {}), { address: 'C0:FF:EE:00:00:01' });
    await hci.close();
  });

  it('rejects a non-zero status with HCI_ERROR naming the command and the status', async () => {
    const { fake, hci } = setup();
    fake.on('leSetScanEnable', () => ({ kind: 'status', status: 0x0c }));
    await assert.rejects(hci.send('leSetScanEnable', { enable: 1, filterDuplicates: 0 }), (e: unknown) => {
      assert.ok(hasCode(e, 'HCI_ERROR'));
      assert.equal(e.facts.hciStatus, 0x0c);
      assert.equal(e.message, 'HCI_LE_Set_Scan_Enable failed: Command Disallowed (0x0C)');
      return true;
    });
    await hci.close();
  });

  it('surfaces Unknown HCI Command answered by Command Status as a catchable HCI_ERROR', async () => {
    const { fake, hci } = setup();
    // Some controllers refuse unsupported Command-Complete commands with a Command Status.
    fake.on('leSetDataLength', () => ({ kind: 'silent' }));
    const p = hci.send('leSetDataLength', { handle: 1, txOctets: 251, txTime: 2120 });
    await fake.waitForCommand('leSetDataLength');
    await fake.sendEvent({ kind: 'commandStatus', status: 0x01, numHciCommandPackets: 1, opcode: 0x2022 });
    await assert.rejects(p, (e: unknown) => hasCode(e, 'HCI_ERROR') && e.facts.hciStatus === 0x01);
    // And the host carries on.
    await hci.send('reset', {});
    await hci.close();
  });

  it('times out a command the controller never answers, then sends the next', async () => {
    const { fake, hci, timers } = setup();
    fake.on('reset', () => ({ kind: 'silent' }));
    const p = hci.send('reset', {});
    await fake.waitForCommand('reset');
    assert.equal(timers.fire(1000), 1);
    await assert.rejects(p, (e: unknown) => hasCode(e, 'HCI_TIMEOUT') && /HCI_Reset/.test(e.message));
    fake.on('reset', () => ({ kind: 'ok' }));
    await hci.send('leSetScanEnable', { enable: 0, filterDuplicates: 0 });
    await hci.close();
  });

  it('fails pending commands with ADAPTER_UNAVAILABLE when the transport closes', async () => {
    const { fake, hci } = setup();
    fake.on('reset', () => ({ kind: 'silent' }));
    const p = hci.send('reset', {});
    await fake.waitForCommand('reset');
    await fake.close();
    await assert.rejects(p, (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE'));
    assert.equal(hci.failed.aborted, true);
  });

  it('fails on a Hardware Error event', async () => {
    const { fake, hci } = setup();
    await fake.sendEvent({ kind: 'hardwareError', hardwareCode: 1 });
    await settle();
    assert.ok(hasCode(hci.failed.reason, 'ADAPTER_UNAVAILABLE'));
    await hci.close();
  });
});

describe('HciHost ACL', () => {
  it('fragments to the buffer size and waits for Number Of Completed Packets', async () => {
    const { fake, hci } = setup();
    hci.configureAcl(27, 2);
    const frame = Uint8Array.from({ length: 60 }, (_, i) => i);
    const sent = hci.sendAcl(0x40, frame);
    await settle();
    assert.equal(fake.acl.length, 2);
    assert.deepEqual(fake.acl.map((p) => [p.handle, p.pb, p.data.length]), [
      [0x40, ACL_PB.firstNonFlushable, 27],
      [0x40, ACL_PB.continuing, 27],
    ]);
    await fake.sendEvent({ kind: 'numberOfCompletedPackets', entries: [{ handle: 0x40, count: 1 }] });
    await sent;
    assert.equal(fake.acl.length, 3);
    assert.deepEqual(fake.acl[2]?.pb, ACL_PB.continuing);
    assert.equal(toHex(Uint8Array.from(fake.acl.flatMap((p) => [...p.data]))), toHex(frame));
    assert.equal(hci.aclCreditsAvailable, 0);
    await hci.close();
  });

  it('lets a waiting writer give up with its AbortSignal', async () => {
    const { hci } = setup();
    hci.configureAcl(27, 1);
    await hci.sendAcl(1, new Uint8Array(4));
    const ac = new AbortController();
    const waiting = hci.sendAcl(1, new Uint8Array(4), ac.signal);
    ac.abort();
    await assert.rejects(waiting, (e: unknown) => hasCode(e, 'CANCELLED'));
    await hci.close();
  });

  it('returns the credits of a link that went down', async () => {
    const { fake, hci } = setup();
    hci.configureAcl(27, 1);
    await hci.sendAcl(1, new Uint8Array(4));
    assert.equal(hci.aclCreditsAvailable, 0);
    await fake.sendEvent({ kind: 'disconnectionComplete', status: 0, handle: 1, reason: 0x08 });
    await settle();
    assert.equal(hci.aclCreditsAvailable, 1);
    await hci.close();
  });

  it('stops a PDU whose link went down between fragments, and keeps the credit the disconnect returned', async () => {
    const { fake, hci } = setup();
    hci.configureAcl(27, 1);
    const sending = hci.sendAcl(1, new Uint8Array(60));
    await settle();
    assert.equal(fake.acl.length, 1);
    // The link goes before the controller reports the first fragment: that buffer counts as freed.
    await fake.sendEvent({ kind: 'disconnectionComplete', status: 0, handle: 1, reason: 0x08 });
    await assert.rejects(sending, (e: unknown) => hasCode(e, 'LINK_LOST'));
    await settle();
    // No fragment went to the dead handle (no controller would ever report it completed).
    assert.equal(fake.acl.length, 1);
    assert.equal(hci.aclCreditsAvailable, 1);
    await hci.close();
  });

  it('refuses a PDU for a handle that went down while it waited its turn, without taking a buffer', async () => {
    const { fake, hci } = setup();
    hci.configureAcl(27, 1);
    await hci.sendAcl(1, new Uint8Array(4));
    const waiting = hci.sendAcl(1, new Uint8Array(4));
    await fake.sendEvent({ kind: 'disconnectionComplete', status: 0, handle: 1, reason: 0x08 });
    await assert.rejects(waiting, (e: unknown) => hasCode(e, 'LINK_LOST'));
    await settle();
    assert.equal(fake.acl.length, 1);
    assert.equal(hci.aclCreditsAvailable, 1);
    // A later link on the same handle sends normally.
    await fake.sendEvent({
      kind: 'leConnectionComplete', status: 0, handle: 1, role: 0, peerAddressType: 0, peerAddress: '00:11:22:33:44:55',
      connInterval: 24, connLatency: 0, supervisionTimeout: 400, centralClockAccuracy: 0,
    });
    await settle();
    await hci.sendAcl(1, new Uint8Array(4));
    assert.equal(fake.acl.length, 2);
    await hci.close();
  });

  it('reassembles continuation fragments into one L2CAP frame', async () => {
    const { fake, hci } = setup();
    const frames: string[] = [];
    hci.onAclFrame((handle, frame) => frames.push(`${handle}:${toHex(frame)}`));
    await fake.sendAclPacket({ handle: 2, pb: ACL_PB.firstFlushable, bc: 0, data: Uint8Array.of(0x05, 0x00, 0x04) });
    await fake.sendAclPacket({ handle: 2, pb: ACL_PB.continuing, bc: 0, data: Uint8Array.of(0x00, 0x1b, 0x10) });
    await fake.sendAclPacket({ handle: 2, pb: ACL_PB.continuing, bc: 0, data: Uint8Array.of(0x00, 0xaa, 0xbb) });
    await settle();
    assert.deepEqual(frames, ['2:050004001b1000aabb']);
    await hci.close();
  });
});
