/**
 * Inventory: the devices in range and what each is (an application with buttonless DFU, a
 * Secure DFU bootloader and the application it likely stands for, a legacy bootloader, no DFU),
 * with plain options instead of the request message.
 */
import { DeviceKind, type InventoryDevice, type InventoryResponse } from '../../proto/gen/bledfu/v1/inventory.js';
import type { ScanFilter } from '../../proto/gen/bledfu/v1/scan.js';
import { callOptions, type BledfuClient, type CallControl } from './client.js';

export interface InventoryOptions {
  /** Adapters to listen with; default every ready adapter of the server. */
  readonly adapterIds?: readonly string[];
  /** As Scan's filter: every field given must match. */
  readonly filter?: Partial<ScanFilter>;
  /** How long the server listens, 0.1 to 60 s; default the server's (3 s). */
  readonly durationSeconds?: number;
  /** Connect to the devices whose advertisement does not say what they are (slower, tells more). */
  readonly probe?: boolean;
  /** Devices listed at most (1 to 1000); default the server's limit, 1000. */
  readonly maxDevices?: number;
}

/** Calls Inventory: resolves with the devices, strongest first, and whether the list was cut. */
export async function takeInventory(client: BledfuClient, options: InventoryOptions = {}, call: CallControl = {}): Promise<InventoryResponse> {
  const seconds = options.durationSeconds;
  const whole = seconds === undefined ? 0 : Math.floor(seconds);
  return client.inventory(
    {
      adapterIds: [...(options.adapterIds ?? [])],
      filter: options.filter === undefined ? undefined : { name: '', namePrefix: '', address: '', serviceUuid: '', minRssi: undefined, dfuBootloaderOnly: false, ...options.filter },
      duration: seconds === undefined ? undefined : { seconds: whole, nanos: Math.round((seconds - whole) * 1e9) },
      probe: options.probe ?? false,
      maxDevices: options.maxDevices ?? 0,
    },
    callOptions(call),
  );
}

const KIND_NAMES: Readonly<Record<DeviceKind, string>> = {
  [DeviceKind.DEVICE_KIND_UNSPECIFIED]: 'unknown',
  [DeviceKind.DEVICE_KIND_APPLICATION_BUTTONLESS]: 'buttonless',
  [DeviceKind.DEVICE_KIND_SECURE_DFU_BOOTLOADER]: 'bootloader',
  [DeviceKind.DEVICE_KIND_LEGACY_DFU]: 'legacy-dfu',
  [DeviceKind.DEVICE_KIND_NO_DFU]: 'no-dfu',
  [DeviceKind.UNRECOGNIZED]: 'unknown',
};

/**
 * A device's kind in one word: "buttonless" (or "bonded-buttonless"), "bootloader", "legacy-dfu",
 * "no-dfu", or "unknown" (not probed, or its probe failed).
 */
export function deviceKindName(device: Pick<InventoryDevice, 'kind' | 'bondedButtonless'>): string {
  if (device.kind === DeviceKind.DEVICE_KIND_APPLICATION_BUTTONLESS && device.bondedButtonless) return 'bonded-buttonless';
  return KIND_NAMES[device.kind] ?? 'unknown';
}

/** Bootloaders in the list: units stranded in DFU mode (or waiting for an update). */
export function inBootloader(devices: readonly InventoryDevice[]): InventoryDevice[] {
  return devices.filter((d) => d.kind === DeviceKind.DEVICE_KIND_SECURE_DFU_BOOTLOADER || d.kind === DeviceKind.DEVICE_KIND_LEGACY_DFU);
}
