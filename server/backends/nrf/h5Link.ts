/**
 * The host side of Nordic's H5 link as an explicit state machine without I/O or timers: the
 * driver feeds it inputs (open, received frames, timer expiries, send requests, close) and carries
 * out the actions it returns (write these bytes, arm/cancel this timer, deliver this payload,
 * report link up/down and send completion). Behaviour follows pc-ble-driver's h5_transport:
 *
 *   open → RESET: send RESET, ignore everything for `resetWaitMs`
 *        → UNINITIALIZED: send SYNC every `retransmitMs` (at most `maxTransmissions`), answer SYNC
 *        → INITIALIZED (on SYNC RESPONSE): send CONFIG likewise, answer SYNC and CONFIG
 *        → ACTIVE (on CONFIG RESPONSE): seq = ack = 0; keep answering CONFIG, because the device
 *          only accepts data once it has answered ours *and* had its own answered.
 *
 * In ACTIVE the window is one packet per direction, and the directions are independent: while our
 * packet waits for its ACK we still acknowledge and deliver the device's packets. A SYNC while
 * ACTIVE means the device restarted, an impossible ACK number means the sequence state is lost;
 * both fail everything pending and run the whole establishment again.
 */
import { BledfuError } from '../../common/errors.js';
import {
  ackPacket,
  decodeH5,
  decodeLinkControl,
  h5Frame,
  H5_PACKET_TYPE,
  linkControlPacket,
  resetPacket,
  vendorPacket,
  type H5Packet,
} from './h5.js';

export type H5LinkState = 'closed' | 'reset' | 'uninitialized' | 'initialized' | 'active' | 'failed';

/** One timer per name; arming an armed timer replaces it. */
export type H5TimerName = 'resetWait' | 'retransmit' | 'openDeadline';

export type H5LinkInput =
  | { readonly type: 'open' }
  | { readonly type: 'close' }
  /** One SLIP-decoded frame from the device (an H5 packet, not yet validated). */
  | { readonly type: 'frame'; readonly bytes: Uint8Array }
  | { readonly type: 'timer'; readonly timer: H5TimerName }
  /** Send a serialization packet reliably; `id` comes back in sendDone / sendFailed. */
  | { readonly type: 'send'; readonly id: number; readonly payload: Uint8Array };

export type H5LinkDownReason =
  /** Establishment or a send got no answer in time. */
  | 'noResponse'
  /** The device sent SYNC while active: it restarted and lost all BLE state. */
  | 'peerReset'
  /** The device acknowledged a sequence number we never sent. */
  | 'outOfSync'
  | 'closed';

export type H5LinkAction =
  /** Bytes for the serial port: one complete SLIP frame. */
  | { readonly type: 'write'; readonly bytes: Uint8Array }
  | { readonly type: 'armTimer'; readonly timer: H5TimerName; readonly ms: number }
  | { readonly type: 'cancelTimer'; readonly timer: H5TimerName }
  /** A serialization packet from the device, in order and exactly once. */
  | { readonly type: 'deliver'; readonly payload: Uint8Array }
  | { readonly type: 'linkUp' }
  /** The link is not usable; after peerReset / outOfSync it is already re-establishing itself. */
  | { readonly type: 'linkDown'; readonly reason: H5LinkDownReason; readonly error: BledfuError }
  | { readonly type: 'sendDone'; readonly id: number }
  | { readonly type: 'sendFailed'; readonly id: number; readonly error: BledfuError }
  /** A frame that was ignored, and why (for logs; nothing to do). */
  | { readonly type: 'discarded'; readonly reason: string };

export interface H5LinkOptions {
  /** Between retransmissions of SYNC, CONFIG and unacknowledged packets (pc-ble-driver-py: 300). */
  readonly retransmitMs?: number;
  /** How long to ignore the device after RESET while it reboots. */
  readonly resetWaitMs?: number;
  /** RESET to ACTIVE must finish within this (pc-ble-driver OPEN_WAIT_TIMEOUT). */
  readonly openTimeoutMs?: number;
  /** Transmissions of one SYNC / CONFIG / packet before giving up, first one included. */
  readonly maxTransmissions?: number;
}

export const H5_LINK_DEFAULTS = {
  retransmitMs: 300,
  resetWaitMs: 300,
  openTimeoutMs: 3000,
  maxTransmissions: 6,
} as const satisfies Required<H5LinkOptions>;

interface Outstanding {
  readonly id: number;
  readonly frame: Uint8Array;
  transmissions: number;
}

const NO_RESPONSE_REMEDY =
  'check that the port belongs to an nRF52 running Nordic connectivity firmware 4.1.x at 1 Mbaud ' +
  '(dongle: connectivity_4.1.4_usb_with_s140_6.1.1 or _s132_5.1.0 DFU package; DK: the 1m_with_… hex) ' +
  'and that no other program uses it; unplug and replug the device and retry';

export class H5Link {
  readonly #options: Required<H5LinkOptions>;
  #state: H5LinkState = 'closed';
  /** SYNC or CONFIG transmissions in the current establishment step. */
  #controlTransmissions = 0;
  /** Sequence number of our next (or outstanding) reliable packet. */
  #seq = 0;
  /** Next sequence number expected from the device. */
  #ack = 0;
  #outstanding: Outstanding | undefined;
  readonly #queue: { readonly id: number; readonly payload: Uint8Array }[] = [];

  constructor(options: H5LinkOptions = {}) {
    this.#options = { ...H5_LINK_DEFAULTS, ...options };
  }

  get state(): H5LinkState {
    return this.#state;
  }

  handle(input: H5LinkInput): H5LinkAction[] {
    const out: H5LinkAction[] = [];
    switch (input.type) {
      case 'open':
        this.#open(out);
        break;
      case 'close':
        this.#close(out);
        break;
      case 'frame':
        this.#frame(input.bytes, out);
        break;
      case 'timer':
        this.#timer(input.timer, out);
        break;
      case 'send':
        this.#send(input.id, input.payload, out);
        break;
      default: {
        const never: never = input;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
    return out;
  }

  #open(out: H5LinkAction[]): void {
    if (this.#state !== 'closed' && this.#state !== 'failed') return;
    this.#enterReset(out);
  }

  #enterReset(out: H5LinkAction[]): void {
    this.#state = 'reset';
    this.#seq = 0;
    this.#ack = 0;
    out.push(
      { type: 'cancelTimer', timer: 'retransmit' },
      write(resetPacket()),
      { type: 'armTimer', timer: 'resetWait', ms: this.#options.resetWaitMs },
      { type: 'armTimer', timer: 'openDeadline', ms: this.#options.openTimeoutMs },
    );
  }

  #close(out: H5LinkAction[]): void {
    if (this.#state === 'closed') return;
    const wasFailed = this.#state === 'failed';
    this.#state = 'closed';
    out.push(...ALL_TIMERS.map((timer) => ({ type: 'cancelTimer', timer }) as const));
    const error = new BledfuError('TRANSPORT_CLOSED', 'the link to the nRF device was closed', { layer: 'nrf' });
    this.#failPending(error, out);
    if (!wasFailed) out.push({ type: 'linkDown', reason: 'closed', error });
  }

  #timer(timer: H5TimerName, out: H5LinkAction[]): void {
    const state = this.#state;
    if (timer === 'resetWait') {
      if (state !== 'reset') return;
      this.#state = 'uninitialized';
      this.#startControl('sync', out);
    } else if (timer === 'openDeadline') {
      if (state === 'reset' || state === 'uninitialized' || state === 'initialized') {
        this.#fail(
          'noResponse',
          noResponse(`no H5 link to the nRF device within ${this.#options.openTimeoutMs} ms (stuck in ${state})`),
          out,
        );
      }
    } else if (state === 'uninitialized' || state === 'initialized') {
      const kind = state === 'uninitialized' ? 'sync' : 'config';
      if (this.#controlTransmissions >= this.#options.maxTransmissions) {
        const what = kind === 'sync' ? 'SYNC RESPONSE' : 'CONFIG RESPONSE';
        this.#fail('noResponse', noResponse(`no ${what} from the nRF device after ${this.#controlTransmissions} tries`), out);
        return;
      }
      this.#sendControl(kind, out);
    } else if (state === 'active' && this.#outstanding !== undefined) {
      const o = this.#outstanding;
      if (o.transmissions >= this.#options.maxTransmissions) {
        this.#fail('noResponse', noResponse(`the nRF device did not acknowledge a packet sent ${o.transmissions} times`), out);
        return;
      }
      // The same frame, stale ack field included, as pc-ble-driver does.
      o.transmissions++;
      out.push({ type: 'write', bytes: o.frame }, this.#armRetransmit());
    }
  }

  #startControl(kind: 'sync' | 'config', out: H5LinkAction[]): void {
    this.#controlTransmissions = 0;
    this.#sendControl(kind, out);
  }

  #sendControl(kind: 'sync' | 'config', out: H5LinkAction[]): void {
    this.#controlTransmissions++;
    out.push(write(linkControlPacket(kind)), this.#armRetransmit());
  }

  #armRetransmit(): H5LinkAction {
    return { type: 'armTimer', timer: 'retransmit', ms: this.#options.retransmitMs };
  }

  #frame(bytes: Uint8Array, out: H5LinkAction[]): void {
    const state = this.#state;
    if (state === 'closed' || state === 'failed' || state === 'reset') {
      out.push({ type: 'discarded', reason: `frame received in state ${state}` });
      return;
    }
    let packet: H5Packet;
    try {
      packet = decodeH5(bytes);
    } catch (e) {
      out.push({ type: 'discarded', reason: e instanceof Error ? e.message : String(e) });
      return;
    }
    switch (packet.packetType) {
      case H5_PACKET_TYPE.linkControl:
        this.#linkControl(packet, out);
        return;
      case H5_PACKET_TYPE.ack:
        if (state === 'active') this.#pureAck(packet.ack, out);
        else out.push({ type: 'discarded', reason: `ACK in state ${state}` });
        return;
      case H5_PACKET_TYPE.vendor:
        if (state === 'active') this.#vendor(packet, out);
        else out.push({ type: 'discarded', reason: `vendor packet in state ${state}` });
        return;
      default:
        out.push({ type: 'discarded', reason: `H5 packet type ${packet.packetType}` });
    }
  }

  #linkControl(packet: H5Packet, out: H5LinkAction[]): void {
    const message = decodeLinkControl(packet.payload);
    const state = this.#state;
    switch (message?.kind) {
      case 'sync':
        if (state === 'active') {
          this.#restart('peerReset', peerReset(), out);
        } else {
          out.push(write(linkControlPacket('syncResponse')));
        }
        return;
      case 'syncResponse':
        if (state === 'uninitialized') {
          this.#state = 'initialized';
          this.#startControl('config', out);
        }
        return;
      case 'config':
        if (state === 'initialized' || state === 'active') out.push(write(linkControlPacket('configResponse')));
        return;
      case 'configResponse':
        if (state === 'initialized') {
          this.#state = 'active';
          this.#seq = 0;
          this.#ack = 0;
          out.push(
            { type: 'cancelTimer', timer: 'retransmit' },
            { type: 'cancelTimer', timer: 'openDeadline' },
            { type: 'linkUp' },
          );
        }
        return;
      default:
        out.push({ type: 'discarded', reason: `link-control message ${message?.kind ?? 'unknown'} in state ${state}` });
    }
  }

  #pureAck(ack: number, out: H5LinkAction[]): void {
    if (this.#outstanding !== undefined && ack === next(this.#seq)) {
      this.#acknowledged(out);
    } else if (ack !== this.#seq && ack !== next(this.#seq)) {
      this.#restart(
        'outOfSync',
        new BledfuError('ADAPTER_UNAVAILABLE', `the nRF device acknowledged ${ack} while ${this.#seq} was next; re-synchronising`, {
          layer: 'nrf',
          remedy: 'the link is re-established automatically; retry the operation',
        }),
        out,
      );
    }
    // ack === seq: a repeated ACK for a packet already completed.
  }

  #vendor(packet: H5Packet, out: H5LinkAction[]): void {
    if (!packet.reliable) {
      out.push({ type: 'discarded', reason: 'unreliable vendor packet' });
      return;
    }
    // The device also acknowledges with the ack field of its own packets; honouring it saves a
    // retransmission when its pure ACK was lost.
    if (this.#outstanding !== undefined && packet.ack === next(this.#seq)) this.#acknowledged(out);
    if (packet.seq === this.#ack) {
      this.#ack = next(this.#ack);
      out.push(write(ackPacket(this.#ack)), { type: 'deliver', payload: packet.payload });
    } else {
      // A duplicate (our ACK was lost) or out of order: acknowledge what we have, deliver nothing.
      out.push(write(ackPacket(this.#ack)), { type: 'discarded', reason: `duplicate packet seq ${packet.seq}` });
    }
  }

  #acknowledged(out: H5LinkAction[]): void {
    const done = this.#outstanding;
    if (done === undefined) return;
    this.#outstanding = undefined;
    this.#seq = next(this.#seq);
    out.push({ type: 'cancelTimer', timer: 'retransmit' }, { type: 'sendDone', id: done.id });
    const queued = this.#queue.shift();
    if (queued !== undefined) this.#transmit(queued.id, queued.payload, out);
  }

  #send(id: number, payload: Uint8Array, out: H5LinkAction[]): void {
    if (this.#state !== 'active') {
      out.push({
        type: 'sendFailed',
        id,
        error: new BledfuError('ADAPTER_UNAVAILABLE', `the link to the nRF device is not up (${this.#state})`, { layer: 'nrf' }),
      });
      return;
    }
    if (this.#outstanding !== undefined) {
      this.#queue.push({ id, payload });
      return;
    }
    this.#transmit(id, payload, out);
  }

  #transmit(id: number, payload: Uint8Array, out: H5LinkAction[]): void {
    const frame = h5Frame(vendorPacket(this.#seq, this.#ack, payload));
    this.#outstanding = { id, frame, transmissions: 1 };
    out.push({ type: 'write', bytes: frame }, this.#armRetransmit());
  }

  #failPending(error: BledfuError, out: H5LinkAction[]): void {
    const pending = [...(this.#outstanding === undefined ? [] : [this.#outstanding.id]), ...this.#queue.map((q) => q.id)];
    this.#outstanding = undefined;
    this.#queue.length = 0;
    for (const id of pending) out.push({ type: 'sendFailed', id, error });
  }

  /** Gives up until the next open. */
  #fail(reason: H5LinkDownReason, error: BledfuError, out: H5LinkAction[]): void {
    this.#state = 'failed';
    out.push(...ALL_TIMERS.map((timer) => ({ type: 'cancelTimer', timer }) as const));
    this.#failPending(error, out);
    out.push({ type: 'linkDown', reason, error });
  }

  /** Drops everything and establishes the link again from RESET. */
  #restart(reason: H5LinkDownReason, error: BledfuError, out: H5LinkAction[]): void {
    this.#failPending(error, out);
    out.push({ type: 'linkDown', reason, error });
    this.#enterReset(out);
  }
}

const ALL_TIMERS: readonly H5TimerName[] = ['resetWait', 'retransmit', 'openDeadline'];

const next = (n: number): number => (n + 1) & 7;

const write = (packet: H5Packet): H5LinkAction => ({ type: 'write', bytes: h5Frame(packet) });

function noResponse(message: string): BledfuError {
  return new BledfuError('SERIAL_NO_RESPONSE', message, { layer: 'nrf', remedy: NO_RESPONSE_REMEDY });
}

function peerReset(): BledfuError {
  return new BledfuError('ADAPTER_UNAVAILABLE', 'the nRF device restarted (SYNC on an active link); its BLE state is gone', {
    layer: 'nrf',
    remedy: 'the link is re-established automatically; retry the operation',
  });
}
