/**
 * A campaign's filter, compiled once: which advertisements are devices for the campaign
 * (campaign.proto CampaignFilter). A bootloader of the protocol the campaign's package speaks —
 * Secure DFU (advertising FE59) or legacy DFU (advertising the 0x1530 DFU service, as the nRF5
 * SDK ≤ 11 and Adafruit bootloaders do) — passes as a bootloader when the campaign includes
 * bootloaders: its name ("DfuTarg", "AdaDFU") says nothing about the device, so only min_rssi and
 * the address list still apply to it. A bootloader of the other protocol could not take the
 * package (its job would fail GATT_SERVICE_MISSING), so it is no bootloader for this campaign.
 */
import { offsetLastOctet } from '../ble/address.js';
import type { Advertisement } from '../ble/types.js';
import { normalizeUuid, UUIDS } from '../ble/uuid.js';
import type { DfuProtocol } from '../dfu/types.js';
import type { CampaignFilter } from './types.js';

const BOOTLOADER_SERVICE: Readonly<Record<DfuProtocol, string>> = {
  secure: normalizeUuid(UUIDS.secureDfuService),
  legacy: normalizeUuid(UUIDS.legacyDfuService),
};
/** What an advertisement reports when the controller did not measure its RSSI. */
export const RSSI_UNKNOWN = 127;

/**
 * 'device': it matches every field of the filter. 'bootloader': a bootloader of the campaign's
 * protocol, taken by include_bootloaders (or, without it, one that may only be a known device's).
 * undefined: not for the campaign.
 */
export type FilterMatch = 'device' | 'bootloader' | undefined;

export type CompiledFilter = (adv: Advertisement) => FilterMatch;

/** The advertisement lists the DFU service of a `protocol` bootloader. */
export function advertisesDfuBootloader(adv: Advertisement, protocol: DfuProtocol): boolean {
  const service = BOOTLOADER_SERVICE[protocol];
  return adv.serviceUuids.some((u) => normalizeUuid(u) === service);
}

/** True when no field of the filter is set (the RPC layer refuses such a campaign). */
export function isEmptyFilter(f: CampaignFilter): boolean {
  return (
    (f.name ?? '') === '' &&
    (f.namePrefix ?? '') === '' &&
    (f.serviceUuid ?? '') === '' &&
    f.manufacturerId === undefined &&
    f.minRssi === undefined &&
    (f.addresses ?? []).length === 0
  );
}

/** `protocol`: the campaign's package's, which decides which bootloaders are its own. */
export function compileFilter(filter: CampaignFilter, protocol: DfuProtocol = 'secure'): CompiledFilter {
  const name = nonEmpty(filter.name);
  const prefix = nonEmpty(filter.namePrefix);
  const uuid = filter.serviceUuid === undefined || filter.serviceUuid === '' ? undefined : normalizeUuid(filter.serviceUuid);
  const companyId = filter.manufacturerId;
  const dataPrefix = filter.manufacturerDataPrefix ?? new Uint8Array(0);
  const minRssi = filter.minRssi;
  const addresses = (filter.addresses ?? []).length === 0 ? undefined : new Set(filter.addresses?.map((a) => a.toUpperCase()));

  const strongEnough = (adv: Advertisement): boolean => minRssi === undefined || adv.rssi === RSSI_UNKNOWN || adv.rssi >= minRssi;
  const listed = (adv: Advertisement, bootloader: boolean): boolean =>
    addresses === undefined || addresses.has(adv.address.value) || (bootloader && addresses.has(offsetLastOctet(adv.address, -1).value));
  const describedBy = (adv: Advertisement): boolean => {
    if (name !== undefined && adv.name !== name) return false;
    if (prefix !== undefined && (adv.name === undefined || !adv.name.startsWith(prefix))) return false;
    if (uuid !== undefined && !adv.serviceUuids.some((u) => normalizeUuid(u) === uuid)) return false;
    if (companyId !== undefined && !adv.manufacturerData.some((m) => m.companyId === companyId && startsWith(m.data, dataPrefix))) return false;
    return true;
  };

  return (adv) => {
    if (!strongEnough(adv)) return undefined;
    const bootloader = advertisesDfuBootloader(adv, protocol);
    if (!listed(adv, bootloader)) return undefined;
    // A bootloader's advertisement describes no device (every one may be "DfuTarg"): whether it is
    // taken is the campaign's call (a known device's, or include_bootloaders).
    if (bootloader) return 'bootloader';
    return describedBy(adv) ? 'device' : undefined;
  };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}
