/**
 * Runs DFU jobs: queues them per adapter, drives each through the injected DfuRunner, turns the
 * runner's events into job states and progress, and lets any number of watchers come and go.
 * A job belongs to the server, not to the call that started it: nothing a client does (other
 * than CancelJob) stops it.
 */
import { randomUUID } from 'node:crypto';
import type { DeviceAddress } from '../ble/address.js';
import type { Adapter } from '../ble/types.js';
import { realClock, type Clock } from '../common/clock.js';
import { abortReason, BledfuError, isBledfuError } from '../common/errors.js';
import { quoteInput } from '../common/quote.js';
import type { Logger } from '../common/logger.js';
import type { DeviceClaim, DeviceMemory, DfuOptions, AnyDfuPackage, DfuRunner, DfuTarget } from '../dfu/types.js';
import type { JobAudit } from './audit.js';
import { Job } from './job.js';
import { isTerminal, type JobCancellation, type TerminalJobState, type JobEvent, type JobId, type JobLabels, type JobListener, type JobRef, type JobRequester, type JobSnapshot } from './types.js';
import { WatchStream } from './watchStream.js';

export interface JobManagerOptions {
  readonly runner: DfuRunner;
  readonly logger: Logger;
  /** Jobs running at once on one adapter; the rest wait in QUEUED. */
  readonly maxConcurrentPerAdapter: number;
  /** Finished jobs kept for GetJob/ListJobs/WatchJob; the oldest are forgotten first. */
  readonly retainFinished: number;
  /**
   * Jobs waiting in QUEUED on one adapter (default DEFAULT_MAX_QUEUED_PER_ADAPTER); a job that
   * would wait beyond it is refused with JOB_QUEUE_FULL. Jobs that start at once never count.
   */
  readonly maxQueuedPerAdapter?: number;
  /** Jobs waiting in QUEUED over all adapters (default DEFAULT_MAX_QUEUED_TOTAL). */
  readonly maxQueuedTotal?: number;
  /** Events kept per job (progress is coalesced, so this bounds state changes). */
  readonly historyLimit?: number;
  /** The server's clock: job timestamps, durations, rates, and every wait of the engines it runs. Default real. */
  readonly clock?: Clock;
  readonly newId?: () => string;
  /** Largest HCI capture one job records (default 32 MiB); past it the capture is truncated. */
  readonly captureMaxBytes?: number;
  /**
   * HCI captures of finished jobs kept in memory, in total (default 256 MiB); past it the oldest
   * are discarded. Running jobs' captures are bounded by captureMaxBytes each.
   */
  readonly captureRetainBytes?: number;
  /** Durable record of every job's start and end; none when absent (tests). */
  readonly audit?: JobAudit;
  /**
   * Devices met in their bootloader: handed to the engine (to find a device in DFU mode by its
   * application's name or address) and used here to tell that two jobs name the same device.
   */
  readonly devices?: DeviceMemory;
}

/** Every SDK bootloader's default name: names no one device, so it never ties two jobs together. */
const SHARED_BOOTLOADER_NAME = 'DfuTarg';

export const DEFAULT_CAPTURE_MAX_BYTES = 32 * 1024 * 1024;
export const DEFAULT_CAPTURE_RETAIN_BYTES = 256 * 1024 * 1024;
/** As the settings maxQueuedDfus and maxQueuedDfusTotal (server/config/settings.ts). */
export const DEFAULT_MAX_QUEUED_PER_ADAPTER = 256;
export const DEFAULT_MAX_QUEUED_TOTAL = 1024;

export interface CreateJobRequest {
  readonly pkg: AnyDfuPackage;
  /**
   * Gives the package's images back (the package store's lease). The manager owns it from the
   * call on: it is called once, when the job ends, or before create() throws.
   */
  readonly releasePackage?: () => void;
  readonly target: DfuTarget;
  readonly options: DfuOptions;
  readonly adapter: Adapter;
  /**
   * Record the adapter's HCI traffic while the job runs (btsnoop, downloadable with capture()).
   * It holds everything on the adapter meanwhile, other jobs' links and scans included.
   */
  readonly captureHci?: boolean;
  /** Who asked for the job (the job's requestedBy and the audit record), when known. */
  readonly requester?: JobRequester;
  /** Facts the client attached (serial=…, work_order=…): on the job and in its audit records. */
  readonly labels?: JobLabels;
  /** The campaign starting the job (JobSnapshot.campaignId, and its audit records). */
  readonly campaignId?: string;
}

export class JobManager {
  readonly #opts: JobManagerOptions;
  readonly #clock: Clock;
  readonly #newId: () => string;
  readonly #jobs = new Map<JobId, Job>();
  /** Ids of finished jobs, oldest first, for retention. */
  readonly #finishedOrder: JobId[] = [];
  readonly #running = new Map<string, Set<Job>>();
  readonly #queued = new Map<string, Job[]>();
  readonly #done = new Map<JobId, Promise<void>>();
  readonly #listeners = new Set<JobListener>();
  /**
   * Running jobs that hold their device (the engine claimed it before connecting), with every
   * address and name the device is known by ("a:<address>", "n:<name>"). A job for the same
   * device waits until the holder has ended.
   */
  readonly #holders = new Map<Job, Set<string>>();
  #closing = false;

  constructor(options: JobManagerOptions) {
    if (!Number.isInteger(options.maxConcurrentPerAdapter) || options.maxConcurrentPerAdapter < 1) {
      throw new BledfuError('INVALID_ARGUMENT', 'maxConcurrentPerAdapter must be a positive integer', { layer: 'jobs' });
    }
    this.#opts = options;
    this.#clock = options.clock ?? realClock;
    this.#newId = options.newId ?? randomUUID;
  }

  /**
   * Creates a job; it starts at once if its adapter has a free slot, else waits in QUEUED. Throws
   * JOB_QUEUE_FULL when it would wait and the queue is full (see checkRoom).
   */
  create(request: CreateJobRequest): JobSnapshot {
    try {
      return this.#create(request);
    } catch (e) {
      request.releasePackage?.();
      throw e;
    }
  }

  /**
   * Throws JOB_QUEUE_FULL when a job for `target` on `adapter` could not start at once and its
   * adapter's queue, or all queues together, are full; create() checks it too. Callers check
   * first to refuse before reading a package that would be turned away.
   */
  checkRoom(adapter: Adapter, target: DfuTarget): void {
    const startsAtOnce = this.#runningOn(adapter.id).size < this.#slots(adapter) && this.#blocker(undefined, this.#aliases(target), false) === undefined;
    if (startsAtOnce) return;
    const perAdapter = this.#opts.maxQueuedPerAdapter ?? DEFAULT_MAX_QUEUED_PER_ADAPTER;
    const total = this.#opts.maxQueuedTotal ?? DEFAULT_MAX_QUEUED_TOTAL;
    const waiting = this.#queued.get(adapter.id)?.length ?? 0;
    let waitingInAll = 0;
    for (const q of this.#queued.values()) waitingInAll += q.length;
    if (waiting >= perAdapter) {
      throw queueFull(`${waiting} jobs already wait on adapter ${adapter.id}, its limit`, '--max-queued-dfus, BLEDFU_MAX_QUEUED_DFUS');
    }
    if (waitingInAll >= total) {
      throw queueFull(`${waitingInAll} jobs already wait over all adapters, the server's limit`, '--max-queued-dfus-total, BLEDFU_MAX_QUEUED_DFUS_TOTAL');
    }
  }

  #create(request: CreateJobRequest): JobSnapshot {
    if (this.#closing) {
      throw new BledfuError('ADAPTER_UNAVAILABLE', 'the server is shutting down', {
        layer: 'jobs',
        remedy: 'retry once the server is back',
      });
    }
    if (request.captureHci === true && request.adapter.captureHci === undefined) {
      throw new BledfuError('INVALID_ARGUMENT', `adapter ${request.adapter.id} cannot capture HCI traffic`, {
        layer: 'jobs',
        remedy: 'start without an HCI capture, or use an adapter that talks HCI (sim:, hci:)',
      });
    }
    this.checkRoom(request.adapter, request.target);
    const id = this.#newId() as JobId;
    const bindings: Record<string, string> = { jobId: id, adapterId: request.adapter.id };
    if (request.target.kind === 'address') bindings['address'] = request.target.address.value;
    const job = new Job({
      id,
      pkg: request.pkg,
      ...(request.releasePackage === undefined ? {} : { releasePackage: request.releasePackage }),
      target: request.target,
      options: request.options,
      adapter: request.adapter,
      logger: this.#opts.logger.child(bindings),
      now: () => this.#clock.now(),
      historyLimit: this.#opts.historyLimit ?? 500,
      captureHci: request.captureHci === true,
      onEvent: (event, ref) => this.#notify(event, ref),
      ...(request.requester === undefined ? {} : { requester: request.requester }),
      ...(request.labels === undefined ? {} : { labels: request.labels }),
      ...(request.campaignId === undefined ? {} : { campaignId: request.campaignId }),
    });
    this.#jobs.set(id, job);
    job.logger.info(
      { target: request.target.kind === 'name' ? request.target.name : undefined, packageSha256: request.pkg.sha256 },
      'job created',
    );
    const queue = this.#queued.get(request.adapter.id) ?? [];
    queue.push(job);
    this.#queued.set(request.adapter.id, queue);
    this.#startNext(request.adapter.id);
    return job.snapshot();
  }

  /**
   * Calls `listener` with every event of every job from now on (state changes, progress, the
   * end), e.g. for metrics. Returns the unsubscribe function.
   */
  onEvent(listener: JobListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get(id: string): JobSnapshot {
    return this.#job(id).snapshot();
  }

  list(filter: { activeOnly?: boolean } = {}): JobSnapshot[] {
    const all = [...this.#jobs.values()].map((j) => j.snapshot());
    return filter.activeOnly === true ? all.filter((j) => !isTerminal(j.state)) : all;
  }

  /** The events this job has produced so far (progress coalesced), oldest first. */
  history(id: string): readonly JobEvent[] {
    return [...this.#job(id).history];
  }

  /**
   * The job's events from now on: a snapshot first, then live events, ending after `finished`
   * or when `signal` aborts. Throws JOB_NOT_FOUND at once rather than on first iteration, so a
   * caller can report a bad id before it starts streaming.
   */
  watch(id: string, signal: AbortSignal): AsyncIterable<JobEvent> {
    const job = this.#job(id);
    const stream: WatchStream = new WatchStream(signal, () => job.removeWatcher(stream));
    job.addWatcher(stream);
    return stream;
  }

  /**
   * The job's HCI capture as btsnoop file pieces, in order: all of it once the job has ended,
   * what was recorded so far while it runs. Throws JOB_NOT_FOUND or CAPTURE_NOT_FOUND.
   */
  capture(id: string): readonly Uint8Array[] {
    return this.#job(id).captureChunks();
  }

  /**
   * Requests cancellation. A queued job ends at once; a running one once its runner has returned.
   * `by` is the caller's identity (undefined when the server authenticates nobody): the job's
   * result names it, so its watchers can tell who ended it.
   */
  cancel(id: string, by?: string): JobSnapshot {
    const job = this.#job(id);
    const who = by === undefined ? '' : ` of ${quoteInput(by)}`;
    this.#cancel(job, new BledfuError('CANCELLED', `job cancelled by a CancelJob request${who}`, { layer: 'jobs' }), { cause: 'cancel-job', by });
    return job.snapshot();
  }

  /**
   * The running job updating the device at `address` (advertising `name`), for an inventory that
   * must leave it alone: one that holds the device under any of its addresses (the engine's
   * claim), one whose target is that address (or an address the device memory ties to it), or
   * one by that name still looking for its device.
   */
  jobUpdating(address: DeviceAddress, name: string | undefined): JobId | undefined {
    const key = addressKey(address.value);
    for (const set of this.#running.values()) {
      for (const job of set) {
        const held = this.#holders.get(job);
        if (held?.has(key) === true || this.#aliases(job.target).has(key)) return job.id;
        if (held === undefined && job.target.kind === 'name' && job.target.name === name) return job.id;
      }
    }
    return undefined;
  }

  /**
   * Links the jobs of `adapter` hold or may take soon: one per running or queued job, up to the
   * jobs that may run at once there. Counted whether or not a job holds its link right now (one
   * between its application and its bootloader holds none), so a borrower leaving these free
   * never makes a DFU wait.
   */
  linksForJobs(adapter: Adapter): number {
    return Math.min(this.#slots(adapter), this.#runningOn(adapter.id).size + (this.#queued.get(adapter.id)?.length ?? 0));
  }

  /** The application address a job of this server met the bootloader at `bootloader` for (device memory). */
  applicationOf(bootloader: DeviceAddress): DeviceAddress | undefined {
    for (const e of this.#opts.devices?.recall({ kind: 'address', address: bootloader }) ?? []) {
      if (e.bootloaderAddress.value === bootloader.value && e.appAddress !== undefined) return e.appAddress;
    }
    return undefined;
  }

  /** Resolves when the job has ended (at once for an unknown or finished job). */
  async whenDone(id: string): Promise<void> {
    await this.#done.get(id as JobId);
  }

  /** Cancels every job and waits for all runners to return. New jobs are refused from now on. */
  async shutdown(): Promise<void> {
    this.#closing = true;
    const reason = new BledfuError('CANCELLED', 'job cancelled: the server is shutting down', {
      layer: 'jobs',
      remedy: 'start the DFU again once the server is back; the device resumes where it stopped',
    });
    for (const job of this.#jobs.values()) this.#cancel(job, reason, { cause: 'shutdown' });
    await Promise.all(this.#done.values());
  }

  #job(id: string): Job {
    const job = this.#jobs.get(id as JobId);
    if (job === undefined) {
      throw new BledfuError('JOB_NOT_FOUND', `no job with id ${quoteInput(id)}`, {
        layer: 'jobs',
        remedy: 'list jobs to see the ids this server knows; finished jobs are forgotten after a while',
      });
    }
    return job;
  }

  #notify(event: JobEvent, ref: JobRef): void {
    for (const listener of this.#listeners) {
      try {
        listener(event, ref);
      } catch (e) {
        this.#opts.logger.error({ err: e, jobId: ref.id }, 'job event listener failed');
      }
    }
  }

  #runningOn(adapterId: string): Set<Job> {
    let set = this.#running.get(adapterId);
    if (set === undefined) {
      set = new Set();
      this.#running.set(adapterId, set);
    }
    return set;
  }

  #cancel(job: Job, reason: BledfuError, cancellation: JobCancellation): void {
    if (job.finished || job.cancelRequested) return;
    job.cancelRequested = true;
    job.cancellation = cancellation;
    if (job.state === 'queued') {
      const queue = this.#queued.get(job.adapter.id) ?? [];
      const at = queue.indexOf(job);
      if (at >= 0) queue.splice(at, 1);
      this.#end(job, 'cancelled', { error: reason });
      return;
    }
    job.logger.info({ reason: reason.message }, 'cancelling job');
    job.controller.abort(reason);
  }

  #start(job: Job): void {
    // The start record is on disk before any watcher hears the job started.
    if (!this.#auditStart(job)) return;
    this.#runningOn(job.adapter.id).add(job);
    job.startCapture(this.#opts.captureMaxBytes ?? DEFAULT_CAPTURE_MAX_BYTES);
    job.markStarted();
    job.logger.info('job started');
    const done = this.#run(job).finally(() => {
      this.#runningOn(job.adapter.id).delete(job);
      this.#holders.delete(job);
      this.#done.delete(job.id);
      // Any adapter's queue may hold a job that waited for this one's device.
      for (const adapterId of [...this.#queued.keys()]) this.#startNext(adapterId);
    });
    this.#done.set(job.id, done);
  }

  /** Records the start durably; a job whose start cannot be recorded fails without touching the device. */
  #auditStart(job: Job): boolean {
    try {
      this.#opts.audit?.jobStarted(job.snapshot(), job.requester);
      return true;
    } catch (e) {
      job.logger.error({ err: e }, 'audit start record could not be written: job not run');
      const error = isBledfuError(e) ? e : new BledfuError('INTERNAL', 'audit record could not be written', { layer: 'jobs', cause: e });
      this.#end(job, 'failed', { error });
      return false;
    }
  }

  async #run(job: Job): Promise<void> {
    try {
      const outcome = await this.#opts.runner(job.adapter, job.pkg, job.target, job.options, {
        signal: job.controller.signal,
        clock: this.#clock,
        logger: job.logger,
        onEvent: (event) => job.applyDfuEvent(event),
        claimDevice: (claim) => this.#claim(job, claim),
        ...(job.phases === undefined ? {} : { phases: job.phases }),
        ...(this.#opts.devices === undefined ? {} : { devices: this.#opts.devices }),
      });
      // A runner that finished the update despite a late cancel did update the device; saying
      // CANCELLED would be a lie about the device's state.
      this.#end(job, outcome.upToDate === undefined && outcome.skipped === undefined ? 'succeeded' : 'up-to-date', {
        address: outcome.address,
        ...(outcome.firmwareRevision === undefined ? {} : { firmwareRevision: outcome.firmwareRevision }),
        ...(outcome.deviceState === undefined ? {} : { deviceState: outcome.deviceState }),
        ...(outcome.upToDate === undefined ? {} : { upToDate: outcome.upToDate }),
        ...(outcome.skipped === undefined ? {} : { skipped: outcome.skipped }),
        ...(outcome.notice === undefined ? {} : { notice: outcome.notice }),
      });
    } catch (e) {
      if (job.cancelRequested || (isBledfuError(e) && e.code === 'CANCELLED')) {
        const reason: unknown = job.controller.signal.reason;
        const error = isBledfuError(e) && e.code === 'CANCELLED' ? e : isBledfuError(reason) ? reason : cancelled(e);
        this.#end(job, 'cancelled', { error });
      } else if (isBledfuError(e)) {
        this.#end(job, 'failed', { error: e });
      } else {
        job.logger.error({ err: e }, 'DFU runner failed with an unexpected error');
        this.#end(job, 'failed', {
          error: new BledfuError('INTERNAL', 'internal error', { layer: 'jobs', cause: e }),
        });
      }
    }
  }

  #end(job: Job, state: TerminalJobState, outcome: Parameters<Job['finish']>[1]): void {
    const audit = this.#opts.audit;
    const recordEnd =
      audit === undefined
        ? undefined
        : (final: JobSnapshot): void => {
            try {
              audit.jobEnded(final);
            } catch (e) {
              job.logger.error({ err: e }, 'audit end record could not be written');
            }
          };
    if (!job.finish(state, outcome, recordEnd)) return;
    const error = outcome.error;
    job.logger.info(
      error === undefined ? { state } : { state, code: error.code, error: error.message },
      `job ${state}`,
    );
    this.#finishedOrder.push(job.id);
    while (this.#finishedOrder.length > this.#opts.retainFinished) {
      const old = this.#finishedOrder.shift();
      if (old !== undefined) this.#jobs.delete(old);
    }
    this.#trimCaptures();
  }

  /** Keeps finished jobs' captures within their budget, discarding the oldest first. */
  #trimCaptures(): void {
    const budget = this.#opts.captureRetainBytes ?? DEFAULT_CAPTURE_RETAIN_BYTES;
    const finished = this.#finishedOrder.map((id) => this.#jobs.get(id)).filter((j): j is Job => j !== undefined);
    let total = 0;
    for (const j of finished) total += j.captureInfo()?.state === 'complete' ? (j.captureInfo()?.size ?? 0) : 0;
    // The job that just ended keeps its capture whatever its size: its client is about to ask for it.
    for (const j of finished.slice(0, -1)) {
      if (total <= budget) return;
      const freed = j.discardCapture();
      if (freed > 0) j.logger.info({ bytes: freed }, 'HCI capture discarded to stay within the capture memory budget');
      total -= freed;
    }
  }

  /**
   * Jobs that may run at once on `adapter`: the setting, but no more than the links the adapter
   * can hold (an `hci:` spec's max=), so the rest wait in QUEUED instead of failing ADAPTER_BUSY.
   */
  #slots(adapter: Adapter): number {
    const links = adapter.info().maxConnections;
    return links > 0 ? Math.min(this.#opts.maxConcurrentPerAdapter, links) : this.#opts.maxConcurrentPerAdapter;
  }

  /**
   * Starts queued jobs while the adapter has free slots, in order, passing over the ones whose
   * device another running job is updating (they stay QUEUED and say for which job they wait).
   */
  #startNext(adapterId: string): void {
    const queue = this.#queued.get(adapterId);
    if (queue === undefined) return;
    for (let i = 0; i < queue.length && this.#runningOn(adapterId).size < this.#slots((queue[i] as Job).adapter); ) {
      const job = queue[i] as Job;
      const blocker = this.#blocker(job, this.#aliases(job.target), false);
      if (blocker !== undefined) {
        job.showWaiting(waitingText(blocker));
        i++;
        continue;
      }
      queue.splice(i, 1);
      this.#start(job);
    }
  }

  /**
   * What the job's target is known by: itself, and the addresses the device memory ties to it.
   * Only a target that *is* a name adds a name: many devices may share one (a station's whole
   * batch often does), so two jobs by address must never be tied by the names their devices
   * happen to advertise; a job by name, though, may be for any device of that name.
   */
  #aliases(t: DfuTarget): Set<string> {
    const keys = new Set<string>();
    if (t.kind === 'address') keys.add(addressKey(t.address.value));
    else if (t.name !== SHARED_BOOTLOADER_NAME) keys.add(nameKey(t.name));
    for (const e of this.#opts.devices?.recall(t) ?? []) {
      keys.add(addressKey(e.bootloaderAddress.value));
      if (e.appAddress !== undefined) keys.add(addressKey(e.appAddress.value));
    }
    return keys;
  }

  /**
   * A running job (other than `job`) that is, or may be, updating the device known by `keys`.
   * With `holdersOnly`, only jobs that have claimed their device count: a job waits for one that
   * holds the device, never for one that is still looking, so two jobs cannot wait for each other.
   */
  #blocker(job: Job | undefined, keys: ReadonlySet<string>, holdersOnly: boolean): Job | undefined {
    for (const set of this.#running.values()) {
      for (const other of set) {
        if (other === job) continue;
        const held = this.#holders.get(other);
        if (holdersOnly && held === undefined) continue;
        const theirs = held === undefined ? this.#aliases(other.target) : new Set([...held, ...this.#aliases(other.target)]);
        for (const k of keys) if (theirs.has(k)) return other;
      }
    }
    return undefined;
  }

  /**
   * The engine's claim on a device before it connects (DfuContext.claimDevice): granted at once
   * when no other job holds the same device, else waits (without a link: the engine has not
   * connected yet) until that job has ended and answers 'waited', so the engine looks again.
   * A job that already holds its device never waits again; it only adds what it learnt.
   */
  async #claim(job: Job, claim: DeviceClaim): Promise<'free' | 'waited'> {
    const keys = new Set([...claim.addresses.map((a) => addressKey(a.value)), ...claim.names.filter((n) => n !== SHARED_BOOTLOADER_NAME).map(nameKey)]);
    const held = this.#holders.get(job);
    if (held !== undefined) {
      for (const k of keys) held.add(k);
      return 'free';
    }
    // The claim's names are kept for others' jobs by name to meet; this job's own side of the
    // comparison is addresses and its target only (see #aliases).
    const blocker = this.#blocker(job, new Set([...claim.addresses.map((a) => addressKey(a.value)), ...this.#aliases(job.target)]), true);
    if (blocker === undefined) {
      this.#holders.set(job, keys);
      return 'free';
    }
    job.logger.info({ waitingFor: blocker.id, device: claim.description }, 'another job is updating this device: waiting for it to end');
    job.showWaiting(`${waitingText(blocker)} (${claim.description})`);
    const signal = job.controller.signal;
    const ended = this.#done.get(blocker.id) ?? Promise.resolve();
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(abortReason(signal));
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      void ended.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
    return 'waited';
  }
}

function addressKey(value: string): string {
  return `a:${value.toUpperCase()}`;
}

function nameKey(name: string): string {
  return `n:${name}`;
}

function waitingText(other: Job): string {
  return `waiting for job ${other.id}, which is updating the same device`;
}

function queueFull(what: string, setting: string): BledfuError {
  return new BledfuError('JOB_QUEUE_FULL', `job queue full: ${what}`, {
    layer: 'jobs',
    remedy: `retry once queued jobs have started or ended (or cancel some), or raise the limit on the server (${setting})`,
  });
}

function cancelled(cause: unknown): BledfuError {
  return new BledfuError('CANCELLED', 'job cancelled', { layer: 'jobs', cause });
}
