/**
 * The one bridge from callbacks to async iteration. Producers push/end/fail; one consumer
 * iterates or calls receive(). A bounded queue drops nothing silently: push() reports overflow
 * so the producer can decide (scan results may be dropped; protocol data must not be).
 */
import { abortReason, BledfuError } from './errors.js';

interface Waiter<T> {
  resolve: (r: IteratorResult<T>) => void;
  reject: (e: unknown) => void;
}

export class AsyncQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  readonly #waiters: Waiter<T>[] = [];
  readonly #capacity: number;
  #ended = false;
  #error: unknown = undefined;
  #onReturn: (() => void) | undefined;

  /** `onReturn` runs once when the consumer stops early (break/return) or the queue ends. */
  constructor(options: { capacity?: number; onReturn?: () => void } = {}) {
    this.#capacity = options.capacity ?? Number.POSITIVE_INFINITY;
    this.#onReturn = options.onReturn;
  }

  get size(): number {
    return this.#items.length;
  }
  get ended(): boolean {
    return this.#ended;
  }

  /** Returns false (and drops the item) when the queue is full or already ended. */
  push(item: T): boolean {
    if (this.#ended) return false;
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve({ value: item, done: false });
      return true;
    }
    if (this.#items.length >= this.#capacity) return false;
    this.#items.push(item);
    return true;
  }

  /** No more items: the consumer drains what is queued, then sees the end. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w.resolve({ value: undefined, done: true });
    this.#cleanup();
  }

  /** The consumer drains what is queued, then gets `error`. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#error = error;
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w.reject(error);
    this.#cleanup();
  }

  #cleanup(): void {
    const f = this.#onReturn;
    this.#onReturn = undefined;
    f?.();
  }

  #next(signal?: AbortSignal): Promise<IteratorResult<T>> {
    if (this.#items.length > 0) return Promise.resolve({ value: this.#items.shift() as T, done: false });
    if (this.#ended) {
      return this.#error === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(this.#error);
    }
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      const waiter: Waiter<T> = {
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(abortReason(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /**
   * The next item; rejects when the queue ended (STREAM_ENDED), failed (with that error), or
   * `signal` aborted. An end is the queue's own business (its owner closed it), never a transport
   * going away: that arrives as fail() with the transport's error.
   */
  async receive(signal?: AbortSignal): Promise<T> {
    const r = await this.#next(signal);
    if (r.done) throw new BledfuError('STREAM_ENDED', 'stream ended', { layer: 'ble' });
    return r.value;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.#next(),
      return: async () => {
        this.end();
        return { value: undefined, done: true };
      },
    };
  }
}
