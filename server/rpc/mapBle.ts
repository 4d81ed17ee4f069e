/** proto ⇄ ble/ values: addresses, targets, adapters, advertisements, GATT layout. */
import { AdapterKind, AdapterState, AddressSource, type Adapter as AdapterMessage } from '../../proto/gen/bledfu/v1/adapter.js';
import { AddressType, type Address, type Target } from '../../proto/gen/bledfu/v1/common.js';
import {
  CharacteristicProperty,
  type GattService as GattServiceMessage,
} from '../../proto/gen/bledfu/v1/connect.js';
import type { Advertisement as AdvertisementMessage } from '../../proto/gen/bledfu/v1/scan.js';
import { parseAddress, type AddressType as DomainAddressType, type DeviceAddress } from '../ble/address.js';
import {
  CharProps,
  type AdapterInfo,
  type AdapterKind as DomainAdapterKind,
  type AdapterState as DomainAdapterState,
  type AddressSource as DomainAddressSource,
  type Advertisement,
  type GattService,
} from '../ble/types.js';
import { UUIDS } from '../ble/uuid.js';
import { BledfuError } from '../common/errors.js';
import type { DfuTarget } from '../dfu/types.js';
import { errorDetailFor } from './status.js';

export function addressToProto(address: DeviceAddress): Address {
  return { value: address.value, type: address.type === 'public' ? AddressType.ADDRESS_TYPE_PUBLIC : AddressType.ADDRESS_TYPE_RANDOM };
}

function addressTypeFromProto(type: AddressType): DomainAddressType {
  // Unspecified means "the user typed an address": nRF5 devices use random static addresses.
  return type === AddressType.ADDRESS_TYPE_PUBLIC ? 'public' : 'random';
}

export function addressFromProto(address: Address): DeviceAddress {
  return parseAddress(address.value, addressTypeFromProto(address.type));
}

/** A request's target; INVALID_ARGUMENT when missing or malformed. */
export function targetFromProto(target: Target | undefined): DfuTarget {
  const selector = target?.selector;
  switch (selector?.$case) {
    case 'address':
      return { kind: 'address', address: addressFromProto(selector.address) };
    case 'name':
      if (selector.name.trim() === '') break;
      return { kind: 'name', name: selector.name };
    case undefined:
      break;
  }
  throw new BledfuError('INVALID_ARGUMENT', 'target is required: set target.address or target.name', {
    layer: 'rpc',
    remedy: 'name the device by its address ("F0:12:34:56:78:9A") or by its exact advertised name',
  });
}

export function targetToProto(target: DfuTarget): Target {
  switch (target.kind) {
    case 'address':
      return { selector: { $case: 'address', address: addressToProto(target.address) } };
    case 'name':
      return { selector: { $case: 'name', name: target.name } };
  }
}

const ADAPTER_KINDS = {
  simulated: AdapterKind.ADAPTER_KIND_SIMULATED,
  'hci-uart': AdapterKind.ADAPTER_KIND_HCI_UART,
  'nordic-connectivity': AdapterKind.ADAPTER_KIND_NORDIC_CONNECTIVITY,
} as const satisfies Record<DomainAdapterKind, AdapterKind>;

const ADAPTER_STATES = {
  opening: AdapterState.ADAPTER_STATE_OPENING,
  ready: AdapterState.ADAPTER_STATE_READY,
  failed: AdapterState.ADAPTER_STATE_FAILED,
  closed: AdapterState.ADAPTER_STATE_CLOSED,
} as const satisfies Record<DomainAdapterState, AdapterState>;

const ADDRESS_SOURCES = {
  public: AddressSource.ADDRESS_SOURCE_PUBLIC,
  'controller-static': AddressSource.ADDRESS_SOURCE_CONTROLLER_STATIC,
  generated: AddressSource.ADDRESS_SOURCE_GENERATED,
} as const satisfies Record<DomainAddressSource, AddressSource>;

export function adapterToProto(info: AdapterInfo): AdapterMessage {
  return {
    id: info.id,
    kind: ADAPTER_KINDS[info.kind],
    spec: info.spec,
    state: ADAPTER_STATES[info.state],
    address: info.address === undefined ? undefined : addressToProto(info.address),
    identity: info.identity,
    activeConnections: info.activeConnections,
    maxConnections: info.maxConnections,
    error: info.error === undefined ? undefined : errorDetailFor(info.error),
    addressSource: info.addressSource === undefined ? AddressSource.ADDRESS_SOURCE_UNSPECIFIED : ADDRESS_SOURCES[info.addressSource],
    workarounds: [...(info.workarounds ?? [])],
  };
}

export function isDfuBootloader(ad: Advertisement): boolean {
  return ad.serviceUuids.includes(UUIDS.secureDfuService);
}

export function advertisementToProto(ad: Advertisement): AdvertisementMessage {
  return {
    address: addressToProto(ad.address),
    name: ad.name ?? '',
    rssi: ad.rssi,
    serviceUuids: [...ad.serviceUuids],
    manufacturerData: ad.manufacturerData.map((m) => ({ companyId: m.companyId, data: Buffer.from(m.data) })),
    connectable: ad.connectable,
    dfuBootloader: isDfuBootloader(ad),
    seenAt: new Date(ad.receivedAt),
    rawData: Buffer.from(ad.data),
  };
}

const PROPERTY_BITS: readonly [number, CharacteristicProperty][] = [
  [CharProps.broadcast, CharacteristicProperty.CHARACTERISTIC_PROPERTY_BROADCAST],
  [CharProps.read, CharacteristicProperty.CHARACTERISTIC_PROPERTY_READ],
  [CharProps.writeWithoutResponse, CharacteristicProperty.CHARACTERISTIC_PROPERTY_WRITE_WITHOUT_RESPONSE],
  [CharProps.write, CharacteristicProperty.CHARACTERISTIC_PROPERTY_WRITE],
  [CharProps.notify, CharacteristicProperty.CHARACTERISTIC_PROPERTY_NOTIFY],
  [CharProps.indicate, CharacteristicProperty.CHARACTERISTIC_PROPERTY_INDICATE],
  [CharProps.authenticatedSignedWrites, CharacteristicProperty.CHARACTERISTIC_PROPERTY_AUTHENTICATED_SIGNED_WRITES],
  [CharProps.extendedProperties, CharacteristicProperty.CHARACTERISTIC_PROPERTY_EXTENDED_PROPERTIES],
];

export function gattToProto(services: readonly GattService[]): GattServiceMessage[] {
  return services.map((s) => ({
    uuid: s.uuid,
    startHandle: s.startHandle,
    endHandle: s.endHandle,
    characteristics: s.characteristics.map((c) => ({
      uuid: c.uuid,
      declarationHandle: c.handle,
      valueHandle: c.valueHandle,
      properties: PROPERTY_BITS.filter(([bit]) => (c.properties & bit) !== 0).map(([, p]) => p),
    })),
  }));
}

/** HCI disconnect reasons (Core Vol 1, Part F) users actually meet, in words. */
const DISCONNECT_REASONS: Readonly<Record<number, string>> = {
  0x05: 'authentication failure',
  0x08: 'connection timeout (supervision timeout: the device went out of range or reset)',
  0x13: 'remote user terminated the connection',
  0x14: 'remote device terminated: low resources',
  0x15: 'remote device terminated: power off',
  0x16: 'connection terminated by the local host',
  0x1a: 'unsupported remote feature',
  0x22: 'LL response timeout',
  0x28: 'instant passed',
  0x3b: 'unacceptable connection parameters',
  0x3d: 'connection terminated due to MIC failure',
  0x3e: 'connection failed to be established',
};

export function disconnectReasonText(reason: number): string {
  const hex = `0x${reason.toString(16).padStart(2, '0')}`;
  const text = DISCONNECT_REASONS[reason];
  return text === undefined ? `HCI status ${hex}` : `${text} (${hex})`;
}
