/**
 * Reading a legacy package (nrfutil ≤ 0.5, adafruit-nrfutil; nRF5 SDK ≤ 11 bootloaders, the
 * Adafruit nRF52 bootloader) into a validated LegacyDfuPackage. As for Secure DFU packages
 * (package.ts), everything that can be checked without a device is checked here: the image
 * against the CRC-16 or SHA-256 its init packet states, the SoftDevice + bootloader split.
 *
 * The job layer does not call this yet: until a legacy engine exists, jobs read packages with
 * readPackage, which refuses legacy ones with PACKAGE_LEGACY (see anyPackage.ts).
 */
import type { LegacyDfuPackage, LegacyImageSummary, LegacyPackageImage } from './images.js';
import { packageInvalid } from '../errors.js';
import { decodeLegacyInitPacket, legacyInitCrc16, legacyInitLayout, type LegacyInitPacket } from './legacyInitPacket.js';
import { parseLegacyManifest, type LegacyManifestEntry } from './legacyManifest.js';
import { MAX_UNPACKED_BYTES, openPackageArchive, readImageFile, readManifestText, sha256Hex, type PackageArchive } from './packageArchive.js';
import { decodeInitPacket } from './initPacket.js';
import { crc16 } from '../../common/crc16.js';
import { toHex } from '../../common/bytes.js';

const hex16 = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;

const BELONG = 'the .bin and the .dat do not belong together, or one was altered; regenerate the package with nrfutil dfu genpkg (nrfutil 0.5.x) or adafruit-nrfutil';

/** The size packet's three slots for one image (LegacyImageSummary.sizes). */
function sizesOf(entry: LegacyManifestEntry, size: number): LegacyImageSummary['sizes'] {
  switch (entry.kind) {
    case 'softdevice_bootloader':
      return { softdevice: entry.sdSize ?? 0, bootloader: entry.blSize ?? 0, application: 0 };
    case 'softdevice':
      return { softdevice: size, bootloader: 0, application: 0 };
    case 'bootloader':
      return { softdevice: 0, bootloader: size, application: 0 };
    case 'application':
      return { softdevice: 0, bootloader: 0, application: size };
  }
}

/**
 * Checks one legacy image against its init packet and its manifest entry; throws PACKAGE_INVALID
 * naming the file. Returns the decoded init packet.
 */
export function checkLegacyImage(entry: LegacyManifestEntry, bin: Uint8Array, dat: Uint8Array): LegacyInitPacket {
  try {
    return checkLegacyImageAs(entry, bin, dat);
  } catch (e) {
    // A Secure DFU .dat under a legacy manifest (a package put together by hand) fails the legacy
    // checks with a message about CRCs or lengths; say what it really is instead.
    if (isSecureInitPacket(dat)) {
      throw packageInvalid(
        `${entry.datFile} is a Secure DFU init packet (nrfutil pkg generate) but the manifest is a legacy one (nrfutil ≤ 0.5)`,
        'use the package as nrfutil made it: a Secure DFU package has no dfu_version or init_packet_data in its manifest',
        e,
      );
    }
    throw e;
  }
}

function isSecureInitPacket(dat: Uint8Array): boolean {
  try {
    decodeInitPacket(dat);
    return true;
  } catch {
    return false;
  }
}

function checkLegacyImageAs(entry: LegacyManifestEntry, bin: Uint8Array, dat: Uint8Array): LegacyInitPacket {
  if (bin.length === 0) throw packageInvalid(`${entry.binFile} is empty`);
  if (entry.kind === 'softdevice_bootloader') {
    const parts = (entry.sdSize ?? 0) + (entry.blSize ?? 0);
    if (parts !== bin.length) {
      throw packageInvalid(`the manifest splits ${entry.binFile} into sd_size ${entry.sdSize} + bl_size ${entry.blSize} = ${parts} bytes but it has ${bin.length}`);
    }
  }
  let p: LegacyInitPacket;
  try {
    p = decodeLegacyInitPacket(dat);
  } catch (e) {
    throw packageInvalid(`${entry.datFile}: ${e instanceof Error ? e.message : String(e)}`, undefined, e);
  }
  const stated = legacyInitCrc16(p);
  if (stated !== undefined) {
    const actual = crc16(bin);
    if (stated !== actual) {
      throw packageInvalid(`${entry.datFile} states CRC-16 ${hex16(stated)} for the ${entry.kind} image but ${entry.binFile} has CRC-16 ${hex16(actual)}`, BELONG);
    }
  }
  if (p.format === 'extended' && (p.integrity.kind === 'sha256' || p.integrity.kind === 'signed')) {
    if (p.integrity.length !== bin.length) {
      throw packageInvalid(`${entry.datFile} states ${p.integrity.length} bytes for the ${entry.kind} image but ${entry.binFile} has ${bin.length}`, BELONG);
    }
    const statedHash = toHex(p.integrity.sha256);
    const actualHash = sha256Hex(bin);
    if (statedHash !== actualHash) {
      throw packageInvalid(`${entry.datFile} states SHA-256 ${statedHash} for the ${entry.kind} image but ${entry.binFile} hashes to ${actualHash}`, BELONG);
    }
  }
  return p;
}

export function summarizeLegacyImage(entry: LegacyManifestEntry, bin: Uint8Array, p: LegacyInitPacket): LegacyImageSummary {
  const header = p.format === 'extended' ? p : undefined;
  return {
    kind: entry.kind,
    size: bin.length,
    sizes: sizesOf(entry, bin.length),
    initLayout: legacyInitLayout(p),
    deviceType: header?.deviceType,
    deviceRevision: header?.deviceRevision,
    applicationVersion: header?.applicationVersion,
    softdeviceReq: header?.softdeviceReq ?? [],
    crc16: crc16(bin),
    sha256: sha256Hex(bin),
    signed: header?.integrity.kind === 'signed',
  };
}

/** Reads a legacy package from an archive whose manifest text was already read. */
export async function readLegacyArchive(archive: PackageArchive, manifestText: string, bytes: Uint8Array): Promise<LegacyDfuPackage> {
  const manifest = parseLegacyManifest(manifestText);
  const images: LegacyPackageImage[] = [];
  for (const entry of manifest.entries) {
    const bin = await readImageFile(archive, entry.binFile, entry.kind, MAX_UNPACKED_BYTES.bin);
    const dat = await readImageFile(archive, entry.datFile, entry.kind, MAX_UNPACKED_BYTES.dat);
    const p = checkLegacyImage(entry, bin, dat);
    images.push({ summary: summarizeLegacyImage(entry, bin, p), bin, dat });
  }
  return { protocol: 'legacy', dfuVersion: manifest.dfuVersion, images, sha256: sha256Hex(bytes), size: bytes.length };
}

/** Parses and validates a legacy package (nrfutil ≤ 0.5, adafruit-nrfutil). */
export async function readLegacyPackage(bytes: Uint8Array): Promise<LegacyDfuPackage> {
  const archive = await openPackageArchive(bytes);
  return readLegacyArchive(archive, await readManifestText(archive), bytes);
}
