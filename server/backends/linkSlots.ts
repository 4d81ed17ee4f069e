/**
 * Waiting for a free link on an adapter that holds a limited number of connections.
 *
 * A link keeps its slot until the controller reports it down. After a DFU's final Execute the
 * device resets without answering our LL terminate, so that link stays until the supervision
 * timeout, seconds after its job moved on. A job that connects meanwhile (its own read-back of the
 * new firmware, or the next queued job) must wait for the slot rather than fail: the limit is a
 * moment's congestion, not the caller's mistake. Callers that prefer an answer at once (a user's
 * Connect) do not ask to wait and get ADAPTER_BUSY as before.
 */
import { abortReason, BledfuError, hasCode } from '../common/errors.js';
import type { Clock } from '../common/clock.js';

export class LinkSlots {
  readonly #waiters = new Set<() => void>();
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** A link went down: whoever waits for a slot tries again. */
  released(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /**
   * Runs `attempt` (which throws ADAPTER_BUSY while every slot is taken); with `wait`, each busy
   * answer waits for the next released link and tries again, for at most `timeoutMs` in all.
   */
  async acquire<T>(attempt: () => Promise<T>, options: { readonly wait: boolean; readonly timeoutMs: number; readonly signal?: AbortSignal | undefined }): Promise<T> {
    if (!options.wait) return attempt();
    const limit = this.#clock.timeoutSignal(
      {
        ms: options.timeoutMs,
        code: 'ADAPTER_BUSY',
        layer: 'backend',
        message: `no link of the adapter became free within ${options.timeoutMs} ms`,
        remedy: 'lower --max-concurrent-dfus or raise max= in the adapter spec',
      },
      options.signal,
    );
    try {
      for (;;) {
        // Registered before the attempt, so a link released while it runs is not missed.
        const freed = this.#next(limit.signal);
        let busy = false;
        try {
          return await attempt();
        } catch (e) {
          if (!hasCode(e, 'ADAPTER_BUSY') || limit.signal.aborted) throw e;
          busy = true;
        } finally {
          if (!busy) freed.cancel();
        }
        await freed.promise;
      }
    } catch (e) {
      throw limit.signal.aborted ? abortReason(limit.signal) : e;
    } finally {
      limit.dispose();
    }
  }

  #next(signal: AbortSignal): { promise: Promise<void>; cancel: () => void } {
    let cancel = (): void => undefined;
    const promise = new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.#waiters.delete(wake);
        signal.removeEventListener('abort', onAbort);
      };
      const wake = (): void => {
        done();
        resolve();
      };
      const onAbort = (): void => {
        done();
        reject(abortReason(signal));
      };
      if (signal.aborted) return onAbort();
      this.#waiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
      cancel = () => {
        done();
        resolve();
      };
    });
    promise.catch(() => undefined);
    return { promise, cancel };
  }
}

/** Thrown by adapters when every link is in use and the caller did not ask to wait. */
export function adapterBusy(id: string, links: number, remedy: string): BledfuError {
  return new BledfuError('ADAPTER_BUSY', `adapter ${id} already has ${links} connection(s)`, { layer: 'backend', remedy });
}
