/**
 * The plan of a station run in campaign mode (campaignRun.ts), decided by the seed alone: the
 * population (the station's mix of boards that take the application package — applications, boards
 * stranded in their bootloader, units already up to date, wrong key, wrong SoftDevice), which are
 * in the rack at the start and when the others come into range, the faults each board's first job
 * meets, and what happens to the line: dongles unplugged, a client that leaves WatchCampaign and
 * comes back, an operator who stops the campaign and starts a new one over the rest, a server
 * restart (its campaign ends SERVER_SHUTDOWN; a new one is started once the server is back).
 */
import { DEFAULT_FAULT_RATES, planFaults, type DeviceFault, type FaultRates, type WeightedFaultKind } from './faults.js';
import { planPopulation, type DeviceKind, type StationDevice, type StationPackages } from './population.js';
import type { Rng } from './random.js';

/**
 * A campaign carries one package: the boards that get the application package, in the station's
 * proportions (SoftDevice + bootloader and bootloader + application boards would need campaigns
 * of their own and are not in this mode).
 */
export const CAMPAIGN_KIND_WEIGHTS: Readonly<Record<DeviceKind, number>> = {
  app: 40,
  bootloader: 15,
  'sd-bl-app': 0,
  'bl-app': 0,
  'wrong-key': 10,
  'other-sd': 10,
  'up-to-date': 0,
  // A campaign carries one package, a Secure DFU one here: no legacy boards (they come without legacy packages anyway).
  'legacy-sdk11': 0,
  'legacy-adafruit': 0,
  'legacy-on-secure': 0,
};

/**
 * Faults a campaign job can meet without the station's hand in it: the simulator's own, armed on
 * the board before it comes into range, so they hit the first job the campaign runs on it. (An
 * operator's cancel or a client leaving StartDfu has no place in a campaign; the client that
 * leaves WatchCampaign is a line event.)
 */
export const CAMPAIGN_FAULT_WEIGHTS: Readonly<Record<WeightedFaultKind, number>> = {
  ...DEFAULT_FAULT_RATES.weights,
  cancel: 0,
  'client-disconnect': 0,
};


/**
 * The longest a dongle stays unplugged: the campaign's retry policy (campaignRun.ts: 5 jobs, 15 s
 * apart) outlasts it, since a campaign counts a job that failed ADAPTER_UNAVAILABLE as an attempt.
 */
export const MAX_UNPLUG_MS = 30_000;

export interface CampaignFaultRates {
  /** Chance that a board's first job meets a simulator fault. */
  readonly firstJob: number;
  /** Relative weights of those faults (default CAMPAIGN_FAULT_WEIGHTS). */
  readonly weights?: Readonly<Record<WeightedFaultKind, number>>;
  /** Dongle unplugs over the run (per adapter, expected). */
  readonly unplugsPerAdapter: number;
  /** Chance that the server is restarted once during the run. */
  readonly restart: number;
  /** Chance that the operator stops the campaign once and starts a new one over the rest. */
  readonly stopAndRestart: number;
  /** Times the watching client leaves WatchCampaign and comes back (at least this many when > 0). */
  readonly rewatches: number;
}

export const DEFAULT_CAMPAIGN_FAULT_RATES: CampaignFaultRates = { firstJob: 0.35, unplugsPerAdapter: 0.4, restart: 0.7, stopAndRestart: 0.7, rewatches: 2 };

export const NO_CAMPAIGN_FAULTS: CampaignFaultRates = { firstJob: 0, unplugsPerAdapter: 0, restart: 0, stopAndRestart: 0, rewatches: 0 };

export type LineEvent =
  | { readonly kind: 'unplug'; readonly adapter: number; readonly atMs: number; readonly durationMs: number }
  /** The watching client's stream is cut at atMs; it calls WatchCampaign again awayMs later. */
  | { readonly kind: 'rewatch'; readonly atMs: number; readonly awayMs: number }
  /** StopCampaign (cancel_jobs as drawn), then, once it ended, a new campaign over the devices not finished. */
  | { readonly kind: 'stop'; readonly atMs: number; readonly cancelJobs: boolean }
  /** The server stops gracefully (its campaign ends SERVER_SHUTDOWN) and starts again downMs later. */
  | { readonly kind: 'restart'; readonly atMs: number; readonly downMs: number };

export interface CampaignPlan {
  readonly devices: readonly StationDevice[];
  /** Device index → modelled ms it comes into range (0: in the rack from the start). */
  readonly arrivals: ReadonlyMap<number, number>;
  /** Device index → the simulator fault its first job meets. */
  readonly faults: ReadonlyMap<number, DeviceFault>;
  /** By time. */
  readonly events: readonly LineEvent[];
}

export interface CampaignPlanOptions {
  readonly devices: number;
  readonly adapters: number;
  readonly packages: StationPackages;
  /** Modelled ms over which the boards not in the rack come into range (and the line events fall). */
  readonly windowMs: number;
  /** Share of the boards in the rack at the start (1: all of them). */
  readonly rackShare: number;
  readonly rates: CampaignFaultRates;
}

export function planCampaign(rng: Rng, o: CampaignPlanOptions): CampaignPlan {
  // The application package alone: every board of this mode gets it.
  const packages: StationPackages = { app: o.packages.app, sdBlApp: o.packages.sdBlApp };
  // planPopulation spreads arrivals over 80 % of its day: the window.
  const drawnDevices = planPopulation(rng.fork('population'), { devices: o.devices, adapters: o.adapters, dayMs: o.windowMs / 0.8, packages, weights: CAMPAIGN_KIND_WEIGHTS });
  const rack = rng.fork('rack');
  const arrivals = new Map(drawnDevices.map((d) => [d.index, rack.chance(o.rackShare) ? 0 : d.arrivalMs]));
  const faultRates: FaultRates = { ...DEFAULT_FAULT_RATES, firstAttempt: o.rates.firstJob, secondAttempt: 0, weights: o.rates.weights ?? CAMPAIGN_FAULT_WEIGHTS, unplugsPerAdapterHour: 0, killsPerHour: 0 };
  const drawn = planFaults(rng.fork('faults'), drawnDevices, packages, { adapters: o.adapters, dayMs: o.windowMs, rates: faultRates });
  const faults = new Map<number, DeviceFault>();
  for (const [index, fs] of drawn.devices) {
    const first = fs.find((f) => f.attempt === 1 && f.sim !== undefined);
    if (first !== undefined) faults.set(index, first);
  }
  // A board whose first job meets the `device-error` fault (its bootloader answers Create with
  // OPERATION_FAILED once) ends updated: the campaign retries that result (server/campaigns/retry.ts).
  const devices = drawnDevices;

  const s = rng.fork('line');
  const when = (lo: number, hi: number): number => Math.round(s.between(lo, hi) * o.windowMs);
  const events: LineEvent[] = [];
  const unplugs = o.rates.unplugsPerAdapter <= 0 ? 0 : Math.max(1, Math.round(o.rates.unplugsPerAdapter * o.adapters + s.between(-0.5, 0.5)));
  for (let i = 0; i < unplugs; i++) events.push({ kind: 'unplug', adapter: s.int(0, o.adapters - 1), atMs: when(0.05, 0.9), durationMs: s.int(2_000, MAX_UNPLUG_MS) });
  for (let i = 0; i < o.rates.rewatches; i++) events.push({ kind: 'rewatch', atMs: when(0.02, 0.9), awayMs: s.int(200, 20_000) });
  if (s.chance(o.rates.stopAndRestart)) events.push({ kind: 'stop', atMs: when(0.1, 0.5), cancelJobs: s.chance(0.5) });
  if (s.chance(o.rates.restart)) events.push({ kind: 'restart', atMs: when(0.3, 0.8), downMs: s.int(1_000, 20_000) });
  events.sort((a, b) => a.atMs - b.atMs);
  return { devices, arrivals, faults, events };
}
