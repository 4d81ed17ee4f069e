/** Bluetooth device addresses as users write them: "AA:BB:CC:DD:EE:FF", most significant octet first. */
import { BledfuError } from '../common/errors.js';
import { quoteInput } from '../common/quote.js';

export type AddressType = 'public' | 'random';

export interface DeviceAddress {
  /** Upper-case, colon-separated, most significant octet first. */
  readonly value: string;
  readonly type: AddressType;
}

const PATTERN = /^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/;

export function parseAddress(text: string, type: AddressType = 'random'): DeviceAddress {
  const value = text.trim().toUpperCase().replace(/-/g, ':');
  if (!PATTERN.test(value)) {
    throw new BledfuError('INVALID_ARGUMENT', `not a Bluetooth address: ${quoteInput(text)}`, {
      layer: 'ble',
      remedy: 'write addresses as six hex octets separated by colons, e.g. "F0:12:34:56:78:9A"',
    });
  }
  return { value, type };
}

/** The 6 bytes as they travel over HCI (least significant octet first). */
export function addressToBytes(address: DeviceAddress): Uint8Array {
  return Uint8Array.from(address.value.split(':').reverse(), (h) => parseInt(h, 16));
}

export function addressFromBytes(bytes: Uint8Array, type: AddressType): DeviceAddress {
  if (bytes.length !== 6) throw new BledfuError('MALFORMED_PACKET', 'address must be 6 bytes', { layer: 'ble' });
  const value = Array.from(bytes)
    .reverse()
    .map((b) => b.toString(16).padStart(2, '0').toUpperCase())
    .join(':');
  return { value, type };
}

/** `address` with `delta` added to its least significant octet (the last one written), wrapping without carry. */
export function offsetLastOctet(address: DeviceAddress, delta: number): DeviceAddress {
  const octets = address.value.split(':');
  const last = (parseInt(octets[5] as string, 16) + delta) & 0xff;
  octets[5] = last.toString(16).padStart(2, '0').toUpperCase();
  return { value: octets.join(':'), type: address.type };
}

/**
 * The address a Secure DFU bootloader built without bonds advertises: the least significant
 * octet (the last one written) plus one, wrapping without carry (spec §4.2).
 */
export function bootloaderAddress(app: DeviceAddress): DeviceAddress {
  return offsetLastOctet(app, 1);
}
