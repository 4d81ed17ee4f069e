/**
 * The station in campaign mode: the same server in-process on K simulated dongles and the same
 * modelled clock as a station day (run.ts), but the operator does what a production line does —
 * instead of one StartDfu per board it starts a campaign through the real RPCs (StartCampaign with
 * a name-prefix filter and include_bootloaders, a few jobs at a time per adapter, a retry policy,
 * max_devices = the boards it still has to do) and watches it (WatchCampaign). The population is
 * the station's mix of boards that take the application package (campaignPlan.ts); the line
 * meets simulator faults on first jobs, dongles unplugged, a client that leaves WatchCampaign and
 * comes back, an operator who stops the campaign and starts a new one over the rest, and a server
 * restart (its campaign ends SERVER_SHUTDOWN, a new one is started once the server is back). At
 * the end, the campaign invariants (campaignInvariants.ts) and a summary with devices per hour.
 *
 * As in a station day, every decision comes from the seed and every wait is on the one clock, so
 * a seed replays exactly.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../common/logger.js';
import type { SimWorld } from '../sim/world.js';
import { FW_TYPE } from '../dfu/package/initPacket.js';
import { auditResultToJSON, decodeError, jobStateToJSON, type BledfuClient } from '../../clients/ts/index.js';
import {
  campaignDeviceStateToJSON,
  campaignStateToJSON,
  campaignStopReasonToJSON,
  type Campaign,
  type CampaignCounts,
  type CampaignDevice,
  type StartCampaignRequest,
} from '../../proto/gen/bledfu/v1/campaign.js';
import { AddressRecord } from './addresses.js';
import { readAuditLines } from './auditLines.js';
import {
  checkCampaignInvariants,
  boardOf as campaignBoardOf,
  FINAL_CAMPAIGN_DEVICE_STATES,
  type CampaignBoard,
  type CampaignCountsView,
  type CampaignDeviceStateName,
  type CampaignDeviceView,
  type CampaignEvidence,
  type CampaignView,
  type ExpectedStop,
  type ListedJob,
  type CampaignAuditRecord,
  type RewatchEvidence,
} from './campaignInvariants.js';
import { DEFAULT_CAMPAIGN_FAULT_RATES, NO_CAMPAIGN_FAULTS, planCampaign, type CampaignFaultRates, type CampaignPlan, type LineEvent } from './campaignPlan.js';
import { checkPackageLeases, checkResources, checkStationAddress, DEFAULT_RESOURCE_BOUNDS, formatClock, formatInvariantTable, type DayEvidence, type InvariantResult, type ResourceBounds } from './invariants.js';
import type { StationDevice, StationPackages } from './population.js';
import { Rng } from './random.js';
import { sampleResources, stationWorlds, type DongleChoice } from './run.js';
import { StationServer } from './server.js';
import { CAMPAIGN_REAL_TIME_PREFIX } from './summary.js';

export interface CampaignStationOptions {
  readonly seed: number;
  readonly devices: number;
  readonly dongle: DongleChoice;
  readonly adapters: number;
  readonly packages: StationPackages;
  /** StartCampaignRequest.parallel_per_adapter; default 4. */
  readonly parallelPerAdapter?: number;
  /** bledfud --max-concurrent-dfus; default parallelPerAdapter × adapters (the campaign's own limit decides). */
  readonly maxConcurrentDfus?: number;
  /** CampaignRetryPolicy.max_attempts; default 5. */
  readonly maxAttempts?: number;
  /** CampaignRetryPolicy.delay, modelled ms; default 15 s (5 × 15 s outlast an unplug: campaignPlan.ts MAX_UNPLUG_MS). */
  readonly retryDelayMs?: number;
  /** Modelled ms over which boards not in the rack arrive and line events fall; default 10 min. */
  readonly windowMs?: number;
  /** Share of the boards in range from the start; default 0.5. */
  readonly rackShare?: number;
  readonly rates?: CampaignFaultRates;
  readonly dataDir?: string;
  readonly logger?: Logger;
  readonly onEvent?: (line: string) => void;
  readonly resourceBounds?: ResourceBounds;
  /** Modelled ms a campaign may run before the station stops it (a hang guard); default 2 h. */
  readonly campaignGuardMs?: number;
}

export interface CampaignStationSummary {
  readonly seed: number;
  readonly devices: number;
  readonly adapters: readonly string[];
  readonly parallelPerAdapter: number;
  readonly devicesByKind: Readonly<Record<string, number>>;
  /** In the rack at the start; the others arrived within the window. */
  readonly inRackAtStart: number;
  /** Each campaign: how it ended, devices taken, jobs. */
  readonly campaigns: readonly { readonly stopReason: string; readonly found: number; readonly jobs: number }[];
  readonly devicesUpdated: number;
  readonly devicesUpToDate: number;
  readonly devicesFailedWithTheirError: number;
  /** Boards no invariant of their own kind accepts (see the invariants table). */
  readonly devicesWrong: number;
  readonly jobs: number;
  readonly devicesNeedingRetry: number;
  readonly faultsPlanned: Readonly<Record<string, number>>;
  readonly unplugs: number;
  readonly restarts: number;
  readonly stops: number;
  readonly rewatches: number;
  /** Modelled time from the first StartCampaign to the last campaign's end. */
  readonly modelledMinutes: number;
  /** Boards finished (updated, up to date, or failed with their own error) per modelled hour. */
  readonly devicesPerHour: number;
  /** Boards updated per modelled hour. */
  readonly updatedPerHour: number;
}

export interface CampaignStationReport {
  readonly ok: boolean;
  readonly summary: CampaignStationSummary;
  readonly invariants: readonly InvariantResult[];
  readonly rerun: string;
  readonly diagnostics: { readonly realMs: number };
  /** The evidence the invariants judged (tests look at it). */
  readonly campaigns: readonly CampaignEvidence[];
  readonly boards: readonly CampaignBoard[];
}

const DEFAULT_PARALLEL = 4;
const DEFAULT_MAX_ATTEMPTS = 5;
const DEFAULT_RETRY_DELAY_MS = 15_000;
const DEFAULT_WINDOW_MS = 10 * 60_000;
const DEFAULT_RACK_SHARE = 0.5;
/** The name prefix of every board of the population ("st-001"): the campaign's filter. */
export const STATION_NAME_PREFIX = 'st-';
/** At most this many campaigns in one run: one, one more per stop and restart, and a spare. */
const MAX_CAMPAIGNS = 6;

const PREFIX = {
  deviceState: 'CAMPAIGN_DEVICE_STATE_',
  state: 'CAMPAIGN_STATE_',
  stop: 'CAMPAIGN_STOP_REASON_',
  job: 'JOB_STATE_',
  audit: 'AUDIT_RESULT_',
} as const;

const strip = (text: string, prefix: string): string => (text.startsWith(prefix) ? text.slice(prefix.length) : text);

function deviceView(d: CampaignDevice): CampaignDeviceView {
  const e = d.lastError;
  return {
    address: (d.address?.value ?? '').toUpperCase(),
    foundInBootloader: d.foundInBootloader,
    state: strip(campaignDeviceStateToJSON(d.state), PREFIX.deviceState) as CampaignDeviceStateName,
    jobIds: d.jobIds,
    lastErrorCode: e === undefined || e.reason === '' ? undefined : e.reason,
    dfuResultName: e === undefined || e.dfuResultName === '' ? undefined : e.dfuResultName,
    dfuExtendedName: e === undefined || e.dfuExtendedErrorName === '' ? undefined : e.dfuExtendedErrorName,
  };
}

function countsView(c: CampaignCounts | undefined): CampaignCountsView {
  return {
    found: c?.found ?? 0,
    waiting: c?.waiting ?? 0,
    running: c?.running ?? 0,
    retryWait: c?.retryWait ?? 0,
    succeeded: c?.succeeded ?? 0,
    upToDate: c?.upToDate ?? 0,
    failed: c?.failed ?? 0,
    notDone: c?.notDone ?? 0,
    jobs: c?.jobs ?? 0,
  };
}

function campaignView(c: Campaign): CampaignView {
  return {
    state: strip(campaignStateToJSON(c.state), PREFIX.state),
    stopReason: strip(campaignStopReasonToJSON(c.stopReason), PREFIX.stop),
    counts: countsView(c.counts),
    devices: c.devices.map(deviceView),
  };
}

export function campaignRerunCommand(o: Pick<CampaignStationOptions, 'seed' | 'devices' | 'dongle' | 'adapters' | 'parallelPerAdapter' | 'rates' | 'packages' | 'rackShare'>): string {
  const extra =
    (o.parallelPerAdapter === undefined || o.parallelPerAdapter === DEFAULT_PARALLEL ? '' : ` --parallel ${o.parallelPerAdapter}`) +
    (o.rackShare === undefined || o.rackShare === DEFAULT_RACK_SHARE ? '' : ` --rack ${o.rackShare}`) +
    (o.rates === NO_CAMPAIGN_FAULTS ? ' --no-faults' : o.rates === undefined || o.rates === DEFAULT_CAMPAIGN_FAULT_RATES ? '' : ' (with its own fault rates: not the CLI\'s)') +
    (o.packages.dir === undefined ? '' : ` --packages ${o.packages.dir}`);
  return `npm run station -- --campaign --seed ${o.seed} --devices ${o.devices} --dongle ${o.dongle} --adapters ${o.adapters}${extra}`;
}

/** What the station keeps of one campaign while it runs. */
interface Running {
  readonly index: number;
  readonly campaignId: string;
  readonly startedAtMs: number;
  readonly generation: number;
  readonly labels: Readonly<Record<string, string>>;
  /** How the station expects it to stop: the first of max_devices reached, its StopCampaign, the server's stop. */
  expectedStop: ExpectedStop;
  readonly maxDevices: number;
  guardFired: boolean;
  /** The campaign as the watcher's events built it (address → device). */
  readonly view: Map<string, CampaignDeviceView>;
  ended: CampaignView | undefined;
  endedAtMs: number | undefined;
  readonly rewatches: RewatchEvidence[];
  /** Cuts the watcher's current stream (a line event); the client comes back awayMs later. */
  cut: ((awayMs: number) => void) | undefined;
  /** Resolves when the campaign's end was seen, or its server went away. */
  readonly over: Promise<void>;
  settle: () => void;
}

export async function runCampaignStation(options: CampaignStationOptions): Promise<CampaignStationReport> {
  const realStart = performance.now();
  const logger = options.logger ?? silentLogger();
  const say = options.onEvent ?? (() => undefined);
  const parallel = options.parallelPerAdapter ?? DEFAULT_PARALLEL;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  const rates = options.rates ?? DEFAULT_CAMPAIGN_FAULT_RATES;
  const guardMs = options.campaignGuardMs ?? 2 * 3_600_000;
  const rng = new Rng(options.seed);
  const plan: CampaignPlan = planCampaign(rng.fork('campaign mode'), {
    devices: options.devices,
    adapters: options.adapters,
    packages: options.packages,
    windowMs,
    rackShare: options.rackShare ?? DEFAULT_RACK_SHARE,
    rates,
  });
  const devices = plan.devices;
  const { adapters, clock, worlds, boardOf: viewOf } = stationWorlds(options, devices, logger);
  // What each board's bootloader installed, whatever the campaigns say (the white-box count).
  const activations = new Map<number, { atMs: number; sha256: string }[]>(devices.map((d) => [d.index, []]));
  const unsubscribe = devices.map((d) =>
    viewOf(d).device.onActivated((a) => {
      if (a.fwType === FW_TYPE.APPLICATION) activations.get(d.index)?.push({ atMs: clock.now(), sha256: a.sha256 });
    }),
  );
  // Boards not in the rack are out of range until they arrive; each board's first job meets its planned fault.
  const absent = new Map(devices.filter((d) => (plan.arrivals.get(d.index) ?? 0) > 0).map((d) => [d.index, (worlds[d.adapter] as SimWorld).faults.inject({ kind: 'absent', device: d.label })]));
  for (const [index, f] of plan.faults) {
    const d = devices[index] as StationDevice;
    if (f.sim !== undefined) (worlds[d.adapter] as SimWorld).faults.inject({ ...f.sim, device: d.label });
  }

  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'bledfu-station-campaign-'));
  const server = new StationServer({
    specs: adapters.map((a) => a.spec),
    worlds,
    time: clock,
    dataDir,
    logger,
    maxConcurrentDfus: options.maxConcurrentDfus ?? parallel * options.adapters,
  });
  const addresses = new AddressRecord();
  const runs: Running[] = [];
  let current: Running | undefined;
  const unplugged = new Set<number>();
  let allDone = false;

  try {
    await server.start();
    const startSample = sampleResources();

    const arrive = async (d: StationDevice): Promise<void> => {
      const at = plan.arrivals.get(d.index) ?? 0;
      if (at <= 0) return;
      await clock.sleep(at - clock.now());
      absent.get(d.index)?.remove();
    };

    /** Applies one event of the watcher's stream to the campaign as the station knows it. */
    const apply = (r: Running, campaign: Campaign | undefined, device: CampaignDevice | undefined): void => {
      if (campaign !== undefined) {
        r.view.clear();
        for (const d of campaign.devices) r.view.set((d.address?.value ?? '').toUpperCase(), deviceView(d));
      }
      if (device !== undefined) {
        const v = deviceView(device);
        const before = r.view.get(v.address);
        r.view.set(v.address, v);
        if (before?.state !== v.state && FINAL_CAMPAIGN_DEVICE_STATES.includes(v.state)) {
          const board = campaignBoardOf(boards(), v.address);
          say(`${formatClock(clock.now())} campaign ${r.index}: ${board?.label ?? v.address} ${v.state}${v.lastErrorCode === undefined ? '' : ` ${v.lastErrorCode}${v.dfuResultName === undefined ? '' : ` ${v.dfuResultName}`}${v.dfuExtendedName === undefined ? '' : ` ${v.dfuExtendedName}`}`} after ${v.jobIds.length} job(s)`);
        }
      }
    };

    /**
     * The client watching campaign `r`: one WatchCampaign stream after another (a line event
     * cuts one, and the client comes back), until the campaign's end or its server's.
     */
    const watch = async (r: Running, client: BledfuClient, lifetime: AbortSignal): Promise<void> => {
      let comeback: { readonly atMs: number; readonly seenBefore: ReadonlyMap<string, readonly string[]> } | undefined;
      while (r.ended === undefined && !lifetime.aborted) {
        const stream = new AbortController();
        let cutByUs = false;
        let awayMs = 0;
        r.cut = (away: number) => {
          cutByUs = true;
          awayMs = away;
          stream.abort();
        };
        let first = true;
        try {
          for await (const { event } of client.watchCampaign({ campaignId: r.campaignId }, { signal: AbortSignal.any([stream.signal, lifetime]) })) {
            if (event === undefined) continue;
            const k = event.kind;
            if (k?.$case === 'snapshot') {
              apply(r, k.snapshot, undefined);
              if (first && comeback !== undefined) r.rewatches.push({ atMs: comeback.atMs, seenBefore: comeback.seenBefore, snapshot: campaignView(k.snapshot) });
            } else if (k?.$case === 'device') apply(r, undefined, k.device);
            // `stopping` changes no device: the device events say what becomes of each.
            else if (k?.$case === 'ended') {
              apply(r, k.ended, undefined);
              r.ended = campaignView(k.ended);
              r.endedAtMs = clock.now();
            }
            first = false;
          }
        } catch (e) {
          if (!cutByUs && !lifetime.aborted) say(`${formatClock(clock.now())} campaign ${r.index}: WatchCampaign ended ${decodeError(e).code}`);
        }
        r.cut = undefined;
        if (r.ended !== undefined || lifetime.aborted) break;
        if (cutByUs) {
          comeback = { atMs: clock.now() + awayMs, seenBefore: new Map([...r.view].map(([a, v]) => [a, [...v.jobIds]])) };
          await clock.sleep(awayMs);
          say(`${formatClock(clock.now())} campaign ${r.index}: the client watches again`);
        } else {
          // The stream ended without the campaign's end: look again in a moment.
          comeback = undefined;
          await clock.sleep(1_000);
        }
      }
      r.endedAtMs ??= clock.now();
      r.settle();
    };

    const boards = (): CampaignBoard[] =>
      devices.map((d) => {
        const images = viewOf(d).images();
        return {
          label: d.label,
          address: d.config.address.toUpperCase(),
          expected: d.expected,
          validAppAtStart: d.config.validApp !== false,
          final: { application: images.application?.sha256, applicationValid: images.applicationValid, mode: viewOf(d).mode(), bootloaderVersion: images.bootloaderVersion },
          activations: activations.get(d.index) ?? [],
        };
      });

    /** The operator: a campaign over the boards not finished yet, again after each stop or restart. */
    const operate = async (): Promise<void> => {
      let rest = new Set(devices.map((d) => d.index));
      for (let index = 1; rest.size > 0 && index <= MAX_CAMPAIGNS; index++) {
        const { client, generation, lifetime } = await server.session();
        addresses.listed((await client.listAdapters({})).adapters, clock.now(), generation);
        const labels = { line: 'station', campaign: String(index), seed: String(options.seed) };
        const request: StartCampaignRequest = {
          package: { $case: 'packageData', packageData: Buffer.from(options.packages.app.bytes) },
          filter: {
            name: '',
            namePrefix: STATION_NAME_PREFIX,
            serviceUuid: '',
            manufacturerDataPrefix: Buffer.alloc(0),
            // A new campaign over the rest names them (a bootloader matches at its address - 1).
            addresses: index === 1 ? [] : devices.filter((d) => rest.has(d.index)).map((d) => d.config.address.toUpperCase()),
          },
          adapterIds: [],
          parallelPerAdapter: parallel,
          retry: { maxAttempts, delay: { seconds: Math.floor(retryDelayMs / 1000), nanos: (retryDelayMs % 1000) * 1e6 } },
          maxDevices: rest.size,
          duration: undefined,
          includeBootloaders: true,
          options: undefined,
          labels,
          name: `station seed ${options.seed}, campaign ${index}`,
        };
        let campaign: Campaign | undefined;
        try {
          campaign = (await client.startCampaign(request, { signal: lifetime })).campaign;
        } catch (e) {
          if (server.generation !== generation) {
            index--;
            continue;
          }
          throw e;
        }
        if (campaign === undefined) throw new Error('station: StartCampaign answered no campaign');
        let settle = (): void => undefined;
        const over = new Promise<void>((resolve) => {
          settle = resolve;
        });
        const r: Running = {
          index,
          campaignId: campaign.campaignId,
          startedAtMs: clock.now(),
          generation,
          labels,
          expectedStop: 'MAX_DEVICES',
          maxDevices: rest.size,
          guardFired: false,
          view: new Map(),
          ended: undefined,
          endedAtMs: undefined,
          rewatches: [],
          cut: undefined,
          over,
          settle,
        };
        runs.push(r);
        current = r;
        say(`${formatClock(clock.now())} campaign ${index} started over ${rest.size} boards (${campaign.campaignId.slice(0, 8)})`);
        const guard = clock.clock.setTimer(
          guardMs,
          () => {
            r.guardFired = true;
            say(`${formatClock(clock.now())} campaign ${index}: not over after ${formatClock(guardMs)}; the station stops it`);
            void client.stopCampaign({ campaignId: r.campaignId, cancelJobs: true }).catch(() => undefined);
          },
          { label: 'station: campaign guard' },
        );
        await watch(r, client, lifetime);
        guard.cancel();
        current = undefined;
        const last = r.ended?.devices ?? [...r.view.values()];
        const finished = new Set(last.filter((v) => v.state === 'SUCCEEDED' || v.state === 'UP_TO_DATE' || v.state === 'FAILED').map((v) => campaignBoardOf(boards(), v.address)?.label));
        rest = new Set([...rest].filter((i) => !finished.has(devices[i]?.label)));
        say(`${formatClock(clock.now())} campaign ${index} ${r.ended === undefined ? 'lost with its server' : `ended ${r.ended.stopReason}`}; ${rest.size} boards left`);
        if (r.guardFired) break;
      }
      allDone = true;
    };

    /**
     * The reason the station now expects `r` to stop with: the first one counts, and a campaign
     * whose devices the station has all seen taken has already stopped by max_devices.
     */
    const expectStop = (r: Running, reason: ExpectedStop): void => {
      if (r.expectedStop !== 'MAX_DEVICES' || r.view.size >= r.maxDevices) return;
      r.expectedStop = reason;
    };

    const lineEvents = async (events: readonly LineEvent[]): Promise<void> => {
      const pending: Promise<void>[] = [];
      for (const ev of events) {
        await clock.sleep(ev.atMs - clock.now());
        if (allDone) break;
        if (ev.kind === 'unplug') {
          const world = worlds[ev.adapter] as SimWorld;
          if (unplugged.has(ev.adapter)) continue;
          say(`${formatClock(clock.now())} sim${ev.adapter}: dongle unplugged for ${(ev.durationMs / 1000).toFixed(0)} s`);
          unplugged.add(ev.adapter);
          if (world.donglePlugged) world.unplugDongle();
          pending.push(
            clock.sleep(ev.durationMs).then(() => {
              unplugged.delete(ev.adapter);
              if (!server.killing) world.replugDongle();
              say(`${formatClock(clock.now())} sim${ev.adapter}: dongle plugged back in`);
            }),
          );
        } else if (ev.kind === 'rewatch') {
          const r = current;
          if (r?.cut === undefined) continue;
          say(`${formatClock(clock.now())} campaign ${r.index}: the watching client disconnects for ${(ev.awayMs / 1000).toFixed(1)} s`);
          r.cut(ev.awayMs);
        } else if (ev.kind === 'stop') {
          const r = current;
          if (r === undefined || r.ended !== undefined) continue;
          expectStop(r, 'STOPPED');
          say(`${formatClock(clock.now())} campaign ${r.index}: the operator stops it${ev.cancelJobs ? ' and cancels its jobs' : ''}`);
          const { client } = await server.session();
          await client.stopCampaign({ campaignId: r.campaignId, cancelJobs: ev.cancelJobs }).catch((e: unknown) => say(`StopCampaign failed: ${decodeError(e).code}`));
        } else {
          const r = current;
          if (r !== undefined && r.ended === undefined) expectStop(r, 'SERVER_SHUTDOWN');
          say(`${formatClock(clock.now())} server stopped (down ${(ev.downMs / 1000).toFixed(0)} s)`);
          await server.shutdown(unplugged);
          await clock.sleep(ev.downMs);
          await server.restart();
          say(`${formatClock(clock.now())} server started again on the same data directory`);
        }
      }
      await Promise.all(pending);
    };

    await Promise.all([...devices.map(arrive), operate(), lineEvents(plan.events)]);
    // A moment for every board to finish booting.
    await clock.sleep(2_000);

    const { client, generation: lastGeneration } = await server.session();
    addresses.listed((await client.listAdapters({})).adapters, clock.now(), lastGeneration);
    const activeJobsAtEnd = (await client.listJobs({ activeOnly: true, campaignId: '' })).jobs.map((j) => j.jobId);
    const campaigns: CampaignEvidence[] = [];
    for (const r of runs) {
      const sameServer = r.generation === lastGeneration;
      let final = r.ended;
      let listedJobs: ListedJob[] | undefined;
      if (sameServer) {
        // The server's word at the end: GetCampaign (devices included) and its jobs.
        const got = (await client.getCampaign({ campaignId: r.campaignId })).campaign;
        if (got !== undefined) final = campaignView(got);
        listedJobs = (await client.listJobs({ activeOnly: false, campaignId: r.campaignId })).jobs.map((j) => {
          const error = j.result?.error;
          return { jobId: j.jobId, campaignId: j.campaignId, state: strip(jobStateToJSON(j.state), PREFIX.job), ...(error === undefined ? {} : { errorCode: error.reason, errorMessage: error.message }) };
        });
        // The devices that needed more than one job, and how each ended (the report's --verbose lines).
        for (const d of final?.devices ?? []) {
          if (d.jobIds.length < 2) continue;
          const board = campaignBoardOf(boards(), d.address);
          const how = d.jobIds.map((id) => {
            const j = listedJobs?.find((x) => x.jobId === id);
            return j === undefined ? '?' : `${j.state}${j.errorCode === undefined ? '' : ` ${j.errorCode} (${j.errorMessage ?? ''})`}`;
          });
          say(`campaign ${r.index}: ${board?.label ?? d.address} took ${d.jobIds.length} jobs: ${how.join(' → ')}`);
        }
      }
      const auditRecords: CampaignAuditRecord[] = [];
      let pageToken = '';
      do {
        const page = await client.listAuditRecords({ campaignId: r.campaignId, pageSize: 1000, pageToken, deviceAddress: '', since: undefined, result: 0, labels: {}, targetName: '' });
        for (const rec of page.records) auditRecords.push({ jobId: rec.jobId, campaignId: rec.campaignId, labels: rec.labels, result: strip(auditResultToJSON(rec.result), PREFIX.audit) });
        pageToken = page.nextPageToken;
      } while (pageToken !== '');
      campaigns.push({
        campaignId: r.campaignId,
        index: r.index,
        startedAtMs: r.startedAtMs,
        endedAtMs: r.endedAtMs ?? clock.now(),
        expectedStop: r.expectedStop,
        maxAttempts,
        labels: r.labels,
        final,
        listedJobs,
        auditRecords,
        rewatches: r.rewatches,
      });
    }
    const packageStore = await server.packageUsage();
    const openLinksAtEnd = worlds.reduce((n, w) => n + w.air.links.filter((l) => l.open).length, 0);
    const endSample = sampleResources();
    const finalBoards = boards();
    const audit = readAuditLines(server.auditPath);
    const day: DayEvidence = {
      devices: [],
      activeJobsAtEnd,
      audit,
      disruptions: [],
      resources: { start: startSample, end: endSample },
      hostile: [],
      hostileJobsAtEnd: [],
      packageStoreAtEnd: packageStore,
      adapterAddresses: addresses.evidence(worlds, adapters.map((a) => a.publicAddress)),
      technician: [],
      jobsAtEnd: [],
    };
    const invariants = [
      ...checkCampaignInvariants({ boards: finalBoards, campaigns, audit, activeJobsAtEnd, openLinksAtEnd }),
      checkResources(day, options.resourceBounds ?? DEFAULT_RESOURCE_BOUNDS),
      checkPackageLeases(day),
      checkStationAddress(day),
    ];
    const summary = summarizeCampaigns(options, adapters.map((a) => a.label), plan, finalBoards, campaigns);
    return {
      ok: invariants.every((i) => i.ok),
      summary,
      invariants,
      rerun: campaignRerunCommand(options),
      diagnostics: { realMs: performance.now() - realStart },
      campaigns,
      boards: finalBoards,
    };
  } finally {
    for (const u of unsubscribe) u();
    await server.close().catch((e: unknown) => logger.error({ err: e }, 'station: server did not stop cleanly'));
    for (const w of worlds) await w.close();
    clock.close();
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

function summarizeCampaigns(
  options: CampaignStationOptions,
  adapterLabels: readonly string[],
  plan: CampaignPlan,
  boards: readonly CampaignBoard[],
  campaigns: readonly CampaignEvidence[],
): CampaignStationSummary {
  const sorted = (r: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
  const byKind: Record<string, number> = {};
  for (const d of plan.devices) byKind[d.kind] = (byKind[d.kind] ?? 0) + 1;
  const faults: Record<string, number> = {};
  for (const f of plan.faults.values()) faults[f.kind] = (faults[f.kind] ?? 0) + 1;
  let updated = 0;
  let upToDate = 0;
  let failed = 0;
  for (const b of boards) {
    const states = campaigns.flatMap((c) => (c.final?.devices ?? []).filter((d) => campaignBoardOf([b], d.address) !== undefined).map((d) => d.state));
    const x = b.expected;
    if (x.kind === 'updated' && states.includes('SUCCEEDED') && b.final.application === x.application && b.final.applicationValid) updated++;
    else if (x.kind === 'upToDate' && states.includes('UP_TO_DATE')) upToDate++;
    else if (x.kind === 'deviceError' && states.includes('FAILED')) failed++;
  }
  const perDevice = new Map<string, number>();
  for (const c of campaigns) for (const d of c.final?.devices ?? []) perDevice.set(d.address, (perDevice.get(d.address) ?? 0) + d.jobIds.length);
  const first = campaigns[0]?.startedAtMs ?? 0;
  const last = Math.max(first, ...campaigns.map((c) => c.endedAtMs));
  const hours = (last - first) / 3_600_000;
  const rate = (n: number): number => Math.round((n / Math.max(hours, 1e-9)) * 10) / 10;
  return {
    seed: options.seed,
    devices: plan.devices.length,
    adapters: adapterLabels,
    parallelPerAdapter: options.parallelPerAdapter ?? DEFAULT_PARALLEL,
    devicesByKind: sorted(byKind),
    inRackAtStart: [...plan.arrivals.values()].filter((a) => a === 0).length,
    campaigns: campaigns.map((c) => ({ stopReason: c.final?.stopReason ?? 'never seen ended', found: c.final?.counts.found ?? 0, jobs: c.final?.counts.jobs ?? 0 })),
    devicesUpdated: updated,
    devicesUpToDate: upToDate,
    devicesFailedWithTheirError: failed,
    devicesWrong: boards.length - updated - upToDate - failed,
    jobs: campaigns.reduce((n, c) => n + (c.final?.counts.jobs ?? 0), 0),
    devicesNeedingRetry: [...perDevice.values()].filter((n) => n > 1).length,
    faultsPlanned: sorted(faults),
    unplugs: plan.events.filter((e) => e.kind === 'unplug').length,
    restarts: plan.events.filter((e) => e.kind === 'restart').length,
    stops: plan.events.filter((e) => e.kind === 'stop').length,
    rewatches: campaigns.reduce((n, c) => n + c.rewatches.length, 0),
    modelledMinutes: Math.round(((last - first) / 60_000) * 100) / 100,
    devicesPerHour: rate(updated + upToDate + failed),
    updatedPerHour: rate(updated),
  };
}

export function formatCampaignSummary(s: CampaignStationSummary): string {
  const kv = (r: Readonly<Record<string, number>>): string => Object.entries(r).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  return [
    `seed ${s.seed} (campaign mode): ${s.devices} devices on ${s.adapters.length} dongles (${s.adapters.join(', ')}), ${s.parallelPerAdapter} per adapter; ${s.inRackAtStart} in the rack at the start`,
    `devices: ${kv(s.devicesByKind)}`,
    `campaigns: ${s.campaigns.map((c, i) => `${i + 1}: ${c.stopReason} (${c.found} devices, ${c.jobs} jobs)`).join('; ')}`,
    `updated ${s.devicesUpdated}, up to date ${s.devicesUpToDate}, failed with their own device error ${s.devicesFailedWithTheirError}, wrong ${s.devicesWrong}`,
    `jobs ${s.jobs}, devices needing a retry ${s.devicesNeedingRetry}`,
    `faults planned: ${kv(s.faultsPlanned)}; unplugs ${s.unplugs}, stops ${s.stops}, restarts ${s.restarts}, re-watches ${s.rewatches}`,
    `devices per hour ${s.devicesPerHour} (updated per hour ${s.updatedPerHour}; modelled ${s.modelledMinutes} min from the first StartCampaign to the last campaign's end)`,
  ].join('\n');
}

export function formatCampaignReport(r: CampaignStationReport): string {
  return [
    formatInvariantTable(r.invariants),
    '',
    formatCampaignSummary(r.summary),
    '',
    `${CAMPAIGN_REAL_TIME_PREFIX} ${(r.diagnostics.realMs / 1000).toFixed(1)} s`,
    r.ok ? `PASS (seed ${r.summary.seed}, campaign mode)` : `FAIL (seed ${r.summary.seed}, campaign mode) — rerun with: ${r.rerun}`,
  ].join('\n');
}

