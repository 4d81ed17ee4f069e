/**
 * A serial line with a baud rate, in modelled time: the UART between a host and a simulated
 * dongle (the virtual HCI controller's H4 line, the connectivity dongle's SLIP line). Each byte
 * takes 10 bits / baud to cross (8N1: start bit, 8 data bits, stop bit), one after the other in
 * each direction, the two directions independent (full duplex). What is handed to the line
 * arrives, in order, once its last byte has crossed. Flow control (RTS/CTS) is not modelled: the
 * receivers here always keep up.
 *
 * Events go on the simulator's scheduler, so the line works the same in accelerated mode
 * (modelled time jumps) and paced mode (real time × speed, the demo).
 */
import { BITS_PER_BYTE, LINE_LEAD_MS } from '../transport/linePace.js';
import { createMemoryDuplexPair } from '../transport/memory.js';
import type { ByteDuplex } from '../transport/types.js';
import type { SimScheduler } from './scheduler.js';

export type SerialDirection = 'toHost' | 'toDevice';

export { BITS_PER_BYTE };

interface Crossing {
  readonly at: number;
  readonly arrive: () => void;
}

export class SerialLine {
  readonly #scheduler: SimScheduler;
  readonly #baud: number;
  readonly #label: string;
  readonly #freeAt: Record<SerialDirection, number> = { toHost: 0, toDevice: 0 };
  readonly #queues: Record<SerialDirection, Crossing[]> = { toHost: [], toDevice: [] };
  #closed = false;

  /** `baud` 0 = bytes cross instantly. */
  constructor(scheduler: SimScheduler, baud: number, label = 'serial') {
    this.#scheduler = scheduler;
    this.#baud = baud;
    this.#label = label;
  }

  get baud(): number {
    return this.#baud;
  }

  /** Bytes are on their way: modelled time must move for them to arrive. */
  get busy(): boolean {
    return this.#queues.toHost.length + this.#queues.toDevice.length > 0;
  }

  /** Modelled ms `length` bytes take on the wire. */
  durationMs(length: number): number {
    return this.#baud > 0 ? (length * BITS_PER_BYTE * 1000) / this.#baud : 0;
  }

  /** Nothing more crosses; bytes on their way are lost, as when a port closes. */
  close(): void {
    this.#closed = true;
    this.#queues.toHost.length = 0;
    this.#queues.toDevice.length = 0;
  }

  /** Carries `length` bytes in `direction`, then runs `arrive` (in order with everything before it). */
  carry(direction: SerialDirection, length: number, arrive: () => void): void {
    if (this.#closed) return;
    if (!(this.#baud > 0)) {
      arrive();
      return;
    }
    const at = Math.max(this.#scheduler.nowMs(), this.#freeAt[direction]) + this.durationMs(length);
    this.#freeAt[direction] = at;
    this.#queues[direction].push({ at, arrive });
    this.#scheduler.at(at, () => this.#due(direction), `${this.#label} ${direction}`);
  }

  /**
   * Runs `fn` once no more than `leadMs` of the bytes handed to the line in `direction` are still
   * to cross (at once if that is already so): when a write to a paced line resolves (linePace.ts).
   */
  whenBacklogAtMost(direction: SerialDirection, leadMs: number, fn: () => void): void {
    const at = this.#freeAt[direction] - leadMs;
    if (this.#closed || !(this.#baud > 0) || at <= this.#scheduler.nowMs()) {
      fn();
      return;
    }
    this.#scheduler.at(
      at,
      () => {
        // The writer (the host) goes on: give it its turns before modelled time moves.
        this.#scheduler.noteHostActivity();
        fn();
      },
      `${this.#label} ${direction} backlog`,
    );
  }

  #due(direction: SerialDirection): void {
    const q = this.#queues[direction];
    const now = this.#scheduler.nowMs();
    while (!this.#closed && q.length > 0 && (q[0] as Crossing).at <= now) (q.shift() as Crossing).arrive();
  }
}

/**
 * Two ends of a byte pipe whose bytes cross `line` (host end first): what one end writes, the
 * other reads once its last byte has crossed, each write as one chunk. Closing either end closes
 * the other as a pulled cable would (its reader fails with TRANSPORT_CLOSED) and the line; bytes
 * still on their way are lost. `onArrive` runs as each chunk arrives (the simulator tells its
 * scheduler the host has input).
 */
export function serialLinePair(line: SerialLine, onArrive?: (direction: SerialDirection) => void): [ByteDuplex, ByteDuplex] {
  const [hostEnd, deviceEnd] = createMemoryDuplexPair({
    // The host's writes resolve as on a real UART (linePace.ts); the device end's at once.
    settle: (way, settled) => {
      if (way === 'firstToSecond') line.whenBacklogAtMost('toDevice', LINE_LEAD_MS, settled);
      else settled();
    },
    carry: (way, length, deliver) => {
      const direction: SerialDirection = way === 'firstToSecond' ? 'toDevice' : 'toHost';
      line.carry(direction, length, () => {
        onArrive?.(direction);
        deliver();
      });
    },
  });
  hostEnd.closed.addEventListener('abort', () => line.close(), { once: true });
  return [hostEnd, deviceEnd];
}
