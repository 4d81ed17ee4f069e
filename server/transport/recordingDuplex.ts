/**
 * A ByteDuplex in front of another that keeps a copy of the first bytes read, so that when a
 * protocol fails to come up the caller can look at what the far end actually said. While "held",
 * closing it only ends its reader and leaves the inner pipe open: the caller may keep listening a
 * little longer for a better diagnosis, then closes the inner pipe itself.
 */
import { AsyncQueue } from '../common/asyncQueue.js';
import type { Clock } from '../common/clock.js';
import { BledfuError } from '../common/errors.js';
import { linkSignals } from '../common/signals.js';
import type { ByteDuplex } from './types.js';

/** Chunks queued for a slow reader before the pump stops pulling from the inner pipe. */
const PAUSE_AT_CHUNKS = 256;
const RESUME_AT_CHUNKS = 16;

function closedHere(): BledfuError {
  return new BledfuError('TRANSPORT_CLOSED', 'transport closed (closed by this end)', { layer: 'transport' });
}

export class RecordingDuplex implements ByteDuplex {
  readonly #inner: ByteDuplex;
  readonly #limit: number;
  readonly #clock: Clock;
  readonly #recorded: number[] = [];
  // Ending (reader gone, or close) wakes a pump waiting for room.
  readonly #outbox = new AsyncQueue<Uint8Array>({ onReturn: () => this.#wakePump() });
  #pumpWaiting: (() => void) | undefined;
  readonly #self = new AbortController();
  readonly #closed: AbortSignal;
  readonly #listeners = new Set<() => void>();
  #readerTaken = false;
  #held = true;
  #innerEnded = false;

  /** Starts reading `inner` at once; `limit` bytes are kept. Held until release(). Waits run on `clock`. */
  constructor(inner: ByteDuplex, limit: number, clock: Clock) {
    this.#inner = inner;
    this.#limit = limit;
    this.#clock = clock;
    this.#closed = linkSignals(this.#self.signal, inner.closed).signal;
    void this.#pump();
  }

  async #pump(): Promise<void> {
    try {
      for await (const chunk of this.#inner.readable()) {
        if (this.#recorded.length < this.#limit) {
          this.#recorded.push(...chunk.subarray(0, this.#limit - this.#recorded.length));
          this.#notify();
        }
        this.#outbox.push(chunk);
        // Keep the inner pipe's backpressure: a reader that falls behind stops the pump.
        if (this.#outbox.size >= PAUSE_AT_CHUNKS && !this.#outbox.ended) {
          await new Promise<void>((resolve) => {
            this.#pumpWaiting = resolve;
          });
        }
      }
      this.#outbox.end();
    } catch (e) {
      this.#outbox.fail(e);
    } finally {
      this.#innerEnded = true;
      this.#notify();
    }
  }

  #wakePump(): void {
    const wake = this.#pumpWaiting;
    this.#pumpWaiting = undefined;
    wake?.();
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }

  /** The first bytes read so far (up to the limit). */
  get recorded(): Uint8Array {
    return Uint8Array.from(this.#recorded);
  }

  /** From now on close() closes the inner pipe too. */
  release(): void {
    this.#held = false;
  }

  /**
   * Resolves with the recorded bytes once `enough(bytes)` holds, after `ms`, when the inner pipe
   * ends, or when `signal` aborts, whichever comes first.
   */
  waitForRecording(enough: (bytes: Uint8Array) => boolean, ms: number, signal?: AbortSignal): Promise<Uint8Array> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (!(this.#innerEnded || signal?.aborted === true || enough(this.recorded))) return;
        finish();
      };
      const finish = (): void => {
        timer.cancel();
        this.#listeners.delete(check);
        signal?.removeEventListener('abort', finish);
        resolve(this.recorded);
      };
      const timer = this.#clock.setTimer(ms, finish, { label: 'waiting for a reply' });
      this.#listeners.add(check);
      signal?.addEventListener('abort', finish, { once: true });
      check();
    });
  }

  get closed(): AbortSignal {
    return this.#closed;
  }

  readable(): AsyncIterable<Uint8Array> {
    if (this.#readerTaken) {
      throw new BledfuError('INTERNAL', 'recording transport readable() called twice', { layer: 'transport' });
    }
    this.#readerTaken = true;
    return this.#read();
  }

  async *#read(): AsyncGenerator<Uint8Array> {
    for await (const chunk of this.#outbox) {
      if (this.#outbox.size <= RESUME_AT_CHUNKS) this.#wakePump();
      yield chunk;
    }
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#closed.aborted) return Promise.reject(this.#closed.reason);
    return this.#inner.write(bytes);
  }

  async close(): Promise<void> {
    if (!this.#self.signal.aborted) {
      this.#self.abort(this.#inner.closed.aborted ? this.#inner.closed.reason : closedHere());
      this.#outbox.end();
    }
    if (!this.#held) await this.#inner.close();
  }
}
