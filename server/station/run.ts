/**
 * A day at the station: one server in-process on K simulated dongles, a seeded population of
 * boards arriving over the day, operators that update each one through the gRPC client and retry
 * what fails, seeded faults at every phase, and at the end the invariants and a summary.
 *
 * The station and the server run on one clock (time.ts): the accelerated simulator's modelled
 * time, which moves only when the process has nothing else to do. Every decision of the station
 * comes from the seed and every wait is on that clock, so the same seed gives the same day — the
 * same jobs, results and modelled times, hence the same summary — on any machine. Real time
 * appears only in the report's diagnostics.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { silentLogger, type Logger } from '../common/logger.js';
import type { Timer } from '../common/clock.js';
import { createSimWorld, parseSimSpec, type SimConfig, type SimDeviceConfig, type SimDeviceView, type SimWorld } from '../sim/world.js';
import type { FaultHandle } from '../sim/faults.js';
import { AdapterState, AddressType, type Adapter, decodeError, dfuProtocolName, jobStateName, startDfu, watchJob, type BledfuClient, type DfuEvent, type Target } from '../../clients/ts/index.js';
import { DEFAULT_FAULT_RATES, describeFault, NO_FAULTS, planFaults, type DeviceFault, type FaultPlan, type FaultRates } from './faults.js';
import {
  checkInvariants,
  DEFAULT_RESOURCE_BOUNDS,
  formatClock,
  type AuditLine,
  type DeviceOutcome,
  type Disruption,
  type ResourceBounds,
  type ResourceSample,
} from './invariants.js';
import { EXPECTED_CODE, HOSTILE_TARGET_PREFIX, longName, paddedPackage, planHostile, type HostileCall, type HostileOutcome } from './hostile.js';
import { attemptLabels, countsAsTry, DEFAULT_RETRY_POLICY, MAX_HELD_REFUSALS, nextStep, type AttemptRecord, type AttemptResult, type HeldBy, type RetryPolicy } from './operator.js';
import { NO_RETRIES, NO_RETRIES_JOB, planNoRetries, ResentBytes } from './noRetries.js';
import { planTechnician, type TechnicianOutcome, type TechnicianVisit } from './technician.js';
import { packageOf, packageProtocolOf, planPopulation, type StationDevice, type StationPackages } from './population.js';
import { Rng } from './random.js';
import { StationServer } from './server.js';
import { AddressRecord } from './addresses.js';
import { readAuditLines } from './auditLines.js';
import { summarize, type StationReport } from './summary.js';
import { stationClock, type StationClock } from './time.js';

export { formatReport, formatSummary, type StationReport, type StationSummary } from './summary.js';

/**
 * The dongle of every adapter: the virtual HCI controller (`hci`, the roomy default controller),
 * the same with the Zephyr hci_uart profile (`zephyr`: `sim:?controller=zephyr`, no public
 * address, a vendor static address, few small ACL buffers), a simulated Nordic connectivity dongle (`nrf`), or `mixed`:
 * zephyr, nrf, hci, zephyr, … by adapter index.
 */
export type DongleChoice = 'hci' | 'zephyr' | 'nrf' | 'mixed';

export const DONGLE_CHOICES: readonly DongleChoice[] = ['hci', 'zephyr', 'nrf', 'mixed'];

type DongleKind = Exclude<DongleChoice, 'mixed'>;

/** The order `mixed` cycles through: the three controller kinds, so two adapters already differ in address handling. */
const MIXED_CYCLE: readonly DongleKind[] = ['zephyr', 'nrf', 'hci'];

const SPEC_OF: Readonly<Record<DongleKind, string>> = {
  hci: 'sim:?dongle=hci',
  zephyr: 'sim:?dongle=hci&controller=zephyr',
  nrf: 'sim:?dongle=nrf&api=6',
};

/** Whether the dongle has a public address: Zephyr's Read BD_ADDR answers zeros; the SoftDevice has only its static random one. */
const HAS_PUBLIC_ADDRESS: Readonly<Record<DongleKind, boolean>> = { hci: true, zephyr: false, nrf: false };

export interface StationOptions {
  readonly seed: number;
  readonly devices: number;
  readonly hours: number;
  /** Every adapter's dongle kind, or mixed (zephyr, nrf, hci, zephyr, … by adapter index). */
  readonly dongle: DongleChoice;
  readonly adapters: number;
  readonly packages: StationPackages;
  /** Jobs at once per adapter (bledfud --max-concurrent-dfus); default 4. */
  readonly maxConcurrentDfus?: number;
  readonly faultRates?: FaultRates;
  readonly retry?: RetryPolicy;
  /** The server's data directory; default a fresh temporary one, removed afterwards. */
  readonly dataDir?: string;
  readonly logger?: Logger;
  /** One line per notable station event (arrivals are not reported). */
  readonly onEvent?: (line: string) => void;
  readonly resourceBounds?: ResourceBounds;
  /**
   * Modelled ms an attempt may take before the station cancels it (a hang guard: a foreground
   * timer, so even a server that waits for nothing cannot stop the day). Default 2 h.
   */
  readonly attemptGuardMs?: number;
}

const DEFAULT_MAX_CONCURRENT = 4;

export function adapterSpec(dongle: DongleChoice, index: number): { readonly spec: string; readonly label: DongleKind; readonly publicAddress: boolean } {
  const kind = dongle === 'mixed' ? (MIXED_CYCLE[index % MIXED_CYCLE.length] as DongleKind) : dongle;
  return { spec: SPEC_OF[kind], label: kind, publicAddress: HAS_PUBLIC_ADDRESS[kind] };
}

/**
 * The world of one adapter: what its spec says about the dongle (the controller profile's
 * address, buffers and quirks), with the station's boards. The station makes the worlds itself
 * (they outlive every server instance) and the registry then uses the given world as it is, so
 * the spec's controller options must reach the world here or nowhere.
 */
export function stationWorldConfig(spec: string, devices: readonly Partial<SimDeviceConfig>[]): Partial<SimConfig> {
  const { devices: _specDevices, ...dongle } = parseSimSpec(spec);
  return { ...dongle, devices };
}

/**
 * The station's clock and one simulated world per adapter with its boards: the station makes
 * them itself, since they outlive every server instance (restarts), in a day and in campaign mode.
 */
export function stationWorlds(
  o: { readonly seed: number; readonly adapters: number; readonly dongle: DongleChoice },
  devices: readonly StationDevice[],
  logger: Logger,
): {
  readonly adapters: ReturnType<typeof adapterSpec>[];
  readonly clock: StationClock;
  readonly worlds: SimWorld[];
  /** The simulated board of a station device. */
  readonly boardOf: (d: StationDevice) => SimDeviceView;
} {
  const adapters = Array.from({ length: o.adapters }, (_, i) => adapterSpec(o.dongle, i));
  const clock = stationClock(o.seed, logger);
  const worlds: SimWorld[] = adapters.map((a, i) =>
    createSimWorld(
      stationWorldConfig(a.spec, devices.filter((d) => d.adapter === i).map((d) => d.config)),
      logger.child({ adapter: `sim${i}`, component: 'sim' }),
      clock.scheduler,
    ),
  );
  const boardOf = (d: StationDevice): SimDeviceView => {
    const view = worlds[d.adapter]?.devices.find((v) => v.label === d.label);
    if (view === undefined) throw new Error(`station: no board ${d.label}`);
    return view;
  };
  return { adapters, clock, worlds, boardOf };
}

export function rerunCommand(
  o: Pick<StationOptions, 'seed' | 'devices' | 'hours' | 'dongle' | 'adapters' | 'maxConcurrentDfus' | 'faultRates'> & { readonly packages?: StationPackages },
): string {
  const blApp = o.packages?.blAppFromFile === true ? o.packages.blApp : undefined;
  const extra =
    (o.maxConcurrentDfus === undefined || o.maxConcurrentDfus === DEFAULT_MAX_CONCURRENT ? '' : ` --max-concurrent ${o.maxConcurrentDfus}`) +
    (o.faultRates === NO_FAULTS ? ' --no-faults' : '') +
    // The same packages: the directory they came from (none: the project's own), and the same
    // bootloader + application package (by its file name: the bytes decide the day).
    (o.packages?.dir === undefined ? '' : ` --packages ${o.packages.dir}`) +
    (blApp === undefined ? '' : ` --bl-app ${blApp.file}`);
  return `npm run station -- --seed ${o.seed} --devices ${o.devices} --hours ${o.hours} --dongle ${o.dongle} --adapters ${o.adapters}${extra}`;
}

function targetOf(d: StationDevice): Target {
  return d.target.kind === 'name'
    ? { selector: { $case: 'name', name: d.target.name } }
    : { selector: { $case: 'address', address: { value: d.target.address, type: AddressType.ADDRESS_TYPE_RANDOM } } };
}

/** Modelled ms an operator waits at most for its adapter to be listed ready before trying anyway. */
const ADAPTER_READY_WAIT_MS = 15_000;
/** Modelled ms between two looks at ListAdapters. */
const ADAPTER_READY_POLL_MS = 250;

/**
 * Waits until ListAdapters lists the adapter ready, looking again every quarter second of modelled
 * time (a dongle comes back after the supervisor's reopening delay, on the same clock). Gives up
 * quietly: the job then tells.
 */
async function adapterReady(
  client: BledfuClient,
  adapterId: string,
  sleep: (ms: number) => Promise<void>,
  signal: AbortSignal,
  onListed: (adapters: readonly Adapter[]) => void,
): Promise<void> {
  for (let waited = 0; waited <= ADAPTER_READY_WAIT_MS && !signal.aborted; waited += ADAPTER_READY_POLL_MS) {
    try {
      const { adapters } = await client.listAdapters({}, { signal });
      onListed(adapters);
      if (adapters.find((a) => a.id === adapterId)?.state === AdapterState.ADAPTER_STATE_READY) return;
    } catch {
      return;
    }
    await sleep(ADAPTER_READY_POLL_MS);
  }
}

/**
 * States only a job that left its queue goes through (a job cancelled or failed while queued goes
 * straight from QUEUED to CANCELLED or FAILED, and is not audited).
 */
const LEFT_THE_QUEUE: ReadonlySet<string> = new Set(['CONNECTING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'RESUMING', 'ACTIVATING', 'SUCCEEDED', 'UP_TO_DATE']);

/**
 * The fault plan with each damaged object of a job that asks for no retries, where that job has
 * no other fault (one fault per job, as drawn).
 */
function withDamagedObjects(plan: FaultPlan, damaged: ReadonlyMap<number, DeviceFault>): FaultPlan {
  const devices = new Map(plan.devices);
  for (const [index, f] of damaged) {
    const planned = devices.get(index) ?? [];
    if (planned.some((p) => p.attempt === f.attempt)) continue;
    devices.set(index, [...planned, f].sort((a, b) => a.attempt - b.attempt));
  }
  return { ...plan, devices };
}

/** The Connect call a DEVICE_CONNECTED refusal names, from its ErrorInfo's context (since: station clock). */
function heldByOf(metadata: Readonly<Record<string, string>>, startEpochMs: number): HeldBy {
  const since = Date.parse(metadata['context_since'] ?? '');
  return {
    address: metadata['context_address'],
    adapterId: metadata['context_adapterId'],
    method: metadata['context_method'],
    sinceMs: Number.isNaN(since) ? undefined : since - startEpochMs,
  };
}

function durationMs(d: { readonly seconds: number; readonly nanos: number } | undefined): number | undefined {
  return d === undefined ? undefined : d.seconds * 1000 + d.nanos / 1e6;
}

/**
 * A full garbage collection, so heap samples compare live data rather than garbage not yet
 * collected: the `gc` of --expose-gc, or V8's own exposed the same way when the process was
 * started without it (a test runner, say).
 */
function collectGarbage(): void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) {
    exposed();
    return;
  }
  try {
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
  } catch {
    // No collection: the heap bound then also covers garbage.
  }
}

export function sampleResources(): ResourceSample {
  collectGarbage();
  const resources: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  const processListeners = process.eventNames().reduce((n, e) => n + process.listenerCount(e), 0);
  return { heapUsedBytes: process.memoryUsage().heapUsed, resources, processListeners };
}

export async function runStation(options: StationOptions): Promise<StationReport> {
  const realStart = performance.now();
  const logger = options.logger ?? silentLogger();
  const say = options.onEvent ?? (() => undefined);
  const dayMs = options.hours * 3_600_000;
  const rng = new Rng(options.seed);
  const devices = planPopulation(rng.fork('population'), { devices: options.devices, adapters: options.adapters, dayMs, packages: options.packages });
  const rates = options.faultRates ?? DEFAULT_FAULT_RATES;
  const drawn = planFaults(rng.fork('faults'), devices, options.packages, { adapters: options.adapters, dayMs, rates });
  // Forks of their own: adding these plans changed no other stream of the day.
  const noRetries = planNoRetries(rng.fork('no retries'), devices, options.packages, rates);
  const plan = withDamagedObjects(drawn, noRetries.damaged);
  const visits = planTechnician(rng.fork('technician'), devices, rates.technicianShare);
  const hostilePlan = planHostile(rng.fork('hostile'), {
    count: rates.hostileCallsPerDay,
    adapters: options.adapters,
    dayMs,
  });
  // The padded zips, built once before the day (a few MiB each).
  const padded = new Map<HostileCall, Uint8Array>();
  for (const h of hostilePlan) {
    if (h.kind === 'many-entries') padded.set(h, paddedPackage(options.packages.app.bytes, h.emptyEntries));
  }
  const retry = options.retry ?? DEFAULT_RETRY_POLICY;
  // The clock and the worlds are the station's: they outlive every server instance.
  const { adapters, clock, worlds, boardOf } = stationWorlds(options, devices, logger);

  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'bledfu-station-'));
  const server = new StationServer({
    specs: adapters.map((a) => a.spec),
    worlds,
    time: clock,
    dataDir,
    logger,
    maxConcurrentDfus: options.maxConcurrentDfus ?? DEFAULT_MAX_CONCURRENT,
  });
  const attempts = new Map<number, AttemptRecord[]>(devices.map((d) => [d.index, []]));
  const disruptions: Disruption[] = [];
  const unplugged = new Set<number>();
  const hostile: HostileOutcome[] = [];
  const technician: TechnicianOutcome[] = [];
  // Per visited device: settles once the technician's Connect call has connected, or has ended
  // without (the operator comes to the bench after the technician).
  const technicianAtBench = new Map<number, { readonly promise: Promise<void>; readonly settle: () => void }>(
    visits.map((v) => {
      let settle = (): void => undefined;
      const promise = new Promise<void>((resolve) => {
        settle = resolve;
      });
      return [v.device, { promise, settle }];
    }),
  );
  const addresses = new AddressRecord();
  const guardMs = options.attemptGuardMs ?? 2 * 3_600_000;

  try {
    await server.start();
    const startSample = sampleResources();

    /**
     * One attempt; `job` numbers the attempts that count as tries (a DEVICE_CONNECTED refusal
     * does not): the planned faults and the no-retries choice belong to the device's n-th job.
     */
    const runAttempt = async (d: StationDevice, attempt: number, job: number): Promise<AttemptRecord> => {
      const world = worlds[d.adapter] as SimWorld;
      const adapterId = `sim${d.adapter}`;
      // Client, instance and lifetime of one server together: a kill may come between two awaits.
      const { client, generation, lifetime } = await server.session();
      const faults: readonly DeviceFault[] = (plan.devices.get(d.index) ?? []).filter((f) => f.attempt === job);
      const retries = job === NO_RETRIES_JOB && noRetries.devices.has(d.index) ? NO_RETRIES : undefined;
      const handles: FaultHandle[] = faults.flatMap((f) => (f.sim === undefined ? [] : [world.faults.inject({ ...f.sim, device: d.label })]));
      // Like a person, first look whether the dongle is there (ListAdapters says ready).
      await adapterReady(client, adapterId, clock.sleep, lifetime, (listed) => addresses.listed(listed, clock.now(), generation));
      const startedAtMs = clock.now();
      let jobId: string | undefined;
      let finished: Extract<DfuEvent, { type: 'finished' }> | undefined;
      let lastState = '';
      let started = false;
      let error: unknown;
      let cutByUs = false;
      let done = false;
      let rewatched = false;
      let deviceSerial: string | undefined;
      let resumed = false;
      const call = new AbortController();
      // A job that asks for no retries must not send an object twice: the board tells.
      const resent = retries === NO_RETRIES ? new ResentBytes() : undefined;
      const stopWatchingWrites = resent === undefined ? undefined : boardOf(d).device.onDataWrite((w) => resent.write(w));
      const observe = (e: DfuEvent): void => {
        jobId ??= e.jobId;
        const state = e.type === 'snapshot' ? jobStateName(e.job.state) : e.type === 'state' ? e.stateName : undefined;
        if (state !== undefined) {
          lastState = state;
          if (LEFT_THE_QUEUE.has(state)) started = true;
          if (state === 'RESUMING') resumed = true;
        }
        if (e.type === 'device-info') deviceSerial = e.info.serialNumber;
        // A stream re-attached by WatchJob starts with the snapshot, which has what was read before.
        if (e.type === 'snapshot' && e.job.deviceInfo !== undefined) deviceSerial = e.job.deviceInfo.serialNumber;
        if (e.type === 'finished') finished = e;
      };
      // The operator's own actions during the attempt, on the clock; cancelled when it ends.
      const timers: Timer[] = [];
      for (const f of faults) {
        if (f.kind === 'cancel') {
          timers.push(
            clock.clock.setTimer(
              f.afterMs ?? 0,
              () => {
                if (done || jobId === undefined || server.generation !== generation) return;
                say(`${formatClock(clock.now())} ${d.label}: operator cancels job ${jobId.slice(0, 8)}`);
                void client.cancelJob({ jobId }).catch(() => undefined);
              },
              { label: 'station: operator cancels' },
            ),
          );
        } else if (f.kind === 'client-disconnect') {
          timers.push(
            clock.clock.setTimer(
              f.afterMs ?? 0,
              () => {
                if (done || jobId === undefined) return;
                cutByUs = true;
                call.abort();
              },
              { label: 'station: client disconnects' },
            ),
          );
        }
      }
      // A hang guard in modelled time: a job the server never ends must not stop the station.
      let guardFired = false;
      timers.push(
        clock.clock.setTimer(
          guardMs,
          () => {
            guardFired = true;
            if (jobId !== undefined) void client.cancelJob({ jobId }).catch(() => undefined);
            call.abort();
          },
          { label: 'station: attempt guard' },
        ),
      );
      try {
        const request = { package: { data: packageOf(options.packages, d.packageKind).bytes }, target: targetOf(d), adapterId, labels: attemptLabels(d.label, attempt), ...(retries === undefined ? {} : { options: { retries } }) };
        for await (const e of startDfu(client, request, { signal: AbortSignal.any([call.signal, lifetime]) })) {
          observe(e);
        }
      } catch (e) {
        error = e;
      }
      if (finished === undefined && cutByUs && !guardFired && jobId !== undefined && server.generation === generation) {
        // The client came back and watches the job it started (the job kept running meanwhile).
        rewatched = true;
        error = undefined;
        try {
          for await (const e of watchJob(client, jobId, { signal: lifetime })) observe(e);
        } catch (e) {
          error = e;
        }
      }
      for (const t of timers) t.cancel();
      done = true;
      for (const h of handles) h.remove();
      stopWatchingWrites?.();
      const endedAtMs = clock.now();

      let result: AttemptResult;
      let decoded = error === undefined ? undefined : decodeError(error);
      if (finished !== undefined) {
        decoded = finished.error ?? decoded;
        const upToDate = jobStateName(finished.result.state) === 'UP_TO_DATE';
        result = upToDate ? 'UP_TO_DATE' : finished.result.success ? 'SUCCEEDED' : lastState === 'CANCELLED' || decoded?.code === 'CANCELLED' ? 'CANCELLED' : 'FAILED';
        if (finished.result.success) decoded = undefined;
      } else if (guardFired) {
        result = 'FAILED';
        decoded = { code: 'STATION_GUARD', grpcCode: 0, grpcCodeName: 'OK', message: `the job did not end within ${formatClock(guardMs)} of modelled time`, metadata: {} };
      } else if (server.generation !== generation) {
        result = 'LOST';
      } else if (jobId === undefined) {
        result = 'REFUSED';
      } else {
        result = 'FAILED';
      }
      const record: AttemptRecord = {
        device: d.label,
        attempt,
        jobId,
        adapterId,
        startedAtMs,
        endedAtMs,
        result,
        started,
        errorCode: result === 'SUCCEEDED' || result === 'UP_TO_DATE' || result === 'LOST' ? undefined : decoded?.code,
        errorMessage: decoded?.message,
        dfuResultName: result === 'SUCCEEDED' || result === 'UP_TO_DATE' ? undefined : decoded?.dfuResultName,
        dfuExtendedName: result === 'SUCCEEDED' || result === 'UP_TO_DATE' ? undefined : decoded?.dfuExtendedName,
        faults: faults.map(describeFault),
        rewatched,
        modelledAirMs: durationMs(finished?.result.modelledAirTime),
        ...(deviceSerial === undefined ? {} : { deviceSerial }),
        retries,
        heldBy: result === 'REFUSED' && decoded?.code === 'DEVICE_CONNECTED' ? heldByOf(decoded.metadata, clock.startEpochMs) : undefined,
        resumed,
        resentBytes: resent?.bytes,
      };
      if (result !== 'SUCCEEDED' && result !== 'UP_TO_DATE') {
        say(
          `${formatClock(endedAtMs)} ${d.label} (${d.kind}, ${adapterId}) attempt ${attempt}: ${result}${record.errorCode === undefined ? '' : ` ${record.errorCode}`}${record.dfuResultName === undefined ? '' : ` ${record.dfuResultName}`}${record.dfuExtendedName === undefined ? '' : ` ${record.dfuExtendedName}`}${faults.length === 0 ? '' : ` [${record.faults.join('; ')}]`}${record.errorMessage === undefined ? '' : ` — ${record.errorMessage}`}`,
        );
      }
      return record;
    };

    const operate = async (d: StationDevice): Promise<void> => {
      const r = rng.fork(`operator ${d.index}`);
      await clock.sleep(d.arrivalMs - clock.now());
      // A technician who came for this board first is at the bench (connected, or given up).
      await technicianAtBench.get(d.index)?.promise;
      let tries = 0;
      let held = 0;
      for (let attempt = 1; ; attempt++) {
        const record = await runAttempt(d, attempt, tries + 1);
        attempts.get(d.index)?.push(record);
        const counted = countsAsTry(record);
        if (counted) tries++;
        else held++;
        // A refusal for a held device is not a try: ask for the device back, wait, try again.
        const step = counted ? nextStep(retry, r, tries, record.result) : held > MAX_HELD_REFUSALS ? { kind: 'done' as const } : nextStep(retry, r, 0, record.result);
        if (step.kind === 'done') return;
        await clock.sleep(step.waitMs);
      }
    };

    /**
     * The technician's visit: a Connect call to the board from the second client, opened a
     * little before its operator comes, kept for the visit's modelled time once connected, then
     * closed. A call that finds nothing (a board in its bootloader) ends by itself.
     */
    const technicianVisit = async (v: TechnicianVisit): Promise<void> => {
      const d = devices[v.device] as StationDevice;
      const atBench = technicianAtBench.get(v.device);
      await clock.sleep(d.arrivalMs - v.leadMs - clock.now());
      const { technician: client, generation, lifetime } = await server.session();
      const adapterId = `sim${d.adapter}`;
      await adapterReady(client, adapterId, clock.sleep, lifetime, () => undefined);
      const openedAtMs = clock.now();
      const leave = new AbortController();
      const target: Target = v.by === 'name' ? { selector: { $case: 'name', name: d.label } } : { selector: { $case: 'address', address: { value: d.config.address, type: AddressType.ADDRESS_TYPE_RANDOM } } };
      let connectedAtMs: number | undefined;
      let closedAtMs: number | undefined;
      let droppedEarly = false;
      let code: string | undefined;
      let letGo: Timer | undefined;
      try {
        for await (const e of client.connect({ adapterId, target, scanTimeout: undefined, mtu: 0 }, { signal: AbortSignal.any([leave.signal, lifetime]) })) {
          if (e.event?.$case === 'connected' && connectedAtMs === undefined) {
            connectedAtMs = clock.now();
            atBench?.settle();
            letGo = clock.clock.setTimer(
              v.holdMs,
              () => {
                closedAtMs = clock.now();
                leave.abort();
              },
              { label: 'station: technician closes the Connect call' },
            );
          } else if (e.event?.$case === 'disconnected') {
            droppedEarly = true;
          }
        }
      } catch (e) {
        if (!leave.signal.aborted) code = decodeError(e).code;
      }
      letGo?.cancel();
      atBench?.settle();
      const outcome: TechnicianOutcome = {
        visit: v,
        address: d.config.address,
        adapterId,
        openedAtMs,
        connectedAtMs,
        closedAtMs: closedAtMs ?? clock.now(),
        code,
        droppedEarly,
        lost: server.generation !== generation,
      };
      technician.push(outcome);
      say(
        `${formatClock(outcome.closedAtMs)} technician on ${adapterId}: Connect to ${d.label} by ${v.by} → ${
          connectedAtMs === undefined ? `not connected (${outcome.lost ? 'server killed' : (code ?? 'no error')})` : `held from ${formatClock(connectedAtMs)}${droppedEarly ? ', link dropped' : ''}${outcome.lost ? ', server killed' : ''}`
        }`,
      );
    };

    const stationEvents = async (p: FaultPlan): Promise<void> => {
      const pending: Promise<void>[] = [];
      for (const ev of p.station) {
        await clock.sleep(ev.atMs - clock.now());
        if (ev.kind === 'unplug') {
          const world = worlds[ev.adapter] as SimWorld;
          if (unplugged.has(ev.adapter)) continue;
          const from = clock.now();
          say(`${formatClock(from)} sim${ev.adapter}: dongle unplugged for ${(ev.durationMs / 1000).toFixed(0)} s`);
          unplugged.add(ev.adapter);
          if (world.donglePlugged) world.unplugDongle();
          pending.push(
            clock.sleep(ev.durationMs).then(() => {
              unplugged.delete(ev.adapter);
              // While the old server is torn down, its kill plugs the dongle back in for the next one.
              if (!server.killing) world.replugDongle();
              disruptions.push({ kind: 'unplug', adapterId: `sim${ev.adapter}`, fromMs: from, toMs: clock.now() });
              say(`${formatClock(clock.now())} sim${ev.adapter}: dongle plugged back in`);
            }),
          );
        } else {
          const from = clock.now();
          say(`${formatClock(from)} server killed (down ${(ev.downMs / 1000).toFixed(0)} s)`);
          // Tearing the server down and starting it again take the modelled time the server's own
          // waits take (shutdown grace, opening the dongles); real time in between does not count.
          await server.kill(unplugged);
          await clock.sleep(ev.downMs);
          await server.restart();
          disruptions.push({ kind: 'kill', adapterId: undefined, fromMs: from, toMs: clock.now() });
          say(`${formatClock(clock.now())} server restarted on the same data directory`);
        }
      }
      await Promise.all(pending);
    };

    /**
     * The hostile client: each planned call at its moment, through the same gRPC client as the
     * operators (it holds the clock while the call is on its way). A refused call ends before
     * any event; one that was not refused is cancelled at once so it cannot touch a board.
     */
    const hostileClient = async (calls: readonly HostileCall[]): Promise<void> => {
      for (const h of calls) {
        await clock.sleep(h.atMs - clock.now());
        const { client, generation, lifetime } = await server.session();
        const adapterId = `sim${h.adapter}`;
        const request =
          h.kind === 'many-entries'
            ? { package: { data: padded.get(h) ?? new Uint8Array(0) }, target: { selector: { $case: 'name' as const, name: `${HOSTILE_TARGET_PREFIX}zip` } }, adapterId }
            : { package: { data: options.packages.app.bytes }, target: { selector: { $case: 'name' as const, name: longName(h.nameBytes) } }, adapterId };
        let jobId: string | undefined;
        let code: string | undefined;
        const call = new AbortController();
        try {
          for await (const e of startDfu(client, request, { signal: AbortSignal.any([call.signal, lifetime]) })) {
            jobId ??= e.jobId;
            void client.cancelJob({ jobId: e.jobId }).catch(() => undefined);
            call.abort();
          }
        } catch (e) {
          code = decodeError(e).code;
        }
        const lost = server.generation !== generation;
        hostile.push({ call: h, code: jobId === undefined ? code : undefined, jobId, lost });
        const what = h.kind === 'many-entries' ? `a package zip with ${h.emptyEntries} empty entries` : `a target name of ${h.nameBytes} bytes`;
        say(`${formatClock(clock.now())} hostile client on ${adapterId}: ${what} → ${lost ? 'lost (server killed)' : jobId !== undefined ? `ACCEPTED as job ${jobId.slice(0, 8)}` : (code ?? 'no error')} (expected ${EXPECTED_CODE[h.kind]})`);
      }
    };

    await Promise.all([...devices.map(operate), ...visits.map(technicianVisit), stationEvents(plan), hostileClient(hostilePlan)]);
    // The rest of the day, and a moment for every board to finish booting.
    if (clock.now() < dayMs) await clock.sleep(dayMs - clock.now());
    await clock.sleep(2_000);

    const { client, generation: lastGeneration } = await server.session();
    addresses.listed((await client.listAdapters({})).adapters, clock.now(), lastGeneration);
    const active = (await client.listJobs({ activeOnly: true })).jobs.map((j) => j.jobId);
    // Jobs of the server up now that carry a hostile target name (none may exist).
    const jobsAtEnd = (await client.listJobs({ activeOnly: false })).jobs;
    const hostileJobs = jobsAtEnd
      .filter((j) => j.target?.selector?.$case === 'name' && j.target.selector.name.startsWith(HOSTILE_TARGET_PREFIX))
      .map((j) => j.jobId);
    const packageStore = await server.packageUsage();
    const endSample = sampleResources();
    const audit: AuditLine[] = readAuditLines(server.auditPath);
    const outcomes: DeviceOutcome[] = devices.map((d) => {
      const board = boardOf(d);
      const images = board.images();
      return {
        label: d.label,
        expected: d.expected,
        final: { application: images.application?.sha256, applicationValid: images.applicationValid, mode: board.mode(), bootloaderVersion: images.bootloaderVersion },
        attempts: attempts.get(d.index) ?? [],
        serialNumber: board.serialNumber,
        protocol: packageProtocolOf(d.packageKind),
      };
    });
    const invariants = checkInvariants(
      {
        devices: outcomes,
        activeJobsAtEnd: active,
        audit,
        disruptions,
        resources: { start: startSample, end: endSample },
        hostile,
        hostileJobsAtEnd: hostileJobs,
        packageStoreAtEnd: packageStore,
        adapterAddresses: addresses.evidence(worlds, adapters.map((a) => a.publicAddress)),
        technician,
        jobsAtEnd: jobsAtEnd.map((j) => ({
          jobId: j.jobId,
          target: j.target?.selector?.$case === 'name' ? j.target.selector.name : j.target?.selector?.$case === 'address' ? (j.target.selector.address?.value ?? '') : '',
          protocol: dfuProtocolName(j.protocol).toLowerCase(),
        })),
      },
      options.resourceBounds ?? DEFAULT_RESOURCE_BOUNDS,
    );
    const summary = summarize(options, adapters.map((a) => a.label), devices, outcomes, plan, hostile, technician, Math.max(dayMs, clock.now()));
    return {
      ok: invariants.every((i) => i.ok),
      summary,
      invariants,
      rerun: rerunCommand(options),
      diagnostics: { realMs: performance.now() - realStart, blAppIncluded: options.packages.blApp !== undefined },
      attempts: outcomes.flatMap((o) => o.attempts),
    };
  } finally {
    await server.close().catch((e: unknown) => logger.error({ err: e }, 'station: server did not stop cleanly'));
    for (const w of worlds) await w.close();
    clock.close();
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  }
}
