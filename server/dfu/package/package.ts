/**
 * Reading an nrfutil .zip into a validated DfuPackage. Everything that can be checked without a
 * device is checked here, so a bad package fails before any radio work.
 */
import { createHash } from 'node:crypto';
import JSZip from 'jszip';
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
import { readZipDirectory, type ZipDirectory } from './zipArchive.js';
import { crc32 } from '../../common/crc32.js';

/** The init packet FwType each manifest image kind carries. */
export const KIND_FW_TYPE = {
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

/**
 * Unpacked-size caps, checked while inflating: a small zip can expand to gigabytes (a "zip bomb"),
 * and the .zip size limit does not bound that. No nRF5 has more than 1 MiB of flash, an init
 * packet is at most 512 bytes (spec §10), and nrfutil's manifest is a few hundred bytes.
 */
export const MAX_UNPACKED_BYTES = { bin: 4 * 1024 * 1024, dat: 4096, manifest: 64 * 1024 } as const;

/** Inflates one entry, refusing it as soon as it grows past `limit` bytes. */
function extract(file: JSZip.JSZipObject, limit: number, what: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stream = file.nodeStream('nodebuffer');
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stream.removeAllListeners('data');
        stream.pause();
        reject(
          packageInvalid(
            `${what} unpacks to more than ${limit} bytes, more than any nRF5 image can be`,
            'check that this is an nrfutil DFU package; a damaged or malicious zip can expand without bound',
          ),
        );
        return;
      }
      chunks.push(chunk);
    });
    stream.on('error', (cause: unknown) => reject(packageInvalid(`cannot extract ${what} from the package (corrupt zip entry)`, undefined, cause)));
    stream.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks, size))));
  });
}

/**
 * Inflates one entry and checks its CRC-32 against the central directory (jszip does not): bytes
 * another zip tool would report as damaged are never flashed.
 */
async function extractChecked(directory: ZipDirectory, file: JSZip.JSZipObject, limit: number): Promise<Uint8Array> {
  const bytes = await extract(file, limit, file.name);
  const stated = directory.entries.find((e) => e.name === file.name);
  if (stated === undefined) throw packageInvalid(`${file.name} is not in the zip's central directory`);
  const actual = crc32(bytes);
  if (actual !== stated.crc32) {
    throw packageInvalid(
      `${file.name} is damaged: its bytes have CRC-32 ${hex32(actual)} but the zip states ${hex32(stated.crc32)}`,
      'the file was corrupted or altered after it was zipped; regenerate the package and copy it again',
    );
  }
  return bytes;
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

async function readEntry(zip: JSZip, directory: ZipDirectory, name: string, kind: ImageKind, limit: number): Promise<Uint8Array> {
  const file = zip.file(name);
  if (file === null) throw packageInvalid(`package is missing ${name}, named by the manifest for the ${kind} image`);
  return extractChecked(directory, file, limit);
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
  // The container first, with work bounded by the entry limit: a zip library would parse every
  // entry of a hostile archive before refusing it, and reads ambiguous archives its own way.
  const directory = readZipDirectory(bytes);
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
  const seen = Object.keys(zip.files).sort();
  const stated = directory.entries.map((e) => e.name).sort();
  if (seen.length !== stated.length || seen.some((n, i) => n !== stated[i])) {
    throw packageInvalid('the zip reader sees other entries than the zip\'s central directory lists', 'regenerate the package with nrfutil pkg generate');
  }
  const manifestFile = zip.file('manifest.json');
  if (manifestFile === null) {
    throw packageInvalid('package has no manifest.json at its root', 'pass the .zip produced by nrfutil pkg generate, not a .hex or a re-zipped folder');
  }
  const entries = parseManifest(new TextDecoder().decode(await extractChecked(directory, manifestFile, MAX_UNPACKED_BYTES.manifest)));
  const images: PackageImage[] = [];
  for (const entry of entries) {
    const bin = await readEntry(zip, directory, entry.binFile, entry.kind, MAX_UNPACKED_BYTES.bin);
    const dat = await readEntry(zip, directory, entry.datFile, entry.kind, MAX_UNPACKED_BYTES.dat);
    const decoded = checkImage(entry, bin, dat);
    images.push({ summary: summarizeImage(entry.kind, bin, dat, decoded), bin, dat });
  }
  return { images, sha256: sha256Hex(bytes), size: bytes.length };
}
