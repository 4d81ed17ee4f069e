/** Milliseconds → google.protobuf.Duration (a request's durations are read by validate.ts's msFromDuration). */
import type { Duration } from '../../proto/gen/google/protobuf/duration.js';

export function durationFromMs(ms: number): Duration {
  const whole = Math.max(0, ms);
  const seconds = Math.floor(whole / 1000);
  return { seconds, nanos: Math.round((whole - seconds * 1000) * 1_000_000) };
}
