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

/** Names for the services a DFU client may meet (spec §1), for "what was found" in errors. */
const SERVICE_NAMES: ReadonlyMap<string, string> = new Map([
  [normalizeUuid(UUIDS.secureDfuService), 'Secure DFU'],
  [normalizeUuid(UUIDS.legacyDfuService), 'legacy DFU (nRF5 SDK ≤ 11, Adafruit nRF52)'],
  [normalizeUuid(UUIDS.experimentalButtonless), 'SDK 12 experimental buttonless DFU'],
  [normalizeUuid('8D53DC1D-1DB7-4CD3-868B-8A527460AA84'), 'MCUboot SMP (nRF Connect SDK), not supported'],
  [normalizeUuid(UUIDS.genericAccessService), 'Generic Access'],
  [normalizeUuid(UUIDS.genericAttributeService), 'Generic Attribute'],
  [normalizeUuid(UUIDS.deviceInformationService), 'Device Information'],
]);

/** The device's services in words, e.g. "180A (Device Information), 1234", or "no services". */
export function describeServices(services: readonly GattService[]): string {
  if (services.length === 0) return 'no services';
  return services
    .map((s) => {
      const uuid = normalizeUuid(s.uuid);
      const name = SERVICE_NAMES.get(uuid);
      return name === undefined ? uuid : `${uuid} (${name})`;
    })
    .join(', ');
}
