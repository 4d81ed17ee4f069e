/**
 * The one clock of a server. Every timer, sleep, timeout and timestamp in server/ goes through a
 * Clock handed down from the composition root, never through setTimeout or Date.now directly:
 *   - real dongles (and simulators paced to real time) run on `realClock`;
 *   - the accelerated simulator runs the whole server on its modelled time (sim/clock.ts): host
 *     timers and simulator events share one ordered queue, and time jumps to the next entry only
 *     when the process has nothing else to do, so the same inputs give the same event order and
 *     the same modelled times on any machine, and a 10 s scan timeout costs no real time.
 *
 * Every wait takes an AbortSignal, so that a job cancel or a link loss ends it at once with a
 * recognisable error.
 */
import { abortReason, BledfuError, type ErrorCode, type ErrorLayer } from './errors.js';

/** A pending timer; cancel() is idempotent and harmless after it fired. */
export interface Timer {
  cancel(): void;
}

export interface TimerOptions {
  /**
   * A background timer (like Node's unref): it fires when its time comes, but never makes time
   * come by itself. On the real clock it does not keep the process alive; on a virtual clock it
   * does not pull modelled time forward — periodic retries, housekeeping, anything that runs while
   * nobody waits. A server with only background timers pending is idle and its time stands still.
   */
  readonly background?: boolean;
  /** What the timer is for (diagnostics of a virtual clock's queue). */
  readonly label?: string;
}

export interface TimeoutSpec {
  readonly ms: number;
  readonly code: ErrorCode;
  readonly layer: ErrorLayer;
  readonly message: string;
  readonly remedy?: string;
}

export interface TimeoutHandle {
  readonly signal: AbortSignal;
  /** Call when the guarded operation finished, so the timer does not outlive it. */
  dispose(): void;
}

export interface Clock {
  /** 'virtual': modelled time of the accelerated simulator; 'real': the machine's time. */
  readonly kind: 'real' | 'virtual';
  /** Milliseconds since the Unix epoch (on a virtual clock: its start instant + modelled time elapsed). */
  now(): number;
  /** Runs `fn` once after `ms`. */
  setTimer(ms: number, fn: () => void, options?: TimerOptions): Timer;
  /** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal, options?: TimerOptions): Promise<void>;
  /** A signal that aborts with a typed timeout error after `spec.ms`, or when `parent` aborts. */
  timeoutSignal(spec: TimeoutSpec, parent?: AbortSignal): TimeoutHandle;
  /**
   * A number in [0, 1): the server's one source of chance (a bootloader's random name), which
   * belongs with its time. Bytes the server sends depend on it — on the simulated nRF dongle a
   * name whose frame needs SLIP escaping takes longer on the serial line — so on a virtual clock
   * it is a seeded generator: the same inputs give the same bytes, hence the same modelled times.
   * The real clock uses Math.random.
   */
  random(): number;
}

/** What a clock implementation provides; clockOf() adds the waits every clock offers alike. */
export interface ClockCore {
  readonly kind: Clock['kind'];
  now(): number;
  setTimer(ms: number, fn: () => void, options?: TimerOptions): Timer;
  /** Default Math.random. */
  random?(): number;
}

export function clockOf(core: ClockCore): Clock {
  const setTimer = (ms: number, fn: () => void, options?: TimerOptions): Timer => core.setTimer(Math.max(0, ms), fn, options);
  const random = core.random === undefined ? Math.random : core.random.bind(core);
  return {
    kind: core.kind,
    now: () => core.now(),
    setTimer,
    random,
    sleep(ms, signal, options) {
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      return new Promise((resolve, reject) => {
        const onAbort = (): void => {
          timer.cancel();
          reject(abortReason(signal as AbortSignal));
        };
        const timer = setTimer(
          ms,
          () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          { label: 'sleep', ...options },
        );
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    timeoutSignal(spec, parent) {
      const controller = new AbortController();
      const timer = setTimer(
        spec.ms,
        () => {
          parent?.removeEventListener('abort', onParent);
          controller.abort(
            new BledfuError(spec.code, spec.message, {
              layer: spec.layer,
              ...(spec.remedy === undefined ? {} : { remedy: spec.remedy }),
            }),
          );
        },
        { label: `timeout: ${spec.message}` },
      );
      const onParent = (): void => {
        timer.cancel();
        controller.abort(parent?.reason);
      };
      if (parent?.aborted) onParent();
      else parent?.addEventListener('abort', onParent, { once: true });
      return {
        signal: controller.signal,
        dispose: () => {
          timer.cancel();
          parent?.removeEventListener('abort', onParent);
        },
      };
    },
  };
}

/** The machine's clock: Node timers; background timers are unref'd. */
export const realClock: Clock = clockOf({
  kind: 'real',
  now: () => Date.now(),
  setTimer: (ms, fn, options) => {
    const t = setTimeout(fn, ms);
    if (options?.background === true) t.unref();
    return { cancel: () => clearTimeout(t) };
  },
});

/** A seeded generator of numbers in [0, 1) (mulberry32: small, fast, repeatable), for virtual clocks. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Resolves when `signal` aborts (never rejects); for racing against long waits. */
export function whenAborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
}

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
  options: { readonly clock: Clock; readonly failed: AbortSignal; readonly signal?: AbortSignal | undefined },
): Promise<RaceOutcome<T>> {
  const { clock, failed, signal } = options;
  return new Promise((resolve, reject) => {
    let timer: Timer | undefined;
    const cleanup = (): void => {
      timer?.cancel();
      signal?.removeEventListener('abort', onAbort);
      failed.removeEventListener('abort', onFail);
    };
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
    timer = clock.setTimer(
      ms,
      () => {
        cleanup();
        resolve({ kind: 'timeout' });
      },
      { label: 'race' },
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    failed.addEventListener('abort', onFail, { once: true });
    void outcome.then((value) => {
      cleanup();
      resolve({ kind: 'settled', value });
    });
  });
}
