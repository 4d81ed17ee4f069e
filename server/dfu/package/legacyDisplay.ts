/**
 * What a legacy package holds, as text for people (`bledfu pkg display`): the manifest's DFU
 * version, and per image the init packet layout and every field the bootloader checks, with the
 * wildcards and the Adafruit bootloader's values named.
 */
import { ADAFRUIT, LEGACY_ANY } from './legacyInitPacket.js';
import type { LegacyDfuPackage, LegacyInitLayout, LegacyPackageImage } from './images.js';
import { DFU_PROTOCOL_TEXT } from './protocolNames.js';

function hex(n: number, digits: number): string {
  return `0x${n.toString(16).toUpperCase().padStart(digits, '0')}`;
}

/** What each init packet layout is and which tool writes it (docs/legacy-dfu.md). */
const LAYOUTS: Readonly<Record<LegacyInitLayout, string>> = {
  bare: 'bare CRC-16 (SDK ≤ 6 bootloaders, DFU revision absent)',
  '0.5': 'DFU revision 0.5: header + CRC-16 (nrfutil 0.5.x, adafruit-nrfutil)',
  '0.6': 'DFU revision 0.6: header + extension 0 + CRC-16',
  '0.7': 'DFU revision 0.7: header + extension 1 + length + SHA-256',
  '0.8': 'DFU revision 0.8: header + extension 2 + length + SHA-256 + ECDSA P-256 signature',
};

function deviceType(n: number | undefined): string {
  if (n === undefined) return '(absent)';
  if (n === LEGACY_ANY.DEVICE_TYPE) return `${hex(n, 4)} (any: not checked)`;
  if (n === ADAFRUIT.DEVICE_TYPE) return `${hex(n, 4)} (Adafruit nRF52 bootloader)`;
  return hex(n, 4);
}

function deviceRevision(n: number | undefined): string {
  if (n === undefined) return '(absent)';
  if (n === LEGACY_ANY.DEVICE_REVISION) return `${hex(n, 4)} (any: not checked)`;
  const unlocks = Object.entries(ADAFRUIT.UNLOCK_REVISION).find(([, v]) => v === n);
  return unlocks === undefined ? `${hex(n, 4)} (${n})` : `${hex(n, 4)} (${n}: unlocks SoftDevice/bootloader updates on an Adafruit ${unlocks[0]})`;
}

function applicationVersion(n: number | undefined): string {
  if (n === undefined) return '(absent)';
  return n === LEGACY_ANY.APPLICATION_VERSION ? `${hex(n, 8)} (not set)` : `${hex(n, 8)} (${n})`;
}

function describeImage(index: number, image: LegacyPackageImage): string[] {
  const s = image.summary;
  const lines = [`Image ${index + 1}: ${s.kind}, ${image.bin.length} bytes (${image.dat.length}-byte init packet)`];
  const field = (name: string, value: string): void => {
    lines.push(`  ${name.padEnd(16)} ${value}`);
  };
  field('init layout', LAYOUTS[s.initLayout]);
  field('device_type', deviceType(s.deviceType));
  field('device_revision', deviceRevision(s.deviceRevision));
  field('app_version', applicationVersion(s.applicationVersion));
  field('softdevice_req', s.softdeviceReq.length === 0 ? '(none)' : s.softdeviceReq.map((id) => (id === LEGACY_ANY.SOFTDEVICE ? `${hex(id, 4)} (any)` : hex(id, 4))).join(', '));
  field('sizes', `softdevice ${s.sizes.softdevice}, bootloader ${s.sizes.bootloader}, application ${s.sizes.application} (the size packet)`);
  field('crc16', hex(s.crc16, 4));
  field('sha256', s.sha256);
  field('signature', s.signed ? 'ECDSA P-256 (bledfu does not check it; the bootloader does)' : 'none');
  return lines;
}

/** Human-readable text of what a legacy package holds, images in sending order. */
export function describeLegacyPackage(pkg: LegacyDfuPackage): string {
  const n = pkg.images.length;
  const lines = [
    `DFU package: ${n} image${n === 1 ? '' : 's'}, ${pkg.size} bytes, sha256 ${pkg.sha256}`,
    `protocol: ${DFU_PROTOCOL_TEXT.legacy}, manifest dfu_version ${pkg.dfuVersion === undefined ? '(absent)' : String(pkg.dfuVersion)}`,
  ];
  pkg.images.forEach((image, i) => {
    lines.push('', ...describeImage(i, image));
  });
  return `${lines.join('\n')}\n`;
}
