/** google.protobuf.Duration ⇄ milliseconds. */
import type { Duration } from '../../proto/gen/google/protobuf/duration.js';

export function durationFromMs(ms: number): Duration {
  const whole = Math.max(0, ms);
  const seconds = Math.floor(whole / 1000);
  return { seconds, nanos: Math.round((whole - seconds * 1000) * 1_000_000) };
}

/** Milliseconds, or `fallback` when the field is unset or zero (proto3 cannot tell them apart). */
export function msFromDuration(d: Duration | undefined, fallback: number): number {
  if (d === undefined) return fallback;
  const ms = d.seconds * 1000 + d.nanos / 1_000_000;
  return ms > 0 ? ms : fallback;
}
