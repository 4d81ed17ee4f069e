/**
 * Which connectivity firmware runs on a dongle, told from the SoftDevice FWID that
 * sd_ble_version_get returns (shared/spec/nrf-connectivity.md §1.1, §1.4), and which hex or DFU
 * package to flash when it is not one this backend speaks. There is no command that returns the
 * connectivity firmware's own version, so the SoftDevice is all a host can name.
 */
import { BledfuError } from '../../common/errors.js';
import type { ApiVersion } from './serialization/constants.js';

export interface SoftDeviceInfo {
  readonly fwid: number;
  /** "S140 6.1.1". */
  readonly name: string;
  /** SoftDevice API major version (the serialization codec set). */
  readonly api: number;
}

const SOFTDEVICES: readonly SoftDeviceInfo[] = [
  { fwid: 0x00a5, name: 'S132 5.1.0', api: 5 },
  { fwid: 0x00af, name: 'S132 6.1.0', api: 6 },
  { fwid: 0x00ae, name: 'S140 6.1.0', api: 6 },
  { fwid: 0x00b7, name: 'S132 6.1.1', api: 6 },
  { fwid: 0x00b6, name: 'S140 6.1.1', api: 6 },
  { fwid: 0x0091, name: 'S132 3.1.0', api: 3 },
  { fwid: 0x0087, name: 'S130 2.0.1', api: 2 },
];

export function softDeviceOf(fwid: number): SoftDeviceInfo | undefined {
  return SOFTDEVICES.find((s) => s.fwid === fwid);
}

/** The connectivity 4.1.4 builds, per API version: what to flash on a dongle and on a DK. */
export const CONNECTIVITY_FIRMWARE: Readonly<Record<ApiVersion, { readonly dongle: string; readonly dk: string }>> = {
  5: { dongle: 'connectivity_4.1.4_usb_with_s132_5.1.0_dfu_pkg.zip', dk: 'connectivity_4.1.4_1m_with_s132_5.1.0.hex' },
  6: { dongle: 'connectivity_4.1.4_usb_with_s140_6.1.1_dfu_pkg.zip', dk: 'connectivity_4.1.4_1m_with_s140_6.1.1.hex (nRF52840 DK) or _1m_with_s132_6.1.1.hex (nRF52832 DK)' },
};

/** "flash connectivity_… (dongle) or … (DK)" for one API version. */
export function flashAdvice(api: ApiVersion): string {
  const fw = CONNECTIVITY_FIRMWARE[api];
  return `flash ${fw.dongle} on an nRF52840 Dongle (nrfutil dfu usb-serial -pkg … -p <port>) or ${fw.dk} on a DK`;
}

const hex4 = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;

export function describeSoftDevice(fwid: number): string {
  const sd = softDeviceOf(fwid);
  return sd === undefined ? `an unknown SoftDevice (FWID ${hex4(fwid)})` : `SoftDevice ${sd.name} (API v${sd.api}, FWID ${hex4(fwid)})`;
}

/**
 * The API version the firmware speaks, checked against what the spec asked for (`wanted`
 * undefined = auto). Refuses firmware this backend does not speak, naming what to flash.
 */
export function checkFirmwareApi(fwid: number, wanted: ApiVersion | undefined): ApiVersion {
  const sd = softDeviceOf(fwid);
  if (sd === undefined || (sd.api !== 5 && sd.api !== 6)) {
    throw new BledfuError('SERIAL_WRONG_PROTOCOL', `the connectivity firmware runs ${describeSoftDevice(fwid)}; bledfu speaks SoftDevice API v5 and v6 only`, {
      layer: 'nrf',
      remedy: `${flashAdvice(wanted ?? 6)}, then retry`,
      facts: { context: { fwid: hex4(fwid) } },
    });
  }
  const api: ApiVersion = sd.api;
  if (wanted !== undefined && wanted !== api) {
    throw new BledfuError('SERIAL_WRONG_PROTOCOL', `the connectivity firmware runs ${describeSoftDevice(fwid)}, but the adapter spec asks for api=${wanted}`, {
      layer: 'nrf',
      remedy: `write api=${api} (or api=auto) in the adapter spec, or ${flashAdvice(wanted)}`,
      facts: { context: { fwid: hex4(fwid), api: String(api), wanted: String(wanted) } },
    });
  }
  return api;
}
