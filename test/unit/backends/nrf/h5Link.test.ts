import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import { ackPacket, h5Frame, linkControlPacket, vendorPacket } from '../../../../server/backends/nrf/h5.js';
import { H5Link, type H5LinkAction, type H5LinkInput } from '../../../../server/backends/nrf/h5Link.js';
import { SlipDecoder } from '../../../../server/backends/nrf/slip.js';
import { h5LinkVectors, NEEDS_NRF_VECTORS } from '../../../helpers/nrf-vectors.js';

const frameHex = (packet: Parameters<typeof h5Frame>[0]): string => toHex(h5Frame(packet));
const SYNC = frameHex(linkControlPacket('sync'));
const SYNC_RESPONSE = frameHex(linkControlPacket('syncResponse'));
const CONFIG = frameHex(linkControlPacket('config'));
const CONFIG_RESPONSE = frameHex(linkControlPacket('configResponse'));
const RESET = 'c0000500fbc0';

/** Drives a link and keeps what it asked for, as a real driver would. */
class Harness {
  readonly link = new H5Link({ retransmitMs: 250, resetWaitMs: 300, openTimeoutMs: 3000, maxTransmissions: 6 });
  readonly writes: string[] = [];
  readonly delivered: string[] = [];
  readonly armed = new Map<string, number>();
  readonly log: H5LinkAction[] = [];
  readonly #slip = new SlipDecoder();

  do(input: H5LinkInput): H5LinkAction[] {
    const actions = this.link.handle(input);
    for (const a of actions) {
      this.log.push(a);
      if (a.type === 'write') this.writes.push(toHex(a.bytes));
      else if (a.type === 'deliver') this.delivered.push(toHex(a.payload));
      else if (a.type === 'armTimer') this.armed.set(a.timer, a.ms);
      else if (a.type === 'cancelTimer') this.armed.delete(a.timer);
    }
    return actions;
  }

  /** Bytes from the serial port, through the SLIP decoder. */
  rx(slipHex: string): H5LinkAction[] {
    return this.#slip.feed(fromHex(slipHex)).flatMap((bytes) => this.do({ type: 'frame', bytes }));
  }

  fire(timer: 'resetWait' | 'retransmit' | 'openDeadline'): H5LinkAction[] {
    assert.ok(this.armed.has(timer), `${timer} is not armed`);
    this.armed.delete(timer);
    return this.do({ type: 'timer', timer });
  }

  takeWrites(): string[] {
    return this.writes.splice(0);
  }

  /** RESET → SYNC handshake → CONFIG handshake → ACTIVE. */
  bringUp(): void {
    this.do({ type: 'open' });
    this.fire('resetWait');
    this.rx(SYNC_RESPONSE);
    this.rx(CONFIG_RESPONSE);
    assert.equal(this.link.state, 'active');
    this.takeWrites();
  }
}

const types = (actions: readonly H5LinkAction[]): string[] => actions.map((a) => a.type);

describe('H5 link: transcript_first_contact', NEEDS_NRF_VECTORS, () => {
  it('produces exactly the host frames of the transcript and delivers the device packets', () => {
    const { transcript_first_contact: transcript } = h5LinkVectors();
    const h = new Harness();
    const ups: number[] = [];
    const done: number[] = [];
    let sendId = 0;
    for (const step of transcript) {
      if (step.direction === 'device->host') {
        const actions = h.rx(step.slip_frame_hex);
        if (actions.some((a) => a.type === 'linkUp')) ups.push(step.step);
        for (const a of actions) if (a.type === 'sendDone') done.push(a.id);
        continue;
      }
      // A host frame the link has not produced yet: what makes the host send it?
      if (h.writes.length === 0) {
        if (step.step === 0) h.do({ type: 'open' });
        else if (step.reliable) h.do({ type: 'send', id: ++sendId, payload: fromHex(step.payload_hex) });
        else if (h.link.state === 'reset') h.fire('resetWait');
      }
      assert.equal(h.writes.shift(), step.slip_frame_hex, `step ${step.step}: ${step.what}`);
    }
    assert.deepEqual(h.writes, [], 'no extra host frames');
    assert.deepEqual(ups, [8], 'link up on the device CONFIG RESPONSE');
    assert.deepEqual(done, [1, 2], 'both commands acknowledged');
    assert.deepEqual(
      h.delivered,
      transcript.filter((s) => s.direction === 'device->host' && s.reliable).map((s) => s.payload_hex),
    );
    assert.equal(h.link.state, 'active');
    assert.deepEqual([...h.armed.keys()], [], 'no timer left armed');
  });
});

describe('H5 link establishment', () => {
  it('ignores the device while it reboots after RESET', () => {
    const h = new Harness();
    assert.deepEqual(types(h.do({ type: 'open' })), ['cancelTimer', 'write', 'armTimer', 'armTimer']);
    assert.deepEqual(h.takeWrites(), [RESET]);
    assert.equal(h.armed.get('resetWait'), 300);
    assert.equal(h.armed.get('openDeadline'), 3000);
    assert.deepEqual(types(h.rx(SYNC)), ['discarded']);
    assert.deepEqual(h.takeWrites(), []);
  });

  it('repeats SYNC every retransmission interval and fails after 6 tries', () => {
    const h = new Harness();
    h.do({ type: 'open' });
    h.fire('resetWait');
    for (let i = 1; i < 6; i++) h.fire('retransmit');
    assert.deepEqual(h.takeWrites(), [RESET, ...Array<string>(6).fill(SYNC)]);
    const actions = h.fire('retransmit');
    const down = actions.find((a) => a.type === 'linkDown');
    assert.ok(down?.type === 'linkDown' && down.reason === 'noResponse' && hasCode(down.error, 'SERIAL_NO_RESPONSE'));
    assert.ok(down.error.remedy?.includes('connectivity'));
    assert.equal(h.link.state, 'failed');
    assert.deepEqual([...h.armed.keys()], []);
  });

  it('repeats CONFIG and answers SYNC and CONFIG while initialized', () => {
    const h = new Harness();
    h.do({ type: 'open' });
    h.fire('resetWait');
    h.rx(SYNC_RESPONSE);
    assert.equal(h.link.state, 'initialized');
    h.fire('retransmit');
    h.rx(SYNC);
    h.rx(CONFIG);
    assert.deepEqual(h.takeWrites(), [RESET, SYNC, CONFIG, CONFIG, SYNC_RESPONSE, CONFIG_RESPONSE]);
  });

  it('fails when not active by the open deadline', () => {
    const h = new Harness();
    h.do({ type: 'open' });
    h.fire('resetWait');
    h.rx(SYNC_RESPONSE);
    const down = h.fire('openDeadline').find((a) => a.type === 'linkDown');
    assert.ok(down?.type === 'linkDown' && hasCode(down.error, 'SERIAL_NO_RESPONSE'));
    assert.equal(h.link.state, 'failed');
  });

  it('keeps answering CONFIG after it is active', () => {
    const h = new Harness();
    h.bringUp();
    h.rx(CONFIG);
    assert.deepEqual(h.takeWrites(), [CONFIG_RESPONSE]);
  });

  it('can be opened again after a failure', () => {
    const h = new Harness();
    h.do({ type: 'open' });
    h.fire('openDeadline');
    h.takeWrites();
    h.do({ type: 'open' });
    assert.equal(h.link.state, 'reset');
    assert.deepEqual(h.takeWrites(), [RESET]);
  });
});

describe('H5 link reliable transfer', () => {
  const deviceData = (seq: number, ack: number, payload: string): string =>
    frameHex(vendorPacket(seq, ack, fromHex(payload)));
  const deviceAck = (ack: number): string => frameHex(ackPacket(ack));

  it('rejects sends before the link is up', () => {
    const h = new Harness();
    const [failed] = h.do({ type: 'send', id: 7, payload: fromHex('0060') });
    assert.ok(failed?.type === 'sendFailed' && failed.id === 7 && hasCode(failed.error, 'ADAPTER_UNAVAILABLE'));
  });

  it('keeps one packet in flight and sends the next after its ACK', () => {
    const h = new Harness();
    h.bringUp();
    h.do({ type: 'send', id: 1, payload: fromHex('0060') });
    h.do({ type: 'send', id: 2, payload: fromHex('008b') });
    assert.deepEqual(h.takeWrites(), [deviceData(0, 0, '0060')]);
    const actions = h.rx(deviceAck(1));
    assert.deepEqual(types(actions), ['cancelTimer', 'sendDone', 'write', 'armTimer']);
    assert.deepEqual(h.takeWrites(), [deviceData(1, 0, '008b')]);
  });

  it('retransmits the same frame and gives up after 6 transmissions', () => {
    const h = new Harness();
    h.bringUp();
    h.do({ type: 'send', id: 1, payload: fromHex('0060') });
    h.do({ type: 'send', id: 2, payload: fromHex('0061') });
    // A device packet arrives meanwhile: the retransmission still carries the old ack field.
    h.rx(deviceData(0, 0, '0211000000'));
    for (let i = 1; i < 6; i++) h.fire('retransmit');
    const frame = deviceData(0, 0, '0060');
    assert.deepEqual(h.takeWrites(), [frame, deviceAck(1), frame, frame, frame, frame, frame]);
    const actions = h.fire('retransmit');
    assert.deepEqual(
      actions.filter((a) => a.type === 'sendFailed').map((a) => a.type === 'sendFailed' && [a.id, a.error.code]),
      [
        [1, 'SERIAL_NO_RESPONSE'],
        [2, 'SERIAL_NO_RESPONSE'],
      ],
    );
    assert.equal(h.link.state, 'failed');
  });

  it('acknowledges every device packet and delivers each once, also while its own packet is unacknowledged', () => {
    const h = new Harness();
    h.bringUp();
    h.do({ type: 'send', id: 1, payload: fromHex('0060') });
    h.takeWrites();
    h.rx(deviceData(0, 0, '02aa'));
    h.rx(deviceData(0, 0, '02aa')); // duplicate: our ACK was lost
    h.rx(deviceData(2, 0, '02cc')); // out of order
    h.rx(deviceData(1, 0, '02bb'));
    assert.deepEqual(h.takeWrites(), [deviceAck(1), deviceAck(1), deviceAck(1), deviceAck(2)]);
    assert.deepEqual(h.delivered, ['02aa', '02bb']);
  });

  it('wraps sequence numbers after 7', () => {
    const h = new Harness();
    h.bringUp();
    for (let i = 0; i < 10; i++) {
      h.do({ type: 'send', id: i, payload: fromHex('0060') });
      assert.deepEqual(h.takeWrites(), [deviceData(i & 7, i & 7, '0060')]);
      assert.ok(h.rx(deviceAck((i + 1) & 7)).some((a) => a.type === 'sendDone' && a.id === i));
      h.rx(deviceData(i & 7, (i + 1) & 7, '0160'));
      assert.deepEqual(h.takeWrites(), [deviceAck((i + 1) & 7)]);
    }
    assert.equal(h.delivered.length, 10);
  });

  it('honours the ack field of a device packet when the pure ACK was lost', () => {
    const h = new Harness();
    h.bringUp();
    h.do({ type: 'send', id: 1, payload: fromHex('0060') });
    const actions = h.rx(deviceData(0, 1, '016000000000'));
    assert.deepEqual(types(actions), ['cancelTimer', 'sendDone', 'write', 'deliver']);
    // The late pure ACK is then stale and ignored.
    assert.deepEqual(h.rx(deviceAck(1)), []);
  });

  it('ignores a repeated ACK and re-synchronises on an impossible one', () => {
    const h = new Harness();
    h.bringUp();
    assert.deepEqual(h.rx(deviceAck(0)), []);
    h.do({ type: 'send', id: 1, payload: fromHex('0060') });
    h.takeWrites();
    const actions = h.rx(deviceAck(5));
    assert.deepEqual(types(actions).slice(0, 2), ['sendFailed', 'linkDown']);
    const down = actions[1];
    assert.ok(down?.type === 'linkDown' && down.reason === 'outOfSync');
    assert.equal(h.link.state, 'reset');
    assert.deepEqual(h.takeWrites(), [RESET]);
  });

  it('treats a SYNC while active as a device restart and re-establishes the link', () => {
    const h = new Harness();
    h.bringUp();
    h.do({ type: 'send', id: 1, payload: fromHex('0060') });
    h.do({ type: 'send', id: 2, payload: fromHex('0061') });
    h.takeWrites();
    const actions = h.rx(SYNC);
    assert.deepEqual(
      actions.filter((a) => a.type === 'sendFailed').map((a) => a.type === 'sendFailed' && a.id),
      [1, 2],
    );
    const down = actions.find((a) => a.type === 'linkDown');
    assert.ok(down?.type === 'linkDown' && down.reason === 'peerReset' && hasCode(down.error, 'ADAPTER_UNAVAILABLE'));
    assert.equal(h.link.state, 'reset');
    assert.deepEqual(h.takeWrites(), [RESET]);
    h.fire('resetWait');
    h.rx(SYNC_RESPONSE);
    h.rx(CONFIG_RESPONSE);
    assert.equal(h.link.state, 'active');
    h.do({ type: 'send', id: 3, payload: fromHex('0060') });
    assert.deepEqual(h.takeWrites().slice(-1), [deviceData(0, 0, '0060')], 'sequence numbers start over');
  });

  it('discards corrupt frames and unreliable vendor packets', () => {
    const h = new Harness();
    h.bringUp();
    const good = fromHex(deviceData(0, 0, '02aa').slice(2, -2));
    const bad = good.slice();
    bad[4] = (bad[4] as number) ^ 0xff;
    assert.deepEqual(types(h.do({ type: 'frame', bytes: bad })), ['discarded']);
    const unreliable = h5Frame({ ...vendorPacket(0, 0, fromHex('02aa')), reliable: false });
    assert.deepEqual(types(h.rx(toHex(unreliable))), ['discarded']);
    assert.deepEqual(h.takeWrites(), []);
    assert.deepEqual(h.delivered, []);
  });

  it('fails pending sends and cancels every timer on close', () => {
    const h = new Harness();
    h.bringUp();
    h.do({ type: 'send', id: 1, payload: fromHex('0060') });
    const actions = h.do({ type: 'close' });
    const failed = actions.find((a) => a.type === 'sendFailed');
    assert.ok(failed?.type === 'sendFailed' && hasCode(failed.error, 'TRANSPORT_CLOSED'));
    assert.ok(actions.some((a) => a.type === 'linkDown' && a.reason === 'closed'));
    assert.deepEqual([...h.armed.keys()], []);
    assert.equal(h.link.state, 'closed');
    assert.deepEqual(h.do({ type: 'close' }), []);
  });
});
