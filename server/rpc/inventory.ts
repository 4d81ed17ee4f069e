/** Inventory: what each device in range is, as far as updating it goes (server/inventory/). */
import type { Address } from '../../proto/gen/bledfu/v1/common.js';
import { DeviceKind, type InventoryDevice, type InventoryRequest, type InventoryResponse } from '../../proto/gen/bledfu/v1/inventory.js';
import type { Adapter } from '../ble/types.js';
import { linkSignals } from '../common/signals.js';
import { freeLinksForProbes, INVENTORY_LIMITS, takeInventory } from '../inventory/inventory.js';
import type { DeviceKind as DomainDeviceKind, InventoryDeps, InventoryEntry } from '../inventory/types.js';
import type { ServiceDeps } from './deps.js';
import { addressToProto } from './mapBle.js';
import { deviceInfoToProto } from './mapJobs.js';
import { compileFilter } from './scan.js';
import { errorDetailFor } from './status.js';
import { DURATION_RANGES, msFromDuration } from './validate.js';

/** InventoryRequest.duration when unset or zero. */
export const DEFAULT_INVENTORY_DURATION_MS = 3_000;

export async function inventory(deps: ServiceDeps, request: InventoryRequest, callSignal: AbortSignal): Promise<InventoryResponse> {
  const adapters = chosenAdapters(deps, request.adapterIds);
  const accept = compileFilter(request.filter);
  const durationMs = msFromDuration(request.duration, DEFAULT_INVENTORY_DURATION_MS, DURATION_RANGES.inventoryDuration);
  const maxDevices = request.maxDevices === 0 ? INVENTORY_LIMITS.maxDevices : request.maxDevices;
  const inventoryDeps: InventoryDeps = {
    clock: deps.clock,
    logger: deps.logger.child({ method: 'Inventory' }),
    jobUpdating: (address, name) => deps.jobs.jobUpdating(address, name),
    connectHolds: (address) => deps.connections.holding({ kind: 'address', address }) !== undefined,
    applicationOf: (bootloader) => deps.jobs.applicationOf(bootloader),
    freeLinksForProbes: (adapter) => freeLinksForProbes(adapter.info(), deps.jobs.linksForJobs(adapter)),
  };
  const linked = linkSignals(callSignal, deps.stopping);
  try {
    const result = await takeInventory(inventoryDeps, { adapters, accept, durationMs, probe: request.probe, maxDevices, signal: linked.signal });
    return { devices: result.devices.map(entryToProto), truncated: result.truncated };
  } finally {
    linked.dispose();
  }
}

/** The named adapters (each once), or every ready one; the directory's errors when there is none. */
function chosenAdapters(deps: ServiceDeps, ids: readonly string[]): Adapter[] {
  if (ids.length > 0) return [...new Set(ids)].map((id) => deps.adapters.get(id));
  const ready = deps.adapters.list().filter((a) => a.info().state === 'ready');
  // None ready: get() says why (none configured, or none working) as every other call would.
  return ready.length > 0 ? ready : [deps.adapters.get()];
}

const KINDS: Readonly<Record<DomainDeviceKind, DeviceKind>> = {
  unknown: DeviceKind.DEVICE_KIND_UNSPECIFIED,
  buttonless: DeviceKind.DEVICE_KIND_APPLICATION_BUTTONLESS,
  bootloader: DeviceKind.DEVICE_KIND_SECURE_DFU_BOOTLOADER,
  legacy: DeviceKind.DEVICE_KIND_LEGACY_DFU,
  'no-dfu': DeviceKind.DEVICE_KIND_NO_DFU,
};

function entryToProto(e: InventoryEntry): InventoryDevice {
  const address: Address = addressToProto(e.address);
  return {
    address,
    name: e.name ?? '',
    rssi: e.rssi,
    adapterId: e.adapterId,
    kind: KINDS[e.kind],
    bondedButtonless: e.bondedButtonless,
    applicationAddress: e.applicationAddress === undefined ? undefined : addressToProto(e.applicationAddress),
    applicationAddressKnown: e.applicationAddressKnown,
    deviceInfo: e.deviceInfo === undefined ? undefined : deviceInfoToProto(e.deviceInfo),
    serviceUuids: [...e.serviceUuids],
    connectable: e.connectable,
    probeError: e.probeError === undefined ? undefined : errorDetailFor(e.probeError),
    busyJobId: e.busyJobId ?? '',
  };
}
