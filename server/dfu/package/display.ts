/**
 * What a package holds, as text for people (`bledfu pkg display`): every init packet field,
 * with SoftDevice IDs named, hashes in the order people compare them, and what the SoftDevice
 * inside an image says about itself. Works on any Secure DFU package readPackage accepts.
 */
import type { DfuPackage, PackageImage } from './images.js';
import { toHex } from '../../common/bytes.js';
import { DFU_PROTOCOL_TEXT } from './protocolNames.js';
import { decodeInitPacket, FW_TYPE, fwTypeName, HASH_TYPE, SIGNATURE_TYPE, VALIDATION_TYPE, type InitPacket } from './initPacket.js';

/** Well-known SoftDevice firmware IDs (nrfutil pkg generate --help lists the same). */
const SOFTDEVICES: Readonly<Record<number, string>> = {
  0x00: 'none: MBR only',
  0x67: 's130_nrf51_1.0.0',
  0x80: 's130_nrf51_2.0.0',
  0x87: 's130_nrf51_2.0.1',
  0x81: 's132_nrf52_2.0.0',
  0x88: 's132_nrf52_2.0.1',
  0x8c: 's132_nrf52_3.0.0',
  0x91: 's132_nrf52_3.1.0',
  0x95: 's132_nrf52_4.0.0',
  0x98: 's132_nrf52_4.0.2',
  0x99: 's132_nrf52_4.0.3',
  0x9e: 's132_nrf52_4.0.4',
  0x9f: 's132_nrf52_4.0.5',
  0x9d: 's132_nrf52_5.0.0',
  0xa5: 's132_nrf52_5.1.0',
  0xa7: 's112_nrf52_6.0.0',
  0xa8: 's132_nrf52_6.0.0',
  0xa9: 's140_nrf52_6.0.0',
  0xae: 's140_nrf52_6.1.0',
  0xaf: 's132_nrf52_6.1.0',
  0xb0: 's112_nrf52_6.1.0',
  0xb6: 's140_nrf52_6.1.1',
  0xb7: 's132_nrf52_6.1.1',
  0xb8: 's112_nrf52_6.1.1',
  0xb9: 's340_nrf52_6.1.1',
  0xba: 's332_nrf52_6.1.1',
  0xbc: 's212_nrf52_6.1.1',
  0xc1: 's140_nrf52_7.0.0',
  0xc2: 's132_nrf52_7.0.0',
  0xc3: 's113_nrf52_7.0.0',
  0xc4: 's112_nrf52_7.0.0',
  0xca: 's140_nrf52_7.0.1',
  0xcb: 's132_nrf52_7.0.1',
  0xcc: 's113_nrf52_7.0.1',
  0xcd: 's112_nrf52_7.0.1',
  0xea: 's122_nrf52_8.0.0',
  0x100: 's140_nrf52_7.2.0',
  0x101: 's132_nrf52_7.2.0',
  0x102: 's113_nrf52_7.2.0',
  0x103: 's112_nrf52_7.2.0',
  0x112: 's122_nrf52_8.1.1',
  0x123: 's140_nrf52_7.3.0',
  0x124: 's132_nrf52_7.3.0',
  0x125: 's113_nrf52_7.3.0',
  0x126: 's112_nrf52_7.3.0',
  0xcafe: "Nordic's test SoftDevice builds",
  0xfffe: 'any SoftDevice (debug)',
};

const SD_INFO = { offset: 0x2000, magic: 0x51b1e5db } as const;

function hex(n: number, digits: number): string {
  return `0x${n.toString(16).toUpperCase().padStart(digits, '0')}`;
}

function num(n: number | undefined): string {
  return n === undefined ? '(absent)' : `${hex(n, 8)} (${n})`;
}

function fwid(id: number): string {
  const name = SOFTDEVICES[id];
  return name === undefined ? hex(id, 4) : `${hex(id, 4)} (${name})`;
}

function nameOf(table: Readonly<Record<string, number>>, value: number | undefined): string {
  if (value === undefined) return '(absent)';
  return Object.keys(table).find((k) => table[k] === value) ?? `unknown (${value})`;
}

/** The SoftDevice info struct at bin offset 0x2000 (the .bin starts at flash 0x1000), if present. */
function softDeviceInfo(bin: Uint8Array): string | undefined {
  if (bin.length < SD_INFO.offset + 0x10) return undefined;
  const view = new DataView(bin.buffer, bin.byteOffset + SD_INFO.offset, 0x10);
  if (view.getUint32(4, true) !== SD_INFO.magic) return undefined;
  return `FWID ${fwid(view.getUint16(0xc, true))}, ends at ${hex(view.getUint32(8, true), 8)}`;
}

function describeImage(index: number, image: PackageImage): string[] {
  const p: InitPacket = decodeInitPacket(image.dat);
  const init = p.init;
  const lines = [`Image ${index + 1}: ${image.summary.kind}, ${image.bin.length} bytes (${image.dat.length}-byte init packet)`];
  const field = (name: string, value: string): void => {
    lines.push(`  ${name.padEnd(16)} ${value}`);
  };
  field('type', fwTypeName(init.type));
  field('fw_version', init.type === FW_TYPE.SOFTDEVICE && init.fwVersion === 0xffffffff ? `${num(init.fwVersion)}, as for every SoftDevice` : num(init.fwVersion));
  field('hw_version', num(init.hwVersion));
  field('sd_req', init.sdReq.length === 0 ? '(none)' : init.sdReq.map(fwid).join(', '));
  field('sd_size', String(init.sdSize ?? '(absent)'));
  field('bl_size', String(init.blSize ?? '(absent)'));
  field('app_size', String(init.appSize ?? '(absent)'));
  if (init.hash === undefined) field('hash', '(absent)');
  else {
    const h = init.hash.type === HASH_TYPE.SHA256 ? toHex(Uint8Array.from(init.hash.bytes).reverse()) : toHex(init.hash.bytes);
    field('hash', `${nameOf(HASH_TYPE, init.hash.type)} ${h}${init.hash.type === HASH_TYPE.SHA256 ? ' (sha256sum order)' : ''}`);
  }
  field(
    'boot_validation',
    init.bootValidation.length === 0
      ? '(none: the bootloader applies its default; made before SDK 15.3)'
      : init.bootValidation.map((b) => `${nameOf(VALIDATION_TYPE, b.type)}${b.bytes.length > 0 ? ` ${toHex(b.bytes)}` : ''}`).join(', '),
  );
  field('is_debug', init.isDebug === undefined ? '(absent)' : String(init.isDebug));
  if (p.kind === 'signed') {
    field('signature', `${nameOf(SIGNATURE_TYPE, p.signatureType)} ${p.signature === undefined ? '' : toHex(p.signature)} (r‖s, little-endian)`);
  } else {
    field('signature', 'none (unsigned: only a bootloader built without signature checks accepts it)');
  }
  if (init.type === FW_TYPE.SOFTDEVICE || init.type === FW_TYPE.SOFTDEVICE_BOOTLOADER) {
    field('SoftDevice', softDeviceInfo(image.bin) ?? 'no SoftDevice info struct at 0x3000 (magic 0x51B1E5DB missing)');
  }
  return lines;
}

/** Human-readable text of what `pkg` holds, images in sending order. */
export function describePackage(pkg: DfuPackage): string {
  const n = pkg.images.length;
  const lines = [
    `DFU package: ${n} image${n === 1 ? '' : 's'}, ${pkg.size} bytes, sha256 ${pkg.sha256}`,
    `protocol: ${DFU_PROTOCOL_TEXT.secure} (protobuf init packets, nRF5 SDK 12 and later bootloaders)`,
  ];
  pkg.images.forEach((image, i) => {
    lines.push('', ...describeImage(i, image));
  });
  return `${lines.join('\n')}\n`;
}
