/** Campaigns between proto (campaign.proto) and the campaign layer (server/campaigns/types.ts). */
import {
  CampaignDeviceState,
  CampaignState,
  CampaignStopReason,
  type Campaign as CampaignMessage,
  type CampaignCounts as CampaignCountsMessage,
  type CampaignDevice as CampaignDeviceMessage,
  type CampaignEvent as CampaignEventMessage,
  type CampaignFilter as CampaignFilterMessage,
  type StartCampaignRequest,
} from '../../proto/gen/bledfu/v1/campaign.js';
import { ButtonlessMode, type DfuOptions as DfuOptionsMessage } from '../../proto/gen/bledfu/v1/dfu.js';
import { parseAddress } from '../ble/address.js';
import { normalizeUuid } from '../ble/uuid.js';
import { isEmptyFilter } from '../campaigns/filter.js';
import {
  DEFAULT_RETRY_POLICY,
  type CampaignCounts,
  type CampaignDevice,
  type CampaignDeviceState as DomainDeviceState,
  type CampaignEvent,
  type CampaignFilter,
  type CampaignSnapshot,
  type CampaignSpec,
  type CampaignState as DomainState,
  type CampaignStopReason as DomainStopReason,
} from '../campaigns/types.js';
import { BledfuError } from '../common/errors.js';
import type { DfuOptions } from '../dfu/types.js';
import { durationFromMs } from './duration.js';
import { addressToProto } from './mapBle.js';
import { deviceInfoToProto, dfuOptionsFromProto, imageInfoToProto } from './mapJobs.js';
import { errorDetailFor } from './status.js';
import { msFromDuration } from './validate.js';

/** Bounds of StartCampaignRequest (campaign.proto); validate.ts checks strings and sizes first. */
export const CAMPAIGN_LIMITS = {
  parallelPerAdapter: 64,
  maxDevices: 100_000,
  maxAttempts: 20,
  retryDelay: { field: 'retry.delay', minMs: 0, maxMs: 3_600_000 },
  duration: { field: 'duration', minMs: 1, maxMs: 7 * 86_400_000 },
} as const;

function invalid(message: string, remedy: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', message, { layer: 'rpc', remedy });
}

export function campaignFilterFromProto(f: CampaignFilterMessage | undefined): CampaignFilter {
  const remedy = 'set at least one filter field (name, name_prefix, service_uuid, manufacturer_id, min_rssi, addresses): a campaign with no filter would update every device in range';
  if (f === undefined) throw invalid('filter is required', remedy);
  if (f.manufacturerId === undefined && f.manufacturerDataPrefix.length > 0) {
    throw invalid('filter.manufacturer_data_prefix needs filter.manufacturer_id', 'give the company identifier the data belongs to (e.g. 89 for Nordic Semiconductor)');
  }
  if (f.manufacturerId !== undefined && (!Number.isInteger(f.manufacturerId) || f.manufacturerId < 0 || f.manufacturerId > 0xffff)) {
    throw invalid(`filter.manufacturer_id ${f.manufacturerId} is out of range 0 to 65535`, 'give a Bluetooth SIG company identifier');
  }
  if (f.minRssi !== undefined && (!Number.isInteger(f.minRssi) || f.minRssi < -127 || f.minRssi > 20)) {
    throw invalid(`filter.min_rssi ${f.minRssi} is out of range -127 to 20 dBm`, 'give a minimum RSSI in dBm, e.g. -70');
  }
  const filter: CampaignFilter = {
    ...(f.name === '' ? {} : { name: f.name }),
    ...(f.namePrefix === '' ? {} : { namePrefix: f.namePrefix }),
    ...(f.serviceUuid === '' ? {} : { serviceUuid: normalizeUuid(f.serviceUuid) }),
    ...(f.manufacturerId === undefined ? {} : { manufacturerId: f.manufacturerId, manufacturerDataPrefix: Uint8Array.from(f.manufacturerDataPrefix) }),
    ...(f.minRssi === undefined ? {} : { minRssi: f.minRssi }),
    ...(f.addresses.length === 0 ? {} : { addresses: [...new Set(f.addresses.map((a) => parseAddress(a).value))] }),
  };
  if (isEmptyFilter(filter)) throw invalid('filter has no field set', remedy);
  return filter;
}

/** The campaign as asked for; adapterIds empty means every adapter (the manager resolves it). */
export function campaignSpecFromProto(r: StartCampaignRequest): CampaignSpec {
  const parallel = r.parallelPerAdapter === 0 ? 1 : r.parallelPerAdapter;
  if (parallel > CAMPAIGN_LIMITS.parallelPerAdapter) {
    throw invalid(`parallel_per_adapter ${parallel} is out of range 1 to ${CAMPAIGN_LIMITS.parallelPerAdapter}`, 'give the jobs to run at once per adapter (0 means 1)');
  }
  if (r.maxDevices > CAMPAIGN_LIMITS.maxDevices) {
    throw invalid(`max_devices ${r.maxDevices} is out of range 0 to ${CAMPAIGN_LIMITS.maxDevices}`, 'give 0 for no limit, or the number of devices to take');
  }
  const attempts = r.retry?.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > CAMPAIGN_LIMITS.maxAttempts) {
    throw invalid(`retry.max_attempts ${attempts} is out of range 1 to ${CAMPAIGN_LIMITS.maxAttempts}`, 'give 1 (never retry) to 20, or leave it unset for 3');
  }
  const delayMs = msFromDuration(r.retry?.delay, DEFAULT_RETRY_POLICY.delayMs, CAMPAIGN_LIMITS.retryDelay);
  const durationMs = msFromDuration(r.duration, 0, CAMPAIGN_LIMITS.duration);
  return {
    name: r.name,
    filter: campaignFilterFromProto(r.filter),
    adapterIds: [...new Set(r.adapterIds)],
    parallelPerAdapter: parallel,
    retry: { maxAttempts: attempts, delayMs },
    maxDevices: r.maxDevices,
    durationMs,
    includeBootloaders: r.includeBootloaders,
    options: dfuOptionsFromProto(r.options),
    labels: { ...r.labels },
  };
}

const BUTTONLESS: Readonly<Record<DfuOptions['buttonless'], ButtonlessMode>> = {
  auto: ButtonlessMode.BUTTONLESS_MODE_AUTO,
  required: ButtonlessMode.BUTTONLESS_MODE_REQUIRED,
  off: ButtonlessMode.BUTTONLESS_MODE_OFF,
};

/** The options the campaign's jobs run with, as the client would have to send them. */
export function dfuOptionsToProto(o: DfuOptions): DfuOptionsMessage {
  return {
    prn: o.prn,
    mtu: o.mtu,
    retries: o.retries,
    buttonless: BUTTONLESS[o.buttonless],
    scanTimeout: durationFromMs(o.scanTimeoutMs),
    requestTimeout: durationFromMs(o.requestTimeoutMs),
    disableResume: o.disableResume,
    skipIfFirmwareRevision: o.skipIfFirmwareRevision ?? '',
  };
}

function filterToProto(f: CampaignFilter): CampaignFilterMessage {
  return {
    name: f.name ?? '',
    namePrefix: f.namePrefix ?? '',
    serviceUuid: f.serviceUuid ?? '',
    ...(f.manufacturerId === undefined ? {} : { manufacturerId: f.manufacturerId }),
    manufacturerDataPrefix: Buffer.from(f.manufacturerDataPrefix ?? new Uint8Array(0)),
    ...(f.minRssi === undefined ? {} : { minRssi: f.minRssi }),
    addresses: [...(f.addresses ?? [])],
  };
}

const STATES: Readonly<Record<DomainState, CampaignState>> = {
  running: CampaignState.CAMPAIGN_STATE_RUNNING,
  stopping: CampaignState.CAMPAIGN_STATE_STOPPING,
  ended: CampaignState.CAMPAIGN_STATE_ENDED,
};

const STOP_REASONS: Readonly<Record<DomainStopReason, CampaignStopReason>> = {
  stopped: CampaignStopReason.CAMPAIGN_STOP_REASON_STOPPED,
  'max-devices': CampaignStopReason.CAMPAIGN_STOP_REASON_MAX_DEVICES,
  duration: CampaignStopReason.CAMPAIGN_STOP_REASON_DURATION,
  'server-shutdown': CampaignStopReason.CAMPAIGN_STOP_REASON_SERVER_SHUTDOWN,
};

const DEVICE_STATES: Readonly<Record<DomainDeviceState, CampaignDeviceState>> = {
  waiting: CampaignDeviceState.CAMPAIGN_DEVICE_STATE_WAITING,
  running: CampaignDeviceState.CAMPAIGN_DEVICE_STATE_RUNNING,
  'retry-wait': CampaignDeviceState.CAMPAIGN_DEVICE_STATE_RETRY_WAIT,
  succeeded: CampaignDeviceState.CAMPAIGN_DEVICE_STATE_SUCCEEDED,
  'up-to-date': CampaignDeviceState.CAMPAIGN_DEVICE_STATE_UP_TO_DATE,
  failed: CampaignDeviceState.CAMPAIGN_DEVICE_STATE_FAILED,
  'not-done': CampaignDeviceState.CAMPAIGN_DEVICE_STATE_NOT_DONE,
};

export function campaignCountsToProto(c: CampaignCounts): CampaignCountsMessage {
  return { ...c };
}

export function campaignDeviceToProto(d: CampaignDevice): CampaignDeviceMessage {
  return {
    address: addressToProto(d.address),
    name: d.name ?? '',
    foundInBootloader: d.foundInBootloader,
    rssi: d.rssi,
    state: DEVICE_STATES[d.state],
    jobIds: [...d.jobIds],
    adapterId: d.adapterId,
    foundAt: new Date(d.foundAt),
    endedAt: d.endedAt === undefined ? undefined : new Date(d.endedAt),
    lastError: d.lastError === undefined ? undefined : errorDetailFor(d.lastError),
    deviceInfo: d.deviceInfo === undefined ? undefined : deviceInfoToProto(d.deviceInfo),
    firmwareRevision: d.firmwareRevision ?? '',
  };
}

export function campaignToProto(c: CampaignSnapshot): CampaignMessage {
  const s = c.spec;
  return {
    campaignId: c.id,
    name: s.name,
    state: STATES[c.state],
    stopReason: c.stopReason === undefined ? CampaignStopReason.CAMPAIGN_STOP_REASON_UNSPECIFIED : STOP_REASONS[c.stopReason],
    createdAt: new Date(c.createdAt),
    endedAt: c.endedAt === undefined ? undefined : new Date(c.endedAt),
    filter: filterToProto(s.filter),
    adapterIds: [...s.adapterIds],
    parallelPerAdapter: s.parallelPerAdapter,
    retry: { maxAttempts: s.retry.maxAttempts, delay: durationFromMs(s.retry.delayMs) },
    maxDevices: s.maxDevices,
    duration: s.durationMs === 0 ? undefined : durationFromMs(s.durationMs),
    includeBootloaders: s.includeBootloaders,
    options: dfuOptionsToProto(s.options),
    labels: { ...s.labels },
    packageSha256: c.packageSha256,
    images: c.images.map(imageInfoToProto),
    requestedBy: c.requestedBy ?? '',
    stoppedBy: c.stoppedBy ?? '',
    counts: campaignCountsToProto(c.counts),
    devices: c.devices.map(campaignDeviceToProto),
    deviceLimitReached: c.deviceLimitReached,
  };
}

export function campaignEventToProto(e: CampaignEvent): CampaignEventMessage {
  const base = { campaignId: e.campaignId, time: new Date(e.time), counts: campaignCountsToProto(e.counts) };
  switch (e.kind) {
    case 'snapshot':
      return { ...base, kind: { $case: 'snapshot', snapshot: campaignToProto(e.campaign) } };
    case 'device':
      return { ...base, kind: { $case: 'device', device: campaignDeviceToProto(e.device) } };
    case 'stopping':
      return { ...base, kind: { $case: 'stopping', stopping: campaignToProto(e.campaign) } };
    case 'ended':
      return { ...base, kind: { $case: 'ended', ended: campaignToProto(e.campaign) } };
  }
}
