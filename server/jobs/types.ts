/**
 * The job layer's own vocabulary. The RPC layer maps these to proto; nothing here knows gRPC.
 */
import type { Adapter } from '../ble/types.js';
import type { DeviceAddress } from '../ble/address.js';
import type { BledfuError } from '../common/errors.js';
import type { PhaseTimes } from '../dfu/phases.js';
import type { DeviceInfo, DeviceState, DfuProgress, DfuProtocol, DfuTarget, ImageSummary, SkipReason, UpToDate } from '../dfu/types.js';

/** A job id; branded so a package id or adapter id cannot be passed where a job id is expected. */
export type JobId = string & { readonly __brand: 'JobId' };

export const ACTIVE_JOB_STATES = [
  'queued',
  'connecting',
  'entering-bootloader',
  'transferring',
  'resuming',
  'activating',
] as const;
/**
 * How a job can end. 'up-to-date': nothing was sent, because the device's bootloader refused the
 * package as not newer than the version it holds (DfuOutcome.upToDate) — a distinct outcome, not
 * a failure: the device already has this firmware or a newer one.
 */
export const TERMINAL_JOB_STATES = ['succeeded', 'up-to-date', 'failed', 'cancelled'] as const;

export type ActiveJobState = (typeof ACTIVE_JOB_STATES)[number];
export type TerminalJobState = (typeof TERMINAL_JOB_STATES)[number];
export type JobState = ActiveJobState | TerminalJobState;

export function isTerminal(state: JobState): state is TerminalJobState {
  return (TERMINAL_JOB_STATES as readonly string[]).includes(state);
}

export interface JobProgress extends DfuProgress {
  /** Bytes per second over the last few seconds. */
  readonly currentRate: number;
  /** Bytes per second since the first progress report. */
  readonly averageRate: number;
  /** Estimated milliseconds to the end of the package; undefined while no rate is known. */
  readonly etaMs: number | undefined;
}

/**
 * A job's HCI capture (asked for with the job): pending while the job is queued, recording while
 * it runs, complete once it ended. Discarded when newer captures needed the memory; unavailable
 * when the adapter could not record.
 */
export type JobCaptureState = 'pending' | 'recording' | 'complete' | 'discarded' | 'unavailable';

export interface JobCaptureInfo {
  readonly state: JobCaptureState;
  /** Bytes of the btsnoop file recorded so far. */
  readonly size: number;
  /** The size limit was reached: traffic after that point is missing. */
  readonly truncated: boolean;
}

/** What cancelled a job: a CancelJob call (and whose), or the server shutting down. */
export type JobCancellation =
  | { readonly cause: 'cancel-job'; /** The caller's identity; undefined when the server authenticates nobody. */ readonly by: string | undefined }
  | { readonly cause: 'shutdown' };

export interface JobResult {
  /** The job's final state. */
  readonly state: TerminalJobState;
  /** The device has the package's firmware or a newer one: state 'succeeded' or 'up-to-date'. */
  readonly success: boolean;
  /** Why it failed or that it was cancelled; undefined on success. */
  readonly error: BledfuError | undefined;
  readonly durationMs: number;
  readonly firmwareRevision: string | undefined;
  /** Where the device ended after a successful update; undefined when not seen (or not succeeded). */
  readonly deviceState: DeviceState | undefined;
  /** Radio time the simulated adapter modelled between start and end; undefined on real dongles. */
  readonly modelledAirTimeMs: number | undefined;
  /**
   * Where the job's time went, per phase (dfu/phases.ts), on the server's clock; the phases add
   * up to durationMs. Undefined for a job that never started.
   */
  readonly phases: PhaseTimes | undefined;
  /**
   * For a cancelled job whose cancellation was asked for: by whom. Undefined otherwise (also for a
   * job that ended CANCELLED by its engine's own abort).
   */
  readonly cancellation: JobCancellation | undefined;
  /** For an 'up-to-date' job: the image the device refused as not newer than its own. */
  readonly upToDate: UpToDate | undefined;
  /** What the device reported in its Device Information service before the update (as JobSnapshot.deviceInfo). */
  readonly deviceInfo: DeviceInfo | undefined;
  /** For an 'up-to-date' job that left the device before asking its bootloader: why (nothing was written to it). */
  readonly skipped: SkipReason | undefined;
  /** The job's DFU protocol (JobSnapshot.protocol), so the `finished` event alone names it. */
  readonly protocol: DfuProtocol;
}

/**
 * Free key/value facts a client attaches to a job (serial=…, work_order=…): kept with the job and
 * written into its audit records, never used as metric labels (their values are unbounded in
 * number). The RPC layer bounds them (rpc/validate.ts LABEL_LIMITS).
 */
export type JobLabels = Readonly<Record<string, string>>;

/** Who asked for a job. */
export interface JobRequester {
  /**
   * The authenticated identity (a token's name, `cert:<name>` from a client certificate);
   * undefined when the server authenticates nobody.
   */
  readonly identity?: string;
  /** The caller's address, host:port. */
  readonly peer?: string;
}

/** The job as it is at one moment; immutable, safe to hand to any number of watchers. */
export interface JobSnapshot {
  readonly id: JobId;
  readonly state: JobState;
  readonly target: DfuTarget;
  readonly adapterId: string;
  readonly deviceAddress: DeviceAddress | undefined;
  /** Where the device's bootloader was found (sent there by this job or met there), once it was. */
  readonly bootloaderAddress: DeviceAddress | undefined;
  readonly images: readonly ImageSummary[];
  readonly packageSha256: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  readonly finishedAt: number | undefined;
  readonly progress: JobProgress | undefined;
  readonly result: JobResult | undefined;
  /** Undefined when the job was started without an HCI capture. */
  readonly capture: JobCaptureInfo | undefined;
  /** The identity that started the job (JobRequester.identity), when the server knows one. */
  readonly requestedBy: string | undefined;
  /** The labels the job was started with; empty when none. */
  readonly labels: JobLabels;
  /**
   * What the device's application reported in its Device Information service: undefined until
   * the job reached the device; empty when it was found in its bootloader or offers none.
   */
  readonly deviceInfo: DeviceInfo | undefined;
  /** The campaign that started the job (server/campaigns); undefined for a job started by StartDfu. */
  readonly campaignId: string | undefined;
  /**
   * The DFU protocol of the job's package (packageProtocol): known from the job's creation, it
   * chose the engine. Named in the job's events, its audit records and the DFU metrics.
   */
  readonly protocol: DfuProtocol;
}

/** What a watcher receives, in order: always a snapshot first, `finished` last. */
export type JobEvent =
  | { readonly kind: 'snapshot'; readonly jobId: JobId; readonly time: number; readonly job: JobSnapshot }
  | {
      readonly kind: 'state';
      readonly jobId: JobId;
      readonly time: number;
      readonly state: JobState;
      readonly detail: string;
    }
  | { readonly kind: 'progress'; readonly jobId: JobId; readonly time: number; readonly progress: JobProgress }
  /** The device was reached: what it said about itself (once per job). */
  | { readonly kind: 'device-info'; readonly jobId: JobId; readonly time: number; readonly info: DeviceInfo }
  | { readonly kind: 'finished'; readonly jobId: JobId; readonly time: number; readonly result: JobResult };

/** The job an event belongs to, as a listener of every job's events sees it. */
export interface JobRef {
  readonly id: JobId;
  readonly adapterId: string;
  /** The job's state once the event has been applied (a terminal one by `finished`). */
  readonly state: JobState;
  /** The job's DFU protocol (JobSnapshot.protocol): a bounded metric label. */
  readonly protocol: DfuProtocol;
}

/**
 * Hears every job's events as they happen (not the `snapshot` a watcher starts with). Runs
 * synchronously inside the job layer, so it must be cheap; what it throws is logged, never
 * passed on to the job.
 */
export type JobListener = (event: JobEvent, job: JobRef) => void;

/**
 * The adapters a job or an RPC may use. The composition root supplies the real registry; tests
 * supply a fake.
 */
export interface AdapterDirectory {
  list(): readonly Adapter[];
  /**
   * The adapter with this id, or the first ready one when `id` is empty/undefined. Throws
   * ADAPTER_NOT_FOUND for an unknown id (or none configured), ADAPTER_UNAVAILABLE when adapters
   * exist but none is ready.
   */
  get(id?: string): Adapter;
  /**
   * Calls `listener` whenever an adapter may have changed state (dongle unplugged, back, closed);
   * returns the unsubscribe function. Absent where adapters never change (fixed test fakes).
   */
  onChange?(listener: () => void): () => void;
}
