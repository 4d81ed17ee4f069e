/**
 * Which services a GATT discovery explores (DiscoveryOptions), shared by every backend's client so
 * they all read `characteristicsOf` the same way: UUIDs compare in their normal form.
 */
import type { DiscoveryOptions } from './types.js';
import { normalizeUuid } from './uuid.js';

/** Whether a service's characteristics are to be discovered. */
export function exploring(options: DiscoveryOptions | undefined): (serviceUuid: string) => boolean {
  const only = options?.characteristicsOf;
  if (only === undefined) return () => true;
  const wanted = new Set(only.map(normalizeUuid));
  return (uuid) => wanted.has(normalizeUuid(uuid));
}
