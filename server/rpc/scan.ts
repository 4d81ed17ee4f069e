/** Scan: filtered advertisements until the duration ends or the call is cancelled. */
import { linkSignals } from '../common/signals.js';
import type { ScanFilter, ScanRequest, ScanResponse } from '../../proto/gen/bledfu/v1/scan.js';
import { parseAddress } from '../ble/address.js';
import type { Advertisement } from '../ble/types.js';
import { normalizeUuid } from '../ble/uuid.js';
import type { ServiceDeps } from './deps.js';
import { DURATION_RANGES, msFromDuration } from './validate.js';
import { advertisementToProto, isDfuBootloader } from './mapBle.js';

export type AdvertisementFilter = (ad: Advertisement) => boolean;

/** Compiles the request's filter once; malformed address/UUID fail the call with INVALID_ARGUMENT. */
export function compileFilter(filter: ScanFilter | undefined): AdvertisementFilter {
  if (filter === undefined) return () => true;
  const address = filter.address === '' ? undefined : parseAddress(filter.address).value;
  const service = filter.serviceUuid === '' ? undefined : normalizeUuid(filter.serviceUuid);
  const { name, namePrefix, minRssi, dfuBootloaderOnly } = filter;
  return (ad) =>
    (name === '' || ad.name === name) &&
    (namePrefix === '' || (ad.name ?? '').startsWith(namePrefix)) &&
    (address === undefined || ad.address.value === address) &&
    (service === undefined || ad.serviceUuids.includes(service)) &&
    (minRssi === undefined || ad.rssi >= minRssi) &&
    (!dfuBootloaderOnly || isDfuBootloader(ad));
}

export async function* scan(deps: ServiceDeps, request: ScanRequest, callSignal: AbortSignal): AsyncGenerator<ScanResponse> {
  const adapter = deps.adapters.get(request.adapterId);
  const accept = compileFilter(request.filter);
  const durationMs = msFromDuration(request.duration, 0, DURATION_RANGES.scanDuration);
  // The scan's length runs on the server's clock (modelled time on the accelerated simulator).
  const elapsed = new AbortController();
  const timer = durationMs > 0 ? deps.clock.setTimer(durationMs, () => elapsed.abort(), { label: 'scan duration' }) : undefined;
  // Linked, not AbortSignal.any: deps.stopping lives as long as the server (see common/signals.ts).
  const linked = linkSignals(callSignal, deps.stopping, elapsed.signal);
  const signal = linked.signal;
  const seen = new Set<string>();
  try {
    for await (const ad of adapter.scan({ active: request.active, signal })) {
      if (signal.aborted) return;
      if (!accept(ad)) continue;
      if (!request.allowDuplicates) {
        const key = `${ad.address.type}/${ad.address.value}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      yield { advertisement: advertisementToProto(ad) };
    }
  } finally {
    timer?.cancel();
    linked.dispose();
  }
}
