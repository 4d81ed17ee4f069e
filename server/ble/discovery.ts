/**
 * Finding one device by scanning: the first advertisement that matches wins. The scan is always
 * stopped before returning, and a miss says what was looked for and what was seen instead.
 */
import type { Clock } from '../common/clock.js';
import { abortReason, BledfuError } from '../common/errors.js';
import { quoteInput } from '../common/quote.js';
import type { DeviceAddress } from './address.js';
import type { Adapter, Advertisement } from './types.js';

export type DeviceMatch =
  | { readonly kind: 'address'; readonly address: DeviceAddress }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'predicate'; readonly description: string; readonly test: (adv: Advertisement) => boolean };

export interface FindDeviceOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** The server's clock, on which the scan times out. */
  readonly clock: Clock;
  /** Send scan requests (names often come in the scan response). Default true. */
  readonly active?: boolean;
  /**
   * On a miss, a remedy from what the scan saw (e.g. naming a device that is likely the one
   * looked for under another address or name); undefined keeps the general one.
   */
  readonly remedy?: (seen: readonly Advertisement[]) => string | undefined;
}

function assertNever(x: never): never {
  throw new BledfuError('INTERNAL', `unhandled match ${JSON.stringify(x)}`, { layer: 'ble' });
}

/** Address types from user input are often guessed, so only the value is compared. */
export function matches(match: DeviceMatch, adv: Advertisement): boolean {
  switch (match.kind) {
    case 'address':
      return adv.address.value === match.address.value;
    case 'name':
      return adv.name === match.name;
    case 'predicate':
      return match.test(adv);
    default:
      return assertNever(match);
  }
}

export function describeMatch(match: DeviceMatch): string {
  switch (match.kind) {
    case 'address':
      return `device ${match.address.value}`;
    case 'name':
      return `device named ${quoteInput(match.name)}`;
    case 'predicate':
      return match.description;
    default:
      return assertNever(match);
  }
}

const SEEN_LISTED = 5;

export async function findDevice(adapter: Adapter, match: DeviceMatch, options: FindDeviceOptions): Promise<Advertisement> {
  const parent = options.signal;
  if (parent?.aborted) throw abortReason(parent);
  const scan = new AbortController();
  let timedOut = false;
  const timer = options.clock.setTimer(
    options.timeoutMs,
    () => {
      timedOut = true;
      scan.abort();
    },
    { label: 'scan timeout' },
  );
  const onParent = (): void => scan.abort();
  parent?.addEventListener('abort', onParent, { once: true });
  const seen = new Map<string, Advertisement>();
  try {
    for await (const adv of adapter.scan({ active: options.active ?? true, signal: scan.signal })) {
      if (matches(match, adv)) return adv;
      const before = seen.get(adv.address.value);
      // Keep a name once heard: scan responses and plain adverts alternate.
      seen.set(adv.address.value, before?.name !== undefined && adv.name === undefined ? { ...adv, name: before.name } : adv);
      if (scan.signal.aborted) break;
    }
  } finally {
    timer.cancel();
    parent?.removeEventListener('abort', onParent);
    scan.abort();
  }
  if (parent?.aborted) throw abortReason(parent);
  const listed = [...seen.values()]
    .sort((a, b) => b.rssi - a.rssi)
    .slice(0, SEEN_LISTED)
    .map((a) => `${a.address.value}${a.name === undefined ? '' : ` "${a.name}"`} ${a.rssi} dBm`);
  const seenText =
    seen.size === 0 ? 'no devices were seen at all' : `seen instead (${seen.size} in total): ${listed.join(', ')}${seen.size > SEEN_LISTED ? ', …' : ''}`;
  throw new BledfuError(
    'DEVICE_NOT_FOUND',
    `${describeMatch(match)} not found within ${options.timeoutMs} ms${timedOut ? '' : ' (the scan ended early)'}; ${seenText}`,
    {
      layer: 'ble',
      remedy: options.remedy?.([...seen.values()]) ?? 'check that the device is powered, advertising and in range; scan to see what is around',
      facts: { context: { lookingFor: describeMatch(match), timeoutMs: String(options.timeoutMs) } },
    },
  );
}
