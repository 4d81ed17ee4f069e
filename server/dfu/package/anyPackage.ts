/**
 * One entry point for packages of either DFU protocol: the manifest says which (a legacy one has
 * dfu_version or init_packet_data, spec §7.2), and the matching reader checks the rest.
 *
 * Not wired into the job layer yet: jobs and the package store call readPackage (Secure DFU only,
 * legacy refused with PACKAGE_LEGACY) until the legacy engine exists. Switching the package
 * worker (server/jobs/packageWorker.ts) to readAnyPackage, and branching on isLegacyPackage where
 * an engine is chosen, is the whole change then.
 */
import type { AnyDfuPackage } from './images.js';
import { readLegacyArchive } from './legacyPackage.js';
import { isLegacyManifest, manifestObject } from './manifest.js';
import { readPackage } from './package.js';
import { openPackageArchive, readManifestText } from './packageArchive.js';

export async function readAnyPackage(bytes: Uint8Array): Promise<AnyDfuPackage> {
  const archive = await openPackageArchive(bytes);
  const text = await readManifestText(archive);
  if (isLegacyManifest(manifestObject(text))) return readLegacyArchive(archive, text, bytes);
  return readPackage(bytes);
}
