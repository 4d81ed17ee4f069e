/**
 * How the station's operators behave: what one attempt at a device's update ended as, and the
 * retry policy people follow — whatever failed is tried again with the same name (or address),
 * up to three more times, after a short wait.
 */
import type { Rng } from './random.js';

/**
 * How the operator saw an attempt end: its job's result, or `lost` when the server went away
 * before the result reached the operator (killed), or `refused` when no job was created.
 */
/** UP_TO_DATE: the job ended JOB_STATE_UP_TO_DATE (the device refused the package as not newer). */
export type AttemptResult = 'SUCCEEDED' | 'UP_TO_DATE' | 'FAILED' | 'CANCELLED' | 'LOST' | 'REFUSED';

export interface AttemptRecord {
  readonly device: string;
  /** 1-based. */
  readonly attempt: number;
  /** Undefined when the call ended before the job's first event. */
  readonly jobId: string | undefined;
  readonly adapterId: string;
  /** Station clock (modelled ms since the day began). */
  readonly startedAtMs: number;
  readonly endedAtMs: number;
  readonly result: AttemptResult;
  /** Whether the job was seen leaving QUEUED (it touched the device, so it has audit records). */
  readonly started: boolean;
  readonly errorCode: string | undefined;
  readonly errorMessage: string | undefined;
  readonly dfuResultName: string | undefined;
  readonly dfuExtendedName: string | undefined;
  /** Faults planned for this attempt (descriptions). */
  readonly faults: readonly string[];
  /** The client re-attached with WatchJob after its stream was cut. */
  readonly rewatched: boolean;
  /** The job's modelled air time as its result reports it (simulated adapters), when it ended. */
  readonly modelledAirMs: number | undefined;
  /**
   * The Serial Number String the job reported for the device it reached (its device-info event):
   * "" when it met the device in its bootloader; absent when the operator saw no such event.
   */
  readonly deviceSerial?: string;
  /** DfuOptions.retries the attempt asked for; undefined: the server's default. */
  readonly retries: number | undefined;
  /** For a DEVICE_CONNECTED refusal: the Connect call the server said holds the device (its error's context). */
  readonly heldBy: HeldBy | undefined;
  /** The job entered RESUMING: it reconnected to the device inside the job. */
  readonly resumed: boolean;
  /**
   * Bytes of an image the device stored a second time during the job (an object sent again);
   * observed on the simulated board for jobs that ask for no retries, undefined for the others.
   */
  readonly resentBytes: number | undefined;
}

/** What a DEVICE_CONNECTED refusal names: the context_* facts of its ErrorInfo. */
export interface HeldBy {
  readonly address: string | undefined;
  readonly adapterId: string | undefined;
  readonly method: string | undefined;
  /** When the Connect call's link came up, station clock (modelled ms since the day began). */
  readonly sinceMs: number | undefined;
}

/**
 * A StartDfu refused because a Connect call holds the device never touched it: the operator goes
 * to ask for the device back and tries again, without counting it as one of its retries (up to
 * this many such refusals).
 */
export const MAX_HELD_REFUSALS = 12;

/** Whether an attempt counts against the operator's retries (a DEVICE_CONNECTED refusal does not). */
export function countsAsTry(record: Pick<AttemptRecord, 'result' | 'errorCode'>): boolean {
  return !(record.result === 'REFUSED' && record.errorCode === 'DEVICE_CONNECTED');
}

/**
 * The labels an operator starts an attempt with (issue 16: which unit got what): the board's
 * label and the attempt's number, so the audit log alone tells which unit each job updated.
 */
export function attemptLabels(device: string, attempt: number): Record<string, string> {
  return { unit: device, attempt: String(attempt) };
}

export interface RetryPolicy {
  /** Attempts after the first. */
  readonly maxRetries: number;
  /** The wait before a retry, modelled ms (drawn uniformly). */
  readonly minWaitMs: number;
  readonly maxWaitMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 3, minWaitMs: 5_000, maxWaitMs: 30_000 };

export type NextStep = { readonly kind: 'done' } | { readonly kind: 'retry'; readonly waitMs: number };

/**
 * After attempt number `attempt` ended as `result`: stop, or wait and try again. Draws from the
 * device's own stream, so the wait does not depend on other operators.
 */
export function nextStep(policy: RetryPolicy, rng: Rng, attempt: number, result: AttemptResult): NextStep {
  if (result === 'SUCCEEDED' || result === 'UP_TO_DATE' || attempt > policy.maxRetries) return { kind: 'done' };
  return { kind: 'retry', waitMs: rng.int(policy.minWaitMs, policy.maxWaitMs) };
}
