/**
 * Taking an inventory: listen on the chosen adapters for a while, merge what they heard by
 * device (strongest RSSI wins), say from each advertisement what the device is, and optionally
 * connect to the devices whose advertisement does not tell (a few at a time per adapter, never
 * taking a link a DFU needs, never touching a device a job or a Connect call holds) to look at
 * their services and read their Device Information.
 */
import type { DeviceAddress } from '../ble/address.js';
import type { Adapter, AdapterInfo, Advertisement } from '../ble/types.js';
import { BledfuError, isBledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { linkSignals } from '../common/signals.js';
import { hasDeviceInfo, readDeviceInfo } from '../dfu/deviceInfo.js';
import type { DeviceInfo } from '../dfu/types.js';
import { applicationAddressOf, kindFromAdvertisement, kindFromServices, mergeUuids, PROBED_SERVICES } from './classify.js';
import type { DeviceKind, InventoryDeps, InventoryEntry, InventoryParams, InventoryResult } from './types.js';

export const INVENTORY_LIMITS = {
  /** Devices one answer lists at most (InventoryRequest.max_devices). */
  maxDevices: 1000,
  /**
   * Distinct devices remembered while listening: a crowded hall (or a hostile advertiser cycling
   * addresses) cannot grow the call's memory without bound; past it new addresses are dropped.
   */
  heardDevices: 4096,
  /** Probes at once on one adapter: a probe is short, and each link taken is one a DFU cannot use. */
  probesPerAdapter: 2,
  /** Connecting to one device (it may have stopped advertising since it was heard). */
  probeConnectMs: 5_000,
  /** A whole probe: connect, discover, read Device Information, disconnect. */
  probeMs: 15_000,
} as const;

/** One device while listening: mutable until the answer is built. */
interface Heard {
  address: DeviceAddress;
  name: string | undefined;
  rssi: number;
  adapterId: string;
  serviceUuids: string[];
  connectable: boolean;
  kind: DeviceKind;
  bondedButtonless: boolean;
  deviceInfo: DeviceInfo | undefined;
  probeError: BledfuError | undefined;
  busyJobId: string | undefined;
}

/** 127 means "not measured" in HCI reports: any measured value is stronger. */
const rssiRank = (rssi: number): number => (rssi === 127 ? -1000 : rssi);

export async function takeInventory(deps: InventoryDeps, params: InventoryParams): Promise<InventoryResult> {
  const heard = await listen(deps, params);
  const all = [...heard.devices.values()].sort((a, b) => rssiRank(b.rssi) - rssiRank(a.rssi) || a.address.value.localeCompare(b.address.value));
  const devices = all.slice(0, params.maxDevices);
  const truncated = heard.dropped || all.length > devices.length;
  for (const d of devices) {
    d.busyJobId = deps.jobUpdating(d.address, d.name);
  }
  if (params.probe) await probeAll(deps, params, devices);
  return { devices: devices.map((d) => entryOf(deps, d)), truncated };
}

async function listen(deps: InventoryDeps, params: InventoryParams): Promise<{ devices: Map<string, Heard>; dropped: boolean }> {
  const devices = new Map<string, Heard>();
  let dropped = false;
  const elapsed = new AbortController();
  const timer = deps.clock.setTimer(params.durationMs, () => elapsed.abort(), { label: 'inventory duration' });
  const linked = linkSignals(params.signal, elapsed.signal);
  const add = (adapterId: string, ad: Advertisement): void => {
    // Address types from a scan are exact, but a device changes none while we listen: by value, as a scan compares.
    const key = ad.address.value;
    const d = devices.get(key);
    if (d === undefined) {
      if (devices.size >= INVENTORY_LIMITS.heardDevices) {
        dropped = true;
        return;
      }
      devices.set(key, {
        address: ad.address,
        name: ad.name,
        rssi: ad.rssi,
        adapterId,
        serviceUuids: [...ad.serviceUuids],
        connectable: ad.connectable,
        kind: kindFromAdvertisement(ad.serviceUuids),
        bondedButtonless: false,
        deviceInfo: undefined,
        probeError: undefined,
        busyJobId: undefined,
      });
      return;
    }
    if (rssiRank(ad.rssi) > rssiRank(d.rssi)) {
      d.rssi = ad.rssi;
      d.adapterId = adapterId;
    }
    if (ad.name !== undefined) d.name = ad.name;
    d.serviceUuids = mergeUuids(d.serviceUuids, ad.serviceUuids);
    d.connectable ||= ad.connectable;
    if (d.kind === 'unknown') d.kind = kindFromAdvertisement(d.serviceUuids);
  };
  try {
    await Promise.all(
      params.adapters.map(async (adapter) => {
        for await (const ad of adapter.scan({ active: true, signal: linked.signal })) {
          if (linked.signal.aborted) break;
          if (params.accept(ad)) add(adapter.id, ad);
        }
      }),
    );
  } finally {
    timer.cancel();
    linked.dispose();
  }
  // The call itself was cancelled (not the listening time over): nothing to answer.
  if (params.signal.aborted) throw cancelled(params.signal);
  return { devices, dropped };
}

/** Probes, per adapter, the devices that adapter heard strongest. */
async function probeAll(deps: InventoryDeps, params: InventoryParams, devices: readonly Heard[]): Promise<void> {
  const byAdapter = new Map<string, Heard[]>();
  for (const d of devices) {
    if (!d.connectable || d.kind !== 'unknown' || d.busyJobId !== undefined || deps.connectHolds(d.address)) continue;
    const list = byAdapter.get(d.adapterId) ?? [];
    list.push(d);
    byAdapter.set(d.adapterId, list);
  }
  await Promise.all(
    params.adapters.map(async (adapter) => {
      const pending = byAdapter.get(adapter.id) ?? [];
      const running = new Set<Promise<void>>();
      while (pending.length > 0 || running.size > 0) {
        if (params.signal.aborted) throw cancelled(params.signal);
        while (pending.length > 0 && running.size < INVENTORY_LIMITS.probesPerAdapter && deps.freeLinksForProbes(adapter) > 0) {
          const d = pending.shift() as Heard;
          // A job may have claimed the device since the listening ended.
          d.busyJobId = deps.jobUpdating(d.address, d.name);
          if (d.busyJobId !== undefined) continue;
          const p = probe(deps, adapter, d, params.signal).finally(() => running.delete(p));
          running.add(p);
        }
        if (running.size === 0) {
          // No link free and none of ours to wait for: the jobs need them all. Say so per device.
          for (const d of pending.splice(0)) d.probeError = noFreeLink(adapter);
          break;
        }
        await Promise.race(running);
      }
    }),
  );
}

/** One probe; never throws (its failure is the device's probeError) unless the call was cancelled. */
async function probe(deps: InventoryDeps, adapter: Adapter, d: Heard, callSignal: AbortSignal): Promise<void> {
  const log: Logger = deps.logger.child({ address: d.address.value, adapterId: adapter.id });
  const timeout = deps.clock.timeoutSignal(
    {
      ms: INVENTORY_LIMITS.probeMs,
      code: 'TIMEOUT',
      layer: 'ble',
      message: `probing ${d.address.value} took longer than ${INVENTORY_LIMITS.probeMs / 1000} s`,
      remedy: 'bring the device closer or take the inventory again; it is listed from its advertisement alone',
    },
    callSignal,
  );
  const signal = timeout.signal;
  try {
    const conn = await adapter.connect(d.address, { signal, timeoutMs: INVENTORY_LIMITS.probeConnectMs });
    try {
      const services = await conn.discoverServices(signal, { characteristicsOf: PROBED_SERVICES });
      const found = kindFromServices(services);
      d.kind = found.kind;
      d.bondedButtonless = found.bondedButtonless;
      d.serviceUuids = mergeUuids(d.serviceUuids, services.map((s) => s.uuid));
      if (found.kind !== 'bootloader' && found.kind !== 'legacy' && hasDeviceInfo(services)) {
        const info = await readDeviceInfo(conn, services, log, signal);
        if (Object.keys(info).length > 0) d.deviceInfo = info;
      }
    } finally {
      await conn.disconnect();
    }
  } catch (e) {
    if (callSignal.aborted) throw cancelled(callSignal);
    d.probeError = isBledfuError(e) ? e : new BledfuError('INTERNAL', `probing ${d.address.value} failed: ${String(e)}`, { layer: 'ble', cause: e });
    log.info({ err: d.probeError.message, code: d.probeError.code }, 'inventory probe failed; listing the device from its advertisement');
  } finally {
    timeout.dispose();
  }
}

function entryOf(deps: InventoryDeps, d: Heard): InventoryEntry {
  const app = d.kind === 'bootloader' ? applicationAddressOf(d.address, deps.applicationOf(d.address)) : undefined;
  return {
    address: d.address,
    name: d.name,
    rssi: d.rssi,
    adapterId: d.adapterId,
    kind: d.kind,
    bondedButtonless: d.bondedButtonless,
    applicationAddress: app?.address,
    applicationAddressKnown: app?.known ?? false,
    deviceInfo: d.deviceInfo,
    serviceUuids: d.serviceUuids,
    connectable: d.connectable,
    probeError: d.probeError,
    busyJobId: d.busyJobId,
  };
}

function noFreeLink(adapter: Adapter): BledfuError {
  const info = adapter.info();
  return new BledfuError(
    'ADAPTER_BUSY',
    `not probed: adapter ${adapter.id} has no link to spare (${info.activeConnections} of ${info.maxConnections} in use, the rest kept for running DFU jobs)`,
    { layer: 'ble', remedy: 'take the inventory again once the running jobs have ended, or add an adapter' },
  );
}

function cancelled(signal: AbortSignal): BledfuError {
  const reason: unknown = signal.reason;
  return isBledfuError(reason) ? reason : new BledfuError('CANCELLED', 'inventory cancelled', { layer: 'rpc', cause: reason });
}

/**
 * Links a probe may take on an adapter: its limit, less the links in use (probes' included),
 * less one for every job that holds or may soon take one (linksForJobs). A job holding its link
 * is counted twice — the rule errs on the side of the DFU. An adapter that states no limit (0)
 * lends probesPerAdapter; its connect refuses (ADAPTER_BUSY, a per-device probe error) when full.
 */
export function freeLinksForProbes(info: Pick<AdapterInfo, 'activeConnections' | 'maxConnections'>, linksForJobs: number): number {
  if (info.maxConnections <= 0) return INVENTORY_LIMITS.probesPerAdapter;
  return info.maxConnections - info.activeConnections - linksForJobs;
}
