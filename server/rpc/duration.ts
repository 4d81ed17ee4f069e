/** google.protobuf.Duration ⇄ milliseconds. */
import type { Duration } from '../../proto/gen/google/protobuf/duration.js';
import { BledfuError } from '../common/errors.js';

export function durationFromMs(ms: number): Duration {
  const whole = Math.max(0, ms);
  const seconds = Math.floor(whole / 1000);
  return { seconds, nanos: Math.round((whole - seconds * 1000) * 1_000_000) };
}

/** The longest wait a Node timer can hold; a longer one fires at once (TimeoutOverflowWarning). */
const MAX_MS = 2 ** 31 - 1;

/**
 * Milliseconds, or `fallback` when the field is unset or zero (proto3 cannot tell them apart).
 * INVALID_ARGUMENT past MAX_MS: such a duration would end a scan or time out a request at once.
 */
export function msFromDuration(d: Duration | undefined, fallback: number): number {
  if (d === undefined) return fallback;
  const ms = d.seconds * 1000 + d.nanos / 1_000_000;
  if (ms > MAX_MS) {
    throw new BledfuError('INVALID_ARGUMENT', `a duration of ${d.seconds} s is longer than the limit of about 24 days`, {
      layer: 'rpc',
      remedy: 'leave the duration unset for no limit (Scan) or the default (timeouts)',
    });
  }
  return ms > 0 ? ms : fallback;
}
