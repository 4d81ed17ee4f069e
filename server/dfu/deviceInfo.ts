/**
 * Reading an application's Device Information service (0x180A) before an update: who the device
 * is (manufacturer, model, serial number) and what it runs (hardware, firmware, software
 * revisions). The values come from the device, so they are treated as untrusted text: each is cut
 * to a few dozen bytes and decoded leniently, so a device sending junk costs nothing but a
 * funny-looking string.
 */
import type { Connection, GattService } from '../ble/types.js';
import { UUIDS } from '../ble/uuid.js';
import { hasCode, isBledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { findCharacteristic } from './buttonless/detect.js';
import type { DeviceInfo } from './types.js';

/**
 * Bytes of each value kept. The SIG strings are free-form; real devices send a few to 20 bytes,
 * and 64 leaves room for long serials while keeping a job, its events and audit records small.
 */
export const DEVICE_INFO_MAX_BYTES = 64;

/** The characteristics read, in the order they are read, and where each goes. */
const FIELDS = [
  ['manufacturer', UUIDS.manufacturerName],
  ['model', UUIDS.modelNumber],
  ['serialNumber', UUIDS.serialNumber],
  ['hardwareRevision', UUIDS.hardwareRevision],
  ['firmwareRevision', UUIDS.firmwareRevision],
  ['softwareRevision', UUIDS.softwareRevision],
] as const satisfies readonly (readonly [keyof DeviceInfo, string])[];

const decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * One DIS value as text: at most DEVICE_INFO_MAX_BYTES bytes of it, invalid UTF-8 as U+FFFD, the
 * padding devices often add (trailing NULs, spaces) dropped, and control characters replaced, so
 * the string is safe in a terminal line, a CSV cell and a log. Undefined when nothing is left.
 */
export function deviceInfoText(value: Uint8Array): string | undefined {
  // A cut in the middle of a multi-byte character decodes to one U+FFFD: acceptable for junk.
  const text = decoder
    .decode(value.subarray(0, DEVICE_INFO_MAX_BYTES))
    .replace(/[\0\s]+$/u, '')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu, '\uFFFD');
  return text === '' ? undefined : text;
}

/** Whether the discovered services include the Device Information service. */
export function hasDeviceInfo(services: readonly GattService[]): boolean {
  return services.some((s) => s.uuid === UUIDS.deviceInformationService);
}

/**
 * Reads whichever DIS characteristics the device has. A read the device refuses (an ATT error,
 * say insufficient authentication) is logged and that field left out: the update does not depend
 * on it. A lost link or an ATT timeout is passed on, as for any other step of the connection, so
 * the caller's reconnect logic handles it.
 */
export async function readDeviceInfo(conn: Connection, services: readonly GattService[], log: Logger, signal: AbortSignal): Promise<DeviceInfo> {
  const info: { -readonly [K in keyof DeviceInfo]: DeviceInfo[K] } = {};
  for (const [field, uuid] of FIELDS) {
    const ch = findCharacteristic(services, UUIDS.deviceInformationService, uuid);
    if (ch === undefined) continue;
    try {
      const text = deviceInfoText(await conn.read(ch.valueHandle, signal));
      if (text !== undefined) info[field] = text;
    } catch (e) {
      if (signal.aborted || isLinkLoss(e)) throw e;
      log.info({ characteristic: uuid, err: isBledfuError(e) ? e.message : String(e) }, 'Device Information read failed; going on without it');
    }
  }
  return info;
}

function isLinkLoss(e: unknown): boolean {
  return hasCode(e, 'LINK_LOST') || hasCode(e, 'ATT_TIMEOUT') || hasCode(e, 'CONNECT_FAILED') || hasCode(e, 'CANCELLED');
}
