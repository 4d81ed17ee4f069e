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
import { clockOf, seededRandom, type Clock } from '../common/clock.js';
import { BledfuError } from '../common/errors.js';
import type { SimScheduler } from './scheduler.js';

/**
 * gRPC metadata naming a hold (VirtualClock.hold) that an in-process client took when it sent a
 * call; the server releases it when the call arrives (app.ts), so the call reaches the server at
 * the modelled instant it was sent, whatever the real time its bytes took over loopback.
 */
export const CLOCK_HOLD_HEADER = 'bledfu-virtual-clock-hold';

/** A Clock that also says which scheduler it runs on (registry, tests). */
export interface VirtualClock extends Clock {
  readonly kind: 'virtual';
  readonly scheduler: SimScheduler;
  /** The epoch instant of modelled time 0. */
  readonly startEpochMs: number;
  /**
   * Holds modelled time still until release(id): for input the process cannot see under way
   * (a request between an in-process client and the server). Returns the hold's id.
   */
  hold(): string;
  /** Ends a hold; unknown or released ids are ignored. */
  release(id: string): void;
}

/** The seed of a virtual clock's random(): every server on the accelerated simulator draws the same sequence. */
const RANDOM_SEED = 0x5eed;

/**
 * The holds taken on a scheduler, whichever virtual clock took them: a station simulation's clock
 * and the clock its server's registry makes on the same scheduler are the same clock, so a hold
 * taken through one (the client's call) is released through the other (the server receiving it).
 */
const holdsByScheduler = new WeakMap<SimScheduler, { next: number; readonly byId: Map<string, () => void> }>();

function holdsOf(scheduler: SimScheduler): { next: number; readonly byId: Map<string, () => void> } {
  let holds = holdsByScheduler.get(scheduler);
  if (holds === undefined) {
    holds = { next: 0, byId: new Map() };
    holdsByScheduler.set(scheduler, holds);
  }
  return holds;
}

/**
 * One random sequence per scheduler, like the holds: the clocks made on one scheduler are one
 * clock, so a server restarted on a station's scheduler goes on drawing bootloader names where
 * its predecessor stopped instead of handing out the same names again.
 */
const randomByScheduler = new WeakMap<SimScheduler, () => number>();

function randomOf(scheduler: SimScheduler): () => number {
  let random = randomByScheduler.get(scheduler);
  if (random === undefined) {
    random = seededRandom(RANDOM_SEED);
    randomByScheduler.set(scheduler, random);
  }
  return random;
}

export function virtualClock(scheduler: SimScheduler, startEpochMs: number): VirtualClock {
  if (!scheduler.accelerated) {
    throw new BledfuError('INTERNAL', 'a virtual clock runs only on an accelerated scheduler (paced simulators use the real clock)', { layer: 'sim' });
  }
  const clock = clockOf({
    kind: 'virtual',
    now: () => startEpochMs + scheduler.nowMs(),
    setTimer: (ms, fn, options) => scheduler.after(ms, fn, options?.label ?? 'host timer', options?.background === true ? 'background' : 'host'),
    // Seeded, not Math.random: a random bootloader name changes the bytes on the line (its
    // characters and the frame's CRC; on the nRF dongle's serial line a byte needing SLIP escaping
    // costs 10 µs more), so two fresh servers given the same jobs drifted apart by 0.01 ms now
    // and then. Drawn in modelled-event order, the names are the same on every run.
    random: randomOf(scheduler),
  });
  const holds = holdsOf(scheduler);
  return {
    ...clock,
    kind: 'virtual',
    scheduler,
    startEpochMs,
    hold: () => {
      const id = `h${++holds.next}`;
      holds.byId.set(id, scheduler.hold());
      return id;
    },
    release: (id) => {
      holds.byId.get(id)?.();
      holds.byId.delete(id);
    },
  };
}

export function isVirtualClock(clock: Clock): clock is VirtualClock {
  return clock.kind === 'virtual' && 'scheduler' in clock;
}
