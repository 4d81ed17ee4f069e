/**
 * The server's clock on the accelerated simulator: host timers become entries of the simulator's
 * own queue (scheduler.ts), so the host and the simulated world share one ordered timeline and
 * modelled time moves only when the whole process is idle. `now()` is the start instant plus the
 * modelled time elapsed.
 *
 * A station simulation or a test drives a whole server through this clock: it gets it from the
 * adapter registry (`registry.clock`), schedules its own actions on it (`clock.sleep(ms)` for an
 * operator's pause, `clock.setTimer(ms, unplug)` for a fault at a given time) and, since a
 * foreground timer pulls time, hours of modelled time pass in seconds.
 */
import { clockOf, type Clock } from '../common/clock.js';
import { BledfuError } from '../common/errors.js';
import type { SimScheduler } from './scheduler.js';

/** A Clock that also says which scheduler it runs on (registry, tests). */
export interface VirtualClock extends Clock {
  readonly kind: 'virtual';
  readonly scheduler: SimScheduler;
  /** The epoch instant of modelled time 0. */
  readonly startEpochMs: number;
}

export function virtualClock(scheduler: SimScheduler, startEpochMs: number): VirtualClock {
  if (!scheduler.accelerated) {
    throw new BledfuError('INTERNAL', 'a virtual clock runs only on an accelerated scheduler (paced simulators use the real clock)', { layer: 'sim' });
  }
  const clock = clockOf({
    kind: 'virtual',
    now: () => startEpochMs + scheduler.nowMs(),
    setTimer: (ms, fn, options) => scheduler.after(ms, fn, options?.label ?? 'host timer', options?.background === true ? 'background' : 'host'),
  });
  return { ...clock, kind: 'virtual', scheduler, startEpochMs };
}

export function isVirtualClock(clock: Clock): clock is VirtualClock {
  return clock.kind === 'virtual' && 'scheduler' in clock;
}
