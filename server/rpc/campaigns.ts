/** StartCampaign, WatchCampaign, GetCampaign, ListCampaigns, StopCampaign (campaign.proto). */
import type {
  GetCampaignRequest,
  GetCampaignResponse,
  ListCampaignsRequest,
  ListCampaignsResponse,
  StartCampaignRequest,
  StartCampaignResponse,
  StopCampaignRequest,
  StopCampaignResponse,
  CampaignEvent as CampaignEventMessage,
} from '../../proto/gen/bledfu/v1/campaign.js';
import type { CampaignPackage, CampaignSnapshot } from '../campaigns/types.js';
import { BledfuError, throwIfAborted } from '../common/errors.js';
import type { JobRequester } from '../jobs/types.js';
import type { Caller } from './auth.js';
import type { ServiceDeps } from './deps.js';
import { packageOf } from './dfu.js';
import { mayActOnJob } from './jobAccess.js';
import { campaignEventToProto, campaignSpecFromProto, campaignToProto } from './mapCampaigns.js';

/**
 * Everything is checked before the campaign exists (a bad request never takes a device); the
 * package is leased for the campaign's life, and each job takes its own lease of it.
 */
export async function startCampaign(deps: ServiceDeps, request: StartCampaignRequest, callSignal: AbortSignal, requester?: JobRequester): Promise<StartCampaignResponse> {
  const spec = campaignSpecFromProto(request);
  const lease = await packageOf(deps, request);
  if (callSignal.aborted) {
    lease.release();
    throwIfAborted(callSignal);
  }
  const sha256 = lease.pkg.sha256;
  const pkg: CampaignPackage = {
    pkg: lease.pkg,
    sha256,
    // The campaign's own lease keeps the package in the store, so this always finds it.
    leaseForJob: () => deps.packages.lease(sha256),
    release: () => lease.release(),
  };
  const campaign = deps.campaigns.start({ spec, package: pkg, ...(requester === undefined ? {} : { requester }) });
  deps.logger.info({ campaignId: campaign.id, adapters: campaign.spec.adapterIds, by: requester?.identity }, 'campaign started');
  return { campaign: campaignToProto(campaign) };
}

export function getCampaign(deps: ServiceDeps, request: GetCampaignRequest): GetCampaignResponse {
  return { campaign: campaignToProto(deps.campaigns.get(request.campaignId)) };
}

export function listCampaigns(deps: ServiceDeps, request: ListCampaignsRequest): ListCampaignsResponse {
  return { campaigns: deps.campaigns.list({ activeOnly: request.activeOnly }).map(campaignToProto) };
}

/**
 * Like CancelJob: with a tokens file, only the identity that started the campaign or an admin
 * may stop it (it ends someone's production run).
 */
export function stopCampaign(deps: ServiceDeps, request: StopCampaignRequest, caller: Caller): StopCampaignResponse {
  const campaign = deps.campaigns.get(request.campaignId);
  checkCampaignAccess(caller, campaign);
  const stopped = deps.campaigns.stop(request.campaignId, { cancelJobs: request.cancelJobs, by: caller.identity });
  return { campaign: campaignToProto(stopped) };
}

function checkCampaignAccess(caller: Caller, campaign: CampaignSnapshot): void {
  if (mayActOnJob(caller, { requestedBy: campaign.requestedBy })) return;
  throw new BledfuError('PERMISSION_DENIED', `only the one who started campaign ${campaign.id} (${campaign.requestedBy ?? 'unknown'}) or an admin may stop it; you are ${caller.identity ?? 'unknown'}`, {
    layer: 'rpc',
    remedy: `ask ${campaign.requestedBy ?? 'its starter'} or a holder of an admin token (tokens file role "admin")`,
    facts: { context: { campaignId: campaign.id, requestedBy: campaign.requestedBy ?? '', caller: caller.identity ?? '' } },
  });
}

/**
 * A campaign's events for one call: snapshot first, `ended` last. The call going away only stops
 * this stream; the campaign carries on. A stream cut by the server's shutdown before `ended`
 * fails (STREAM_ENDED) rather than ending OK, lest the OK read as "the campaign ended".
 */
export async function* watchCampaign(deps: ServiceDeps, campaignId: string, callSignal: AbortSignal): AsyncGenerator<CampaignEventMessage> {
  for await (const event of deps.campaigns.watch(campaignId, callSignal)) {
    yield campaignEventToProto(event);
    if (event.kind === 'ended') return;
  }
  throwIfAborted(callSignal);
  throw new BledfuError('STREAM_ENDED', `the events of campaign ${campaignId} stopped before the campaign ended`, {
    layer: 'rpc',
    remedy: `the campaign may still be running: GetCampaign or WatchCampaign ${campaignId} tells how it ends`,
  });
}
