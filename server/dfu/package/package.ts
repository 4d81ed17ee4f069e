/**
 * Reading an nrfutil .zip into a validated DfuPackage. Everything that can be checked without a
 * device is checked here, so a bad package fails before any radio work.
 */
import { createHash } from 'node:crypto';
import JSZip from 'jszip';
import type { DfuPackage, ImageKind, ImageSummary, PackageImage } from '../types.js';
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

const KIND_FW_TYPE = {
  application: FW_TYPE.APPLICATION,
  softdevice: FW_TYPE.SOFTDEVICE,
  bootloader: FW_TYPE.BOOTLOADER,
  softdevice_bootloader: FW_TYPE.SOFTDEVICE_BOOTLOADER,
} as const satisfies Record<ImageKind, number>;

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

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

async function readEntry(zip: JSZip, name: string, kind: ImageKind): Promise<Uint8Array> {
  const file = zip.file(name);
  if (file === null) throw packageInvalid(`package is missing ${name}, named by the manifest for the ${kind} image`);
  try {
    return await file.async('uint8array');
  } catch (cause) {
    throw packageInvalid(`cannot extract ${name} from the package (corrupt zip entry)`, undefined, cause);
  }
}

/** Checks one image against its init packet; throws PACKAGE_INVALID/PACKAGE_LEGACY naming the file. */
export function checkImage(entry: ManifestEntry, bin: Uint8Array, dat: Uint8Array): InitPacket {
  if (isLegacyInitPacket(dat)) {
    throw packageLegacy(
      `${entry.datFile} is a legacy init packet, made for the legacy DFU of nRF5 SDK ≤ 11; ` +
        'legacy DFU is not supported yet; regenerate the package with nrfutil pkg generate',
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
  let zip: JSZip;
  try {
    zip = await JSZip.loadAsync(bytes);
  } catch (cause) {
    throw packageInvalid(
      `not a readable zip file (${cause instanceof Error ? cause.message : String(cause)})`,
      'pass the .zip produced by nrfutil pkg generate; the file may be truncated or not a package',
      cause,
    );
  }
  const manifestFile = zip.file('manifest.json');
  if (manifestFile === null) {
    throw packageInvalid('package has no manifest.json at its root', 'pass the .zip produced by nrfutil pkg generate, not a .hex or a re-zipped folder');
  }
  const entries = parseManifest(await manifestFile.async('string'));
  const images: PackageImage[] = [];
  for (const entry of entries) {
    const bin = await readEntry(zip, entry.binFile, entry.kind);
    const dat = await readEntry(zip, entry.datFile, entry.kind);
    const decoded = checkImage(entry, bin, dat);
    images.push({ summary: summarizeImage(entry.kind, bin, dat, decoded), bin, dat });
  }
  return { images, sha256: sha256Hex(bytes), size: bytes.length };
}
