/**
 * The station's clock, which is also the server's: one accelerated simulator scheduler and one
 * virtual clock on it, owned by the station, so its boards and modelled time outlive a server it
 * kills and starts again (the registry is given the scheduler and the start instant, and its
 * `clock` then equals this one across restarts).
 *
 * Every wait of the station itself (arrivals, operator pauses, faults timed after a start, unplug
 * and replug, kill and restart) is a foreground timer on this clock: it pulls modelled time
 * forward when the process has nothing else to do, exactly like the server's own timers, so the
 * whole day is one ordered timeline that no real-time pause can reorder.
 */
import type { Logger } from '../common/logger.js';
import { virtualClock, type VirtualClock } from '../sim/clock.js';
import { SimScheduler } from '../sim/scheduler.js';

/**
 * Modelled time 0 of a day with seed 0: a Monday, 08:00 UTC. A day starts `seed` seconds later,
 * so that the same seed gives the same timestamps (and different seeds different ones).
 */
const FIRST_DAY_EPOCH_MS = Date.UTC(2030, 0, 7, 8, 0, 0);

export interface StationClock {
  readonly scheduler: SimScheduler;
  /** The server's clock too (pass scheduler and startEpochMs to openAdapters). */
  readonly clock: VirtualClock;
  readonly startEpochMs: number;
  /** Modelled ms since the day began. */
  now(): number;
  /** Resolves after `ms` of modelled time (a foreground wait: it pulls time). */
  sleep(ms: number): Promise<void>;
  close(): void;
}

export function stationClock(seed: number, logger: Logger): StationClock {
  const scheduler = new SimScheduler({
    speed: Number.POSITIVE_INFINITY,
    onError: (error, label) => logger.error({ err: error, event: label }, 'sim: event failed'),
  });
  const startEpochMs = FIRST_DAY_EPOCH_MS + seed * 1000;
  const clock = virtualClock(scheduler, startEpochMs);
  return {
    scheduler,
    clock,
    startEpochMs,
    now: () => clock.now() - startEpochMs,
    sleep: (ms) => clock.sleep(Math.max(0, ms), undefined, { label: 'station: wait' }),
    close: () => scheduler.close(),
  };
}
