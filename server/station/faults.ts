/**
 * The day's seeded fault plan: what goes wrong for which device on which attempt, and when the
 * station itself suffers (a dongle pulled out and put back, the server killed and restarted on
 * the same data directory). Device faults are the simulator's own (sim/faults.ts), armed by the
 * station right before the attempt they belong to; the operator-side ones (cancel, a client that
 * disconnects mid-stream) are acted out by the operator.
 */
import type { SimFault } from '../sim/faults.js';
import { OPCODE, RESULT } from '../dfu/secure/controlPoint.js';
import type { StationDevice, StationPackages } from './population.js';
import { isLegacyKind, packageOf } from './population.js';
import type { Rng } from './random.js';

/** The kinds a device's faults are drawn from (by weight). */
export type WeightedFaultKind =
  | 'drop-in-object'
  | 'drop-between-objects'
  | 'drop-in-buttonless'
  | 'drop-after-final-execute'
  | 'device-error'
  | 'slow-flash'
  | 'cancel'
  | 'client-disconnect';

/**
 * Every device fault: the weighted kinds, and `damaged-object` (one data packet corrupted on its
 * way, so its object's CRC does not match), planned only for attempts that ask for no retries
 * (noRetries.ts), where the server must not send the object again.
 */
export type DeviceFaultKind = WeightedFaultKind | 'damaged-object';

export const DEVICE_FAULT_KINDS: readonly WeightedFaultKind[] = [
  'drop-in-object',
  'drop-between-objects',
  'drop-in-buttonless',
  'drop-after-final-execute',
  'device-error',
  'slow-flash',
  'cancel',
  'client-disconnect',
];

export interface DeviceFault {
  readonly kind: DeviceFaultKind;
  /** The attempt it hits (1 = the first job for the device). */
  readonly attempt: number;
  /** For simulator faults: what to arm on the device's world (the station adds the device). */
  readonly sim?: SimFault;
  /** For cancel and client-disconnect: modelled ms after the attempt started. */
  readonly afterMs?: number;
}

export type StationEvent =
  | { readonly kind: 'unplug'; readonly adapter: number; readonly atMs: number; readonly durationMs: number }
  | { readonly kind: 'kill'; readonly atMs: number; readonly downMs: number };

export interface FaultPlan {
  /** By device index; absent: no fault for that device. */
  readonly devices: ReadonlyMap<number, readonly DeviceFault[]>;
  /** Station events, by time. */
  readonly station: readonly StationEvent[];
}

export interface FaultRates {
  /** Chance that a device's first attempt meets a fault. */
  readonly firstAttempt: number;
  /** Chance that its second attempt meets another. */
  readonly secondAttempt: number;
  /** Relative weights of the device fault kinds. */
  readonly weights: Readonly<Record<WeightedFaultKind, number>>;
  /** Dongle unplugs per adapter per hour of the day. */
  readonly unplugsPerAdapterHour: number;
  /** Server kills per hour (at least one a day when > 0). */
  readonly killsPerHour: number;
  /** Hostile client calls a day (hostile.ts; planned apart from the faults, from its own stream). */
  readonly hostileCallsPerDay: number;
  /**
   * Share of the devices a technician holds with a Connect call when their operator comes
   * (technician.ts; at least one a day when > 0).
   */
  readonly technicianShare: number;
  /** Chance that a device's first job asks for no retries (retries: 0; noRetries.ts). */
  readonly noRetries: number;
  /** Chance that such a job meets a damaged data object (a CRC mismatch the server would otherwise retry). */
  readonly damagedObjectWhenNoRetries: number;
}

export const DEFAULT_FAULT_RATES: FaultRates = {
  firstAttempt: 0.35,
  secondAttempt: 0.1,
  weights: {
    'drop-in-object': 3,
    'drop-between-objects': 2,
    'drop-in-buttonless': 1,
    'drop-after-final-execute': 1,
    'device-error': 1,
    'slow-flash': 2,
    cancel: 1,
    'client-disconnect': 2,
  },
  unplugsPerAdapterHour: 0.25,
  killsPerHour: 0.125,
  hostileCallsPerDay: 3,
  technicianShare: 0.08,
  noRetries: 0.15,
  damagedObjectWhenNoRetries: 0.6,
};

/** No faults at all (a clean day, for comparison). */
export const NO_FAULTS: FaultRates = { ...DEFAULT_FAULT_RATES, firstAttempt: 0, secondAttempt: 0, unplugsPerAdapterHour: 0, killsPerHour: 0, hostileCallsPerDay: 0, technicianShare: 0, damagedObjectWhenNoRetries: 0 };

export function planFaults(
  rng: Rng,
  devices: readonly StationDevice[],
  packages: StationPackages,
  options: { readonly adapters: number; readonly dayMs: number; readonly rates?: FaultRates },
): FaultPlan {
  const rates = options.rates ?? DEFAULT_FAULT_RATES;
  const byDevice = new Map<number, DeviceFault[]>();
  const kinds = DEVICE_FAULT_KINDS.map((k) => [k, rates.weights[k]] as const);
  for (const d of devices) {
    // One stream per device: its faults do not depend on how many devices came before it.
    const r = rng.fork(`device ${d.index}`);
    const faults: DeviceFault[] = [];
    if (r.chance(rates.firstAttempt)) faults.push(deviceFault(r, d, packages, 1, kinds));
    if (r.chance(rates.secondAttempt)) faults.push(deviceFault(r, d, packages, 2, kinds));
    if (faults.length > 0) byDevice.set(d.index, faults);
  }

  const hours = options.dayMs / 3_600_000;
  const station: StationEvent[] = [];
  const s = rng.fork('station');
  const when = (): number => Math.round(s.between(0.05, 0.8) * options.dayMs);
  const count = (expected: number): number => (expected <= 0 ? 0 : Math.max(1, Math.round(expected + s.between(-0.5, 0.5))));
  const unplugs = count(rates.unplugsPerAdapterHour * hours * options.adapters);
  for (let i = 0; i < unplugs; i++) {
    station.push({ kind: 'unplug', adapter: s.int(0, options.adapters - 1), atMs: when(), durationMs: s.int(2_000, 60_000) });
  }
  const kills = count(rates.killsPerHour * hours);
  for (let i = 0; i < kills; i++) station.push({ kind: 'kill', atMs: when(), downMs: s.int(1_000, 30_000) });
  station.sort((a, b) => a.atMs - b.atMs);
  return { devices: byDevice, station };
}

function deviceFault(
  r: Rng,
  d: StationDevice,
  packages: StationPackages,
  attempt: number,
  kinds: readonly (readonly [WeightedFaultKind, number])[],
): DeviceFault {
  // A board that has no application never runs buttonless. A legacy board gets the faults that
  // act on legacy DFU (docs/sim-model.md): a link dropped mid-firmware (the engine restarts the
  // image), slow answers, a cancel, a client going away; the Secure DFU object faults and
  // refusals name Secure DFU op codes.
  const usable =
    d.kind === 'bootloader'
      ? kinds.filter(([k]) => k !== 'drop-in-buttonless')
      : isLegacyKind(d.kind)
        ? kinds.filter(([k]) => k === 'drop-in-object' || k === 'slow-flash' || k === 'cancel' || k === 'client-disconnect')
        : kinds;
  const kind = r.weighted(usable);
  const facts = packageOf(packages, d.packageKind).facts;
  switch (kind) {
    case 'drop-in-object':
      return { kind, attempt, sim: { kind: 'dropLinkAfterDataBytes', bytes: r.int(1, Math.max(1, Math.min(facts.bytes, 60_000) - 1)) } };
    case 'drop-between-objects':
      return { kind, attempt, sim: { kind: 'dropLinkAfterRequest', op: 'execute', objectType: 'data', occurrence: r.int(1, Math.max(1, facts.dataObjects - 1)) } };
    case 'drop-after-final-execute':
      return { kind, attempt, sim: { kind: 'dropLinkAfterRequest', op: 'execute', objectType: 'data', occurrence: facts.dataObjects } };
    case 'drop-in-buttonless':
      // An ATT PDU from the application lost on the air while the host discovers and enters
      // buttonless (the first few it sends: discovery answers, the CCCD write's answer, the indication).
      return { kind, attempt, sim: { kind: 'frame', direction: 'toCentral', action: 'drop', cid: 0x0004, after: r.int(0, 6), times: 1 } };
    case 'device-error':
      return { kind, attempt, sim: { kind: 'refuseControlPoint', opcode: OPCODE.CREATE, result: RESULT.OPERATION_FAILED, times: 1 } };
    case 'slow-flash':
      return { kind, attempt, sim: { kind: 'delayControlPoint', ms: r.int(200, 3_000), times: r.int(2, 12) } };
    case 'cancel':
      return { kind, attempt, afterMs: r.int(500, 20_000) };
    case 'client-disconnect':
      return { kind, attempt, afterMs: r.int(200, 20_000) };
  }
}

/** A device fault in one line, for tables and logs. */
export function describeFault(f: DeviceFault): string {
  const s = f.sim;
  const detail =
    s === undefined
      ? `after ${f.afterMs ?? 0} ms`
      : s.kind === 'dropLinkAfterDataBytes'
        ? `after ${s.bytes} B`
        : s.kind === 'dropLinkAfterRequest'
          ? `after ${s.objectType ?? ''} ${s.op} #${s.occurrence ?? 1}`
          : s.kind === 'delayControlPoint'
            ? `${s.ms} ms × ${s.times ?? 1}`
            : s.kind === 'corruptDataPacket'
              ? `data packet #${s.packet}`
              : s.kind === 'frame'
              ? `ATT PDU ${s.after ?? 0}+1`
              : s.kind === 'refuseControlPoint'
                ? `opcode 0x${s.opcode.toString(16)} → 0x${s.result.toString(16)}`
                : s.kind;
  return `${f.kind} (attempt ${f.attempt}, ${detail})`;
}
