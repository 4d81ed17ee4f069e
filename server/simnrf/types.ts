/** Types of the simulated connectivity dongle shared by its modules (dongle.ts re-exports them). */

export type SimNrfApi = 5 | 6;

/** Which way a line fault applies. */
export type LineDirection = 'toHost' | 'toDevice' | 'both';

/**
 * Faults of the serial line and the device's link layer. Rates are shares of SLIP frames (0..1),
 * drawn from a seeded generator so a run can be repeated.
 */
export interface H5LineFaults {
  /** Frames that vanish on the line. */
  readonly lossRate?: number;
  /** Frames that arrive with a bad CRC / header checksum (always detectable, never a valid other frame). */
  readonly corruptRate?: number;
  /** Frames preceded by a burst of random bytes (which may contain 0xC0 and 0xDB). */
  readonly garbageRate?: number;
  /** Length of each garbage burst; default 8. */
  readonly garbageBytes?: number;
  /** Where loss, corruption and garbage apply; default both directions. */
  readonly direction?: LineDirection;
  /** The device never answers SYNC and never sends one: no connectivity firmware, or a board stuck after a crash. */
  readonly noSync?: boolean;
  /**
   * The device resets (as after a crash or watchdog: connections, configuration and link state
   * gone, then it sends SYNC) once it has received this many more serialization packets. One shot.
   */
  readonly resetAfterPackets?: number;
  /** Seed of the fault generator; default 1. */
  readonly seed?: number;
}

export type SimNrfLinkState = 'booting' | 'uninitialized' | 'initialized' | 'active';

