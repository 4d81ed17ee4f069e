/**
 * One watcher's view of something that emits events (a job, a campaign): an async iterable that
 * ends after the last event, when the watcher's signal aborts, or on close(). A slow watcher must
 * not make the server buffer without bound, so each push goes through `coalesce`, which may
 * replace a pending event the new one makes stale (the owner decides which: a job's progress, a
 * campaign device's earlier state); events that matter are never dropped.
 */
export interface CoalescingStreamRules<E> {
  /** Puts `event` into `pending`, replacing or dropping what it makes stale. */
  readonly coalesce: (pending: E[], event: E) => void;
  /** The stream ends after yielding this event. */
  readonly isLast: (event: E) => boolean;
}

export class CoalescingStream<E> implements AsyncIterable<E> {
  readonly #pending: E[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  readonly #signal: AbortSignal;
  readonly #onClose: () => void;
  readonly #rules: CoalescingStreamRules<E>;

  constructor(signal: AbortSignal, onClose: () => void, rules: CoalescingStreamRules<E>) {
    this.#signal = signal;
    this.#onClose = onClose;
    this.#rules = rules;
    if (signal.aborted) this.close();
    else signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  readonly #onAbort = (): void => this.close();

  /** Events pending for the consumer now (tests of the bound). */
  get pending(): number {
    return this.#pending.length;
  }

  push(event: E): void {
    if (this.#closed) return;
    this.#rules.coalesce(this.#pending, event);
    this.#notify();
  }

  /** Ends the stream after what is pending (after the last event, on abort, and on early return). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal.removeEventListener('abort', this.#onAbort);
    this.#onClose();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<E> {
    try {
      for (;;) {
        // An aborted watcher stops at once: its consumer has gone away.
        if (this.#signal.aborted) return;
        if (this.#pending.length > 0) {
          const next = this.#pending.shift() as E;
          yield next;
          if (this.#rules.isLast(next)) return;
          continue;
        }
        if (this.#closed) return;
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
    } finally {
      this.close();
    }
  }
}
