/** Small human formatting helpers for the CLI. */
import { DeviceState, DFU_PROTOCOL_TEXT, DfuProtocol, imageTypeToJSON, SkipReason, type DeviceInfo, type Duration, type JobResult, type PhaseTimes } from '../ts/index.js';

/**
 * What an UP_TO_DATE job's end says: "already up to date: the device refused the application image
 * (fw_version 3) as not newer than its own; application running, firmware app v3 1a2b3c4d".
 */
export function upToDateText(r: JobResult): string {
  // Left alone on the application's word (its Device Information), before anything was sent.
  if (r.skipped === SkipReason.SKIP_REASON_FIRMWARE_REVISION) return `already up to date: the device's firmware revision is "${r.firmwareRevision}" (--skip-if-firmware-revision); nothing was sent`;
  const i = r.refusedImage;
  const image = i === undefined ? 'the package' : `the ${imageTypeToJSON(i.type).replace(/^IMAGE_TYPE_/, '').toLowerCase()} image (fw_version ${i.fwVersion})`;
  const where =
    r.deviceState === DeviceState.DEVICE_STATE_APPLICATION
      ? '; application running'
      : r.deviceState === DeviceState.DEVICE_STATE_DFU_MODE
        ? '; the device is still in its bootloader (DFU mode) and starts its application after its inactivity timeout'
        : '';
  const rev = r.firmwareRevision === '' ? '' : `, firmware ${r.firmwareRevision}`;
  return `already up to date: the device refused ${image} as not newer than its own${where}${rev}; nothing was sent`;
}

/**
 * "secure" or "legacy", as the audit log, the metrics' `protocol` label and `audit --csv` spell a
 * DFU protocol; "" when the server did not say (an older server or audit record).
 */
export function protocolWord(p: DfuProtocol): string {
  switch (p) {
    case DfuProtocol.DFU_PROTOCOL_SECURE:
      return 'secure';
    case DfuProtocol.DFU_PROTOCOL_LEGACY:
      return 'legacy';
    default:
      return '';
  }
}

/** "Secure DFU" or "legacy DFU (SDK ≤ 11 / Adafruit)"; undefined when the server did not say. */
export function protocolText(p: DfuProtocol): string | undefined {
  const word = protocolWord(p);
  return word === '' ? undefined : DFU_PROTOCOL_TEXT[word as keyof typeof DFU_PROTOCOL_TEXT];
}

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

/** The phases of PhaseTimes in the order a job goes through them, with the names the CLI prints. */
const PHASE_LABELS: readonly (readonly [keyof PhaseTimes, string])[] = [
  ['scan', 'scan'],
  ['connect', 'connect'],
  ['buttonlessEntry', 'buttonless entry'],
  ['rebootWaits', 'reboot waits'],
  ['initPacket', 'init packet'],
  ['dataTransfer', 'data transfer'],
  ['flashWaits', 'flash waits'],
  ['activation', 'activation'],
  ['finalRead', 'final read'],
  ['other', 'other'],
];

/** "scan 0.21 s, connect 0.30 s, …": where a job's time went, every phase (zeros included, so lines line up). */
export function formatPhaseTimes(p: PhaseTimes): string {
  return PHASE_LABELS.map(([key, label]) => `${label} ${((durationMs(p[key]) ?? 0) / 1000).toFixed(2)} s`).join(', ');
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

/**
 * What a device said about itself (Device Information): "model M, serial S, hardware H, firmware
 * F, software W, by MANUFACTURER" with what it has; for none, why there may be none.
 */
export function formatDeviceInfo(i: DeviceInfo): string {
  const parts = [
    ['model', i.model],
    ['serial', i.serialNumber],
    ['hardware', i.hardwareRevision],
    ['firmware', i.firmwareRevision],
    ['software', i.softwareRevision],
    ['by', i.manufacturer],
  ].flatMap(([label, value]) => (value === undefined || value === '' ? [] : [`${label} ${value}`]));
  return parts.length === 0 ? 'no Device Information (found in its bootloader, or its application offers none)' : parts.join(', ');
}
