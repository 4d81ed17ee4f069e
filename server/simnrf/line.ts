/**
 * The serial line between host and dongle. Bytes take `10 bits / baud` each to cross (8N1), one
 * after the other in each direction, in modelled time — the serial round trip per packet is what
 * limits a connectivity dongle, so the benchmark must see it. Faults act per frame: on the way to
 * the device after SLIP decoding (the device sees a lost, corrupted or garbage frame), on the way
 * to the host before SLIP encoding (the host's decoder sees the bad bytes).
 *
 * Time and losses: what repairs a lost frame is a retransmission timer of the host or the device,
 * and those run in real time. In accelerated mode modelled time would race ahead meanwhile (a
 * 300 ms wait of the host could let a bootloader's two-minute inactivity timer expire), so from a
 * loss until the packet it concerned is acknowledged, the line holds modelled time and carries
 * bytes without modelled delay. Recovering from a loss therefore costs no modelled time.
 */
import { decodeH5Header, H5_PACKET_TYPE } from '../backends/nrf/h5.js';
import { slipEncode } from '../backends/nrf/slip.js';
import type { Timers } from '../host/hci/timers.js';
import type { SimScheduler } from '../sim/scheduler.js';
import { corruptPacket, type FrameDirection, type LineFaultState } from './lineFaults.js';

export interface LineCounters {
  framesToHost: number;
  framesToDevice: number;
  lost: number;
  corrupted: number;
  garbageBursts: number;
}

export interface VirtualLineOptions {
  readonly scheduler: SimScheduler;
  /** 0 = bytes cross instantly. */
  readonly baud: number;
  readonly faults: LineFaultState;
  readonly counters: LineCounters;
  /** Writes bytes into the host's end of the pipe. */
  readonly toHost: (bytes: Uint8Array) => void;
  /** Real-time timers bounding how long a loss may hold modelled time. */
  readonly timers: Timers;
  /** Whether the device waits for the ACK of one of its packets. */
  readonly deviceAwaitingAck: () => boolean;
}

/** Longest real-time wait for a repair after a loss before modelled time runs again anyway. */
const HOLD_MAX_MS = 2000;

interface Crossing {
  readonly at: number;
  readonly arrive: () => void;
}

/** Type, seq and ack of an unescaped H5 packet, if its header is sound. */
function header(packet: Uint8Array): { readonly type: number; readonly seq: number; readonly ack: number } | undefined {
  try {
    const h = decodeH5Header(packet);
    return { type: h.packetType, seq: h.seq, ack: h.ack };
  } catch {
    return undefined;
  }
}

export class VirtualLine {
  readonly #o: VirtualLineOptions;
  readonly #freeAt: Record<FrameDirection, number> = { toHost: 0, toDevice: 0 };
  readonly #queues: Record<FrameDirection, Crossing[]> = { toHost: [], toDevice: [] };
  #closed = false;
  /** A vendor or ACK frame was lost or corrupted and the packet it concerned is not through yet. */
  #lossPending = false;
  #holdCap: unknown;
  /** Sequence number of the host's latest reliable packet until the host saw it acknowledged. */
  #hostPendingSeq: number | undefined;

  constructor(options: VirtualLineOptions) {
    this.#o = options;
  }

  /** Bytes are on their way: modelled time must move for them to arrive. */
  get busy(): boolean {
    return this.#queues.toHost.length + this.#queues.toDevice.length > 0;
  }

  /** Modelled time must wait for a real-time retransmission (see the module comment). */
  get holding(): boolean {
    if (!this.#lossPending) return false;
    if (this.#hostPendingSeq === undefined && !this.#o.deviceAwaitingAck()) this.#endHold();
    return this.#lossPending;
  }

  close(): void {
    this.#closed = true;
    this.#endHold();
    this.#queues.toHost.length = 0;
    this.#queues.toDevice.length = 0;
  }

  /** The device reset or its link restarted: nothing in flight is waited for any more. */
  forgetPending(): void {
    this.#hostPendingSeq = undefined;
    this.#endHold();
  }

  #lost(packet: Uint8Array): void {
    const h = header(packet);
    if (h === undefined || (h.type !== H5_PACKET_TYPE.vendor && h.type !== H5_PACKET_TYPE.ack)) return;
    this.#lossPending = true;
    if (this.#holdCap !== undefined) this.#o.timers.clearTimeout(this.#holdCap);
    this.#holdCap = this.#o.timers.setTimeout(() => {
      this.#holdCap = undefined;
      this.#lossPending = false;
      this.#o.scheduler.noteHostActivity();
    }, HOLD_MAX_MS);
    this.#flush('toHost');
    this.#flush('toDevice');
  }

  #endHold(): void {
    this.#lossPending = false;
    if (this.#holdCap !== undefined) this.#o.timers.clearTimeout(this.#holdCap);
    this.#holdCap = undefined;
  }

  /** Carries `length` bytes in `direction`, then runs `arrive` (in order with everything before it). */
  carry(direction: FrameDirection, length: number, arrive: () => void): void {
    if (this.#closed) return;
    const { baud, scheduler } = this.#o;
    if (!(baud > 0)) {
      arrive();
      return;
    }
    const at = Math.max(scheduler.nowMs(), this.#freeAt[direction]) + (length * 10 * 1000) / baud;
    this.#freeAt[direction] = at;
    this.#queues[direction].push({ at, arrive });
    if (this.holding) {
      this.#flush(direction);
      return;
    }
    scheduler.at(at, () => this.#due(direction), `simnrf: serial ${direction}`);
  }

  #due(direction: FrameDirection): void {
    const q = this.#queues[direction];
    const now = this.#o.scheduler.nowMs();
    while (!this.#closed && q.length > 0 && (q[0] as Crossing).at <= now) (q.shift() as Crossing).arrive();
  }

  /** Everything in flight arrives now (time is held). */
  #flush(direction: FrameDirection): void {
    const q = this.#queues[direction];
    this.#freeAt[direction] = this.#o.scheduler.nowMs();
    while (!this.#closed && q.length > 0) (q.shift() as Crossing).arrive();
  }

  /** One unescaped H5 packet from the device. */
  sendToHost(packet: Uint8Array): void {
    const fate = this.#o.faults.fate('toHost');
    const c = this.#o.counters;
    if (fate.garbage !== undefined) {
      c.garbageBursts++;
      this.rawToHost(fate.garbage);
    }
    if (fate.lose) {
      c.lost++;
      this.#lost(packet);
      return;
    }
    if (fate.corrupt) {
      c.corrupted++;
      this.#lost(packet);
    }
    c.framesToHost++;
    const frame = slipEncode(fate.corrupt ? corruptPacket(packet) : packet);
    const h = fate.corrupt ? undefined : header(packet);
    this.carry('toHost', frame.length, () => {
      // The host has its packet acknowledged (by a pure ACK or, piggy-backed, by a device packet).
      if (h !== undefined && this.#hostPendingSeq !== undefined && (h.type === H5_PACKET_TYPE.ack || h.type === H5_PACKET_TYPE.vendor)) {
        if (h.ack === ((this.#hostPendingSeq + 1) & 7)) this.#hostPendingSeq = undefined;
      }
      this.#o.toHost(frame);
    });
  }

  /** Bytes on the line towards the host as they are (garbage). */
  rawToHost(bytes: Uint8Array): void {
    const copy = bytes.slice();
    this.carry('toHost', copy.length, () => this.#o.toHost(copy));
  }

  /**
   * One SLIP-decoded frame from the host as the device receives it: the fate decides whether it
   * arrives, corrupted or not, and whether garbage came first.
   */
  frameToDevice(frame: Uint8Array, deliver: (frame: Uint8Array) => void): void {
    const h = header(frame);
    if (h?.type === H5_PACKET_TYPE.vendor) this.#hostPendingSeq = h.seq;
    const fate = this.#o.faults.fate('toDevice');
    const c = this.#o.counters;
    if (fate.garbage !== undefined) {
      c.garbageBursts++;
      deliver(fate.garbage);
    }
    if (fate.lose) {
      c.lost++;
      this.#lost(frame);
      return;
    }
    if (fate.corrupt) {
      c.corrupted++;
      this.#lost(frame);
    }
    c.framesToDevice++;
    deliver(fate.corrupt ? corruptPacket(frame) : frame);
  }
}
