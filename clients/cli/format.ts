/** Small human formatting helpers for the CLI. */
import type { Duration } from '../ts/index.js';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

export function durationMs(d: Duration | undefined): number | undefined {
  return d === undefined ? undefined : d.seconds * 1000 + d.nanos / 1e6;
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '--:--';
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

export function durationFromSeconds(seconds: number): Duration {
  const whole = Math.floor(seconds);
  return { seconds: whole, nanos: Math.round((seconds - whole) * 1e9) };
}
