/**
 * A gRPC server with only the campaign side of BledfuService (and UploadPackage, ListJobs,
 * ListAuditRecords, which `campaign start`, `jobs list --campaign` and `audit --campaign` use):
 * scripted campaigns and events, so the CLI's handling of a campaign's every outcome is tested
 * without a radio. Every other method answers UNIMPLEMENTED. It records the requests it got.
 */
import { createServer, ServerError, Status, type Server } from 'nice-grpc';
import { Campaign, CampaignCounts, type CampaignEvent, type StartCampaignRequest } from '../../proto/gen/bledfu/v1/campaign.js';
import type { ListAuditRecordsRequest } from '../../proto/gen/bledfu/v1/audit.js';
import type { ListJobsRequest } from '../../proto/gen/bledfu/v1/dfu.js';
import { BledfuServiceDefinition } from '../../proto/gen/bledfu/v1/service.js';

export interface ScriptedCampaign {
  /** The campaign as GetCampaign/ListCampaigns/StopCampaign return it. */
  campaign: Campaign;
  /** What WatchCampaign sends, in order (snapshot first). */
  readonly events: readonly CampaignEvent[];
  /** Keep the watch stream open after the events (until the client goes away), as a running campaign's would. */
  readonly holdOpen?: boolean;
}

export interface FakeCampaignServer {
  readonly address: string;
  readonly campaigns: Map<string, ScriptedCampaign>;
  /** What StartCampaign was asked (the campaign it returns is `startAs`'s). */
  readonly starts: StartCampaignRequest[];
  /** The campaign StartCampaign starts: its id must be in `campaigns`. */
  startAs: string;
  readonly stops: { campaignId: string; cancelJobs: boolean }[];
  readonly uploads: number[];
  readonly listJobs: ListJobsRequest[];
  readonly listAudit: ListAuditRecordsRequest[];
  /** Watch streams the client ended (by going away). */
  watchesAborted: number;
  close(): Promise<void>;
}

function notFound(id: string): ServerError {
  return new ServerError(Status.NOT_FOUND, `no campaign ${id}`);
}

export async function startFakeCampaignServer(): Promise<FakeCampaignServer> {
  const fake: Omit<FakeCampaignServer, 'address' | 'close'> = {
    campaigns: new Map(),
    starts: [],
    startAs: '',
    stops: [],
    uploads: [],
    listJobs: [],
    listAudit: [],
    watchesAborted: 0,
  };
  const find = (id: string): ScriptedCampaign => {
    const c = fake.campaigns.get(id);
    if (c === undefined) throw notFound(id);
    return c;
  };
  const implemented: Record<string, unknown> = {
    async uploadPackage(chunks: AsyncIterable<{ chunk: Uint8Array }>) {
      let size = 0;
      for await (const { chunk } of chunks) size += chunk.length;
      fake.uploads.push(size);
      return { packageId: `pkg-${fake.uploads.length}`, size };
    },
    async startCampaign(request: StartCampaignRequest) {
      fake.starts.push(request);
      return { campaign: find(fake.startAs).campaign };
    },
    async *watchCampaign(request: { campaignId: string }, context: { signal: AbortSignal }) {
      const c = find(request.campaignId);
      for (const event of c.events) yield { event };
      if (c.holdOpen === true) {
        await new Promise<void>((resolve) => context.signal.addEventListener('abort', () => resolve(), { once: true }));
        fake.watchesAborted++;
      }
    },
    async getCampaign(request: { campaignId: string }) {
      return { campaign: find(request.campaignId).campaign };
    },
    async listCampaigns(request: { activeOnly: boolean }) {
      const all = [...fake.campaigns.values()].map((c) => ({ ...c.campaign, devices: [] }));
      return { campaigns: request.activeOnly ? all.filter((c) => c.state !== 3) : all };
    },
    async stopCampaign(request: { campaignId: string; cancelJobs: boolean }) {
      const c = find(request.campaignId);
      fake.stops.push({ campaignId: request.campaignId, cancelJobs: request.cancelJobs });
      if (c.campaign.state === 1) c.campaign = { ...c.campaign, state: 2, stopReason: 1 };
      return { campaign: c.campaign };
    },
    async listJobs(request: ListJobsRequest) {
      fake.listJobs.push(request);
      return { jobs: [] };
    },
    async listAuditRecords(request: ListAuditRecordsRequest) {
      fake.listAudit.push(request);
      return { records: [], nextPageToken: '' };
    },
  };
  const implementation: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(BledfuServiceDefinition.methods)) {
    implementation[name] =
      implemented[name] ??
      (method.responseStream
        ? // eslint-disable-next-line require-yield
          async function* unimplemented() {
            throw new ServerError(Status.UNIMPLEMENTED, `${name} is not part of the fake`);
          }
        : async () => {
            throw new ServerError(Status.UNIMPLEMENTED, `${name} is not part of the fake`);
          });
  }
  const server: Server = createServer();
  server.add(BledfuServiceDefinition, implementation as never);
  const port = await server.listen('127.0.0.1:0');
  return Object.assign(fake, {
    address: `127.0.0.1:${port}`,
    close: () => server.shutdown(),
  });
}

/** Counts from the states of `devices` (found: all of them). */
export function countsOf(states: readonly number[], jobs = states.length): CampaignCounts {
  const n = (s: number): number => states.filter((x) => x === s).length;
  return CampaignCounts.fromPartial({ found: states.length, waiting: n(1), running: n(2), retryWait: n(3), succeeded: n(4), upToDate: n(5), failed: n(6), notDone: n(7), jobs });
}

export { Campaign };
