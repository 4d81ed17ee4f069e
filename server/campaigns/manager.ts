/**
 * The server's campaigns: starts them, routes their jobs' ends to them, keeps ended ones for a
 * while (like finished jobs), and ends them all when the server shuts down. A campaign belongs
 * to the server, not to the call that started it: watchers come and go.
 */
import { randomUUID } from 'node:crypto';
import { realClock, type Clock } from '../common/clock.js';
import { BledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { quoteInput } from '../common/quote.js';
import type { DeviceMemory } from '../dfu/types.js';
import type { AdapterDirectory, JobId, JobListener } from '../jobs/types.js';
import { Campaign, type CampaignJobs } from './campaign.js';
import {
  MAX_ACTIVE_CAMPAIGNS,
  MAX_DEVICES_PER_CAMPAIGN,
  RETAIN_ENDED_CAMPAIGNS,
  type CampaignEvent,
  type CampaignId,
  type CampaignSnapshot,
  type StartCampaignInput,
} from './types.js';

/** What the campaign manager needs of the job manager (JobManager has it). */
export interface CampaignJobSource extends CampaignJobs {
  onEvent(listener: JobListener): () => void;
  get(id: string): import('../jobs/types.js').JobSnapshot;
}

/** Hears every campaign's events (metrics); must be cheap, what it throws is logged. */
export type CampaignListener = (event: CampaignEvent) => void;

export interface CampaignManagerOptions {
  readonly jobs: CampaignJobSource;
  readonly adapters: AdapterDirectory;
  /** The server's device memory: ties bootloaders met earlier to their devices. */
  readonly devices?: Pick<DeviceMemory, 'recall'>;
  readonly logger: Logger;
  /** The server's clock (default real): durations, retry delays, timestamps. */
  readonly clock?: Clock;
  readonly newId?: () => string;
  /** Defaults MAX_ACTIVE_CAMPAIGNS, RETAIN_ENDED_CAMPAIGNS, MAX_DEVICES_PER_CAMPAIGN (tests lower them). */
  readonly maxActive?: number;
  readonly retainEnded?: number;
  readonly maxDevicesPerCampaign?: number;
}

export class CampaignManager {
  readonly #opts: CampaignManagerOptions;
  readonly #clock: Clock;
  readonly #campaigns = new Map<CampaignId, Campaign>();
  readonly #endedOrder: CampaignId[] = [];
  readonly #jobCampaign = new Map<JobId, Campaign>();
  readonly #listeners = new Set<CampaignListener>();
  readonly #unsubscribe: () => void;
  #closing = false;

  constructor(options: CampaignManagerOptions) {
    this.#opts = options;
    this.#clock = options.clock ?? realClock;
    this.#unsubscribe = options.jobs.onEvent((event, ref) => {
      if (event.kind !== 'finished') return;
      const campaign = this.#jobCampaign.get(ref.id);
      if (campaign === undefined) return;
      this.#jobCampaign.delete(ref.id);
      campaign.jobFinished(this.#opts.jobs.get(ref.id), event.result);
    });
  }

  /**
   * Starts a campaign: resolves its adapters (every adapter when the spec names none), starts
   * its scans and returns its first snapshot. The package is the manager's from the call on
   * (released when the campaign ends, or here when start throws). Throws JOB_QUEUE_FULL when
   * MAX_ACTIVE_CAMPAIGNS are running, ADAPTER_NOT_FOUND for an unknown adapter id, and
   * ADAPTER_UNAVAILABLE while the server shuts down.
   */
  start(input: StartCampaignInput): CampaignSnapshot {
    try {
      return this.#start(input);
    } catch (e) {
      input.package.release();
      throw e;
    }
  }

  #start(input: StartCampaignInput): CampaignSnapshot {
    if (this.#closing) {
      throw new BledfuError('ADAPTER_UNAVAILABLE', 'the server is shutting down', { layer: 'jobs', remedy: 'start the campaign again once the server is back' });
    }
    const limit = this.#opts.maxActive ?? MAX_ACTIVE_CAMPAIGNS;
    const active = [...this.#campaigns.values()].filter((c) => c.state !== 'ended').length;
    if (active >= limit) {
      throw new BledfuError('JOB_QUEUE_FULL', `${active} campaigns are running, the server's limit`, {
        layer: 'jobs',
        remedy: 'stop a campaign (ListCampaigns shows them) or wait for one to end; one campaign can watch several adapters',
      });
    }
    const known = this.#opts.adapters.list().map((a) => a.id);
    const adapterIds = input.spec.adapterIds.length === 0 ? known : [...new Set(input.spec.adapterIds)];
    for (const id of adapterIds) {
      if (!known.includes(id)) {
        throw new BledfuError('ADAPTER_NOT_FOUND', `no adapter ${quoteInput(id)}`, {
          layer: 'jobs',
          remedy: `use one of the server's adapters (ListAdapters): ${known.join(', ') || 'none is configured'}`,
        });
      }
    }
    if (adapterIds.length === 0) {
      throw new BledfuError('ADAPTER_NOT_FOUND', 'the server has no adapter', { layer: 'jobs', remedy: 'start the server with an adapter (--adapter)' });
    }
    const id = (this.#opts.newId ?? randomUUID)() as CampaignId;
    const campaign = new Campaign(id, { ...input.spec, adapterIds }, input.package, input.requester, {
      jobs: this.#opts.jobs,
      adapters: this.#opts.adapters,
      devices: this.#opts.devices,
      clock: this.#clock,
      logger: this.#opts.logger,
      maxDevices: this.#opts.maxDevicesPerCampaign ?? MAX_DEVICES_PER_CAMPAIGN,
      onEvent: (event) => this.#notify(event),
      onJobStarted: (jobId, c) => this.#jobCampaign.set(jobId, c),
      onJobEnded: (jobId) => this.#jobCampaign.delete(jobId),
      onEnded: (c) => this.#ended(c),
    });
    this.#campaigns.set(id, campaign);
    const snapshot = campaign.snapshot();
    this.#notify({ kind: 'snapshot', campaignId: id, time: campaign.createdAt, campaign: snapshot, counts: snapshot.counts });
    campaign.begin();
    return campaign.snapshot();
  }

  get(id: string): CampaignSnapshot {
    return this.#campaign(id).snapshot();
  }

  /** Running and stopping campaigns first, then ended ones (newest first); without devices. */
  list(filter: { readonly activeOnly?: boolean } = {}): CampaignSnapshot[] {
    const all = [...this.#campaigns.values()];
    const active = all.filter((c) => c.state !== 'ended').map((c) => c.snapshot(false));
    if (filter.activeOnly === true) return active;
    const ended = all.filter((c) => c.state === 'ended').reverse().map((c) => c.snapshot(false));
    return [...active, ...ended];
  }

  /**
   * The campaign's events from now on: a snapshot first, `ended` last (at once for an ended
   * campaign). Throws CAMPAIGN_NOT_FOUND at once, before any streaming.
   */
  watch(id: string, signal: AbortSignal): AsyncIterable<CampaignEvent> {
    return this.#campaign(id).watch(signal);
  }

  /**
   * Stops the campaign taking devices; `cancelJobs` cancels its running jobs too. `by` is the
   * caller's identity (Campaign.stopped_by). An ended campaign is returned unchanged.
   */
  stop(id: string, options: { readonly cancelJobs?: boolean; readonly by?: string | undefined } = {}): CampaignSnapshot {
    const campaign = this.#campaign(id);
    if (campaign.state !== 'ended') campaign.stopTaking('stopped', options.by, options.cancelJobs === true);
    return campaign.snapshot();
  }

  /** Calls `listener` with every event of every campaign from now on; returns the unsubscribe function. */
  onEvent(listener: CampaignListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Stops every campaign (SERVER_SHUTDOWN) and refuses new ones. Call before the job manager's
   * shutdown, which cancels the campaigns' jobs; each campaign ends as its jobs do.
   */
  shutdown(): void {
    this.#closing = true;
    for (const c of this.#campaigns.values()) if (c.state === 'running') c.stopTaking('server-shutdown', undefined);
  }

  /** Stops listening to the job manager (after shutdown, for tests that build many managers). */
  close(): void {
    this.#unsubscribe();
  }

  #campaign(id: string): Campaign {
    const c = this.#campaigns.get(id as CampaignId);
    if (c === undefined) {
      throw new BledfuError('CAMPAIGN_NOT_FOUND', `no campaign with id ${quoteInput(id)}`, {
        layer: 'jobs',
        remedy: 'list campaigns to see the ids this server knows; ended campaigns are forgotten after a while, and all of them when the server restarts',
      });
    }
    return c;
  }

  #notify(event: CampaignEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (e) {
        this.#opts.logger.error({ err: e, campaignId: event.campaignId }, 'campaign event listener failed');
      }
    }
  }

  #ended(c: Campaign): void {
    this.#endedOrder.push(c.id);
    const retain = this.#opts.retainEnded ?? RETAIN_ENDED_CAMPAIGNS;
    while (this.#endedOrder.length > retain) {
      const old = this.#endedOrder.shift();
      if (old !== undefined) this.#campaigns.delete(old);
    }
  }
}
