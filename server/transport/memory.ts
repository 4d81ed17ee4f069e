/**
 * An in-memory byte pipe joining two ends, used by the simulator and by tests in place of a
 * serial port. Delivery is asynchronous (a microtask later) so that neither side can re-enter the
 * other from inside write(), just as with a real port.
 */
import { AsyncQueue } from '../common/asyncQueue.js';
import { BledfuError } from '../common/errors.js';
import type { ByteDuplex } from './types.js';

interface End {
  readonly inbox: AsyncQueue<Uint8Array>;
  readerTaken: boolean;
}

/** Which way bytes go: from the first end of a pair to the second, or back. */
export type MemoryPairDirection = 'firstToSecond' | 'secondToFirst';

export interface MemoryPairOptions {
  /**
   * Carries each write to the other end: calls `deliver` when the bytes are to arrive (a line with
   * a speed, in the simulator). Writes of one direction must be delivered in order. Default: at once.
   */
  readonly carry?: (direction: MemoryPairDirection, length: number, deliver: () => void) => void;
  /**
   * When a write carried this way resolves: `settled` is called once the line lets the writer go
   * on (ByteDuplex.write on a paced line). Default: at once.
   */
  readonly settle?: (direction: MemoryPairDirection, settled: () => void) => void;
}

function closedError(detail: string): BledfuError {
  return new BledfuError('TRANSPORT_CLOSED', `memory transport closed (${detail})`, { layer: 'transport' });
}

class MemoryDuplex implements ByteDuplex {
  readonly #self: End;
  readonly #peer: End;
  readonly #shared: AbortController;
  readonly #direction: MemoryPairDirection;
  readonly #carry: MemoryPairOptions['carry'];
  readonly #settle: MemoryPairOptions['settle'];

  constructor(self: End, peer: End, shared: AbortController, direction: MemoryPairDirection, options: MemoryPairOptions) {
    this.#carry = options.carry;
    this.#settle = options.settle;
    this.#self = self;
    this.#peer = peer;
    this.#shared = shared;
    this.#direction = direction;
  }

  get closed(): AbortSignal {
    return this.#shared.signal;
  }

  readable(): AsyncIterable<Uint8Array> {
    if (this.#self.readerTaken) {
      throw new BledfuError('INTERNAL', 'memory transport readable() called twice', { layer: 'transport' });
    }
    this.#self.readerTaken = true;
    return this.#self.inbox;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#shared.signal.aborted) return Promise.reject(this.#shared.signal.reason);
    // Copy: the writer may reuse its buffer as soon as the promise resolves.
    const copy = bytes.slice();
    const peer = this.#peer;
    const carry = this.#carry;
    const settle = this.#settle;
    const signal = this.#shared.signal;
    return new Promise((resolve) => {
      queueMicrotask(() => {
        if (carry === undefined) peer.inbox.push(copy);
        else
          carry(this.#direction, copy.length, () => {
            // Bytes still on their way when the pipe closed are lost, as on a closed port.
            if (!signal.aborted) peer.inbox.push(copy);
          });
        if (settle === undefined) resolve();
        else settle(this.#direction, resolve);
      });
    });
  }

  close(): Promise<void> {
    if (this.#shared.signal.aborted) return Promise.resolve();
    this.#shared.abort(closedError('closed by this end'));
    const self = this.#self;
    const peer = this.#peer;
    // Queued behind any write still in flight, so the peer receives everything written before close.
    return new Promise((resolve) => {
      queueMicrotask(() => {
        self.inbox.end();
        peer.inbox.fail(closedError('closed by the far end'));
        resolve();
      });
    });
  }
}

/** Two connected ends: bytes written to one are read, in order, from the other. */
export function createMemoryDuplexPair(options: MemoryPairOptions = {}): [ByteDuplex, ByteDuplex] {
  const shared = new AbortController();
  const a: End = { inbox: new AsyncQueue<Uint8Array>(), readerTaken: false };
  const b: End = { inbox: new AsyncQueue<Uint8Array>(), readerTaken: false };
  return [new MemoryDuplex(a, b, shared, 'firstToSecond', options), new MemoryDuplex(b, a, shared, 'secondToFirst', options)];
}
