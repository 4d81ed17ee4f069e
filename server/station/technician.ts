/**
 * The curious technician: on a few seeded devices, another client of the same server opens a
 * Connect call to the device (by its name or its address) shortly before the station's operator
 * starts its update, keeps the link for a seeded modelled time, then closes the call. A connected
 * device does not advertise, so the server must refuse the operator's StartDfu at once with
 * DEVICE_CONNECTED (no job, no scan); once the call has ended, the operator's retry runs.
 *
 * A board that waits in its bootloader (kind `bootloader`) advertises "DfuTarg" at its address + 1,
 * not at the address the technician asks for: that Connect finds nothing (DEVICE_NOT_FOUND after
 * its scan timeout), holds nothing, and the operator's DFU is not refused. A device out of range
 * would end the same way.
 */
import type { StationDevice } from './population.js';
import type { Rng } from './random.js';

export interface TechnicianVisit {
  readonly device: number;
  readonly label: string;
  /** Modelled ms before the operator's arrival at which the Connect call is opened. */
  readonly leadMs: number;
  /** Modelled ms the technician keeps the link once the call said `connected`. */
  readonly holdMs: number;
  /** How the technician names the device in the Connect call. */
  readonly by: 'name' | 'address';
  /**
   * Whether the Connect call can find the device: false for a board waiting in its bootloader,
   * which does not advertise at the address (or under the name) asked for.
   */
  readonly expectSeen: boolean;
}

/** What one visit came to, as the technician's client saw it (station clock, modelled ms). */
export interface TechnicianOutcome {
  readonly visit: TechnicianVisit;
  /** The device's application address (what a DEVICE_CONNECTED refusal must name). */
  readonly address: string;
  readonly adapterId: string;
  readonly openedAtMs: number;
  /** When the call said `connected`; undefined if it never did. */
  readonly connectedAtMs: number | undefined;
  /** When the call ended (closed by the technician, or ended by the server). */
  readonly closedAtMs: number;
  /** The call's error code when it failed (DEVICE_NOT_FOUND, …); undefined when it was closed by the technician. */
  readonly code: string | undefined;
  /** The link went down before the technician closed it (a `disconnected` event: an unplug, say). */
  readonly droppedEarly: boolean;
  /** The server was killed while the call was open: no verdict. */
  readonly lost: boolean;
}

/** Modelled ms between opening the call and the operator's arrival, and how long the link is kept. */
const LEAD_MS = { min: 1_000, max: 20_000 } as const;
const HOLD_MS = { min: 10_000, max: 120_000 } as const;

/**
 * Visits for round(share × devices) devices (at least one when share > 0), picked among the
 * boards an operator updates into a new application; each board waiting in its bootloader is
 * visited with the same share, to show that a Connect which finds nothing holds nothing.
 */
export function planTechnician(rng: Rng, devices: readonly StationDevice[], share: number): TechnicianVisit[] {
  if (!(share > 0)) return [];
  const visit = (d: StationDevice): TechnicianVisit => ({
    device: d.index,
    label: d.label,
    leadMs: rng.int(LEAD_MS.min, LEAD_MS.max),
    holdMs: rng.int(HOLD_MS.min, HOLD_MS.max),
    by: d.kind === 'bootloader' ? 'address' : rng.chance(0.5) ? 'name' : 'address',
    expectSeen: d.kind !== 'bootloader',
  });
  const running = devices.filter((d) => d.kind === 'app' || d.kind === 'sd-bl-app' || d.kind === 'bl-app');
  const picked: StationDevice[] = [];
  const pool = [...running];
  for (let n = Math.max(1, Math.round(share * devices.length)); n > 0 && pool.length > 0; n--) {
    picked.push(pool.splice(rng.int(0, pool.length - 1), 1)[0] as StationDevice);
  }
  for (const d of devices) if (d.kind === 'bootloader' && rng.chance(share)) picked.push(d);
  return picked.sort((a, b) => a.index - b.index).map(visit);
}
