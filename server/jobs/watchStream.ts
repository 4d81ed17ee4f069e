/**
 * One watcher's view of a job. Progress events are coalesced while the watcher is behind (only
 * the newest matters), so a slow client cannot make the server buffer a whole transfer's worth
 * of progress; state changes and the final event are never dropped, and there are few of them.
 */
import type { JobEvent } from './types.js';

export class WatchStream implements AsyncIterable<JobEvent> {
  readonly #pending: JobEvent[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  readonly #signal: AbortSignal;
  readonly #onClose: () => void;

  constructor(signal: AbortSignal, onClose: () => void) {
    this.#signal = signal;
    this.#onClose = onClose;
    if (signal.aborted) this.close();
    else signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  readonly #onAbort = (): void => this.close();

  push(event: JobEvent): void {
    if (this.#closed) return;
    const last = this.#pending[this.#pending.length - 1];
    if (event.kind === 'progress' && last?.kind === 'progress') this.#pending[this.#pending.length - 1] = event;
    else this.#pending.push(event);
    this.#notify();
  }

  /** Ends the stream after what is pending (used after `finished`, on abort, and on early return). */
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

  async *[Symbol.asyncIterator](): AsyncIterator<JobEvent> {
    try {
      for (;;) {
        // An aborted watcher stops at once: its consumer has gone away.
        if (this.#signal.aborted) return;
        const next = this.#pending.shift();
        if (next !== undefined) {
          yield next;
          if (next.kind === 'finished') return;
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
