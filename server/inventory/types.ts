/**
 * The inventory's own vocabulary: what a device in range is, as far as updating it goes. The RPC
 * layer maps these to proto (proto/bledfu/v1/inventory.proto is the contract they follow).
 */
import type { DeviceAddress } from '../ble/address.js';
import type { Adapter, Advertisement } from '../ble/types.js';
import type { Uuid } from '../ble/uuid.js';
import type { BledfuError } from '../common/errors.js';
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import type { DeviceInfo } from '../dfu/types.js';

/**
 * 'unknown': not probed (or the probe failed) and the advertisement tells nothing;
 * 'buttonless': an application with Secure DFU buttonless; 'bootloader': a Secure DFU bootloader;
 * 'legacy': a legacy (SDK ≤ 11) DFU bootloader; 'no-dfu': an application without a DFU service
 * the server knows.
 */
export type DeviceKind = 'unknown' | 'buttonless' | 'bootloader' | 'legacy' | 'no-dfu';

export interface InventoryEntry {
  readonly address: DeviceAddress;
  /** The advertised name; undefined when none was heard. */
  readonly name: string | undefined;
  /** The strongest RSSI heard, and the adapter that heard it. */
  readonly rssi: number;
  readonly adapterId: string;
  readonly kind: DeviceKind;
  /** kind 'buttonless' with the bonded variant (8EC90004). */
  readonly bondedButtonless: boolean;
  /** For a bootloader: the application it likely stands for, and whether a job of this server saw it there. */
  readonly applicationAddress: DeviceAddress | undefined;
  readonly applicationAddressKnown: boolean;
  /** Probed applications' Device Information. */
  readonly deviceInfo: DeviceInfo | undefined;
  /** From the advertisement, and from the GATT when probed; in the order first met. */
  readonly serviceUuids: readonly Uuid[];
  readonly connectable: boolean;
  /** Why the probe failed; the entry then stands on its advertisement alone. */
  readonly probeError: BledfuError | undefined;
  /** The running job updating this device (it was not probed). */
  readonly busyJobId: string | undefined;
}

export interface InventoryResult {
  /** Strongest first. */
  readonly devices: readonly InventoryEntry[];
  /** More devices were heard than maxDevices allowed. */
  readonly truncated: boolean;
}

/**
 * What the inventory needs of the rest of the server, as small questions: who updates which
 * device (the job manager), who holds a link for an open Connect call, what the device memory
 * knows of a bootloader, and how many links an adapter can lend without starving a DFU.
 */
export interface InventoryDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** The id of a running job updating (or looking for) the device at `address` advertising `name`. */
  jobUpdating(address: DeviceAddress, name: string | undefined): string | undefined;
  /** Whether an open Connect call holds a link to the device. */
  connectHolds(address: DeviceAddress): boolean;
  /** The application address a job of this server met this bootloader for, when one did. */
  applicationOf(bootloader: DeviceAddress): DeviceAddress | undefined;
  /**
   * Links of `adapter` a probe may take now: what is free after the links its jobs hold or may
   * still need. 0 or less: none.
   */
  freeLinksForProbes(adapter: Adapter): number;
}

export interface InventoryParams {
  readonly adapters: readonly Adapter[];
  /** Which advertisements count (the request's filter). */
  readonly accept: (ad: Advertisement) => boolean;
  /** How long to listen, on deps.clock. */
  readonly durationMs: number;
  readonly probe: boolean;
  /** Devices listed at most (1 to INVENTORY_LIMITS.maxDevices). */
  readonly maxDevices: number;
  /** Ends the whole inventory (the call was cancelled, the server stops). */
  readonly signal: AbortSignal;
}
