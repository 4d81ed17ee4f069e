/**
 * One campaign: its scans (one per adapter, for as long as it takes devices), its devices, the
 * jobs it starts for them, its retries and its end. The manager (manager.ts) owns the set of
 * campaigns and routes job events here; everything a campaign does happens on the server's clock.
 */
import type { DeviceAddress } from '../ble/address.js';
import type { Advertisement } from '../ble/types.js';
import type { Clock, Timer } from '../common/clock.js';
import { BledfuError, isBledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { DeviceMemory } from '../dfu/types.js';
import { packageProtocol } from '../dfu/package/images.js';
import { imageSummaries } from '../dfu/package/summaries.js';
import type { CreateJobRequest } from '../jobs/manager.js';
import type { AdapterDirectory, JobId, JobRequester, JobResult, JobSnapshot } from '../jobs/types.js';
import { compileFilter, RSSI_UNKNOWN, type CompiledFilter } from './filter.js';
import { DeviceIdentities, type Face } from './identity.js';
import { isRetryable } from './retry.js';
import {
  FINAL_DEVICE_STATES,
  type CampaignCounts,
  type CampaignDevice,
  type CampaignDeviceState,
  type CampaignEvent,
  type CampaignId,
  type CampaignPackage,
  type CampaignSnapshot,
  type CampaignSpec,
  type CampaignState,
  type CampaignStopReason,
} from './types.js';
import { CampaignWatchStream } from './watchStream.js';

/** What a campaign needs of the job manager. */
export interface CampaignJobs {
  create(request: CreateJobRequest): JobSnapshot;
  cancel(id: string, by?: string): JobSnapshot;
}

export interface CampaignContext {
  readonly jobs: CampaignJobs;
  readonly adapters: AdapterDirectory;
  readonly devices: Pick<DeviceMemory, 'recall'> | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly maxDevices: number;
  /** Every event of the campaign, as watchers get them (the manager's listeners). */
  readonly onEvent: (event: CampaignEvent) => void;
  readonly onJobStarted: (jobId: JobId, campaign: Campaign) => void;
  /** The job ended before the manager could route its end here (see #startJob). */
  readonly onJobEnded: (jobId: JobId) => void;
  readonly onEnded: (campaign: Campaign) => void;
}

/** Pause before a scan that ended (the adapter went away, say) is started again. */
const RESCAN_DELAY_MS = 1_000;

interface DeviceRecord {
  readonly address: DeviceAddress;
  readonly name: string | undefined;
  readonly foundInBootloader: boolean;
  readonly foundAt: number;
  readonly seenBy: Set<string>;
  rssi: number;
  state: CampaignDeviceState;
  readonly jobIds: JobId[];
  /** Attempts made, a job refused by the job manager included. */
  attempts: number;
  adapterId: string;
  endedAt: number | undefined;
  lastError: BledfuError | undefined;
  deviceInfo: CampaignDevice['deviceInfo'];
  firmwareRevision: string | undefined;
  retryTimer: Timer | undefined;
}

const ZERO_COUNTS: CampaignCounts = { found: 0, waiting: 0, running: 0, retryWait: 0, succeeded: 0, upToDate: 0, failed: 0, notDone: 0, jobs: 0 };

const COUNT_FIELD: Readonly<Record<CampaignDeviceState, Exclude<keyof CampaignCounts, 'found' | 'jobs'>>> = {
  waiting: 'waiting',
  running: 'running',
  'retry-wait': 'retryWait',
  succeeded: 'succeeded',
  'up-to-date': 'upToDate',
  failed: 'failed',
  'not-done': 'notDone',
};

export class Campaign {
  readonly id: CampaignId;
  readonly spec: CampaignSpec;
  readonly createdAt: number;
  readonly #ctx: CampaignContext;
  readonly #pkg: CampaignPackage;
  readonly #requester: JobRequester | undefined;
  readonly #filter: CompiledFilter;
  readonly #log: Logger;
  readonly #devices: DeviceRecord[] = [];
  readonly #identities: DeviceIdentities<DeviceRecord>;
  readonly #jobOf = new Map<JobId, DeviceRecord>();
  /** Campaign jobs queued or running, per adapter. */
  readonly #active = new Map<string, number>();
  readonly #watchers = new Set<CampaignWatchStream>();
  readonly #scans = new AbortController();
  #counts: CampaignCounts = ZERO_COUNTS;
  #state: CampaignState = 'running';
  #stopReason: CampaignStopReason | undefined;
  #stoppedBy: string | undefined;
  #endedAt: number | undefined;
  #limitReached = false;
  #durationTimer: Timer | undefined;
  /** Stops listening for adapters coming and going (set while the campaign runs). */
  #unwatchAdapters: (() => void) | undefined;

  constructor(id: CampaignId, spec: CampaignSpec, pkg: CampaignPackage, requester: JobRequester | undefined, ctx: CampaignContext) {
    this.id = id;
    this.spec = spec;
    this.#pkg = pkg;
    this.#requester = requester;
    this.#ctx = ctx;
    this.createdAt = ctx.clock.now();
    this.#filter = compileFilter(spec.filter, packageProtocol(pkg.pkg));
    this.#identities = new DeviceIdentities(ctx.devices);
    this.#log = ctx.logger.child({ campaignId: id });
    for (const a of spec.adapterIds) this.#active.set(a, 0);
  }

  get state(): CampaignState {
    return this.#state;
  }

  /** Starts watching the air (and the duration timer). */
  begin(): void {
    this.#log.info({ adapters: this.spec.adapterIds, parallel: this.spec.parallelPerAdapter, packageSha256: this.#pkg.sha256 }, 'campaign started');
    if (this.spec.durationMs > 0) {
      this.#durationTimer = this.#ctx.clock.setTimer(this.spec.durationMs, () => this.stopTaking('duration', undefined), { label: `campaign ${this.id} duration` });
    }
    for (const adapterId of this.spec.adapterIds) void this.#scan(adapterId);
    // A dongle back from an unplug may have devices waiting for it (#roomFor passes over one that
    // is not ready).
    this.#unwatchAdapters = this.#ctx.adapters.onChange?.(() => this.#schedule());
  }

  snapshot(withDevices = true): CampaignSnapshot {
    return {
      id: this.id,
      state: this.#state,
      stopReason: this.#stopReason,
      createdAt: this.createdAt,
      endedAt: this.#endedAt,
      spec: this.spec,
      packageSha256: this.#pkg.sha256,
      images: imageSummaries(this.#pkg.pkg),
      requestedBy: this.#requester?.identity,
      stoppedBy: this.#stoppedBy,
      counts: this.#counts,
      devices: withDevices ? this.#devices.map(deviceView) : [],
      deviceLimitReached: this.#limitReached,
    };
  }

  watch(signal: AbortSignal): CampaignWatchStream {
    const stream: CampaignWatchStream = new CampaignWatchStream(signal, () => this.#watchers.delete(stream));
    const time = this.#ctx.clock.now();
    const snapshot = this.snapshot();
    stream.push({ kind: 'snapshot', campaignId: this.id, time, campaign: snapshot, counts: snapshot.counts });
    if (this.#state === 'ended') {
      stream.push({ kind: 'ended', campaignId: this.id, time, campaign: snapshot, counts: snapshot.counts });
    } else {
      this.#watchers.add(stream);
    }
    return stream;
  }

  /**
   * Stops taking devices (StopCampaign, the duration, the server's shutdown): devices waiting or
   * waiting to retry end NOT_DONE; with `cancelJobs` the running jobs are cancelled too. Nothing
   * happens to a campaign that already stopped, except that a later cancelJobs still cancels.
   */
  stopTaking(reason: CampaignStopReason, by: string | undefined, cancelJobs = false): void {
    if (this.#state === 'running') {
      this.#enterStopping(reason, by);
    }
    if (reason !== 'max-devices') {
      for (const d of this.#devices) {
        if (d.state === 'waiting' || d.state === 'retry-wait') {
          d.retryTimer?.cancel();
          d.retryTimer = undefined;
          this.#setState(d, 'not-done');
        }
      }
    }
    if (cancelJobs) {
      for (const [jobId, d] of this.#jobOf) {
        if (d.state !== 'running' || d.jobIds[d.jobIds.length - 1] !== jobId) continue;
        try {
          this.#ctx.jobs.cancel(jobId, by);
        } catch (e) {
          this.#log.warn({ err: e, jobId }, 'campaign job could not be cancelled');
        }
      }
    }
    this.#endIfDone();
  }

  #enterStopping(reason: CampaignStopReason, by: string | undefined): void {
    this.#state = 'stopping';
    this.#stopReason = reason;
    this.#stoppedBy = by;
    this.#durationTimer?.cancel();
    this.#scans.abort();
    this.#log.info({ reason, by }, 'campaign stopping: taking no new devices');
    const snap = this.snapshot();
    this.#emit({ kind: 'stopping', campaignId: this.id, time: this.#ctx.clock.now(), campaign: snap, counts: snap.counts });
  }

  /** A job of this campaign ended (the manager routes every campaign job's `finished` here). */
  jobFinished(job: JobSnapshot, result: JobResult): void {
    const d = this.#jobOf.get(job.id);
    if (d === undefined) return;
    this.#jobOf.delete(job.id);
    const adapterId = job.adapterId;
    this.#active.set(adapterId, Math.max(0, (this.#active.get(adapterId) ?? 1) - 1));
    if (job.bootloaderAddress !== undefined) this.#identities.addBootloader(job.bootloaderAddress, d);
    if (d.deviceInfo === undefined && job.deviceInfo !== undefined && Object.keys(job.deviceInfo).length > 0) d.deviceInfo = job.deviceInfo;
    if (d.state === 'running') this.#settle(d, result);
    this.#schedule();
    this.#endIfDone();
  }

  #settle(d: DeviceRecord, result: JobResult): void {
    switch (result.state) {
      case 'succeeded':
        d.lastError = undefined;
        d.firmwareRevision = result.firmwareRevision;
        this.#setState(d, 'succeeded');
        return;
      case 'up-to-date':
        d.lastError = undefined;
        d.firmwareRevision = result.firmwareRevision;
        this.#setState(d, 'up-to-date');
        return;
      case 'cancelled':
        d.lastError = result.error;
        this.#setState(d, 'not-done');
        // The server going down cancels every job: the campaign goes with it.
        if (result.cancellation?.cause === 'shutdown' && this.#state === 'running') this.stopTaking('server-shutdown', undefined);
        return;
      case 'failed':
        d.lastError = result.error;
        this.#failed(d);
    }
  }

  /** The device's last attempt failed with d.lastError: retry it, or give up. */
  #failed(d: DeviceRecord): void {
    const error = d.lastError;
    const retryable = error !== undefined && isRetryable(error);
    if (!retryable || d.attempts >= this.spec.retry.maxAttempts) {
      this.#log.info({ device: d.address.value, attempts: d.attempts, code: error?.code, retryable }, 'campaign device failed');
      this.#setState(d, 'failed');
      return;
    }
    // Stopped for good (not by max_devices: those devices were taken and are seen through).
    if (this.#state !== 'running' && this.#stopReason !== 'max-devices') {
      this.#setState(d, 'not-done');
      return;
    }
    this.#setState(d, 'retry-wait');
    d.retryTimer = this.#ctx.clock.setTimer(
      this.spec.retry.delayMs,
      () => {
        d.retryTimer = undefined;
        if (d.state !== 'retry-wait') return;
        this.#setState(d, 'waiting');
        this.#schedule();
      },
      { label: `campaign ${this.id} retry ${d.address.value}` },
    );
  }

  async #scan(adapterId: string): Promise<void> {
    const signal = this.#scans.signal;
    while (!signal.aborted) {
      try {
        const adapter = this.#ctx.adapters.get(adapterId);
        for await (const adv of adapter.scan({ active: true, signal })) this.#seen(adv, adapterId);
      } catch (e) {
        if (signal.aborted) return;
        this.#log.info({ adapterId, err: isBledfuError(e) ? e.message : e }, 'campaign scan ended; starting it again');
      }
      if (signal.aborted) return;
      try {
        await this.#ctx.clock.sleep(RESCAN_DELAY_MS, signal);
      } catch {
        return;
      }
    }
  }

  /** One advertisement on one of the campaign's adapters. */
  seen(adv: Advertisement, adapterId: string): void {
    this.#seen(adv, adapterId);
  }

  #seen(adv: Advertisement, adapterId: string): void {
    const match = this.#filter(adv);
    if (match === undefined) return;
    const face: Face = match === 'bootloader' ? 'bootloader' : 'application';
    const known = this.#identities.find(adv.address, face);
    if (known !== undefined) {
      if (adv.rssi !== RSSI_UNKNOWN && (known.rssi === RSSI_UNKNOWN || adv.rssi > known.rssi)) known.rssi = adv.rssi;
      if (!known.seenBy.has(adapterId)) {
        known.seenBy.add(adapterId);
        if (known.state === 'waiting') this.#schedule();
      }
      return;
    }
    if (this.#state !== 'running') return;
    if (face === 'bootloader' && !this.spec.includeBootloaders) return;
    if (this.#identities.size >= this.#ctx.maxDevices) {
      if (!this.#limitReached) {
        this.#limitReached = true;
        this.#log.warn({ limit: this.#ctx.maxDevices }, 'campaign holds its most devices: matching devices found from now on are not taken');
      }
      return;
    }
    const d: DeviceRecord = {
      address: adv.address,
      name: adv.name,
      foundInBootloader: face === 'bootloader',
      foundAt: this.#ctx.clock.now(),
      seenBy: new Set([adapterId]),
      rssi: adv.rssi,
      state: 'waiting',
      jobIds: [],
      attempts: 0,
      adapterId,
      endedAt: undefined,
      lastError: undefined,
      deviceInfo: undefined,
      firmwareRevision: undefined,
      retryTimer: undefined,
    };
    this.#identities.add(adv.address, face, d);
    this.#devices.push(d);
    this.#counts = { ...this.#counts, found: this.#counts.found + 1, waiting: this.#counts.waiting + 1 };
    this.#log.info({ device: adv.address.value, name: adv.name, inBootloader: d.foundInBootloader, adapterId }, 'campaign found a device');
    this.#emitDevice(d);
    if (this.spec.maxDevices > 0 && this.#devices.length >= this.spec.maxDevices) this.#enterStopping('max-devices', undefined);
    this.#schedule();
  }

  /**
   * Starts jobs for waiting devices, oldest found first, each on an adapter of the campaign that
   * has seen it and has room (fewer than parallelPerAdapter campaign jobs queued or running).
   */
  #schedule(): void {
    if (this.#state === 'ended') return;
    for (const d of this.#devices) {
      if (d.state !== 'waiting') continue;
      const adapterId = this.#roomFor(d);
      if (adapterId === undefined) continue;
      this.#startJob(d, adapterId);
    }
  }

  #roomFor(d: DeviceRecord): string | undefined {
    // The adapter it was last on first (its link is known to work), then the others that saw it.
    const order = [d.adapterId, ...[...d.seenBy].filter((a) => a !== d.adapterId)];
    for (const a of order) {
      if (!d.seenBy.has(a) || !this.#active.has(a)) continue;
      if ((this.#active.get(a) ?? 0) < this.spec.parallelPerAdapter && this.#ready(a)) return a;
    }
    return undefined;
  }

  /**
   * A job started on an adapter that is not ready (its dongle unplugged, reopening) would fail
   * ADAPTER_UNAVAILABLE at once and use up one of the device's attempts for nothing: the device
   * waits instead, and the adapter's return schedules it (begin(): onChange).
   */
  #ready(adapterId: string): boolean {
    try {
      return this.#ctx.adapters.get(adapterId).info().state === 'ready';
    } catch {
      return false;
    }
  }

  #startJob(d: DeviceRecord, adapterId: string): void {
    d.attempts++;
    d.adapterId = adapterId;
    let job: JobSnapshot;
    try {
      const adapter = this.#ctx.adapters.get(adapterId);
      job = this.#ctx.jobs.create({
        pkg: this.#pkg.pkg,
        releasePackage: leaseRelease(this.#pkg),
        target: { kind: 'address', address: d.address },
        options: this.spec.options,
        adapter,
        ...(this.#requester === undefined ? {} : { requester: this.#requester }),
        labels: this.spec.labels,
        campaignId: this.id,
      });
    } catch (e) {
      // The job manager (or the adapter) refused: an attempt that failed before it began.
      d.lastError = isBledfuError(e) ? e : new BledfuError('INTERNAL', 'campaign job could not be created', { layer: 'jobs', cause: e });
      this.#log.warn({ device: d.address.value, code: d.lastError.code, err: d.lastError.message }, 'campaign job refused');
      this.#failed(d);
      return;
    }
    d.jobIds.push(job.id);
    this.#jobOf.set(job.id, d);
    this.#active.set(adapterId, (this.#active.get(adapterId) ?? 0) + 1);
    this.#counts = { ...this.#counts, jobs: this.#counts.jobs + 1 };
    this.#ctx.onJobStarted(job.id, this);
    this.#setState(d, 'running');
    // A job can end inside create() (its audit start record could not be written, so it never
    // ran): its `finished` event came before anyone knew it was this campaign's.
    if (job.result !== undefined) {
      this.#ctx.onJobEnded(job.id);
      this.jobFinished(job, job.result);
    }
  }

  #setState(d: DeviceRecord, state: CampaignDeviceState): void {
    const from = d.state;
    if (from === state) return;
    d.state = state;
    if (FINAL_DEVICE_STATES.includes(state)) d.endedAt = this.#ctx.clock.now();
    const counts = { ...this.#counts };
    counts[COUNT_FIELD[from]]--;
    counts[COUNT_FIELD[state]]++;
    this.#counts = counts;
    this.#emitDevice(d);
  }

  #emitDevice(d: DeviceRecord): void {
    this.#emit({ kind: 'device', campaignId: this.id, time: this.#ctx.clock.now(), device: deviceView(d), counts: this.#counts });
  }

  #emit(event: CampaignEvent): void {
    for (const w of this.#watchers) w.push(event);
    this.#ctx.onEvent(event);
  }

  #endIfDone(): void {
    if (this.#state !== 'stopping') return;
    const open = this.#devices.some((d) => d.state === 'running' || d.state === 'waiting' || d.state === 'retry-wait');
    if (open) return;
    this.#state = 'ended';
    this.#endedAt = this.#ctx.clock.now();
    this.#unwatchAdapters?.();
    this.#unwatchAdapters = undefined;
    this.#pkg.release();
    this.#log.info({ reason: this.#stopReason, counts: this.#counts }, 'campaign ended');
    const snap = this.snapshot();
    this.#emit({ kind: 'ended', campaignId: this.id, time: this.#endedAt, campaign: snap, counts: snap.counts });
    for (const w of [...this.#watchers]) w.close();
    this.#ctx.onEnded(this);
  }
}

/** A job's own hold on the package, given back by the job manager when the job ends. */
function leaseRelease(pkg: CampaignPackage): () => void {
  const lease = pkg.leaseForJob();
  return () => lease.release();
}

function deviceView(d: DeviceRecord): CampaignDevice {
  return {
    address: d.address,
    name: d.name,
    foundInBootloader: d.foundInBootloader,
    rssi: d.rssi,
    state: d.state,
    jobIds: [...d.jobIds],
    adapterId: d.adapterId,
    foundAt: d.foundAt,
    endedAt: d.endedAt,
    lastError: d.lastError,
    deviceInfo: d.deviceInfo,
    firmwareRevision: d.firmwareRevision,
  };
}
