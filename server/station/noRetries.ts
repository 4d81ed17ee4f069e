/**
 * Operators who ask for no retries (DfuOptions.retries = 0): on some seeded devices the first job
 * is started with retries 0, and some of those jobs meet a damaged data object (one packet
 * corrupted on its way, so the object's CRC does not match) — a fault the server would otherwise
 * mend inside the job by sending the object again. With retries 0 the job must instead fail after
 * its one try ("no retries asked for") and leave the retry to the operator, whose later attempts
 * use the server's default. Decided by the seed, from the plan's own stream.
 */
import type { DeviceFault } from './faults.js';
import { isLegacyKind, packageOf, type StationDevice, type StationPackages } from './population.js';
import type { Rng } from './random.js';

/** The retries a job that asks for none sends. */
export const NO_RETRIES = 0;

/** Which attempt asks for no retries: the device's first job. */
export const NO_RETRIES_JOB = 1;

/** The bytes of one data packet at most (an ATT MTU of 247): a package has at least bytes / this packets. */
const MAX_PACKET_BYTES = 244;

export interface NoRetriesPlan {
  /** Devices (by index) whose first job asks for retries 0. */
  readonly devices: ReadonlySet<number>;
  /** For some of them, the damaged object that job meets (device index → fault). */
  readonly damaged: ReadonlyMap<number, DeviceFault>;
}

export function planNoRetries(
  rng: Rng,
  devices: readonly StationDevice[],
  packages: StationPackages,
  rates: { readonly noRetries: number; readonly damagedObjectWhenNoRetries: number },
): NoRetriesPlan {
  const asking = new Set<number>();
  const damaged = new Map<number, DeviceFault>();
  for (const d of devices) {
    // One stream per device, as the fault plan: its draws do not depend on the devices before it.
    const r = rng.fork(`device ${d.index}`);
    if (!r.chance(rates.noRetries)) continue;
    asking.add(d.index);
    // Only where the device takes the package: one that refuses it does so before any data object.
    // Legacy DFU has no data objects to damage (a legacy CRC error is at Validate, for the whole image).
    if (!r.chance(rates.damagedObjectWhenNoRetries) || d.expected.kind !== 'updated' || isLegacyKind(d.kind)) continue;
    // A packet the job surely sends: within the package's first bytes, counted from the job's start.
    const packets = Math.max(1, Math.floor(Math.min(packageOf(packages, d.packageKind).facts.bytes, 40_000) / MAX_PACKET_BYTES));
    damaged.set(d.index, { kind: 'damaged-object', attempt: NO_RETRIES_JOB, sim: { kind: 'corruptDataPacket', packet: r.int(1, packets) } });
  }
  return { devices: asking, damaged };
}

/**
 * Byte ranges of each image a device stored during one job, to tell bytes stored twice: an object
 * sent again (after a CRC mismatch, or re-created after a reconnect) writes below what the job
 * already wrote of that image. Fed by the simulated bootloader (NrfDevice.onDataWrite) while the
 * job runs, so an object another job began is not counted against this one.
 */
export class ResentBytes {
  /** Per image (its init packet's CRC): the highest offset written so far in this job. */
  readonly #high = new Map<number, number>();
  #resent = 0;

  write(w: { readonly initCrc: number; readonly offset: number; readonly length: number }): void {
    const high = this.#high.get(w.initCrc);
    if (high !== undefined && w.offset < high) this.#resent += Math.min(w.length, high - w.offset);
    this.#high.set(w.initCrc, Math.max(high ?? 0, w.offset + w.length));
  }

  get bytes(): number {
    return this.#resent;
  }
}
