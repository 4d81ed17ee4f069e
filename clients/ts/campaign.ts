/**
 * Campaigns (campaign.proto): start one, follow its events as typed values, read, list and stop
 * them. A campaign belongs to the server like a job: aborting a watch never affects it.
 */
import {
  campaignDeviceStateToJSON,
  campaignStateToJSON,
  CampaignStopReason,
  campaignStopReasonToJSON,
  type Campaign,
  type CampaignCounts,
  type CampaignDeviceState,
  type CampaignState,
  type CampaignDevice,
  type CampaignEvent,
  type CampaignFilter,
  type CampaignRetryPolicy,
} from '../../proto/gen/bledfu/v1/campaign.js';
import type { DfuOptions } from '../../proto/gen/bledfu/v1/dfu.js';
import type { Duration } from '../../proto/gen/google/protobuf/duration.js';
import { callOptions, type BledfuClient, type CallControl } from './client.js';
import { dfuOptionsMessage, type PackageSource } from './dfu.js';

/** One event of WatchCampaign; every one carries the counts after it. */
export type CampaignWatchEvent =
  /** First of every stream: the campaign as it is, devices included. */
  | { readonly type: 'snapshot'; readonly campaignId: string; readonly time: Date | undefined; readonly counts: CampaignCounts; readonly campaign: Campaign }
  /** A device was taken or changed state. */
  | { readonly type: 'device'; readonly campaignId: string; readonly time: Date | undefined; readonly counts: CampaignCounts; readonly device: CampaignDevice }
  /** It stopped taking devices (campaign.stopReason says why); its running jobs go on. */
  | { readonly type: 'stopping'; readonly campaignId: string; readonly time: Date | undefined; readonly counts: CampaignCounts; readonly campaign: Campaign }
  /** It ended: the last event of the stream. */
  | { readonly type: 'ended'; readonly campaignId: string; readonly time: Date | undefined; readonly counts: CampaignCounts; readonly campaign: Campaign };

/** Counts of a campaign that has taken nothing (what an event without counts stands for). */
export const NO_COUNTS: CampaignCounts = Object.freeze({ found: 0, waiting: 0, running: 0, retryWait: 0, succeeded: 0, upToDate: 0, failed: 0, notDone: 0, jobs: 0 });

export function toCampaignWatchEvent(e: CampaignEvent): CampaignWatchEvent | undefined {
  const base = { campaignId: e.campaignId, time: e.time, counts: e.counts ?? NO_COUNTS };
  switch (e.kind?.$case) {
    case 'snapshot':
      return { ...base, type: 'snapshot', campaign: e.kind.snapshot };
    case 'device':
      return { ...base, type: 'device', device: e.kind.device };
    case 'stopping':
      return { ...base, type: 'stopping', campaign: e.kind.stopping };
    case 'ended':
      return { ...base, type: 'ended', campaign: e.kind.ended };
    case undefined:
      // An event kind newer than this client: skip it rather than fail.
      return undefined;
  }
}

export interface StartCampaignParams {
  readonly package: PackageSource;
  /** Which advertisements are devices of the campaign; at least one field (else INVALID_ARGUMENT). */
  readonly filter: Partial<CampaignFilter>;
  /** Adapters to watch and update with; none: every adapter of the server. */
  readonly adapterIds?: readonly string[];
  /** Jobs at once per adapter (1 to 64; default 1). */
  readonly parallelPerAdapter?: number;
  /** Jobs per device at most (first included; server default 3) and the pause between them (default 5 s). */
  readonly retry?: { readonly maxAttempts?: number; readonly delay?: Duration };
  /** Stop taking devices after this many (default: no limit). */
  readonly maxDevices?: number;
  /** Stop taking devices after this long (default: no limit). */
  readonly duration?: Duration;
  /** Also take devices found waiting in a Secure DFU bootloader. */
  readonly includeBootloaders?: boolean;
  /** Options of every job (as startDfu's); skipIfFirmwareRevision skips devices already on it. */
  readonly options?: Partial<DfuOptions>;
  /** Labels of every job (as startDfu's, same limits). */
  readonly labels?: Readonly<Record<string, string>>;
  /** A name for people (at most 128 bytes). */
  readonly name?: string;
}

/** Starts a campaign; returns it as started (state RUNNING). Its jobs are ordinary jobs (Job.campaignId). */
export async function startCampaign(client: BledfuClient, params: StartCampaignParams, call: CallControl = {}): Promise<Campaign> {
  const retry: CampaignRetryPolicy | undefined =
    params.retry === undefined ? undefined : { maxAttempts: params.retry.maxAttempts, delay: params.retry.delay };
  const { campaign } = await client.startCampaign(
    {
      package:
        'data' in params.package
          ? { $case: 'packageData', packageData: Buffer.from(params.package.data) }
          : { $case: 'packageId', packageId: params.package.packageId },
      filter: { name: '', namePrefix: '', serviceUuid: '', manufacturerDataPrefix: Buffer.alloc(0), addresses: [], ...params.filter },
      adapterIds: [...(params.adapterIds ?? [])],
      parallelPerAdapter: params.parallelPerAdapter ?? 0,
      retry,
      maxDevices: params.maxDevices ?? 0,
      duration: params.duration,
      includeBootloaders: params.includeBootloaders ?? false,
      options: dfuOptionsMessage(params.options),
      labels: { ...params.labels },
      name: params.name ?? '',
    },
    callOptions(call),
  );
  if (campaign === undefined) throw new TypeError('StartCampaign answered without a campaign');
  return campaign;
}

/**
 * A campaign's events: a snapshot first, then each change, and `ended` last when it runs to the
 * campaign's end (an ended campaign: snapshot, then ended). Aborting `signal` stops watching only.
 */
export async function* watchCampaign(client: BledfuClient, campaignId: string, call: CallControl = {}): AsyncGenerator<CampaignWatchEvent> {
  for await (const r of client.watchCampaign({ campaignId }, callOptions(call))) {
    const e = r.event === undefined ? undefined : toCampaignWatchEvent(r.event);
    if (e !== undefined) yield e;
  }
}

/** The campaign, devices included. NOT_FOUND (CAMPAIGN_NOT_FOUND) for an unknown one. */
export async function getCampaign(client: BledfuClient, campaignId: string, call: CallControl = {}): Promise<Campaign> {
  const { campaign } = await client.getCampaign({ campaignId }, callOptions(call));
  if (campaign === undefined) throw new TypeError('GetCampaign answered without a campaign');
  return campaign;
}

/** Running and stopping campaigns, then recently ended ones; counts only (no devices). */
export async function listCampaigns(client: BledfuClient, options: { readonly activeOnly?: boolean } & CallControl = {}): Promise<Campaign[]> {
  return (await client.listCampaigns({ activeOnly: options.activeOnly === true }, callOptions(options))).campaigns;
}

/** Stops a campaign taking devices (with cancelJobs: cancels its running jobs too); returns it. */
export async function stopCampaign(
  client: BledfuClient,
  campaignId: string,
  options: { readonly cancelJobs?: boolean } & CallControl = {},
): Promise<Campaign> {
  const { campaign } = await client.stopCampaign({ campaignId, cancelJobs: options.cancelJobs === true }, callOptions(options));
  if (campaign === undefined) throw new TypeError('StopCampaign answered without a campaign');
  return campaign;
}

/** "CAMPAIGN_STATE_RUNNING" → "RUNNING" */
export function campaignStateName(state: CampaignState): string {
  return campaignStateToJSON(state).replace(/^CAMPAIGN_STATE_/, '');
}

/** "CAMPAIGN_DEVICE_STATE_UP_TO_DATE" → "UP_TO_DATE" */
export function campaignDeviceStateName(state: CampaignDeviceState): string {
  return campaignDeviceStateToJSON(state).replace(/^CAMPAIGN_DEVICE_STATE_/, '');
}

/** "CAMPAIGN_STOP_REASON_MAX_DEVICES" → "MAX_DEVICES"; "" while it runs. */
export function campaignStopReasonName(reason: CampaignStopReason): string {
  return reason === CampaignStopReason.CAMPAIGN_STOP_REASON_UNSPECIFIED ? '' : campaignStopReasonToJSON(reason).replace(/^CAMPAIGN_STOP_REASON_/, '');
}
