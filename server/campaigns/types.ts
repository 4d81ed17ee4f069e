/**
 * The campaign layer's own vocabulary (proto/bledfu/v1/campaign.proto is the contract it serves).
 * A campaign watches the air on its adapters and starts one ordinary job (JobManager) per matching
 * device; the RPC layer maps these types to proto, nothing here knows gRPC.
 */
import type { DeviceAddress } from '../ble/address.js';
import type { BledfuError } from '../common/errors.js';
import type { DeviceInfo, DfuOptions, AnyDfuPackage, ImageSummary } from '../dfu/types.js';
import type { PackageLease } from '../jobs/packageStore.js';
import type { JobId, JobLabels, JobRequester } from '../jobs/types.js';

/** A campaign id (a UUID); branded so a job id cannot be passed where a campaign id is expected. */
export type CampaignId = string & { readonly __brand: 'CampaignId' };

/**
 * Which advertisements are devices for the campaign; every field that is set must match, and at
 * least one must be set (the RPC layer refuses an empty filter). Values are normalised: UUIDs by
 * ble/uuid.ts normalizeUuid, addresses upper-case "AA:BB:CC:DD:EE:FF".
 */
export interface CampaignFilter {
  readonly name?: string;
  readonly namePrefix?: string;
  readonly serviceUuid?: string;
  readonly manufacturerId?: number;
  /** Only with manufacturerId: its data must start with these bytes. */
  readonly manufacturerDataPrefix?: Uint8Array;
  /** dBm; an advertisement with unknown RSSI (127) passes. */
  readonly minRssi?: number;
  readonly addresses?: readonly string[];
}

export interface CampaignRetryPolicy {
  /** Jobs per device at most, the first included (1–20). */
  readonly maxAttempts: number;
  /** Pause between a failed job and the device's next one, on the server's clock. */
  readonly delayMs: number;
}

export const DEFAULT_RETRY_POLICY: CampaignRetryPolicy = { maxAttempts: 3, delayMs: 5_000 };

/** What a campaign is started with (validated and defaulted by the RPC layer). */
export interface CampaignSpec {
  /** For people; may be empty. */
  readonly name: string;
  readonly filter: CampaignFilter;
  /** The adapters to watch and update with; empty: every adapter of the server (resolved at start). */
  readonly adapterIds: readonly string[];
  /** Campaign jobs active (queued or running) at once per adapter, ≥ 1. */
  readonly parallelPerAdapter: number;
  readonly retry: CampaignRetryPolicy;
  /** Devices to take at most; 0: no limit. */
  readonly maxDevices: number;
  /** Stop taking devices after this long on the server's clock; 0: no limit. */
  readonly durationMs: number;
  readonly includeBootloaders: boolean;
  /** Options of every job. */
  readonly options: DfuOptions;
  /** Labels of every job. */
  readonly labels: JobLabels;
}

/**
 * The campaign's hold on its package for its whole life (so an uploaded package cannot be evicted
 * while devices still come by), and the source of one more lease per job it starts.
 */
export interface CampaignPackage {
  readonly pkg: AnyDfuPackage;
  readonly sha256: string;
  /** A lease for one job (the job manager releases it when the job ends). */
  leaseForJob(): PackageLease;
  /** Gives the campaign's own hold back, when the campaign ends; only the first call counts. */
  release(): void;
}

export interface StartCampaignInput {
  readonly spec: CampaignSpec;
  /** Owned by the manager from the call on: released when the campaign ends, or when start() throws. */
  readonly package: CampaignPackage;
  readonly requester?: JobRequester;
}

export type CampaignState = 'running' | 'stopping' | 'ended';

export type CampaignStopReason = 'stopped' | 'max-devices' | 'duration' | 'server-shutdown';

export const CAMPAIGN_DEVICE_STATES = ['waiting', 'running', 'retry-wait', 'succeeded', 'up-to-date', 'failed', 'not-done'] as const;
export type CampaignDeviceState = (typeof CAMPAIGN_DEVICE_STATES)[number];
/** States a device never leaves. */
export const FINAL_DEVICE_STATES: readonly CampaignDeviceState[] = ['succeeded', 'up-to-date', 'failed', 'not-done'];

/** One device of a campaign, as it is at one moment (immutable). */
export interface CampaignDevice {
  /** Where the campaign first saw it; its jobs target this address. */
  readonly address: DeviceAddress;
  /** The name it advertised when first seen. */
  readonly name: string | undefined;
  readonly foundInBootloader: boolean;
  /** The strongest RSSI seen (127: never measured). */
  readonly rssi: number;
  readonly state: CampaignDeviceState;
  /** Oldest first, one per attempt. */
  readonly jobIds: readonly JobId[];
  /** The adapter of its last job, or the first that saw it while it waits. */
  readonly adapterId: string;
  /** Milliseconds since the epoch, server clock. */
  readonly foundAt: number;
  readonly endedAt: number | undefined;
  /** Why its last job did not succeed; undefined once succeeded or up to date. */
  readonly lastError: BledfuError | undefined;
  readonly deviceInfo: DeviceInfo | undefined;
  /** Reported after its update (JobResult.firmwareRevision). */
  readonly firmwareRevision: string | undefined;
}

export interface CampaignCounts {
  /** Devices taken (the sum of the states). */
  readonly found: number;
  readonly waiting: number;
  readonly running: number;
  readonly retryWait: number;
  readonly succeeded: number;
  readonly upToDate: number;
  readonly failed: number;
  readonly notDone: number;
  /** Jobs started (retries count too). */
  readonly jobs: number;
}

/** A campaign as it is at one moment; immutable. */
export interface CampaignSnapshot {
  readonly id: CampaignId;
  readonly state: CampaignState;
  /** Undefined while running. */
  readonly stopReason: CampaignStopReason | undefined;
  readonly createdAt: number;
  readonly endedAt: number | undefined;
  /** As started, with adapterIds resolved. */
  readonly spec: CampaignSpec;
  readonly packageSha256: string;
  readonly images: readonly ImageSummary[];
  readonly requestedBy: string | undefined;
  readonly stoppedBy: string | undefined;
  readonly counts: CampaignCounts;
  /** In the order found; empty in list() results (counts only). */
  readonly devices: readonly CampaignDevice[];
  /**
   * The campaign reached MAX_DEVICES_PER_CAMPAIGN: further matching devices were not taken (and
   * not remembered).
   */
  readonly deviceLimitReached: boolean;
}

/** What a watcher receives, in order: a snapshot first; `ended` last when the campaign ends. */
export type CampaignEvent =
  | { readonly kind: 'snapshot'; readonly campaignId: CampaignId; readonly time: number; readonly campaign: CampaignSnapshot; readonly counts: CampaignCounts }
  | { readonly kind: 'device'; readonly campaignId: CampaignId; readonly time: number; readonly device: CampaignDevice; readonly counts: CampaignCounts }
  | { readonly kind: 'stopping'; readonly campaignId: CampaignId; readonly time: number; readonly campaign: CampaignSnapshot; readonly counts: CampaignCounts }
  | { readonly kind: 'ended'; readonly campaignId: CampaignId; readonly time: number; readonly campaign: CampaignSnapshot; readonly counts: CampaignCounts };

/** Devices one campaign takes at most: beyond, matching devices are not taken (deviceLimitReached). */
export const MAX_DEVICES_PER_CAMPAIGN = 5000;
/** Campaigns running or stopping at once; one more is refused (JOB_QUEUE_FULL). */
export const MAX_ACTIVE_CAMPAIGNS = 16;
/** Ended campaigns kept for GetCampaign/ListCampaigns/WatchCampaign; the oldest are forgotten first. */
export const RETAIN_ENDED_CAMPAIGNS = 64;
/** Events one watcher may have pending before it is cut off (it reconnects and gets a fresh snapshot). */
export const WATCH_QUEUE_LIMIT = 10_000;
