/**
 * Reading an nrfutil .zip into a validated DfuPackage. Everything that can be checked without a
 * device is checked here, so a bad package fails before any radio work.
 */
import type { DfuPackage, ImageKind, ImageSummary, PackageImage } from './images.js';
import { packageInvalid, packageLegacy } from '../errors.js';
import {
  decodeInitPacket,
  expectedImageSize,
  FW_TYPE,
  fwTypeName,
  HASH_TYPE,
  hashHexNormalOrder,
  isLegacyInitPacket,
  type InitPacket,
} from './initPacket.js';
import { parseManifest, type ManifestEntry } from './manifest.js';
import { MAX_UNPACKED_BYTES, openPackageArchive, readImageFile, readManifestText, sha256Hex } from './packageArchive.js';

export { MAX_UNPACKED_BYTES } from './packageArchive.js';

/** The init packet FwType each manifest image kind carries. */
export const KIND_FW_TYPE = {
  application: FW_TYPE.APPLICATION,
  softdevice: FW_TYPE.SOFTDEVICE,
  bootloader: FW_TYPE.BOOTLOADER,
  softdevice_bootloader: FW_TYPE.SOFTDEVICE_BOOTLOADER,
} as const satisfies Record<ImageKind, number>;

/** What the init packet says about an image, for display and pre-flight checks. */
export function summarizeImage(kind: ImageKind, bin: Uint8Array, dat: Uint8Array, decoded?: InitPacket): ImageSummary {
  const p = decoded ?? decodeInitPacket(dat);
  return {
    kind,
    size: bin.length,
    fwVersion: p.init.fwVersion,
    hwVersion: p.init.hwVersion,
    sdReq: p.init.sdReq,
    sha256: sha256Hex(bin),
    signed: p.kind === 'signed',
    isDebug: p.init.isDebug ?? false,
  };
}

/** Checks one image against its init packet; throws PACKAGE_INVALID/PACKAGE_LEGACY naming the file. */
export function checkImage(entry: ManifestEntry, bin: Uint8Array, dat: Uint8Array): InitPacket {
  if (isLegacyInitPacket(dat)) {
    throw packageLegacy(
      `${entry.datFile} is a legacy init packet, made for the legacy DFU of nRF5 SDK ≤ 11; ` +
        'a Secure DFU manifest with a legacy init packet fits neither protocol; regenerate the package',
    );
  }
  let p: InitPacket;
  try {
    p = decodeInitPacket(dat);
  } catch (e) {
    throw packageInvalid(`${entry.datFile}: ${e instanceof Error ? e.message : String(e)}`, undefined, e);
  }
  const want = KIND_FW_TYPE[entry.kind];
  if (p.init.type !== want) {
    throw packageInvalid(
      `${entry.datFile} is an init packet for ${fwTypeName(p.init.type)} but the manifest lists it as ${entry.kind}`,
    );
  }
  if (bin.length === 0) throw packageInvalid(`${entry.binFile} is empty`);
  const size = expectedImageSize(p.init);
  if (size === undefined) {
    throw packageInvalid(`${entry.datFile} lacks the size field(s) a ${entry.kind} image needs (or they are 0)`);
  }
  if (size !== bin.length) {
    throw packageInvalid(`${entry.datFile} announces ${size} bytes but ${entry.binFile} has ${bin.length}`);
  }
  if (p.init.hash !== undefined && p.init.hash.type === HASH_TYPE.SHA256) {
    const stated = hashHexNormalOrder(p.init.hash);
    const actual = sha256Hex(bin);
    if (stated !== actual) {
      throw packageInvalid(`${entry.datFile} states SHA-256 ${stated} but ${entry.binFile} hashes to ${actual}: the files do not belong together`);
    }
  }
  return p;
}

/** Parses and validates an nrfutil package; images come in sending order (spec §7.3). */
export async function readPackage(bytes: Uint8Array): Promise<DfuPackage> {
  const archive = await openPackageArchive(bytes);
  const entries = parseManifest(await readManifestText(archive));
  const images: PackageImage[] = [];
  for (const entry of entries) {
    const bin = await readImageFile(archive, entry.binFile, entry.kind, MAX_UNPACKED_BYTES.bin);
    const dat = await readImageFile(archive, entry.datFile, entry.kind, MAX_UNPACKED_BYTES.dat);
    const decoded = checkImage(entry, bin, dat);
    images.push({ summary: summarizeImage(entry.kind, bin, dat, decoded), bin, dat });
  }
  return { images, sha256: sha256Hex(bytes), size: bytes.length };
}
