/**
 * Telling devices apart, from what they advertise and, once probed, from their GATT services.
 * Pure functions: the inventory's rules in one place, tested without a radio.
 */
import { offsetLastOctet, type DeviceAddress } from '../ble/address.js';
import type { GattService } from '../ble/types.js';
import { normalizeUuid, UUIDS, type Uuid } from '../ble/uuid.js';
import type { DeviceKind } from './types.js';

/** The legacy DFU service's packet characteristic (nRF5 SDK ≤ 11). */
export const LEGACY_DFU_PACKET: Uuid = '00001532-1212-EFDE-1523-785FEABCD123';

/**
 * What the advertised service UUIDs alone say. Only bootloaders advertise their DFU service
 * (the SDK's applications do not advertise FE59), so FE59 means a Secure DFU bootloader and the
 * legacy DFU service a legacy one; anything else needs a probe: 'unknown'.
 */
export function kindFromAdvertisement(serviceUuids: readonly Uuid[]): DeviceKind {
  if (serviceUuids.includes(UUIDS.secureDfuService)) return 'bootloader';
  if (serviceUuids.includes(UUIDS.legacyDfuService)) return 'legacy';
  return 'unknown';
}

export interface ProbedKind {
  readonly kind: Exclude<DeviceKind, 'unknown'>;
  readonly bondedButtonless: boolean;
}

/**
 * What a connected device is, from its services (characteristics of FE59 and the legacy DFU
 * service discovered), in the order a DFU client looks (spec §1.3): a bootloader's control point
 * and packet first, then the bonded and the unbonded buttonless characteristic, the SDK 12
 * experimental buttonless service (an application the engine can send to its bootloader), the
 * legacy DFU service with its packet characteristic (a legacy bootloader: an SDK ≤ 11
 * application exposes only the control point, for its own buttonless entry, which bledfu does
 * not drive), else an application without DFU.
 */
export function kindFromServices(services: readonly GattService[]): ProbedKind {
  const has = (service: Uuid, characteristic: Uuid): boolean =>
    services.some((s) => normalizeUuid(s.uuid) === service && s.characteristics.some((c) => normalizeUuid(c.uuid) === characteristic));
  if (has(UUIDS.secureDfuService, UUIDS.dfuControlPoint) && has(UUIDS.secureDfuService, UUIDS.dfuPacket)) return { kind: 'bootloader', bondedButtonless: false };
  if (has(UUIDS.secureDfuService, UUIDS.buttonlessWithBonds)) return { kind: 'buttonless', bondedButtonless: true };
  if (has(UUIDS.secureDfuService, UUIDS.buttonlessWithoutBonds)) return { kind: 'buttonless', bondedButtonless: false };
  if (has(UUIDS.experimentalButtonless, UUIDS.experimentalButtonless)) return { kind: 'buttonless', bondedButtonless: false };
  if (has(UUIDS.legacyDfuService, LEGACY_DFU_PACKET)) return { kind: 'legacy', bondedButtonless: false };
  return { kind: 'no-dfu', bondedButtonless: false };
}

/** The services whose characteristics a probe discovers: what kindFromServices and the DIS read look at. */
export const PROBED_SERVICES: readonly Uuid[] = [UUIDS.secureDfuService, UUIDS.experimentalButtonless, UUIDS.legacyDfuService, UUIDS.deviceInformationService];

/**
 * The application a bootloader likely stands for: the one the device memory ties to it (known),
 * else the SDK's rule — the bootloader advertises at its application's address + 1 — undone
 * (a guess: another vendor's bootloader may use any address).
 */
export function applicationAddressOf(
  bootloader: DeviceAddress,
  remembered: DeviceAddress | undefined,
): { readonly address: DeviceAddress; readonly known: boolean } {
  if (remembered !== undefined) return { address: remembered, known: true };
  return { address: offsetLastOctet(bootloader, -1), known: false };
}

/** Merges UUID lists, keeping the first occurrence's order. */
export function mergeUuids(a: readonly Uuid[], b: readonly Uuid[]): Uuid[] {
  const out = [...a];
  for (const u of b) if (!out.includes(u)) out.push(u);
  return out;
}
