/** UploadPackage and StartDfu, plus the job event stream StartDfu and WatchJob share. */
import type {
  StartDfuRequest,
  UploadPackageRequest,
  UploadPackageResponse,
  JobEvent as JobEventMessage,
} from '../../proto/gen/bledfu/v1/dfu.js';
import { BledfuError, throwIfAborted } from '../common/errors.js';
import { imageSummaries } from '../dfu/package/summaries.js';
import type { PackageLease } from '../jobs/packageStore.js';
import type { JobRequester } from '../jobs/types.js';
import { deviceConnectedError } from './connectSessions.js';
import type { ServiceDeps } from './deps.js';
import { targetFromProto } from './mapBle.js';
import { isLegacyPackage, packageProtocol } from '../dfu/package/images.js';
import { dfuOptionsFromProto, dfuProtocolToProto, imageInfoToProto, jobEventToProto } from './mapJobs.js';

function tooLarge(size: number, limit: number): BledfuError {
  return new BledfuError('PACKAGE_TOO_LARGE', `package of ${size} bytes or more exceeds the limit of ${limit} bytes`, {
    layer: 'rpc',
    remedy: 'check that this is the right file, or raise the server\'s request size limit (BLEDFU_MAX_REQUEST_BYTES)',
  });
}

/** Bytes copied between two turns of the event loop while joining an upload's chunks. */
const JOIN_SLICE_BYTES = 1024 * 1024;

/**
 * Buffer.concat, in slices with the event loop's other work in between: joining a 64 MiB upload
 * is one long copy (tens of ms; eight uploads ending together, hundreds), which would hold up
 * every running DFU's timers and notifications.
 */
async function joinYielding(chunks: readonly Uint8Array[], size: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const chunk of chunks) {
    for (let from = 0; from < chunk.length; from += JOIN_SLICE_BYTES) {
      const slice = chunk.subarray(from, from + JOIN_SLICE_BYTES);
      out.set(slice, at);
      at += slice.length;
      if (size > JOIN_SLICE_BYTES) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return out;
}

export async function uploadPackage(
  deps: ServiceDeps,
  requests: AsyncIterable<UploadPackageRequest>,
): Promise<UploadPackageResponse> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const { chunk } of requests) {
    size += chunk.length;
    // Refuse as soon as the limit is passed rather than buffering an oversized upload.
    if (size > deps.maxPackageBytes) throw tooLarge(size, deps.maxPackageBytes);
    chunks.push(chunk);
  }
  if (size === 0) throw new BledfuError('INVALID_ARGUMENT', 'no package bytes were sent', { layer: 'rpc' });
  const stored = await deps.packages.put(await joinYielding(chunks, size));
  deps.logger.info({ packageId: stored.id, size: stored.size, images: stored.pkg.images.length }, 'package uploaded');
  return {
    packageId: stored.id,
    size: stored.size,
    sha256: stored.sha256,
    images: imageSummaries(stored.pkg).map(imageInfoToProto),
    protocol: dfuProtocolToProto(packageProtocol(stored.pkg)),
    legacyDfuVersion: isLegacyPackage(stored.pkg) && stored.pkg.dfuVersion !== undefined ? String(stored.pkg.dfuVersion) : '',
  };
}

/**
 * The job's hold on its package in the package store: one copy of the images however many jobs
 * use the package, counted in the store's budget, until the job ends.
 */
export async function packageOf(deps: ServiceDeps, request: Pick<StartDfuRequest, 'package'>): Promise<PackageLease> {
  const source = request.package;
  switch (source?.$case) {
    case 'packageData':
      if (source.packageData.length > deps.maxPackageBytes) throw tooLarge(source.packageData.length, deps.maxPackageBytes);
      return deps.packages.acquire(source.packageData);
    case 'packageId':
      return deps.packages.lease(source.packageId);
    case undefined:
      throw new BledfuError('INVALID_ARGUMENT', 'a package is required: set package_data or package_id', { layer: 'rpc' });
  }
}

/**
 * Everything is checked before the job exists, so a bad request never reaches a device and
 * never shows up as a failed job.
 */
export async function* startDfu(
  deps: ServiceDeps,
  request: StartDfuRequest,
  callSignal: AbortSignal,
  /** Who asked: the job's requestedBy and its audit record. */
  requester?: JobRequester,
): AsyncGenerator<JobEventMessage> {
  const adapter = deps.adapters.get(request.adapterId);
  const target = targetFromProto(request.target);
  const options = dfuOptionsFromProto(request.options);
  // A device this server holds for a Connect call does not advertise: say so now rather than
  // after a scan timeout's worth of DEVICE_NOT_FOUND.
  const held = deps.connections.holding(target);
  if (held !== undefined) throw deviceConnectedError(target, held, deps.clock);
  // A full queue refuses before the package is read (create() checks again: the queue may have
  // filled meanwhile).
  deps.jobs.checkRoom(adapter, target);
  const lease = await packageOf(deps, request);
  // A client that left while its package was being read never learns the job's id: a job
  // started now would update the device with nobody able to follow or cancel it.
  if (callSignal.aborted) {
    lease.release();
    throwIfAborted(callSignal);
  }
  // From here the job manager owns the lease: it releases it when the job ends, or if it refuses the job.
  const job = deps.jobs.create({
    pkg: lease.pkg,
    releasePackage: () => lease.release(),
    target,
    options,
    adapter,
    captureHci: request.captureHci,
    ...(requester === undefined ? {} : { requester }),
    labels: request.labels,
  });
  yield* streamJob(deps, job.id, callSignal);
}

/**
 * A job's events for one call: snapshot first, then live events, last `finished`. The contract
 * (service.proto, StartDfu): a stream that delivered `finished` ends OK whatever the job's
 * outcome, which is in the event; a non-OK status means the call failed and no `finished` was
 * sent. So a failed job is not thrown here, and a stream that stops without `finished` (while the
 * caller is still there) is, lest its OK read as "the job ended". The call going away only stops
 * this stream; the job carries on.
 */
export async function* streamJob(deps: ServiceDeps, jobId: string, callSignal: AbortSignal): AsyncGenerator<JobEventMessage> {
  // Not tied to deps.stopping: on shutdown every job ends first, so watchers get their
  // `finished` event (CANCELLED) instead of a silently cut stream.
  const events = deps.jobs.watch(jobId, callSignal);
  for await (const event of events) {
    yield jobEventToProto(event);
    if (event.kind === 'finished') return;
  }
  throwIfAborted(callSignal);
  throw new BledfuError('STREAM_ENDED', `the events of job ${jobId} stopped before the job ended`, {
    layer: 'rpc',
    remedy: `the job may still be running: GetJob or WatchJob ${jobId} tells how it ends`,
  });
}
