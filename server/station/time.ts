/**
 * The station's one time interface: every wait of the station itself (arrivals, retries, faults
 * timed after a start, unplugs, kills) goes through now()/sleep(). Today it runs on the modelled
 * time of the first simulated world; when the server has one injectable clock for all its sim
 * adapters, `stationTime` is the one line that changes.
 *
 * The simulator's accelerated scheduler parks (stands still) while nothing happens on the air, and
 * a quiet station — everyone waiting for the next board — would then never wake. So while the
 * station waits and none of its jobs runs on that world, a "pacer" tells the world it is busy and
 * modelled time jumps to the next wake-up. While a job runs, the job's own radio work moves time
 * (pacing then would let device timers of minutes expire during a host's short real-time pause);
 * so does anything else that takes real time (a server killed and restarted): see hold().
 * A watchdog paces anyway if modelled time has not moved for a while in real time (a job waiting
 * for a dongle that only the station's replug brings back); every such nudge is counted, because
 * it makes a run depend on the machine.
 */
import type { SimWorld } from '../sim/world.js';

export interface StationTime {
  /** Modelled ms since the day began. */
  now(): number;
  /** Resolves after `ms` of modelled time. */
  sleep(ms: number): Promise<void>;
}

export interface PacedTime extends StationTime {
  /**
   * Work under way that moves on by itself (a job on this world) or takes real time (a server
   * being killed and restarted, a wait for a dongle): no pacing until every hold is released.
   */
  hold(): void;
  release(): void;
  /** Times the watchdog moved modelled time on although a job was running (machine-dependent). */
  readonly nudges: number;
  close(): void;
}

/** Real ms of standstill after which the watchdog paces although a job runs. */
const WATCHDOG_MS = 2_000;

export function stationTime(world: SimWorld): PacedTime {
  const origin = world.nowMs();
  let sleepers = 0;
  let holds = 0;
  let forced = false;
  let nudges = 0;
  let lastModel = world.nowMs();
  let lastMoved = performance.now();
  const detach = world.attachDongle({
    get busy() {
      return sleepers > 0 && (holds === 0 || forced);
    },
    unplug: () => undefined,
  });
  const watchdog = setInterval(() => {
    const now = world.nowMs();
    if (now !== lastModel) {
      lastModel = now;
      lastMoved = performance.now();
      forced = false;
      return;
    }
    if (sleepers > 0 && holds > 0 && !forced && performance.now() - lastMoved > WATCHDOG_MS) {
      forced = true;
      nudges++;
      world.scheduler.noteHostActivity();
    }
  }, 250);
  watchdog.unref();
  return {
    now: () => world.nowMs() - origin,
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        sleepers++;
        world.scheduler.after(
          ms,
          () => {
            sleepers--;
            resolve();
          },
          'station: wait',
        );
      }),
    hold: () => {
      holds++;
    },
    release: () => {
      holds--;
      // The pump may have stopped while a job held pacing off: let it look again.
      if (holds === 0) world.scheduler.noteHostActivity();
    },
    get nudges() {
      return nudges;
    },
    close: () => {
      clearInterval(watchdog);
      detach();
    },
  };
}
