import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { createHciAdapter } from '../../../server/backends/hci/adapter.js';
import { SupervisedAdapter, type SupervisorOptions } from '../../../server/backends/supervisor.js';
import { parseAddress } from '../../../server/ble/address.js';
import type { Advertisement } from '../../../server/ble/types.js';
import { fromHex } from '../../../server/common/bytes.js';
import { BledfuError, hasCode, isBledfuError } from '../../../server/common/errors.js';
import { silentLogger, type Logger } from '../../../server/common/logger.js';
import type { AttPdu } from '../../../server/host/att/pdu.js';
import { connectionComplete, FakeController } from '../../helpers/fakeController.js';
import { ManualClock, settle } from '../../helpers/manualClock.js';

const PEER = 'F0:12:34:56:78:9A';
/** Reads of this handle are never answered: a call that stays pending. */
const SILENT_HANDLE = 0x99;

function att(pdu: AttPdu): AttPdu | undefined {
  if (pdu.op === 'exchangeMtuReq') return { op: 'exchangeMtuRsp', mtu: 185 };
  if (pdu.op === 'readReq' && pdu.handle !== SILENT_HANDLE) return { op: 'readRsp', value: fromHex('0102') };
  if (pdu.op === 'writeReq') return { op: 'writeRsp' };
  return undefined;
}

const portMissing = (): BledfuError =>
  new BledfuError('SERIAL_PORT_NOT_FOUND', 'no serial port /dev/ttyFAKE', { layer: 'transport', remedy: 'plug the dongle in' });

/** A dongle on a fake serial port: each opening is a fresh controller; it can be pulled out and put back. */
class FakeDongle {
  readonly controllers: FakeController[] = [];
  plugged = true;
  /** Overrides the next openings' outcome while plugged (e.g. the port is busy). */
  refuseWith: BledfuError | undefined;
  attempts = 0;

  readonly open = async (): Promise<import('../../../server/ble/types.js').Adapter> => {
    this.attempts++;
    if (!this.plugged) throw portMissing();
    if (this.refuseWith !== undefined) throw this.refuseWith;
    const fake = new FakeController({ att });
    this.controllers.push(fake);
    return createHciAdapter(fake.host, { id: 'hci0', spec: 'hci:/dev/ttyFAKE', kind: 'hci-uart', logger: silentLogger(), maxConnections: 2 });
  };

  get current(): FakeController {
    const c = this.controllers.at(-1);
    if (c === undefined) throw new Error('never opened');
    return c;
  }

  /** The port vanishes: the controller's end of the pipe closes under the host. */
  async unplug(): Promise<void> {
    this.plugged = false;
    await this.current.close();
  }
}

function supervised(dongle: FakeDongle, extra: Partial<SupervisorOptions> = {}) {
  const timers = new ManualClock();
  const adapter = new SupervisedAdapter({
    id: 'hci0',
    spec: 'hci:/dev/ttyFAKE',
    kind: 'hci-uart',
    logger: silentLogger(),
    open: dongle.open,
    clock: timers,
    ...extra,
  });
  return { adapter, timers };
}

const isLost = (e: unknown): boolean =>
  hasCode(e, 'ADAPTER_UNAVAILABLE') &&
  e.message === 'dongle hci0 went away (unplugged?)' &&
  /plug it back in/.test(e.remedy ?? '') &&
  isBledfuError(e.cause) &&
  /HCI transport closed/.test(e.cause.message);

async function connect(dongle: FakeDongle, adapter: SupervisedAdapter) {
  const connecting = adapter.connect(parseAddress(PEER));
  await dongle.current.waitForCommand('leCreateConnection');
  await dongle.current.sendEvent(connectionComplete(0x40, PEER));
  return connecting;
}

/** Fires the retry timer of `ms` and lets the opening it starts run to its end. */
async function retryAfter(timers: ManualClock, ms: number): Promise<void> {
  assert.equal(timers.fire(ms), 1, `a retry was due after ${ms} ms`);
  await settle();
}

describe('supervised adapter', () => {
  it('fails every link, scan and pending call at once with a clear error when the dongle is unplugged', async () => {
    const dongle = new FakeDongle();
    const { adapter } = supervised(dongle);
    await adapter.start();
    assert.equal(adapter.info().state, 'ready');
    assert.equal(adapter.info().id, 'hci0');
    const identity = adapter.info().identity;
    assert.match(identity, /Nordic/);
    const connection = await connect(dongle, adapter);
    assert.equal(connection.mtu, 185);
    assert.deepEqual(await connection.read(3), fromHex('0102'));

    const pendingRead = connection.read(SILENT_HANDLE);
    const stopScan = new AbortController();
    const scanning = (async () => {
      const seen: Advertisement[] = [];
      for await (const adv of adapter.scan({ active: true, signal: stopScan.signal })) seen.push(adv);
      return seen;
    })();
    await dongle.current.waitForCommand('leSetScanEnable');
    const secondConnect = adapter.connect(parseAddress('F0:12:34:56:78:9C'));
    await dongle.current.waitForCommand('leCreateConnection', dongle.current.commands.findLastIndex((c) => c.name === 'leCreateConnection'));
    await settle();

    await dongle.unplug();
    await assert.rejects(pendingRead, isLost);
    await assert.rejects(scanning, isLost);
    await assert.rejects(secondConnect, isLost);
    assert.ok(connection.closed.aborted);
    assert.ok(isLost(connection.closed.reason), 'the link says why it went down');
    await assert.rejects(connection.write(0x12, fromHex('01')), isLost);

    const info = adapter.info();
    assert.equal(info.state, 'failed');
    assert.ok(isLost(info.error));
    assert.equal(info.identity, identity, 'the last known identity stays listed');
    assert.equal(info.address?.value, 'C0:FF:EE:00:00:01', 'the last known address stays listed');
    // New work is refused at once, naming the reason.
    await assert.rejects(adapter.connect(parseAddress(PEER)), (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE') && /not usable: dongle hci0 went away/.test(e.message));
    await adapter.close();
  });

  it('a subscription its user closes is not the dongle going away: the adapter and its other calls carry on', async () => {
    // Issue 10, problem 1: the DFU link closes its notification subscription at the end of every
    // job while a receive is pending. That end of a queue was taken for the transport closing, and
    // every later error on the server became "dongle hci0 went away" while the adapter was fine.
    const dongle = new FakeDongle();
    const { adapter } = supervised(dongle);
    await adapter.start();
    const connection = await connect(dongle, adapter);
    const sub = await connection.subscribe({ uuid: '8ec90001-f315-4f60-9fb8-838830daea50', handle: 0x10, valueHandle: 0x11, properties: 0x28, cccdHandle: 0x12 }, 'notify');
    const pending = sub.receive();
    sub.close();
    await assert.rejects(pending, (e: unknown) => hasCode(e, 'STREAM_ENDED'));
    assert.equal(connection.closed.aborted, false, 'the link is still up');
    assert.deepEqual(await connection.read(3), fromHex('0102'));
    // An ordinary failure afterwards is reported as itself, not as the adapter's loss.
    const stop = new AbortController();
    const read = connection.read(SILENT_HANDLE, stop.signal);
    stop.abort(new BledfuError('CANCELLED', 'read cancelled', { layer: 'att' }));
    await assert.rejects(read, (e: unknown) => hasCode(e, 'CANCELLED'));
    assert.equal(adapter.info().state, 'ready');
    const again = await connect(dongle, adapter).catch((e: unknown) => e);
    assert.ok(!hasCode(again, 'ADAPTER_UNAVAILABLE'), `a second link opens: ${String(again)}`);
    await adapter.close();
  });

  it('reopens with backoff (0.5 s doubling to 5 s), keeps the latest error meanwhile, and is ready again under the same id', async () => {
    const dongle = new FakeDongle();
    const { adapter, timers } = supervised(dongle);
    await adapter.start();
    await dongle.unplug();
    await settle();
    assert.equal(adapter.state, 'failed');
    const before = dongle.attempts;
    for (const ms of [500, 1000, 2000, 4000, 5000, 5000]) {
      await retryAfter(timers, ms);
      assert.equal(adapter.info().state, 'failed');
      assert.ok(hasCode(adapter.info().error, 'SERIAL_PORT_NOT_FOUND'), 'the latest opening error is listed');
    }
    assert.equal(dongle.attempts - before, 6);
    // A different reason is listed as soon as it is the latest.
    dongle.plugged = true;
    dongle.refuseWith = new BledfuError('SERIAL_PORT_BUSY', '/dev/ttyFAKE is in use by another program', { layer: 'transport' });
    await retryAfter(timers, 5000);
    assert.ok(hasCode(adapter.info().error, 'SERIAL_PORT_BUSY'));

    dongle.refuseWith = undefined;
    await retryAfter(timers, 5000);
    assert.equal(adapter.info().state, 'ready');
    assert.equal(adapter.info().error, undefined);
    assert.equal(adapter.id, 'hci0');
    assert.equal(dongle.controllers.length, 2, 'a fresh controller was opened');
    assert.equal(timers.pending, 0, 'no retry runs once it is back');
    const connection = await connect(dongle, adapter);
    assert.deepEqual(await connection.read(3), fromHex('0102'));

    // Lost again: the backoff starts from 0.5 s again.
    await dongle.unplug();
    await settle();
    dongle.plugged = true;
    await retryAfter(timers, 500);
    assert.equal(adapter.info().state, 'ready');
    await adapter.close();
  });

  it('skips openings while the cheap check says the port is absent', async () => {
    const dongle = new FakeDongle();
    const { adapter, timers } = supervised(dongle, { canOpen: () => dongle.plugged });
    await adapter.start();
    await dongle.unplug();
    await settle();
    const before = dongle.attempts;
    for (const ms of [500, 1000, 2000]) await retryAfter(timers, ms);
    assert.equal(dongle.attempts, before, 'no opening while the port is absent');
    assert.ok(isLost(adapter.info().error), 'the loss stays the listed error');
    dongle.plugged = true;
    await retryAfter(timers, 4000);
    assert.equal(adapter.info().state, 'ready');
    await adapter.close();
  });

  it('reopens at once when told a dongle was plugged in, without waiting out the (background) delay', async () => {
    const dongle = new FakeDongle();
    const plugListeners = new Set<() => void>();
    const { adapter, timers } = supervised(dongle, {
      canOpen: () => dongle.plugged,
      onPlugged: (l) => {
        plugListeners.add(l);
        return () => plugListeners.delete(l);
      },
    });
    await adapter.start();
    await dongle.unplug();
    await settle();
    assert.equal(adapter.info().state, 'failed');
    assert.equal(timers.pendingBackground, 1, 'the reopening delay is a background timer');
    dongle.plugged = true;
    for (const l of plugListeners) l();
    await settle();
    assert.equal(adapter.info().state, 'ready', 'reopened without any timer firing');
    assert.equal(timers.pending, 0, 'the delay was cancelled');
    await adapter.close();
    assert.equal(plugListeners.size, 0, 'closing unsubscribes');
  });

  it('lists a first opening failure with its typed error, then comes up when the dongle appears', async () => {
    const dongle = new FakeDongle();
    dongle.plugged = false;
    const { adapter, timers } = supervised(dongle);
    await adapter.start();
    const info = adapter.info();
    assert.equal(info.state, 'failed');
    assert.ok(hasCode(info.error, 'SERIAL_PORT_NOT_FOUND'));
    assert.equal(info.error.remedy, 'plug the dongle in');
    await assert.rejects(
      adapter.scan({ active: false, signal: new AbortController().signal })[Symbol.asyncIterator]().next(),
      (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE') && /no serial port/.test(e.message) && e.remedy === 'plug the dongle in',
    );
    dongle.plugged = true;
    await retryAfter(timers, 500);
    assert.equal(adapter.info().state, 'ready');
    await adapter.close();
  });

  it('does not retry what opening again cannot fix', async () => {
    const dongle = new FakeDongle();
    dongle.refuseWith = new BledfuError('INVALID_ARGUMENT', 'bad baud rate', { layer: 'config' });
    const { adapter, timers } = supervised(dongle);
    await adapter.start();
    await settle();
    assert.equal(adapter.info().state, 'failed');
    assert.equal(timers.pending, 0);
    await adapter.close();
  });

  it('tries a port that speaks another protocol once a minute, or at once when another device is plugged there', async () => {
    const dongle = new FakeDongle();
    dongle.refuseWith = new BledfuError('SERIAL_WRONG_PROTOCOL', '/dev/ttyFAKE is a console', { layer: 'transport' });
    let node = 'inode-1';
    const { adapter, timers } = supervised(dongle, { identity: () => node });
    await adapter.start();
    await settle();
    assert.equal(dongle.attempts, 1);
    // Polled every 5 s (the backoff's maximum) for another device; the same one is left alone.
    for (let i = 0; i < 11; i++) {
      assert.equal(timers.fire(5_000), 1);
      await settle();
    }
    assert.equal(dongle.attempts, 1, 'no opening (no HCI Reset written to the console) within 55 s');
    assert.equal(timers.fire(5_000), 1);
    await settle();
    assert.equal(dongle.attempts, 2, 'tried again after a minute');
    // The dongle is replugged (a new device node) with the right firmware: opened at the next poll.
    dongle.refuseWith = undefined;
    node = 'inode-2';
    assert.equal(timers.fire(5_000), 1);
    await settle();
    assert.equal(dongle.attempts, 3);
    assert.equal(adapter.info().state, 'ready');
    await adapter.close();
  });

  it('names a controller hardware error, and reopens after it', async () => {
    const dongle = new FakeDongle();
    const { adapter, timers } = supervised(dongle);
    await adapter.start();
    const first = dongle.current;
    await first.sendEvent({ kind: 'hardwareError', hardwareCode: 0x42 });
    await settle();
    const error = adapter.info().error;
    assert.ok(hasCode(error, 'ADAPTER_UNAVAILABLE'));
    assert.equal(error.message, 'dongle hci0 stopped working (controller reported hardware error 0x42)');
    assert.equal(error.remedy, 'unplug and replug the dongle');
    assert.ok(first.closed.aborted, 'the failed controller was closed, freeing the port');
    await retryAfter(timers, 500);
    assert.equal(adapter.info().state, 'ready');
    assert.notEqual(dongle.current, first);
    await adapter.close();
  });

  it('close() stops retrying, and closes an adapter whose opening finishes afterwards', async () => {
    const dongle = new FakeDongle();
    const { adapter, timers } = supervised(dongle);
    await adapter.start();
    await dongle.unplug();
    await settle();
    assert.equal(timers.pending, 1);
    await adapter.close();
    assert.equal(timers.pending, 0);
    assert.equal(adapter.info().state, 'closed');

    // An opening under way when close() comes: its adapter is closed as soon as it is there.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = new FakeDongle();
    const late = new SupervisedAdapter({
      id: 'hci1',
      spec: 'hci:/dev/ttyFAKE',
      kind: 'hci-uart',
      logger: silentLogger(),
      open: async (signal) => {
        await gate;
        assert.ok(signal.aborted, 'the opening is told to give up');
        return slow.open();
      },
    });
    const started = late.start();
    const closing = late.close();
    release();
    await started;
    await closing;
    await settle();
    assert.ok(slow.current.closed.aborted);
    assert.equal(late.info().state, 'closed');
  });

  it('logs the loss once and a retry error only when it changes, not on every retry', async () => {
    const lines: { level: number; msg: string }[] = [];
    const logger: Logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
    const dongle = new FakeDongle();
    const { adapter, timers } = supervised(dongle, { logger });
    await adapter.start();
    await dongle.unplug();
    await settle();
    for (const ms of [500, 1000, 2000, 4000, 5000, 5000]) await retryAfter(timers, ms);
    dongle.plugged = true;
    await retryAfter(timers, 5000);
    const loud = lines.filter((l) => l.level >= 40).map((l) => l.msg);
    assert.deepEqual(loud, ['adapter lost; reopening it when it is back', 'adapter still cannot be reopened']);
    assert.deepEqual(
      lines.filter((l) => l.level === 30).map((l) => l.msg),
      ['adapter ready', 'adapter is back'],
    );
    await adapter.close();
  });

  it('reports every state change to its listeners (health follows the dongle), until they unsubscribe', async () => {
    const dongle = new FakeDongle();
    const { adapter, timers } = supervised(dongle);
    const heard: string[] = [];
    const off = adapter.onStateChange((state) => heard.push(state));
    const ignored: string[] = [];
    adapter.onStateChange((state) => ignored.push(state))();
    await adapter.start();
    await dongle.unplug();
    await settle();
    await retryAfter(timers, 500);
    dongle.plugged = true;
    await retryAfter(timers, 1000);
    assert.equal(adapter.state, 'ready');
    assert.deepEqual(heard, ['ready', 'failed', 'reopening', 'failed', 'reopening', 'ready']);
    off();
    await adapter.close();
    assert.equal(heard.at(-1), 'ready', 'an unsubscribed listener hears nothing more');
    assert.deepEqual(ignored, []);
  });
});
