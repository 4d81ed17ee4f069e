import { abortReason, type BledfuError } from '../../common/errors.js';

/** Timer functions, injectable so tests can drive time without sleeping. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export type RaceOutcome<T> =
  | { readonly kind: 'settled'; readonly value: T }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'aborted'; readonly error: BledfuError };

/**
 * Waits at most `ms` for `outcome`. The caller giving up (`signal`) and the time running out are
 * results, not errors, because the caller still has to clean up (cancel a connection attempt,
 * drop a link that won the race); `failed` (the adapter is gone) rejects, as nothing is left to
 * clean up.
 */
export function raceWithin<T>(
  outcome: Promise<T>,
  ms: number,
  options: { readonly timers: Timers; readonly failed: AbortSignal; readonly signal?: AbortSignal | undefined },
): Promise<RaceOutcome<T>> {
  const { timers, failed, signal } = options;
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      timers.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      failed.removeEventListener('abort', onFail);
    };
    const timer = timers.setTimeout(() => {
      cleanup();
      resolve({ kind: 'timeout' });
    }, ms);
    const onAbort = (): void => {
      cleanup();
      resolve({ kind: 'aborted', error: abortReason(signal as AbortSignal) });
    };
    const onFail = (): void => {
      cleanup();
      reject(abortReason(failed));
    };
    if (failed.aborted) return onFail();
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    failed.addEventListener('abort', onFail, { once: true });
    void outcome.then((value) => {
      cleanup();
      resolve({ kind: 'settled', value });
    });
  });
}
