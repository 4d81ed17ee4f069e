/** Helpers around the job streams: typed events, chunked uploads. */
import type { Target } from '../../proto/gen/bledfu/v1/common.js';
import { Status } from 'nice-grpc';
import {
  CancelCause,
  cancelCauseToJSON,
  DfuProtocol,
  dfuProtocolToJSON,
  JobState,
  jobStateToJSON,
  type DeviceInfo,
  type DfuOptions,
  type DfuProgress,
  type Job,
  type JobEvent,
  type JobResult,
  type UploadPackageResponse,
} from '../../proto/gen/bledfu/v1/dfu.js';
import { callOptions, type BledfuClient, type CallControl } from './client.js';
import { BledfuClientError, decodeErrorDetail, type DecodedError } from './errors.js';

export type DfuEvent =
  | { readonly type: 'snapshot'; readonly jobId: string; readonly time: Date | undefined; readonly job: Job }
  | {
      readonly type: 'state';
      readonly jobId: string;
      readonly time: Date | undefined;
      readonly state: JobState;
      /** "TRANSFERRING", "SUCCEEDED", … */
      readonly stateName: string;
      readonly detail: string;
    }
  | { readonly type: 'progress'; readonly jobId: string; readonly time: Date | undefined; readonly progress: DfuProgress }
  /** The device was reached: what its application said in Device Information (empty in its bootloader). */
  | { readonly type: 'device-info'; readonly jobId: string; readonly time: Date | undefined; readonly info: DeviceInfo }
  | {
      readonly type: 'finished';
      readonly jobId: string;
      readonly time: Date | undefined;
      readonly result: JobResult;
      /**
       * Decoded result.error when the job failed or was cancelled (grpcCode: result.error_status;
       * metadata: cancel_cause and cancelled_by for a cancelled job).
       */
      readonly error: DecodedError | undefined;
    };

/** "JOB_STATE_TRANSFERRING" → "TRANSFERRING" */
/**
 * "SECURE", "LEGACY" or "UNSPECIFIED" (a record of an older server): a job's, an audit record's
 * or an uploaded package's DFU protocol, as jobStateName names states.
 */
export function dfuProtocolName(protocol: DfuProtocol): string {
  return dfuProtocolToJSON(protocol).replace(/^DFU_PROTOCOL_/, '');
}

export function jobStateName(state: JobState): string {
  return jobStateToJSON(state).replace(/^JOB_STATE_/, '');
}

export function toDfuEvent(e: JobEvent): DfuEvent | undefined {
  const base = { jobId: e.jobId, time: e.time };
  switch (e.kind?.$case) {
    case 'snapshot':
      return { ...base, type: 'snapshot', job: e.kind.snapshot };
    case 'stateChanged':
      return {
        ...base,
        type: 'state',
        state: e.kind.stateChanged.state,
        stateName: jobStateName(e.kind.stateChanged.state),
        detail: e.kind.stateChanged.detail,
      };
    case 'progress':
      return { ...base, type: 'progress', progress: e.kind.progress };
    case 'deviceInfo':
      return { ...base, type: 'device-info', info: e.kind.deviceInfo };
    case 'finished': {
      const r = e.kind.finished;
      return { ...base, type: 'finished', result: r, error: r.error === undefined ? undefined : jobFailure(r, r.error) };
    }
    case undefined:
      // An event kind newer than this client: skip it rather than fail.
      return undefined;
  }
}

/** "CANCEL_CAUSE_CANCEL_JOB" → "CANCEL_JOB" */
function cancelCauseName(cause: CancelCause): string {
  return cancelCauseToJSON(cause).replace(/^CANCEL_CAUSE_/, '');
}

/** A failed or cancelled job's error, classified by the status a call failing with it would have. */
function jobFailure(r: JobResult, detail: NonNullable<JobResult['error']>): DecodedError {
  // A server older than JobResult.error_status sends 0: the reason still says what happened.
  const grpcCode: Status = r.errorStatus === 0 ? (detail.reason === 'CANCELLED' ? Status.CANCELLED : Status.UNKNOWN) : r.errorStatus;
  const decoded = decodeErrorDetail(detail, grpcCode);
  // The ErrorInfo metadata a failed call would carry (layer, context_* included); a server older
  // than JobResult.error_metadata sends none, and the detail's own fields stand in.
  const info = Object.keys(r.errorMetadata).length > 0 ? r.errorMetadata : decoded.metadata;
  const layer = info['layer'];
  const cancel: Record<string, string> = {};
  if (r.cancelCause !== CancelCause.CANCEL_CAUSE_UNSPECIFIED) cancel['cancel_cause'] = cancelCauseName(r.cancelCause);
  if (r.cancelledBy !== '') cancel['cancelled_by'] = r.cancelledBy;
  return { ...decoded, ...(layer === undefined ? {} : { layer }), metadata: { ...info, ...cancel } };
}

/**
 * The events of a StartDfu or WatchJob stream. The stream itself ends OK after `finished` whatever
 * the job's outcome (service.proto); for a caller who awaits the DFU a job that did not succeed
 * is an error all the same, so after yielding its `finished` event this throws the job's error as
 * a BledfuClientError (decodeError: the job's reason, with the status such a call would have).
 * A job that ended UP_TO_DATE (the device already had the firmware) has `success` true: no error.
 */
async function* jobEvents(stream: AsyncIterable<{ event?: JobEvent | undefined }>): AsyncGenerator<DfuEvent> {
  for await (const r of stream) {
    const e = r.event === undefined ? undefined : toDfuEvent(r.event);
    if (e === undefined) continue;
    yield e;
    if (e.type === 'finished' && !e.result.success) {
      throw new BledfuClientError(
        e.error ?? { code: 'UNKNOWN', grpcCode: Status.UNKNOWN, grpcCodeName: 'UNKNOWN', message: 'the job did not succeed and the server said nothing of why', metadata: {} },
      );
    }
  }
}

export type PackageSource = { readonly data: Uint8Array } | { readonly packageId: string };

export interface StartDfuParams {
  readonly package: PackageSource;
  readonly target: Target;
  readonly adapterId?: string;
  readonly options?: Partial<DfuOptions>;
  /**
   * Record the adapter's HCI traffic while the job runs; fetch it with downloadJobCapture. It
   * holds everything on the adapter meanwhile, other jobs' links and scans included.
   */
  readonly captureHci?: boolean;
  /**
   * Facts kept with the job and written into its audit records (e.g. { serial: 'SN-0042',
   * work_order: 'WO-7' }): at most 16, keys of 1 to 64 characters of A-Z a-z 0-9 _ . -, values of
   * at most 256 bytes without control characters (beyond: INVALID_ARGUMENT).
   */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * Starts a DFU and yields its events. If the job fails or is cancelled, the last event is
 * `finished` and then the iteration throws the job's error (a BledfuClientError; decodeError gives
 * its reason, e.g. DFU_REMOTE_ERROR or CANCELLED, and a grpcCode as a failed call would have).
 * An error thrown without a `finished` event before it is the call's own failure. Aborting
 * `signal` stops watching only: the job continues on the server.
 */
export async function* startDfu(client: BledfuClient, params: StartDfuParams, call: CallControl = {}): AsyncGenerator<DfuEvent> {
  const stream = client.startDfu(
    {
      package:
        'data' in params.package
          ? { $case: 'packageData', packageData: Buffer.from(params.package.data) }
          : { $case: 'packageId', packageId: params.package.packageId },
      target: params.target,
      adapterId: params.adapterId ?? '',
      options: dfuOptionsMessage(params.options),
      captureHci: params.captureHci ?? false,
      labels: { ...params.labels },
    },
    callOptions(call),
  );
  yield* jobEvents(stream);
}

/** Like startDfu for an existing job: a snapshot first, then live events; ends like startDfu. */
export async function* watchJob(client: BledfuClient, jobId: string, call: CallControl = {}): AsyncGenerator<DfuEvent> {
  yield* jobEvents(client.watchJob({ jobId }, callOptions(call)));
}

/** Streams a package to the server in chunks; the returned id can be used with startDfu. */
export async function uploadPackage(
  client: BledfuClient,
  data: Uint8Array,
  options: CallControl & { chunkSize?: number } = {},
): Promise<UploadPackageResponse> {
  const chunkSize = options.chunkSize ?? 256 * 1024;
  async function* chunks(): AsyncGenerator<{ chunk: Buffer }> {
    for (let at = 0; at < data.length; at += chunkSize) yield { chunk: Buffer.from(data.subarray(at, at + chunkSize)) };
  }
  return client.uploadPackage(chunks(), callOptions(options));
}

/**
 * A DfuOptions message from the fields a caller set; every other field is its "server's default"
 * value (retries unset: the default 3, since 0 means no retries). StartDfu and StartCampaign both
 * send it.
 */
export function dfuOptionsMessage(options: Partial<DfuOptions> | undefined): DfuOptions {
  return {
    prn: 0,
    mtu: 0,
    retries: undefined,
    buttonless: 0,
    scanTimeout: undefined,
    requestTimeout: undefined,
    disableResume: false,
    skipIfFirmwareRevision: '',
    ...options,
  };
}
