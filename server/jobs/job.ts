/**
 * One DFU job's mutable record. Only the JobManager changes it; everything leaves as immutable
 * snapshots and events. The record enforces the state machine's one rule that matters most to
 * clients: a job reaches exactly one terminal state, and nothing changes after that.
 */
import type { Adapter, HciCapture } from '../ble/types.js';
import type { DeviceAddress } from '../ble/address.js';
import { BledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { DeviceInfo, DeviceState, DfuEvent, DfuOptions, AnyDfuPackage, DfuPhase, DfuProtocol, DfuTarget, ImageSummary, SkipReason, UpToDate } from '../dfu/types.js';
import { packageProtocol } from '../dfu/package/images.js';
import { PhaseClock, type PhaseRecorder } from '../dfu/phases.js';
import { imageSummaries } from '../dfu/package/summaries.js';
import { RateMeter } from './rate.js';
import type { WatchStream } from './watchStream.js';
import {
  isTerminal,
  type ActiveJobState,
  type JobCancellation,
  type JobCaptureInfo,
  type JobEvent,
  type JobId,
  type JobLabels,
  type JobRef,
  type JobProgress,
  type JobRequester,
  type JobResult,
  type JobSnapshot,
  type JobState,
  type TerminalJobState,
} from './types.js';

export interface JobInit {
  readonly id: JobId;
  readonly pkg: AnyDfuPackage;
  /**
   * Gives the package's images back to whoever holds them for the job (the package store's
   * lease); called once, when the job ends.
   */
  readonly releasePackage?: () => void;
  readonly target: DfuTarget;
  readonly options: DfuOptions;
  readonly adapter: Adapter;
  readonly logger: Logger;
  readonly now: () => number;
  readonly historyLimit: number;
  /** Record the adapter's HCI traffic while the job runs. */
  readonly captureHci?: boolean;
  readonly requester?: JobRequester;
  readonly labels?: JobLabels;
  /** The campaign that started the job (JobSnapshot.campaignId). */
  readonly campaignId?: string;
  /** Hears every event the job emits (the manager's listeners). */
  readonly onEvent?: (event: JobEvent, job: JobRef) => void;
}

export function stateForPhase(phase: DfuPhase): ActiveJobState {
  switch (phase) {
    case 'connecting':
      return 'connecting';
    case 'entering-bootloader':
      return 'entering-bootloader';
    case 'transferring':
      return 'transferring';
    case 'resuming':
      return 'resuming';
    case 'activating':
      return 'activating';
    default:
      return assertNever(phase);
  }
}

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${String(value)}`);
}

export class Job {
  readonly id: JobId;
  /** What the job's snapshots say about its package: kept after the images are let go. */
  readonly images: readonly ImageSummary[];
  readonly packageSha256: string;
  /** Which DFU protocol the package is for, read from the package itself (never from the device). */
  readonly protocol: DfuProtocol;
  readonly target: DfuTarget;
  readonly options: DfuOptions;
  readonly adapter: Adapter;
  readonly logger: Logger;
  readonly createdAt: number;
  /** Aborted to cancel the runner. */
  readonly controller = new AbortController();
  cancelRequested = false;
  /** Who asked for the cancellation (set with cancelRequested); the result of a cancelled job says so. */
  cancellation: JobCancellation | undefined;
  readonly captureRequested: boolean;
  readonly requester: JobRequester | undefined;
  readonly labels: JobLabels;
  readonly campaignId: string | undefined;

  /**
   * The package's images, until the job ends: a finished job (kept for listing) must not hold
   * megabytes of firmware nobody will send again.
   */
  #pkg: AnyDfuPackage | undefined;
  #releasePackage: (() => void) | undefined;
  readonly #now: () => number;
  readonly #onEvent: ((event: JobEvent, job: JobRef) => void) | undefined;
  readonly #historyLimit: number;
  readonly #history: JobEvent[] = [];
  readonly #watchers = new Set<WatchStream>();
  readonly #rate = new RateMeter();
  #state: JobState = 'queued';
  #detail = 'waiting for a free slot on the adapter';
  #deviceAddress: DeviceAddress | undefined;
  #bootloaderAddress: DeviceAddress | undefined;
  #deviceInfo: DeviceInfo | undefined;
  #progress: JobProgress | undefined;
  #result: JobResult | undefined;
  #startedAt: number | undefined;
  #finishedAt: number | undefined;
  #modelledStartMs: number | undefined;
  /** Per-phase time accounting from the job's start (the engine reports its phases into it). */
  #phases: PhaseClock | undefined;
  #capture: HciCapture | undefined;
  #captureState: JobCaptureInfo['state'] = 'pending';
  #captureUnavailable = 'the adapter could not record HCI traffic (see the server log)';

  constructor(init: JobInit) {
    this.id = init.id;
    this.#pkg = init.pkg;
    this.#releasePackage = init.releasePackage;
    this.images = imageSummaries(init.pkg);
    this.packageSha256 = init.pkg.sha256;
    this.protocol = packageProtocol(init.pkg);
    this.target = init.target;
    this.options = init.options;
    this.adapter = init.adapter;
    this.logger = init.logger;
    this.#now = init.now;
    this.#onEvent = init.onEvent;
    this.#historyLimit = init.historyLimit;
    this.createdAt = init.now();
    this.captureRequested = init.captureHci === true;
    this.requester = init.requester;
    // A copy, frozen: every snapshot hands out the same object.
    this.labels = Object.freeze({ ...init.labels });
    this.campaignId = init.campaignId;
    if (init.target.kind === 'address') this.#deviceAddress = init.target.address;
  }

  /** The package to send; only a job that has not ended has one. */
  get pkg(): AnyDfuPackage {
    if (this.#pkg === undefined) {
      throw new BledfuError('INTERNAL', `job ${this.id} has ended: its package is no longer held`, { layer: 'jobs' });
    }
    return this.#pkg;
  }

  /** Whether the job still holds its package's images (until it ends). */
  get holdsPackage(): boolean {
    return this.#pkg !== undefined;
  }

  get state(): JobState {
    return this.#state;
  }
  get finished(): boolean {
    return isTerminal(this.#state);
  }
  get history(): readonly JobEvent[] {
    return this.#history;
  }

  snapshot(): JobSnapshot {
    return {
      id: this.id,
      state: this.#state,
      target: this.target,
      adapterId: this.adapter.id,
      deviceAddress: this.#deviceAddress,
      bootloaderAddress: this.#bootloaderAddress,
      images: this.images,
      packageSha256: this.packageSha256,
      createdAt: this.createdAt,
      finishedAt: this.#finishedAt,
      progress: this.#progress,
      result: this.#result,
      capture: this.captureInfo(),
      requestedBy: this.requester?.identity,
      labels: this.labels,
      deviceInfo: this.#deviceInfo,
      campaignId: this.campaignId,
      protocol: this.protocol,
    };
  }

  captureInfo(): JobCaptureInfo | undefined {
    if (!this.captureRequested) return undefined;
    const c = this.#capture;
    return { state: this.#captureState, size: c?.size ?? 0, truncated: c?.truncated ?? false };
  }

  /** The btsnoop file so far (while recording) or in full; CAPTURE_NOT_FOUND when there is none. */
  captureChunks(): readonly Uint8Array[] {
    const missing = (why: string, remedy?: string): BledfuError =>
      new BledfuError('CAPTURE_NOT_FOUND', `job ${this.id} has no HCI capture: ${why}`, {
        layer: 'jobs',
        ...(remedy === undefined ? {} : { remedy }),
      });
    if (!this.captureRequested) throw missing('it was started without one', 'start the DFU with capture_hci (CLI: --capture <file>)');
    switch (this.#captureState) {
      case 'recording':
      case 'complete':
        return this.#capture?.chunks() ?? [];
      case 'pending':
        throw missing('the job is still queued; recording starts when it does', 'ask again once the job has started');
      case 'discarded':
        throw missing(
          'it was discarded to keep the server\'s memory bounded (the oldest finished jobs\' captures go first)',
          'download captures soon after their jobs end',
        );
      case 'unavailable':
        throw missing(this.#captureUnavailable);
      default:
        return assertNever(this.#captureState);
    }
  }

  /** Starts the HCI capture the job asked for; a capture that cannot start never stops the job. */
  startCapture(maxBytes: number): void {
    if (!this.captureRequested || this.#captureState !== 'pending') return;
    try {
      this.#capture = this.adapter.captureHci?.({ maxBytes });
    } catch (e) {
      this.logger.warn({ err: e }, 'HCI capture could not start; the job runs without it');
    }
    this.#captureState = this.#capture === undefined ? 'unavailable' : 'recording';
  }

  /** Frees a finished job's capture; returns the bytes freed. */
  discardCapture(): number {
    const capture = this.#capture;
    if (capture === undefined || this.#captureState !== 'complete') return 0;
    this.#capture = undefined;
    this.#captureState = 'discarded';
    return capture.size;
  }

  #stopCapture(): void {
    const capture = this.#capture;
    if (capture === undefined || this.#captureState !== 'recording') {
      if (this.#captureState === 'pending') {
        this.#captureState = 'unavailable';
        this.#captureUnavailable = 'the job ended before it started';
      }
      return;
    }
    capture.stop();
    this.#captureState = 'complete';
    if (capture.truncated) {
      this.logger.warn({ size: capture.size }, 'HCI capture reached its size limit: the end of the job is missing from it');
    }
  }

  /** Registers a watcher and hands it the snapshot first, atomically, so no event falls between. */
  addWatcher(stream: WatchStream): void {
    stream.push({ kind: 'snapshot', jobId: this.id, time: this.#now(), job: this.snapshot() });
    if (this.#result !== undefined) {
      stream.push({ kind: 'finished', jobId: this.id, time: this.#finishedAt ?? this.#now(), result: this.#result });
      return;
    }
    this.#watchers.add(stream);
  }

  removeWatcher(stream: WatchStream): void {
    this.#watchers.delete(stream);
  }

  /**
   * Says, in the job's state detail, why it does not go on yet (another job is updating the same
   * device). A queued job stays QUEUED; a started one keeps its state, only the detail changes.
   */
  showWaiting(detail: string): void {
    if (this.finished) return;
    this.#setState(this.#state, detail);
  }

  /** Where the engine reports its phases; undefined before the job started. */
  get phases(): PhaseRecorder | undefined {
    return this.#phases;
  }

  markStarted(): void {
    this.#startedAt = this.#now();
    // From the same reading as the duration, so the phases add up to it.
    this.#phases = new PhaseClock(this.#now, this.#startedAt);
    this.#modelledStartMs = this.adapter.modelledTimeMs?.();
    this.#setState('connecting', 'starting');
  }

  /** Applies an engine event; ignored once the job has ended (a runner must not revive it). */
  applyDfuEvent(event: DfuEvent): void {
    if (this.finished) return;
    switch (event.kind) {
      case 'phase':
        this.#setState(stateForPhase(event.phase), event.detail);
        return;
      case 'device':
        if (this.#deviceAddress?.value !== event.address.value) {
          this.logger.setBindings({ address: event.address.value });
        }
        this.#deviceAddress = event.address;
        return;
      case 'bootloader':
        if (this.#bootloaderAddress?.value !== event.address.value) {
          this.logger.info({ bootloader: event.address.value, name: event.name }, 'bootloader found');
        }
        this.#bootloaderAddress = event.address;
        return;
      case 'device-info':
        // Once per job: a second report (an engine reaching the device again) changes nothing.
        if (this.#deviceInfo !== undefined) return;
        this.#deviceInfo = event.info;
        this.#emit({ kind: 'device-info', jobId: this.id, time: this.#now(), info: event.info });
        return;
      case 'progress': {
        const at = this.#now();
        const rates = this.#rate.update(at, event.totalBytesSent, event.totalBytesTotal);
        this.#progress = {
          imageIndex: event.imageIndex,
          imageCount: event.imageCount,
          imageKind: event.imageKind,
          imageBytesSent: event.imageBytesSent,
          imageBytesTotal: event.imageBytesTotal,
          imageBytesAtStart: event.imageBytesAtStart ?? 0,
          totalBytesSent: event.totalBytesSent,
          totalBytesTotal: event.totalBytesTotal,
          currentRate: rates.current,
          averageRate: rates.average,
          etaMs: rates.etaMs,
        };
        this.#emit({ kind: 'progress', jobId: this.id, time: at, progress: this.#progress });
        return;
      }
      default:
        assertNever(event);
    }
  }

  /** Ends the job. Returns false (and changes nothing) if it had already ended. */
  finish(
    state: TerminalJobState,
    outcome: { error?: BledfuError; firmwareRevision?: string; deviceState?: DeviceState; address?: DeviceAddress; upToDate?: UpToDate; skipped?: SkipReason; notice?: string },
    /** Sees the final snapshot before any watcher does (the audit record is written there). */
    beforeReport?: (final: JobSnapshot) => void,
  ): boolean {
    if (this.finished) return false;
    this.#stopCapture();
    this.#dropPackage();
    const at = this.#now();
    const modelledEnd = this.adapter.modelledTimeMs?.();
    if (outcome.address !== undefined) this.#deviceAddress = outcome.address;
    this.#finishedAt = at;
    this.#result = {
      state,
      success: state === 'succeeded' || state === 'up-to-date',
      error: outcome.error,
      durationMs: this.#startedAt === undefined ? 0 : at - this.#startedAt,
      firmwareRevision: outcome.firmwareRevision,
      deviceState: outcome.deviceState,
      modelledAirTimeMs:
        this.#modelledStartMs !== undefined && modelledEnd !== undefined ? modelledEnd - this.#modelledStartMs : undefined,
      phases: this.#phases?.stop(at),
      cancellation: state === 'cancelled' ? this.cancellation : undefined,
      upToDate: state === 'up-to-date' ? outcome.upToDate : undefined,
      deviceInfo: this.#deviceInfo,
      skipped: state === 'up-to-date' ? outcome.skipped : undefined,
      protocol: this.protocol,
    };
    beforeReport?.({ ...this.snapshot(), state });
    this.#setState(
      state,
      outcome.error?.message ?? endDetail(state, outcome),
    );
    this.#emit({ kind: 'finished', jobId: this.id, time: at, result: this.#result });
    for (const w of this.#watchers) w.close();
    this.#watchers.clear();
    return true;
  }

  /** Lets go of the package's images (the job will never send them again). */
  #dropPackage(): void {
    this.#pkg = undefined;
    const release = this.#releasePackage;
    this.#releasePackage = undefined;
    try {
      release?.();
    } catch (e) {
      this.logger.error({ err: e }, 'releasing the package failed');
    }
  }

  #setState(state: JobState, detail: string): void {
    if (state === this.#state && detail === this.#detail) return;
    this.#state = state;
    this.#detail = detail;
    this.#emit({ kind: 'state', jobId: this.id, time: this.#now(), state, detail });
  }

  #emit(event: JobEvent): void {
    const last = this.#history[this.#history.length - 1];
    if (event.kind === 'progress' && last?.kind === 'progress') this.#history[this.#history.length - 1] = event;
    else {
      this.#history.push(event);
      if (this.#history.length > this.#historyLimit) this.#history.shift();
    }
    for (const w of this.#watchers) w.push(event);
    this.#onEvent?.(event, { id: this.id, adapterId: this.adapter.id, state: this.#state, protocol: this.protocol });
  }
}

/** The detail of a job's last state change when it did not fail. */
function endDetail(state: TerminalJobState, o: { deviceState?: DeviceState; upToDate?: UpToDate; skipped?: SkipReason; firmwareRevision?: string; notice?: string }): string {
  if (state === 'succeeded' && o.notice !== undefined) return `update complete; ${o.notice}`;
  if (state === 'up-to-date' && o.skipped === 'firmware-revision') {
    return `already up to date: the device's firmware revision is "${o.firmwareRevision ?? ''}" (skip_if_firmware_revision); nothing was sent`;
  }
  if (state === 'up-to-date') {
    const i = o.upToDate?.image;
    const what = i === undefined ? 'the package' : `the ${i.kind} image${i.fwVersion === undefined ? '' : ` (fw_version ${i.fwVersion})`}`;
    const where = o.deviceState === 'dfu-mode' ? '; it is still in its bootloader (DFU mode)' : o.deviceState === 'application' ? '; it runs its application' : '';
    return `already up to date: the device refused ${what} as not newer than its own${where}`;
  }
  return o.deviceState === 'dfu-mode' ? 'update complete; the device stays in DFU mode without an application' : 'update complete';
}
