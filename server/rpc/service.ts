/**
 * BledfuService: each RPC delegates to its module; this file only adds the request bounds (every
 * request passes its `validateRequest` check before the handler sees it), the error rule (every
 * failure leaves through toServerError) and a per-call child logger.
 */
import type { CallContext, ServiceImplementation } from 'nice-grpc';
import type { BledfuServiceDefinition } from '../../proto/gen/bledfu/v1/service.js';
import type { Logger } from '../common/logger.js';
import { listAdapters, listSerialPorts } from './adapters.js';
import { listAuditRecords } from './audit.js';
import type { CallerContext } from './auth.js';
import { getCampaign, listCampaigns, startCampaign, stopCampaign, watchCampaign } from './campaigns.js';
import { connect } from './connect.js';
import type { ServiceDeps } from './deps.js';
import { startDfu, streamJob, uploadPackage } from './dfu.js';
import { cancelJob, getJob, getJobCapture, listJobs, requiredJobId } from './jobs.js';
import { scan } from './scan.js';
import { toServerError } from './status.js';
import { validateRequest as valid } from './validate.js';

/** Needs callerMiddleware on the server: every handler reads the caller from its context. */
export function createBledfuService(deps: ServiceDeps): ServiceImplementation<BledfuServiceDefinition, CallerContext> {
  const unary = async <T>(method: string, fn: () => T | Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw toServerError(e, deps.logger.child({ method }));
    }
  };
  async function* streaming<T>(method: string, context: CallContext, fn: () => AsyncGenerator<T>): AsyncGenerator<T> {
    const log: Logger = deps.logger.child({ method });
    try {
      yield* fn();
    } catch (e) {
      // The client is gone: nobody would read the status, and the abort is not a failure.
      if (context.signal.aborted) return;
      throw toServerError(e, log);
    }
  }

  return {
    listAdapters: () => unary('ListAdapters', () => listAdapters(deps)),
    listSerialPorts: () => unary('ListSerialPorts', () => listSerialPorts(deps)),
    scan: (request, context) => streaming('Scan', context, () => scan(deps, valid.scan(request), context.signal)),
    connect: (request, context) => streaming('Connect', context, () => connect(deps, valid.connect(request), context.signal, context.caller)),
    uploadPackage: (requests) => unary('UploadPackage', () => uploadPackage(deps, requests)),
    startDfu: (request, context) =>
      streaming('StartDfu', context, async function* () {
        const { identity, peer } = context.caller;
        for await (const event of startDfu(deps, valid.startDfu(request), context.signal, { ...(identity === undefined ? {} : { identity }), peer })) yield { event };
      }),
    listJobs: (request) => unary('ListJobs', () => listJobs(deps, valid.listJobs(request))),
    getJob: (request) => unary('GetJob', () => getJob(deps, valid.getJob(request))),
    watchJob: (request, context) =>
      streaming('WatchJob', context, async function* () {
        for await (const event of streamJob(deps, requiredJobId(valid.watchJob(request).jobId), context.signal)) yield { event };
      }),
    cancelJob: (request, context) => unary('CancelJob', () => cancelJob(deps, valid.cancelJob(request), context.caller)),
    getJobCapture: (request, context) => streaming('GetJobCapture', context, () => getJobCapture(deps, valid.getJobCapture(request), context.caller)),
    listAuditRecords: (request) => unary('ListAuditRecords', () => listAuditRecords(deps.audit, valid.listAuditRecords(request))),
    startCampaign: (request, context) =>
      unary('StartCampaign', () => {
        const { identity, peer } = context.caller;
        return startCampaign(deps, valid.startCampaign(request), context.signal, { ...(identity === undefined ? {} : { identity }), peer });
      }),
    watchCampaign: (request, context) =>
      streaming('WatchCampaign', context, async function* () {
        for await (const event of watchCampaign(deps, valid.watchCampaign(request).campaignId, context.signal)) yield { event };
      }),
    getCampaign: (request) => unary('GetCampaign', () => getCampaign(deps, valid.getCampaign(request))),
    listCampaigns: (request) => unary('ListCampaigns', () => listCampaigns(deps, request)),
    stopCampaign: (request, context) => unary('StopCampaign', () => stopCampaign(deps, valid.stopCampaign(request), context.caller)),
    // BASE-STUB inventory (replaced by server/rpc/inventory.ts)
    inventory: () => unary('Inventory', () => notYet()),
  };
}

// BASE-STUB: removed when the inventory handler lands.
function notYet(): never {
  throw new Error('not implemented yet');
}
