/** A clock whose timers fire only when the test says so: no wall-clock waits in timeout tests. */
import { clockOf, realClock, type Clock, type Timer, type TimerOptions } from '../../server/common/clock.js';
import type { TimerHandle } from '../../server/sim/scheduler.js';

export class ManualClock implements Clock {
  readonly kind = 'real';
  /**
   * 'background': only background timers wait for fire() (a supervisor's reopening delays), the
   * others run on the real clock (a real dongle's link timers in the same server).
   */
  readonly #manual: 'all' | 'background';
  #next = 1;
  #nowMs = 0;
  readonly #pending = new Map<number, { fn: () => void; ms: number; background: boolean }>();
  readonly #waits = clockOf({ kind: 'real', now: () => this.#nowMs, setTimer: (ms, fn, options) => this.setTimer(ms, fn, options) });

  constructor(manual: 'all' | 'background' = 'all') {
    this.#manual = manual;
  }

  now(): number {
    return this.#nowMs;
  }
  random(): number {
    return Math.random();
  }
  setTimer(ms: number, fn: () => void, options?: TimerOptions): Timer {
    if (this.#manual === 'background' && options?.background !== true) return realClock.setTimer(ms, fn, options);
    const id = this.#next++;
    this.#pending.set(id, { fn, ms, background: options?.background === true });
    return { cancel: () => this.#pending.delete(id) };
  }
  sleep(ms: number, signal?: AbortSignal, options?: TimerOptions): Promise<void> {
    return this.#waits.sleep(ms, signal, options);
  }
  timeoutSignal(...args: Parameters<Clock['timeoutSignal']>): ReturnType<Clock['timeoutSignal']> {
    return this.#waits.timeoutSignal(...args);
  }
  /** The scheduler's way of setting a timer, for simulated devices driven by this clock. */
  after(ms: number, fn: () => void): TimerHandle {
    const id = this.#next++;
    this.#pending.set(id, { fn, ms, background: false });
    const pending = this.#pending;
    return {
      cancel: () => pending.delete(id),
      get pending() {
        return pending.has(id);
      },
    };
  }
  get pending(): number {
    return this.#pending.size;
  }
  /** Pending timers marked background. */
  get pendingBackground(): number {
    return [...this.#pending.values()].filter((t) => t.background).length;
  }
  /** Fires every pending timer of exactly `ms` (e.g. the ATT 30 s timer). */
  fire(ms: number): number {
    let n = 0;
    for (const [id, t] of [...this.#pending]) {
      if (t.ms !== ms) continue;
      this.#pending.delete(id);
      t.fn();
      n++;
    }
    return n;
  }
}

/** Lets queued microtasks and memory-pipe deliveries run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/** The real clock's timers with `now` read from the test (fixed timestamps in assertions). */
export function clockAt(now: () => number): Clock {
  return clockOf({ kind: 'real', now, setTimer: (ms, fn, options) => realClock.setTimer(ms, fn, options) });
}
