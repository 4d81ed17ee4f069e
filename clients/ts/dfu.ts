/** Helpers around the job streams: typed events, chunked uploads. */
import type { Target } from '../../proto/gen/bledfu/v1/common.js';
import {
  JobState,
  jobStateToJSON,
  type DfuOptions,
  type DfuProgress,
  type Job,
  type JobEvent,
  type JobResult,
  type UploadPackageResponse,
} from '../../proto/gen/bledfu/v1/dfu.js';
import { callOptions, type BledfuClient, type CallControl } from './client.js';
import { decodeErrorDetail, type DecodedError } from './errors.js';

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
  | {
      readonly type: 'finished';
      readonly jobId: string;
      readonly time: Date | undefined;
      readonly result: JobResult;
      /** Decoded result.error when the job failed or was cancelled. */
      readonly error: DecodedError | undefined;
    };

/** "JOB_STATE_TRANSFERRING" → "TRANSFERRING" */
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
    case 'finished': {
      const r = e.kind.finished;
      return { ...base, type: 'finished', result: r, error: r.error === undefined ? undefined : decodeErrorDetail(r.error) };
    }
    case undefined:
      // An event kind newer than this client: skip it rather than fail.
      return undefined;
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
}

/**
 * Starts a DFU and yields its events. If the job fails, the last event is `finished` and then the
 * iteration throws the call's error (use decodeError). Aborting `signal` stops watching only:
 * the job continues on the server.
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
      options: {
        prn: 0,
        mtu: 0,
        retries: 0,
        buttonless: 0,
        scanTimeout: undefined,
        requestTimeout: undefined,
        disableResume: false,
        ...params.options,
      },
      captureHci: params.captureHci ?? false,
    },
    callOptions(call),
  );
  for await (const r of stream) {
    const e = r.event === undefined ? undefined : toDfuEvent(r.event);
    if (e !== undefined) yield e;
  }
}

/** Like startDfu for an existing job: a snapshot first, then live events. */
export async function* watchJob(client: BledfuClient, jobId: string, call: CallControl = {}): AsyncGenerator<DfuEvent> {
  for await (const r of client.watchJob({ jobId }, callOptions(call))) {
    const e = r.event === undefined ? undefined : toDfuEvent(r.event);
    if (e !== undefined) yield e;
  }
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
