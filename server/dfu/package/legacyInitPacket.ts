/**
 * The init packet (`.dat`) of the legacy DFU of nRF5 SDK ≤ 11, decoded and encoded byte for byte.
 * Pure: the package reader checks packages with it, the simulated legacy bootloaders read what
 * they receive with it, and tests build packets with the encoder.
 *
 * Layouts (all little-endian), as the sources below write and read them:
 *
 *   bare (SDK ≤ 6, DFU revision absent):  crc16 u16                       — the whole .dat, 2 bytes
 *   header (SDK 7–11, revision ≥ 0.5):     device_type u16, device_revision u16,
 *                                          application_version u32, softdevice_len u16,
 *                                          softdevice[softdevice_len] u16
 *   then one extension, told apart by its length:
 *     0.5  (2 bytes)    crc16 u16                                          — nrfutil ≤ 0.5.x, adafruit-nrfutil
 *     0.6  (6 bytes)    ext_packet_id u32 = 0, crc16 u16
 *     0.7  (40 bytes)   ext_packet_id u32 = 1, image_length u32, sha256[32]
 *     0.8  (104 bytes)  ext_packet_id u32 = 2, image_length u32, sha256[32], ecdsa_p256[64] (r‖s)
 *
 * Sources (facts only, no code taken):
 * - The SDK 11 init packet template (`dfu_init_template.c`) as Adafruit_nRF52_Bootloader
 *   `src/dfu_init.c` carries it: dfu_init_packet_t (device_type, device_rev, app_version,
 *   softdevice_len, softdevice[]); the CRC-16 read from the first two bytes after the SoftDevice
 *   list (DFU_INIT_PACKET_EXT_LENGTH_MIN 2); DFU_SOFTDEVICE_ANY; the device type/revision checks
 *   the template skips when the device's own value is empty.
 * - pc-nrfutil 0.5.x `nordicsemi/dfu/init_packet.py` (PacketField order, struct format "<HHIH…",
 *   INIT_PACKET_USES_CRC16 0 / USES_HASH 1 / EXT_USES_ECDS 2, hash 32 bytes, signature 64 bytes)
 *   and `nordicsemi/dfu/tests/test_init_packet.py` (test_generate_packet_a/b/c: byte-exact vectors).
 * - adafruit/Adafruit_nRF52_nrfutil `nordicsemi/dfu/package.py` (dfu_ver ≤ 0.5: CRC-16 only;
 *   0.6: ext id 0 + CRC-16; 0.7: ext id 1 + length + SHA-256; 0.8: + ECDSA; defaults device type
 *   0xFFFF, revision 0xFFFF, app version 0xFFFFFFFF, sd_req [0xFFFE]).
 * - adafruit/Adafruit_nRF52_Bootloader `src/dfu_init.c` (ADAFRUIT_DEVICE_TYPE 0x0052; SoftDevice
 *   or bootloader updates need device_rev 0xADAF on nRF52832, 52833 on nRF52833, 52840 on nRF52840;
 *   SHA-256 compared in normal byte order).
 * - Android-DFU-Library `LegacyDfuImpl.java` (SDK 4.3–6.0: the init packet was only the CRC-16).
 */
import { packageInvalid } from '../errors.js';

/** Values of the 32-bit extension id (nrfutil init_packet.py). */
export const LEGACY_EXT_ID = { CRC16: 0, SHA256: 1, ECDSA: 2 } as const satisfies Record<string, number>;

/** Wildcards the SDK 11 bootloader and nrfutil 0.5 use. */
export const LEGACY_ANY = {
  /** device_type / device_revision 0xFFFF: "not set", the SDK 11 template does not check it. */
  DEVICE_TYPE: 0xffff,
  DEVICE_REVISION: 0xffff,
  APPLICATION_VERSION: 0xffffffff,
  /** softdevice entry 0xFFFE (DFU_SOFTDEVICE_ANY): any SoftDevice is acceptable. */
  SOFTDEVICE: 0xfffe,
} as const;

/** The Adafruit nRF52 bootloader's rules (Adafruit_nRF52_Bootloader src/dfu_init.c). */
export const ADAFRUIT = {
  /** Every image for an Adafruit bootloader carries this device type, or it is refused. */
  DEVICE_TYPE: 0x0052,
  /** device_revision that unlocks SoftDevice/bootloader updates, per chip. */
  UNLOCK_REVISION: { nrf52832: 0xadaf, nrf52833: 52833, nrf52840: 52840 },
} as const;

const SHA256_BYTES = 32;
const SIGNATURE_BYTES = 64;
const HEADER_BYTES = 10;

/** What follows the SoftDevice list: how the bootloader checks the image. */
export type LegacyIntegrity =
  /** DFU revision 0.5 layout: the CRC-16 alone (what nrfutil 0.5.x and adafruit-nrfutil write). */
  | { readonly kind: 'crc16'; readonly crc16: number }
  /** 0.6 layout: extension id 0, then the CRC-16. */
  | { readonly kind: 'ext-crc16'; readonly crc16: number }
  /** 0.7 layout: extension id 1, the image length and its SHA-256 (normal byte order). */
  | { readonly kind: 'sha256'; readonly length: number; readonly sha256: Uint8Array }
  /** 0.8 layout: as 0.7, then an ECDSA P-256 signature over everything before it (r‖s, 64 bytes). */
  | { readonly kind: 'signed'; readonly length: number; readonly sha256: Uint8Array; readonly signature: Uint8Array };

export interface LegacyInitHeader {
  readonly deviceType: number;
  readonly deviceRevision: number;
  readonly applicationVersion: number;
  /** SoftDevice FWIDs the image may run on; 0xFFFE = any. */
  readonly softdeviceReq: readonly number[];
}

export type LegacyInitPacket =
  /** SDK ≤ 6: the .dat is the image's CRC-16 and nothing else. */
  | { readonly format: 'bare'; readonly crc16: number }
  | ({ readonly format: 'extended'; readonly integrity: LegacyIntegrity } & LegacyInitHeader);

/** The layout's DFU revision name, for messages and display: "bare", "0.5" … "0.8". */
export function legacyInitLayout(p: LegacyInitPacket): 'bare' | '0.5' | '0.6' | '0.7' | '0.8' {
  if (p.format === 'bare') return 'bare';
  switch (p.integrity.kind) {
    case 'crc16':
      return '0.5';
    case 'ext-crc16':
      return '0.6';
    case 'sha256':
      return '0.7';
    case 'signed':
      return '0.8';
  }
}

/** The CRC-16 the packet states, if its layout carries one. */
export function legacyInitCrc16(p: LegacyInitPacket): number | undefined {
  if (p.format === 'bare') return p.crc16;
  return p.integrity.kind === 'crc16' || p.integrity.kind === 'ext-crc16' ? p.integrity.crc16 : undefined;
}

function u16(b: Uint8Array, at: number): number {
  return (b[at] as number) | ((b[at + 1] as number) << 8);
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 24)) >>> 0;
}

/**
 * Decodes a legacy `.dat`. Throws PACKAGE_INVALID saying what is wrong (without the file name,
 * which the caller adds). The extension is recognised by its length and, where it has one, its id.
 */
export function decodeLegacyInitPacket(dat: Uint8Array): LegacyInitPacket {
  if (dat.length === 2) return { format: 'bare', crc16: u16(dat, 0) };
  if (dat.length < HEADER_BYTES + 2) {
    throw packageInvalid(`legacy init packet of ${dat.length} bytes: too short (a bare one has 2, an extended one at least ${HEADER_BYTES + 2})`);
  }
  const count = u16(dat, 8);
  const extAt = HEADER_BYTES + 2 * count;
  if (extAt > dat.length) {
    throw packageInvalid(`legacy init packet lists ${count} SoftDevices but has room for ${Math.floor((dat.length - HEADER_BYTES) / 2)}`);
  }
  const softdeviceReq: number[] = [];
  for (let i = 0; i < count; i++) softdeviceReq.push(u16(dat, HEADER_BYTES + 2 * i));
  const header: LegacyInitHeader = { deviceType: u16(dat, 0), deviceRevision: u16(dat, 2), applicationVersion: u32(dat, 4), softdeviceReq };
  const ext = dat.subarray(extAt);
  return { format: 'extended', ...header, integrity: decodeExtension(ext) };
}

function decodeExtension(ext: Uint8Array): LegacyIntegrity {
  if (ext.length === 2) return { kind: 'crc16', crc16: u16(ext, 0) };
  if (ext.length < 4) throw packageInvalid(`legacy init packet ends with ${ext.length} bytes after the SoftDevice list: neither a CRC-16 nor an extension`);
  const id = u32(ext, 0);
  const want = (bytes: number, what: string): void => {
    if (ext.length !== bytes) throw packageInvalid(`legacy init packet extension ${id} (${what}) has ${ext.length} bytes, expected ${bytes}`);
  };
  switch (id) {
    case LEGACY_EXT_ID.CRC16:
      want(6, 'CRC-16');
      return { kind: 'ext-crc16', crc16: u16(ext, 4) };
    case LEGACY_EXT_ID.SHA256:
      want(8 + SHA256_BYTES, 'length and SHA-256');
      return { kind: 'sha256', length: u32(ext, 4), sha256: ext.slice(8, 8 + SHA256_BYTES) };
    case LEGACY_EXT_ID.ECDSA:
      want(8 + SHA256_BYTES + SIGNATURE_BYTES, 'length, SHA-256 and ECDSA signature');
      return {
        kind: 'signed',
        length: u32(ext, 4),
        sha256: ext.slice(8, 8 + SHA256_BYTES),
        signature: ext.slice(8 + SHA256_BYTES, 8 + SHA256_BYTES + SIGNATURE_BYTES),
      };
    default:
      throw packageInvalid(`legacy init packet extension id ${id} is unknown (known: 0 CRC-16, 1 SHA-256, 2 ECDSA)`);
  }
}

function checkRange(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${what} ${value} is not an integer in 0..${max}`);
}

/** Encodes a legacy init packet (the inverse of decodeLegacyInitPacket). RangeError on values that do not fit. */
export function encodeLegacyInitPacket(p: LegacyInitPacket): Uint8Array {
  if (p.format === 'bare') {
    checkRange(p.crc16, 0xffff, 'crc16');
    return Uint8Array.of(p.crc16 & 0xff, p.crc16 >>> 8);
  }
  checkRange(p.deviceType, 0xffff, 'device_type');
  checkRange(p.deviceRevision, 0xffff, 'device_revision');
  checkRange(p.applicationVersion, 0xffffffff, 'application_version');
  checkRange(p.softdeviceReq.length, 0xffff, 'softdevice count');
  for (const sd of p.softdeviceReq) checkRange(sd, 0xffff, 'softdevice entry');
  const ext = encodeExtension(p.integrity);
  const out = new Uint8Array(HEADER_BYTES + 2 * p.softdeviceReq.length + ext.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, p.deviceType, true);
  view.setUint16(2, p.deviceRevision, true);
  view.setUint32(4, p.applicationVersion, true);
  view.setUint16(8, p.softdeviceReq.length, true);
  p.softdeviceReq.forEach((sd, i) => view.setUint16(HEADER_BYTES + 2 * i, sd, true));
  out.set(ext, HEADER_BYTES + 2 * p.softdeviceReq.length);
  return out;
}

function encodeExtension(e: LegacyIntegrity): Uint8Array {
  const withId = (id: number, rest: number): { out: Uint8Array; view: DataView } => {
    const out = new Uint8Array(4 + rest);
    const view = new DataView(out.buffer);
    view.setUint32(0, id, true);
    return { out, view };
  };
  const hashOf = (sha256: Uint8Array): Uint8Array => {
    if (sha256.length !== SHA256_BYTES) throw new RangeError(`sha256 has ${sha256.length} bytes, expected ${SHA256_BYTES}`);
    return sha256;
  };
  switch (e.kind) {
    case 'crc16':
      checkRange(e.crc16, 0xffff, 'crc16');
      return Uint8Array.of(e.crc16 & 0xff, e.crc16 >>> 8);
    case 'ext-crc16': {
      checkRange(e.crc16, 0xffff, 'crc16');
      const { out, view } = withId(LEGACY_EXT_ID.CRC16, 2);
      view.setUint16(4, e.crc16, true);
      return out;
    }
    case 'sha256': {
      checkRange(e.length, 0xffffffff, 'image length');
      const { out, view } = withId(LEGACY_EXT_ID.SHA256, 4 + SHA256_BYTES);
      view.setUint32(4, e.length, true);
      out.set(hashOf(e.sha256), 8);
      return out;
    }
    case 'signed': {
      checkRange(e.length, 0xffffffff, 'image length');
      if (e.signature.length !== SIGNATURE_BYTES) throw new RangeError(`signature has ${e.signature.length} bytes, expected ${SIGNATURE_BYTES}`);
      const { out, view } = withId(LEGACY_EXT_ID.ECDSA, 4 + SHA256_BYTES + SIGNATURE_BYTES);
      view.setUint32(4, e.length, true);
      out.set(hashOf(e.sha256), 8);
      out.set(e.signature, 8 + SHA256_BYTES);
      return out;
    }
  }
}
