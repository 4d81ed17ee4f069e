/**
 * The serial line between host and dongle. Bytes take `10 bits / baud` each to cross (8N1), one
 * after the other in each direction, in modelled time — the serial round trip per packet is what
 * limits a connectivity dongle, so the benchmark must see it. Faults act per frame: on the way to
 * the device after SLIP decoding (the device sees a lost, corrupted or garbage frame), on the way
 * to the host before SLIP encoding (the host's decoder sees the bad bytes).
 *
 * Losses are repaired by the retransmission timers of the host and the device, on the same
 * modelled clock as the line (the host runs on the simulator's clock in accelerated mode): a lost
 * frame costs the modelled retransmission time, as it would on a real line.
 */
import { slipEncode } from '../backends/nrf/slip.js';
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
}

interface Crossing {
  readonly at: number;
  readonly arrive: () => void;
}

export class VirtualLine {
  readonly #o: VirtualLineOptions;
  readonly #freeAt: Record<FrameDirection, number> = { toHost: 0, toDevice: 0 };
  readonly #queues: Record<FrameDirection, Crossing[]> = { toHost: [], toDevice: [] };
  #closed = false;

  constructor(options: VirtualLineOptions) {
    this.#o = options;
  }

  /** Bytes are on their way: modelled time must move for them to arrive. */
  get busy(): boolean {
    return this.#queues.toHost.length + this.#queues.toDevice.length > 0;
  }

  close(): void {
    this.#closed = true;
    this.#queues.toHost.length = 0;
    this.#queues.toDevice.length = 0;
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
    scheduler.at(at, () => this.#due(direction), `simnrf: serial ${direction}`);
  }

  #due(direction: FrameDirection): void {
    const q = this.#queues[direction];
    const now = this.#o.scheduler.nowMs();
    while (!this.#closed && q.length > 0 && (q[0] as Crossing).at <= now) (q.shift() as Crossing).arrive();
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
      return;
    }
    if (fate.corrupt) c.corrupted++;
    c.framesToHost++;
    const frame = slipEncode(fate.corrupt ? corruptPacket(packet) : packet);
    this.carry('toHost', frame.length, () => this.#o.toHost(frame));
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
    const fate = this.#o.faults.fate('toDevice');
    const c = this.#o.counters;
    if (fate.garbage !== undefined) {
      c.garbageBursts++;
      deliver(fate.garbage);
    }
    if (fate.lose) {
      c.lost++;
      return;
    }
    if (fate.corrupt) c.corrupted++;
    c.framesToDevice++;
    deliver(fate.corrupt ? corruptPacket(frame) : frame);
  }
}
