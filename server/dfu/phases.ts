/**
 * Where a DFU job's time goes: every millisecond between the job's start and its end is
 * attributed to exactly one phase, on the server's one clock (modelled time on the accelerated
 * simulator, so the numbers are the same on any machine). The engine says which phase it is in;
 * the job owns the accounting, so that time outside the engine (before it starts, after it
 * returns) lands in `other` and the phases always add up to the job's duration.
 *
 * The engine's attribution (server/dfu/secure/engine.ts):
 *  - scan: looking for a device that did not just reset (the first look, a look after a link loss,
 *    including the pause before it);
 *  - connect: connection establishment, ATT MTU / PHY / data length exchange, service discovery
 *    and the control point subscription;
 *  - buttonless: asking the application to enter its bootloader (the buttonless request and its
 *    indication);
 *  - reboot: a device that resets (after the buttonless jump, after an image's activation)
 *    until it is seen advertising again: the pause before looking plus the scan;
 *  - initPacket: the command object, from Select to its Execute's answer (signature check included);
 *  - dataTransfer: Set PRN, Select of the data object, and streaming the packets (PRN waits included);
 *  - flashWait: the round trips of every data object's Create, CRC and Execute requests but the
 *    last: the bootloader answers Execute only once its queued page erase and word writes are done
 *    (nrf_dfu_req_handler.c waits while fstorage is busy), so this is what the transfer waits for
 *    flash beyond what overlaps the stream, plus the requests' own air round trips;
 *  - activation: the final Execute (the last object's flash, the image's hash and signature check)
 *    and hanging up;
 *  - finalRead: reading the Firmware Revision of the updated application;
 *  - other: anything else (claiming the device from another job, the job layer's own work): ~0.
 */

export const DFU_PHASES = ['scan', 'connect', 'buttonless', 'reboot', 'initPacket', 'dataTransfer', 'flashWait', 'activation', 'finalRead', 'other'] as const;
export type DfuPhaseName = (typeof DFU_PHASES)[number];

/** Milliseconds per phase. */
export type PhaseTimes = Readonly<Record<DfuPhaseName, number>>;

/** What the engine sees of the accounting: it only says which phase it is in. */
export interface PhaseRecorder {
  /** Switches to `phase` from now on; returns the phase that was current. */
  enter(phase: DfuPhaseName): DfuPhaseName;
  /** Runs `fn` in `phase`, then returns to the phase that was current (also when `fn` throws). */
  during<T>(phase: DfuPhaseName, fn: () => Promise<T>): Promise<T>;
}

export function zeroPhaseTimes(): Record<DfuPhaseName, number> {
  return Object.fromEntries(DFU_PHASES.map((p) => [p, 0])) as Record<DfuPhaseName, number>;
}

export function sumPhaseTimes(t: PhaseTimes): number {
  return DFU_PHASES.reduce((n, p) => n + t[p], 0);
}

/** Accumulates time per phase from one clock's readings; starts in `other`. */
export class PhaseClock implements PhaseRecorder {
  readonly #now: () => number;
  readonly #totals = zeroPhaseTimes();
  #current: DfuPhaseName = 'other';
  #since: number;
  #stoppedAt: number | undefined;

  /** `start`: the reading the accounting starts from (default: now). */
  constructor(now: () => number, start: number = now()) {
    this.#now = now;
    this.#since = start;
  }

  enter(phase: DfuPhaseName): DfuPhaseName {
    const previous = this.#current;
    if (this.#stoppedAt !== undefined) return previous;
    const at = this.#now();
    this.#totals[previous] += at - this.#since;
    this.#since = at;
    this.#current = phase;
    return previous;
  }

  async during<T>(phase: DfuPhaseName, fn: () => Promise<T>): Promise<T> {
    const previous = this.enter(phase);
    try {
      return await fn();
    } finally {
      this.enter(previous);
    }
  }

  /**
   * Ends the accounting at `at` (the job's end, read from the same clock): later enter() calls,
   * from an engine that is still unwinding, change nothing. Returns the totals.
   */
  stop(at: number = this.#now()): PhaseTimes {
    if (this.#stoppedAt === undefined) {
      this.#totals[this.#current] += at - this.#since;
      this.#since = at;
      this.#stoppedAt = at;
    }
    return { ...this.#totals };
  }

  /** The totals so far (the current phase counted up to now). */
  totals(): PhaseTimes {
    const t = { ...this.#totals };
    if (this.#stoppedAt === undefined) t[this.#current] += this.#now() - this.#since;
    return t;
  }
}
