/**
 * The serial line between host and dongle: the simulator's line with a baud rate
 * (sim/serialLine.ts; bytes take `10 bits / baud` each to cross, one after the other in each
 * direction, in modelled time — the serial round trip per packet is what limits a connectivity
 * dongle, so the benchmark must see it), with SLIP framing and faults on top. Faults act per frame: on the way to
 * the device after SLIP decoding (the device sees a lost, corrupted or garbage frame), on the way
 * to the host before SLIP encoding (the host's decoder sees the bad bytes).
 *
 * Losses are repaired by the retransmission timers of the host and the device, on the same
 * modelled clock as the line (the host runs on the simulator's clock in accelerated mode): a lost
 * frame costs the modelled retransmission time, as it would on a real line.
 */
import { slipEncode } from '../backends/nrf/slip.js';
import type { SimScheduler } from '../sim/scheduler.js';
import { SerialLine } from '../sim/serialLine.js';
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

export class VirtualLine {
  readonly #o: VirtualLineOptions;
  readonly #line: SerialLine;

  constructor(options: VirtualLineOptions) {
    this.#o = options;
    this.#line = new SerialLine(options.scheduler, options.baud, 'simnrf: serial');
  }

  /** Bytes are on their way: modelled time must move for them to arrive. */
  get busy(): boolean {
    return this.#line.busy;
  }

  close(): void {
    this.#line.close();
  }

  /** Carries `length` bytes in `direction`, then runs `arrive` (in order with everything before it). */
  carry(direction: FrameDirection, length: number, arrive: () => void): void {
    this.#line.carry(direction, length, arrive);
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
