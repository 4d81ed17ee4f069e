/**
 * What kind of DFU a connected device offers, from its GATT services (spec §1.3 order).
 */
import { normalizeUuid, UUIDS } from '../../ble/uuid.js';
import type { GattCharacteristic, GattService } from '../../ble/types.js';

export type DfuCapability =
  | { readonly kind: 'bootloader'; readonly controlPoint: GattCharacteristic; readonly packet: GattCharacteristic }
  | { readonly kind: 'buttonless'; readonly bonded: boolean; readonly characteristic: GattCharacteristic }
  /** SDK 12 experimental buttonless; only used when explicitly enabled. */
  | { readonly kind: 'experimental'; readonly characteristic: GattCharacteristic }
  | { readonly kind: 'legacy' }
  | { readonly kind: 'none' };

function findChar(services: readonly GattService[], service: string, char: string): GattCharacteristic | undefined {
  const s = normalizeUuid(service);
  const c = normalizeUuid(char);
  for (const svc of services) {
    if (normalizeUuid(svc.uuid) !== s) continue;
    const hit = svc.characteristics.find((x) => normalizeUuid(x.uuid) === c);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

export function findCharacteristic(services: readonly GattService[], service: string, char: string): GattCharacteristic | undefined {
  return findChar(services, service, char);
}

export function detectDfu(services: readonly GattService[]): DfuCapability {
  const cp = findChar(services, UUIDS.secureDfuService, UUIDS.dfuControlPoint);
  const dp = findChar(services, UUIDS.secureDfuService, UUIDS.dfuPacket);
  if (cp !== undefined && dp !== undefined) return { kind: 'bootloader', controlPoint: cp, packet: dp };
  const bonded = findChar(services, UUIDS.secureDfuService, UUIDS.buttonlessWithBonds);
  if (bonded !== undefined) return { kind: 'buttonless', bonded: true, characteristic: bonded };
  const unbonded = findChar(services, UUIDS.secureDfuService, UUIDS.buttonlessWithoutBonds);
  if (unbonded !== undefined) return { kind: 'buttonless', bonded: false, characteristic: unbonded };
  const experimental = findChar(services, UUIDS.experimentalButtonless, UUIDS.experimentalButtonless);
  if (experimental !== undefined) return { kind: 'experimental', characteristic: experimental };
  if (services.some((s) => normalizeUuid(s.uuid) === normalizeUuid(UUIDS.legacyDfuService))) return { kind: 'legacy' };
  return { kind: 'none' };
}
