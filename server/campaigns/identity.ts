/**
 * Which campaign device an advertisement is. One device has two faces: its application, and its
 * Secure DFU bootloader (advertising FE59) — at the application's address + 1 (spec §4.2), at an
 * address a job of the campaign found it (JobSnapshot.bootloaderAddress), or where the server's
 * device memory ties a bootloader to an application. A bootloader face is only ever matched against
 * bootloader addresses and an application face against application addresses, so devices with
 * consecutive addresses (a batch flashed in order) are never mistaken for each other's bootloader.
 */
import { offsetLastOctet, type DeviceAddress } from '../ble/address.js';
import type { DeviceMemory } from '../dfu/types.js';

export type Face = 'application' | 'bootloader';

export class DeviceIdentities<T> {
  /** Where each device was first seen (its jobs' target). */
  readonly #primary = new Map<string, T>();
  /** Other addresses its application advertises at. */
  readonly #apps = new Map<string, T>();
  /** Addresses its bootloader advertises at. */
  readonly #bootloaders = new Map<string, T>();
  readonly #memory: Pick<DeviceMemory, 'recall'> | undefined;

  constructor(memory?: Pick<DeviceMemory, 'recall'>) {
    this.#memory = memory;
  }

  get size(): number {
    return this.#primary.size;
  }

  /** Registers a new device first seen at `address` with this face. */
  add(address: DeviceAddress, face: Face, device: T): void {
    this.#primary.set(address.value, device);
    if (face === 'application') this.#bootloaders.set(offsetLastOctet(address, 1).value, device);
    else this.#apps.set(offsetLastOctet(address, -1).value, device);
    for (const e of this.#memory?.recall({ kind: 'address', address }) ?? []) {
      if (face === 'application' && e.appAddress?.value === address.value) this.#bootloaders.set(e.bootloaderAddress.value, device);
      if (face === 'bootloader' && e.bootloaderAddress.value === address.value && e.appAddress !== undefined) this.#apps.set(e.appAddress.value, device);
    }
  }

  /** A job of the device found its bootloader here. */
  addBootloader(address: DeviceAddress, device: T): void {
    if (!this.#primary.has(address.value)) this.#bootloaders.set(address.value, device);
  }

  /** The known device this advertisement comes from, if any. */
  find(address: DeviceAddress, face: Face): T | undefined {
    const v = address.value;
    const known = this.#primary.get(v) ?? (face === 'bootloader' ? this.#bootloaders : this.#apps).get(v);
    if (known !== undefined) return known;
    // The device memory may tie this address to a known device's other face (a bootloader at
    // another address, met by an earlier job or an earlier server run).
    for (const e of this.#memory?.recall({ kind: 'address', address }) ?? []) {
      const other =
        face === 'bootloader'
          ? e.bootloaderAddress.value === v && e.appAddress !== undefined
            ? this.#primary.get(e.appAddress.value) ?? this.#apps.get(e.appAddress.value)
            : undefined
          : e.appAddress?.value === v
            ? this.#primary.get(e.bootloaderAddress.value) ?? this.#bootloaders.get(e.bootloaderAddress.value)
            : undefined;
      if (other !== undefined) {
        (face === 'bootloader' ? this.#bootloaders : this.#apps).set(v, other);
        return other;
      }
    }
    return undefined;
  }
}
