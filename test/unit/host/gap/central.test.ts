import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { parseAddress } from '../../../../server/ble/address.js';
import type { Advertisement } from '../../../../server/ble/types.js';
import { fromHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import { silentLogger, type Logger } from '../../../../server/common/logger.js';
import { GapCentral, type GapLink } from '../../../../server/host/gap/central.js';
import type { DecodedCommand } from '../../../../server/host/hci/commands.js';
import { HciHost } from '../../../../server/host/hci/controller.js';
import type { HciEvent } from '../../../../server/host/hci/events.js';
import { connectionComplete, FakeController } from '../../../helpers/fakeController.js';
import { ManualClock, settle } from '../../../helpers/manualClock.js';

const PEER_A = 'F0:00:00:00:00:0A';
const PEER_B = 'F0:00:00:00:00:0B';
const PEER_C = 'F0:00:00:00:00:0C';

function setup(
  options: { logger?: Logger; onLinkDown?: (link: GapLink) => void } = {},
): { fake: FakeController; hci: HciHost; gap: GapCentral; timers: ManualClock } {
  const timers = new ManualClock();
  const fake = new FakeController();
  const logger = options.logger ?? silentLogger();
  const hci = new HciHost(fake.host, { logger, commandTimeoutMs: 1000, clock: timers });
  hci.start();
  const gap = new GapCentral(hci, { logger, clock: timers, ...(options.onLinkDown === undefined ? {} : { onLinkDown: options.onLinkDown }) });
  return { fake, hci, gap, timers };
}

/** ADV_IND from `address` with a Flags field and the 16-bit UUID FE59. */
function advReport(address: string, rssi = -50): HciEvent {
  return { kind: 'leAdvertisingReport', reports: [{ eventType: 0, addressType: 1, address, data: fromHex('020106030359fe'), rssi }] };
}

/** SCAN_RSP from `address` carrying the complete local name "DfuTarg". */
function scanResponse(address: string): HciEvent {
  return { kind: 'leAdvertisingReport', reports: [{ eventType: 4, addressType: 1, address, data: fromHex('080944667554617267'), rssi: -51 }] };
}

/** A scan consumer that records what it sees and can be stopped by signal or after `limit` reports. */
function consume(gap: GapCentral, active: boolean, limit = Number.POSITIVE_INFINITY) {
  const stop = new AbortController();
  const seen: Advertisement[] = [];
  const done = (async () => {
    for await (const adv of gap.scan(active, stop.signal)) {
      seen.push(adv);
      if (seen.length >= limit) break;
    }
  })();
  return { stop, seen, done };
}

/** The scan commands the controller saw, in order, as short strings. */
function scanCommands(fake: FakeController): string[] {
  return fake.commands.flatMap((c: DecodedCommand) => {
    if (c.name === 'leSetScanEnable') return [`enable ${c.params.enable}`];
    if (c.name === 'leSetScanParameters') return [`params ${c.params.scanType === 1 ? 'active' : 'passive'}`];
    return [];
  });
}

const describeAdv = (a: Advertisement): string => `${a.address.value} ${a.name ?? '-'}`;

describe('GAP central: scan fan-out', () => {
  it('two concurrent scans get the same reports from one controller scan, stopped once both leave', async () => {
    const { fake, hci, gap } = setup();
    const a = consume(gap, true);
    const b = consume(gap, true);
    await settle();
    assert.ok(gap.scanning);
    assert.deepEqual(scanCommands(fake), ['params active', 'enable 1']);
    await fake.sendEvent(advReport(PEER_A));
    await fake.sendEvent(scanResponse(PEER_A));
    await fake.sendEvent(advReport(PEER_B));
    await settle();
    const expected = [`${PEER_A} -`, `${PEER_A} DfuTarg`, `${PEER_B} -`];
    assert.deepEqual(a.seen.map(describeAdv), expected);
    assert.deepEqual(b.seen.map(describeAdv), expected);
    a.stop.abort();
    await a.done;
    assert.deepEqual(scanCommands(fake), ['params active', 'enable 1'], 'the scan goes on for the other consumer');
    b.stop.abort();
    await b.done;
    assert.deepEqual(scanCommands(fake), ['params active', 'enable 1', 'enable 0']);
    assert.equal(gap.scanning, false);
    await hci.close();
  });

  it('a consumer breaking out early does not stop the scan for the other', async () => {
    const { fake, hci, gap } = setup();
    const early = consume(gap, false, 1);
    const stays = consume(gap, false);
    await settle();
    await fake.sendEvent(advReport(PEER_A));
    await early.done;
    await fake.sendEvent(advReport(PEER_B));
    await settle();
    assert.deepEqual(early.seen.map(describeAdv), [`${PEER_A} -`]);
    assert.deepEqual(stays.seen.map(describeAdv), [`${PEER_A} -`, `${PEER_B} -`]);
    assert.deepEqual(scanCommands(fake), ['params passive', 'enable 1']);
    stays.stop.abort();
    await stays.done;
    assert.deepEqual(scanCommands(fake), ['params passive', 'enable 1', 'enable 0']);
    await hci.close();
  });

  it('switches a passive scan to active when an active consumer joins, and serves both', async () => {
    const { fake, hci, gap } = setup();
    const passive = consume(gap, false);
    await settle();
    assert.deepEqual(scanCommands(fake), ['params passive', 'enable 1']);
    await fake.sendEvent(advReport(PEER_A));
    await settle();
    const active = consume(gap, true);
    await settle();
    assert.deepEqual(scanCommands(fake), ['params passive', 'enable 1', 'enable 0', 'params active', 'enable 1']);
    await fake.sendEvent(advReport(PEER_B));
    await fake.sendEvent(scanResponse(PEER_B));
    await settle();
    assert.deepEqual(passive.seen.map(describeAdv), [`${PEER_A} -`, `${PEER_B} -`, `${PEER_B} DfuTarg`]);
    assert.deepEqual(active.seen.map(describeAdv), [`${PEER_B} -`, `${PEER_B} DfuTarg`]);
    // The active consumer leaving leaves the scan active: no restart for the passive one.
    active.stop.abort();
    await active.done;
    assert.deepEqual(scanCommands(fake), ['params passive', 'enable 1', 'enable 0', 'params active', 'enable 1']);
    passive.stop.abort();
    await passive.done;
    assert.deepEqual(scanCommands(fake).at(-1), 'enable 0');
    // The next scan starts from scratch, passive again.
    const again = consume(gap, false);
    await settle();
    assert.deepEqual(scanCommands(fake).slice(-2), ['params passive', 'enable 1']);
    again.stop.abort();
    await again.done;
    await hci.close();
  });

  it('drops reports only for a consumer that falls behind, and says so in a debug log', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
    const { fake, hci, gap } = setup({ logger });
    const stop = new AbortController();
    // The slow consumer asks for one report and then stops reading.
    const slow = gap.scan(false, stop.signal)[Symbol.asyncIterator]();
    const first = slow.next();
    const fast = consume(gap, false);
    await settle();
    const total = 1100;
    for (let i = 0; i < total; i++) await fake.sendEvent(advReport(PEER_A, -(i % 100)));
    await settle();
    assert.equal(fast.seen.length, total);
    assert.equal((await first).done, false);
    // One report went straight to the pending read, then the queue (1024) filled up.
    let slowSeen = 1;
    stop.abort();
    for (let r = await slow.next(); r.done !== true; r = await slow.next()) slowSeen++;
    assert.equal(slowSeen, 1 + 1024);
    assert.ok(lines.some((l) => l.includes('scan consumer too slow')));
    assert.ok(lines.some((l) => l.includes(`"dropped":${total - slowSeen}`)));
    fast.stop.abort();
    await fast.done;
    await hci.close();
  });

  it('merges scan responses for recent advertisers but forgets the oldest beyond 4096, so a long scan stays bounded', async () => {
    const { fake, hci, gap } = setup();
    const scan = consume(gap, true);
    await settle();
    await fake.sendEvent(advReport(PEER_A));
    for (let i = 0; i < 4096; i++) {
      await fake.sendEvent(advReport(`F1:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0').toUpperCase()}:${(i & 0xff).toString(16).padStart(2, '0').toUpperCase()}`));
    }
    await fake.sendEvent(scanResponse(PEER_A));
    await fake.sendEvent(scanResponse('F1:00:00:00:0F:FF'));
    await settle();
    const [forgotten, recent] = scan.seen.slice(-2);
    // PEER_A's advertising was pushed out: its scan response stands alone (no FE59, not connectable).
    assert.equal(forgotten?.name, 'DfuTarg');
    assert.deepEqual(forgotten?.serviceUuids, []);
    assert.equal(forgotten?.connectable, false);
    // The most recent advertiser's response is still merged with what it advertised.
    assert.equal(recent?.name, 'DfuTarg');
    assert.deepEqual(recent?.serviceUuids, ['FE59']);
    assert.equal(recent?.connectable, true);
    scan.stop.abort();
    await scan.done;
    await hci.close();
  });

  it('gives a consumer the error when the controller refuses to start, and the next scan starts afresh', async () => {
    const { fake, hci, gap } = setup();
    fake.on('leSetScanEnable', () => ({ kind: 'status', status: 0x0c }));
    const a = consume(gap, false);
    await assert.rejects(a.done, (e: unknown) => hasCode(e, 'HCI_ERROR') && e.facts.hciStatus === 0x0c);
    assert.equal(gap.scanning, false);
    fake.on('leSetScanEnable', () => ({ kind: 'ok' }));
    const b = consume(gap, false);
    await settle();
    assert.deepEqual(scanCommands(fake), ['params passive', 'enable 1', 'params passive', 'enable 1']);
    await fake.sendEvent(advReport(PEER_A));
    await settle();
    assert.equal(b.seen.length, 1);
    b.stop.abort();
    await b.done;
    await hci.close();
  });

  it('restores the passive scan for the others when switching to active fails', async () => {
    const { fake, hci, gap } = setup();
    const passive = consume(gap, false);
    await settle();
    fake.on('leSetScanParameters', (c) => (c.name === 'leSetScanParameters' && c.params.scanType === 1 ? { kind: 'status', status: 0x12 } : undefined));
    const active = consume(gap, true);
    await assert.rejects(active.done, (e: unknown) => hasCode(e, 'HCI_ERROR'));
    await settle();
    assert.deepEqual(scanCommands(fake), ['params passive', 'enable 1', 'enable 0', 'params active', 'params passive', 'enable 1']);
    await fake.sendEvent(advReport(PEER_A));
    await settle();
    assert.equal(passive.seen.length, 1, 'the passive consumer is still served');
    passive.stop.abort();
    await passive.done;
    await hci.close();
  });

  it('finishes an aborted consumer normally even when the start-up it was waiting for fails', async () => {
    const { fake, hci, gap, timers } = setup();
    fake.on('leSetScanEnable', () => ({ kind: 'silent' }));
    const a = consume(gap, false);
    await fake.waitForCommand('leSetScanEnable');
    a.stop.abort();
    // Leaving waits for the controller's answer (here: none, so the HCI command timeout) so
    // that its stop is not interleaved with the start; the start's failure is not its concern.
    await settle();
    assert.equal(timers.fire(1000), 1);
    await a.done;
    assert.deepEqual(a.seen, []);
    assert.equal(gap.scanning, false);
    await hci.close();
  });

  it('fails every scan consumer when the controller goes away', async () => {
    const { fake, gap } = setup();
    const a = consume(gap, false);
    const b = consume(gap, true);
    await settle();
    await fake.close();
    await assert.rejects(a.done, (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE'));
    await assert.rejects(b.done, (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE'));
    assert.equal(gap.scanning, false);
  });
});

describe('GAP central: a consumer joining a running scan', () => {
  /**
   * Like BlueZ's btvirt or a controller filtering duplicates: every advertiser in `nearby` is
   * reported once when scanning is enabled (with its scan response when the scan is active),
   * and never again while it runs.
   */
  function reportOncePerEnable(fake: FakeController, nearby: readonly string[]): void {
    let active = false;
    fake.on('leSetScanParameters', (c) => {
      if (c.name === 'leSetScanParameters') active = c.params.scanType === 1;
    });
    fake.on('leSetScanEnable', (c) => {
      if (c.name === 'leSetScanEnable' && c.params.enable === 1) {
        // After the Command Complete, as a controller does.
        setImmediate(() => {
          void (async () => {
            for (const address of nearby) {
              await fake.sendEvent(advReport(address));
              if (active) await fake.sendEvent(scanResponse(address));
            }
          })();
        });
      }
    });
  }

  it('restarts the controller scan, so a late joiner hears a device whose advertising was reported only once', async () => {
    const { fake, hci, gap } = setup();
    reportOncePerEnable(fake, [PEER_A]);
    const first = consume(gap, false);
    await settle();
    await new Promise((r) => setImmediate(r));
    await settle();
    assert.deepEqual(first.seen.map(describeAdv), [`${PEER_A} -`]);
    const late = consume(gap, false, 1);
    await late.done;
    assert.deepEqual(late.seen.map(describeAdv), [`${PEER_A} -`], 'the late joiner heard the device');
    assert.deepEqual(scanCommands(fake), ['params passive', 'enable 1', 'enable 0', 'enable 1'], 'a restart with the parameters in force');
    await settle();
    // The earlier consumer kept its scan and simply heard the device again.
    assert.deepEqual(first.seen.map(describeAdv), [`${PEER_A} -`, `${PEER_A} -`]);
    first.stop.abort();
    await first.done;
    assert.deepEqual(scanCommands(fake).at(-1), 'enable 0');
    await hci.close();
  });

  it('keeps merging scan responses across the restart, and a passive joiner leaves an active scan active', async () => {
    const { fake, hci, gap } = setup();
    reportOncePerEnable(fake, [PEER_A, PEER_B]);
    const active = consume(gap, true);
    await settle();
    await new Promise((r) => setImmediate(r));
    await settle();
    assert.deepEqual(active.seen.map(describeAdv), [`${PEER_A} -`, `${PEER_A} DfuTarg`, `${PEER_B} -`, `${PEER_B} DfuTarg`]);
    const passive = consume(gap, false, 4);
    await passive.done;
    assert.deepEqual(passive.seen.map(describeAdv), [`${PEER_A} -`, `${PEER_A} DfuTarg`, `${PEER_B} -`, `${PEER_B} DfuTarg`]);
    const merged = passive.seen[1];
    assert.deepEqual(merged?.serviceUuids, ['FE59'], 'the scan response is merged with the advertising heard before it');
    assert.equal(merged?.connectable, true);
    assert.deepEqual(scanCommands(fake), ['params active', 'enable 1', 'enable 0', 'enable 1']);
    active.stop.abort();
    await active.done;
    await hci.close();
  });

  it('restarts once for several consumers joining together, and not at all for consumers present at the enable', async () => {
    const { fake, hci, gap } = setup();
    const first = consume(gap, false);
    const alsoFirst = consume(gap, false);
    await settle();
    assert.deepEqual(scanCommands(fake), ['params passive', 'enable 1']);
    const joiners = [consume(gap, false), consume(gap, false), consume(gap, false)];
    await settle();
    assert.deepEqual(scanCommands(fake), ['params passive', 'enable 1', 'enable 0', 'enable 1']);
    await fake.sendEvent(advReport(PEER_C));
    await settle();
    for (const c of [first, alsoFirst, ...joiners]) assert.deepEqual(c.seen.map(describeAdv), [`${PEER_C} -`]);
    for (const c of [first, alsoFirst, ...joiners]) c.stop.abort();
    await Promise.all([first, alsoFirst, ...joiners].map((c) => c.done));
    assert.deepEqual(scanCommands(fake), ['params passive', 'enable 1', 'enable 0', 'enable 1', 'enable 0']);
    await hci.close();
  });

  it('gives a joiner the error when the restart is refused, and brings the scan back for the others', async () => {
    const { fake, hci, gap } = setup();
    const first = consume(gap, false);
    await settle();
    let refuse = true;
    fake.on('leSetScanEnable', (c) => (c.name === 'leSetScanEnable' && c.params.enable === 1 && refuse ? ((refuse = false), { kind: 'status', status: 0x0c }) : undefined));
    const late = consume(gap, false);
    await assert.rejects(late.done, (e: unknown) => hasCode(e, 'HCI_ERROR') && e.facts.hciStatus === 0x0c);
    await settle();
    assert.deepEqual(scanCommands(fake), ['params passive', 'enable 1', 'enable 0', 'enable 1', 'params passive', 'enable 1']);
    await fake.sendEvent(advReport(PEER_A));
    await settle();
    assert.deepEqual(first.seen.map(describeAdv), [`${PEER_A} -`], 'the first consumer is still served');
    first.stop.abort();
    await first.done;
    await hci.close();
  });
});

describe('GAP central: connect queue', () => {
  const creates = (fake: FakeController): string[] =>
    fake.commands.flatMap((c) => (c.name === 'leCreateConnection' ? [c.params.peerAddress] : []));

  it('runs concurrent connects one after another, each to completion, while a scan keeps running', async () => {
    const { fake, hci, gap } = setup();
    const scanner = consume(gap, true);
    await settle();
    const first = gap.connect(parseAddress(PEER_A));
    const second = gap.connect(parseAddress(PEER_B));
    await settle();
    assert.deepEqual(creates(fake), [PEER_A], 'one LE Create Connection at a time');
    await fake.sendEvent(connectionComplete(0x40, PEER_A));
    const linkA = await first;
    assert.equal(linkA.address.value, PEER_A);
    await settle();
    assert.deepEqual(creates(fake), [PEER_A, PEER_B], 'the second follows the first completion');
    await fake.sendEvent(connectionComplete(0x41, PEER_B));
    const linkB = await second;
    assert.equal(linkB.address.value, PEER_B);
    assert.deepEqual(gap.links.map((l) => l.handle), [0x40, 0x41]);
    // Connecting never touched the scan.
    assert.deepEqual(scanCommands(fake), ['params active', 'enable 1']);
    scanner.stop.abort();
    await scanner.done;
    await hci.close();
  });

  it('starts a queued connect’s timeout only when it reaches the controller', async () => {
    const { fake, hci, gap, timers } = setup();
    fake.on('leCreateConnectionCancel', () => {
      void fake.sendEvent(connectionComplete(0, '00:00:00:00:00:00', 0x02));
      return { kind: 'ok' };
    });
    const first = gap.connect(parseAddress(PEER_A), { timeoutMs: 9000 });
    const second = gap.connect(parseAddress(PEER_B), { timeoutMs: 7000 });
    await settle();
    assert.equal(timers.fire(7000), 0, 'no timeout runs while waiting in line');
    await fake.sendEvent(connectionComplete(0x40, PEER_A));
    await first;
    await fake.waitForCommand('leCreateConnection', fake.commands.findIndex((c) => c.name === 'leCreateConnection') + 1);
    await settle();
    assert.equal(timers.fire(7000), 1);
    await assert.rejects(second, (e: unknown) => hasCode(e, 'CONNECT_FAILED') && /within 7000 ms/.test(e.message));
    await hci.close();
  });

  it('a link that comes up while cancelling and drops at once is not left in the table, and the next connect runs', async () => {
    const downs: string[] = [];
    const { fake, hci, gap, timers } = setup({ onLinkDown: (l) => downs.push(`down 0x${l.handle.toString(16)}`) });
    // The link won the race against the cancel, then dropped (e.g. the peer reset): a real
    // controller delivers all three in one read, before the host has done anything.
    fake.on('leCreateConnectionCancel', () => {
      void fake.sendTogether(
        { event: connectionComplete(0x40, PEER_A) },
        { event: { kind: 'commandComplete', numHciCommandPackets: 1, opcode: 0x200e, returnParameters: Uint8Array.of(0x0c) } },
        { event: { kind: 'disconnectionComplete', status: 0, handle: 0x40, reason: 0x3e } },
      );
      return { kind: 'silent' };
    });
    fake.on('disconnect', () => ({ kind: 'status', status: 0x02 }));
    const first = gap.connect(parseAddress(PEER_A), { timeoutMs: 5000 });
    await fake.waitForCommand('leCreateConnection');
    await settle();
    assert.equal(timers.fire(5000), 1);
    await assert.rejects(first, (e: unknown) => hasCode(e, 'CONNECT_FAILED'));
    assert.deepEqual(gap.links, []);
    assert.deepEqual(downs, ['down 0x40']);
    // The turn was given back: the next attempt reaches the controller.
    const second = gap.connect(parseAddress(PEER_B));
    await settle();
    await fake.sendEvent(connectionComplete(0x41, PEER_B));
    assert.equal((await second).handle, 0x41);
    await hci.close();
  });

  it('takes a queued connect out of line when its signal aborts, without disturbing the others', async () => {
    const { fake, hci, gap } = setup();
    const first = gap.connect(parseAddress(PEER_A));
    const cancel = new AbortController();
    const second = gap.connect(parseAddress(PEER_B), { signal: cancel.signal });
    const third = gap.connect(parseAddress(PEER_C));
    await settle();
    cancel.abort();
    await assert.rejects(second, (e: unknown) => hasCode(e, 'CANCELLED'));
    assert.deepEqual(creates(fake), [PEER_A]);
    assert.ok(!fake.commands.some((c) => c.name === 'leCreateConnectionCancel'), 'the running attempt is not cancelled');
    await fake.sendEvent(connectionComplete(0x40, PEER_A));
    assert.equal((await first).handle, 0x40);
    await settle();
    assert.deepEqual(creates(fake), [PEER_A, PEER_C], 'the aborted attempt never reached the controller');
    await fake.sendEvent(connectionComplete(0x41, PEER_C));
    assert.equal((await third).handle, 0x41);
    await hci.close();
  });

  it('lets admit refuse a queued attempt when its turn comes, and moves on to the next', async () => {
    const { fake, hci, gap } = setup();
    const first = gap.connect(parseAddress(PEER_A));
    let full = false;
    const refuse = (): void => {
      if (full) throw new Error('full');
    };
    const second = gap.connect(parseAddress(PEER_B), { admit: refuse });
    await settle();
    full = true;
    await fake.sendEvent(connectionComplete(0x40, PEER_A));
    await first;
    await assert.rejects(second, /full/);
    const third = gap.connect(parseAddress(PEER_C));
    await settle();
    assert.deepEqual(creates(fake), [PEER_A, PEER_C]);
    await fake.sendEvent(connectionComplete(0x41, PEER_C));
    await third;
    await hci.close();
  });

  it('fails queued connects when the controller goes away', async () => {
    const { fake, gap } = setup();
    const first = gap.connect(parseAddress(PEER_A));
    const second = gap.connect(parseAddress(PEER_B));
    await settle();
    await fake.close();
    await assert.rejects(first, (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE'));
    await assert.rejects(second, (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE'));
  });
});
