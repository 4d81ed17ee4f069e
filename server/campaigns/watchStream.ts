/**
 * One watcher's view of a campaign. Bounded without dropping what matters: a device event that
 * is still pending when a newer one for the same device arrives is replaced by it (only a
 * device's latest state matters, and every event carries the counts after it), so a slow client
 * holds at most one pending event per device — MAX_DEVICES_PER_CAMPAIGN plus the few campaign
 * events — however long it lags.
 */
import type { CampaignEvent } from './types.js';

export class CampaignWatchStream implements AsyncIterable<CampaignEvent> {
  readonly #pending: CampaignEvent[] = [];
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

  /** Events pending for the consumer now (tests of the bound). */
  get pending(): number {
    return this.#pending.length;
  }

  push(event: CampaignEvent): void {
    if (this.#closed) return;
    if (event.kind === 'device') {
      const key = event.device.address.value;
      const at = this.#pending.findIndex((e) => e.kind === 'device' && e.device.address.value === key);
      if (at >= 0) this.#pending.splice(at, 1);
    }
    this.#pending.push(event);
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Ends the stream after what is pending. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal.removeEventListener('abort', this.#onAbort);
    this.#onClose();
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<CampaignEvent> {
    try {
      for (;;) {
        if (this.#signal.aborted) return;
        const next = this.#pending.shift();
        if (next !== undefined) {
          yield next;
          if (next.kind === 'ended') return;
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
