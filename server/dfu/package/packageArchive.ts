/**
 * The zip container of an nrfutil package (Secure or legacy), opened and read with every check
 * that does not depend on the DFU protocol: the directory walk first (zipArchive.ts), then
 * bounded inflation with each entry's CRC-32 checked against the central directory.
 */
import { createHash } from 'node:crypto';
import JSZip from 'jszip';
import type { ImageKind } from './images.js';
import { packageInvalid } from '../errors.js';
import { readZipDirectory, type ZipDirectory } from './zipArchive.js';
import { crc32 } from '../../common/crc32.js';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
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

/** One image file named by the manifest, inflated (bounded by `limit`) and checked against its stated CRC-32. */
export async function readImageFile(archive: PackageArchive, name: string, kind: ImageKind, limit: number): Promise<Uint8Array> {
  const file = archive.zip.file(name);
  if (file === null) throw packageInvalid(`package is missing ${name}, named by the manifest for the ${kind} image`);
  return extractChecked(archive.directory, file, limit);
}

/** A zip whose directory was walked and agrees with what the zip library sees. */
export interface PackageArchive {
  readonly zip: JSZip;
  readonly directory: ZipDirectory;
}

export async function openPackageArchive(bytes: Uint8Array): Promise<PackageArchive> {
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
  return { zip, directory };
}

/** manifest.json at the archive's root, as text. */
export async function readManifestText(archive: PackageArchive): Promise<string> {
  const manifestFile = archive.zip.file('manifest.json');
  if (manifestFile === null) {
    throw packageInvalid('package has no manifest.json at its root', 'pass the .zip produced by nrfutil pkg generate, not a .hex or a re-zipped folder');
  }
  return new TextDecoder().decode(await extractChecked(archive.directory, manifestFile, MAX_UNPACKED_BYTES.manifest));
}
