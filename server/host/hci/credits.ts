/**
 * A counting semaphore whose waiters are served strictly in order and can give up with an
 * AbortSignal. Used for HCI command credits and controller ACL buffers.
 */
import { abortReason } from '../../common/errors.js';

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

export class Credits {
  #available: number;
  readonly #waiters: Waiter[] = [];
  #failure: unknown = undefined;

  constructor(initial: number) {
    this.#available = initial;
  }

  get available(): number {
    return this.#available;
  }

  /** Takes one credit, waiting in line for it. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.#available > 0 && this.#waiters.length === 0) {
      this.#available--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(abortReason(signal as AbortSignal));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  release(n = 1): void {
    this.#available += n;
    this.#drain();
  }

  /** Replaces the count (Num_HCI_Command_Packets is an absolute number, not a delta). */
  set(n: number): void {
    this.#available = n;
    this.#drain();
  }

  /** Every waiter, now and later, gets `error`. */
  fail(error: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    for (const w of this.#waiters.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(error);
    }
  }

  #drain(): void {
    while (this.#available > 0) {
      const w = this.#waiters.shift();
      if (w === undefined) return;
      this.#available--;
      w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve();
    }
  }
}
