/**
 * Where a DFU target may be: running its application as named, or waiting in its bootloader —
 * at the application's address + 1 advertising the Secure DFU service (spec §4.2), or where the
 * server remembers having met it (another address, the random "DfuNNNNN" name a buttonless entry
 * gave it). One scan looks for all of these at once, and whichever answers first is used: a
 * device left in DFU mode by a cancelled or refused update is found by the same name or address
 * the operator used the first time.
 */
import { bootloaderAddress, offsetLastOctet, type DeviceAddress } from '../../ble/address.js';
import type { DeviceMatch } from '../../ble/discovery.js';
import type { Advertisement } from '../../ble/types.js';
import { normalizeUuid, UUIDS } from '../../ble/uuid.js';
import { quoteInput } from '../../common/quote.js';
import type { DeviceClaim, DfuTarget, RememberedDevice } from '../types.js';

const FE59 = normalizeUuid(UUIDS.secureDfuService);
/** Every SDK bootloader's name unless a buttonless entry named it: identifies no one device. */
const DEFAULT_BOOTLOADER_NAME = 'DfuTarg';

export function advertisesDfu(adv: Advertisement): boolean {
  return adv.serviceUuids.some((u) => normalizeUuid(u) === FE59);
}

/** How an advertisement was tied to the target. */
export type Sighting =
  /** It is what the target names (the application, or a bootloader the target addressed directly). */
  | { readonly kind: 'target' }
  /** The target's bootloader; `entry` when the server remembered it, else found at the application's address + 1. */
  | { readonly kind: 'bootloader'; readonly entry: RememberedDevice | undefined }
  /** The application of a device the target named by its bootloader's name or address. */
  | { readonly kind: 'application'; readonly entry: RememberedDevice };

export function targetText(target: DfuTarget): string {
  return target.kind === 'address' ? target.address.value : quoteInput(target.name);
}

/** The device as a person would name it: its application's name if known, else the target as given. */
export function deviceText(target: DfuTarget, entry: RememberedDevice | undefined): string {
  if (entry?.appName !== undefined) return entry.appName;
  // The client's name, quoted (a short prefix, escaped): it lands in job details, errors and the audit log.
  return target.kind === 'address' ? target.address.value : quoteInput(target.name);
}

/** The one match for a scan: the target itself, or its bootloader (remembered or at address + 1). */
export function targetOrBootloader(target: DfuTarget, remembered: readonly RememberedDevice[]): { match: DeviceMatch; classify: (adv: Advertisement) => Sighting } {
  const classify = (adv: Advertisement): Sighting | undefined => {
    if (target.kind === 'address' ? adv.address.value === target.address.value : adv.name === target.name) return { kind: 'target' };
    const dfu = advertisesDfu(adv);
    for (const e of remembered) {
      if (dfu && adv.address.value === e.bootloaderAddress.value) return { kind: 'bootloader', entry: e };
      if (e.bootloaderName !== undefined && e.bootloaderName !== DEFAULT_BOOTLOADER_NAME && adv.name === e.bootloaderName) return { kind: 'bootloader', entry: e };
      // The target named the bootloader; the device has gone back to its application since.
      if (e.appAddress !== undefined && adv.address.value === e.appAddress.value && !dfu) return { kind: 'application', entry: e };
    }
    if (target.kind === 'address' && dfu && adv.address.value === bootloaderAddress(target.address).value) return { kind: 'bootloader', entry: undefined };
    return undefined;
  };
  const where: string[] = [];
  for (const e of remembered.slice(0, 3)) {
    where.push(`its bootloader at ${e.bootloaderAddress.value}${e.bootloaderName === undefined || e.bootloaderName === DEFAULT_BOOTLOADER_NAME ? '' : ` or named ${quoteInput(e.bootloaderName)}`}`);
  }
  if (target.kind === 'address') where.push(`a bootloader (FE59) at ${bootloaderAddress(target.address).value}`);
  const description = `device ${target.kind === 'address' ? target.address.value : `named ${quoteInput(target.name)}`}${where.length === 0 ? '' : ` or ${where.join(' or ')}`}`;
  return {
    match: { kind: 'predicate', description, test: (adv) => classify(adv) !== undefined },
    classify: (adv) => classify(adv) ?? { kind: 'target' },
  };
}

/** The phase detail when the target was met in its bootloader. */
export function foundInBootloaderText(target: DfuTarget, adv: Advertisement, sighting: Sighting, remembered: readonly RememberedDevice[]): string {
  const as = adv.name === undefined ? '' : ` as "${adv.name}"`;
  if (sighting.kind === 'target') {
    // The target named the bootloader itself; the memory may still know whose it is.
    const entry = remembered.find((e) => e.bootloaderAddress.value === adv.address.value);
    return `found ${entry?.appName ?? 'the device'} in its bootloader at ${adv.address.value}${as}; resuming`;
  }
  const how = sighting.kind === 'bootloader' && sighting.entry === undefined ? 'at its address + 1' : 'where an earlier job left it';
  return `found ${deviceText(target, sighting.entry)} in its bootloader at ${adv.address.value}${as} (${how}); resuming`;
}

/**
 * What a job learnt about where a device's bootloader is, for the memory: the application it
 * belongs to when known (the sighting's entry, or the address the target gave when the
 * bootloader was found at + 1).
 */
export function bootloaderFacts(target: DfuTarget, adv: Advertisement, sighting: Sighting): Omit<RememberedDevice, 'at'> {
  const entry = sighting.kind === 'target' ? undefined : sighting.entry;
  const appAddress = entry?.appAddress ?? (sighting.kind === 'bootloader' && target.kind === 'address' ? target.address : undefined);
  const appName = entry?.appName ?? (sighting.kind === 'bootloader' && target.kind === 'name' ? target.name : undefined);
  return { appAddress, appName, bootloaderAddress: adv.address, bootloaderName: adv.name };
}

/** The device behind an advertisement, in both its modes, for the job layer's per-device claim. */
export function claimFor(adv: Advertisement, entry: RememberedDevice | undefined): DeviceClaim {
  const dfu = advertisesDfu(adv);
  const addresses: DeviceAddress[] = [adv.address];
  // No-bonds bootloaders live at the application's address + 1 (spec §4.2).
  addresses.push(dfu ? offsetLastOctet(adv.address, -1) : bootloaderAddress(adv.address));
  if (entry !== undefined) {
    addresses.push(entry.bootloaderAddress);
    if (entry.appAddress !== undefined) addresses.push(entry.appAddress);
  }
  const names = [adv.name, entry?.appName, entry?.bootloaderName].filter((n): n is string => n !== undefined && n !== DEFAULT_BOOTLOADER_NAME);
  const unique = [...new Map(addresses.map((a) => [a.value, a])).values()];
  return { addresses: unique, names: [...new Set(names)], description: `${adv.name ?? adv.address.value} (${adv.address.value})` };
}

const CANDIDATES_LISTED = 3;

/**
 * DEVICE_NOT_FOUND's remedy when the target was not found: bootloaders the scan saw (FE59 or a
 * "Dfu…" name) are likely the device waiting in DFU mode under an address and name the server
 * could not tie to the target; and a remembered bootloader that was not seen is said too.
 */
export function notFoundRemedy(target: DfuTarget, remembered: readonly RememberedDevice[], seen: readonly Advertisement[]): string | undefined {
  const who = deviceText(target, remembered[0]);
  const candidates = seen
    .filter((a) => advertisesDfu(a) || (a.name !== undefined && a.name.startsWith('Dfu')))
    .sort((a, b) => b.rssi - a.rssi)
    .slice(0, CANDIDATES_LISTED);
  const parts: string[] = [];
  if (candidates.length > 0) {
    const listed = candidates.map((a) => `${a.address.value}${a.name === undefined ? '' : ` "${a.name}"`}`).join(', or ');
    const first = candidates[0] as Advertisement;
    parts.push(`${who} may be waiting in its bootloader as ${listed}: start the job with --address ${first.address.value}`);
  }
  const last = remembered[0];
  if (last !== undefined) {
    parts.push(
      `it was last met in its bootloader at ${last.bootloaderAddress.value}${last.bootloaderName === undefined ? '' : ` "${last.bootloaderName}"`} (${new Date(last.at).toISOString()}), which was not seen now: it may have left DFU mode, be powered off or out of range`,
    );
  }
  if (parts.length === 0) return undefined;
  return `${parts.join('; ')}; otherwise check that the device is powered, advertising and in range`;
}
