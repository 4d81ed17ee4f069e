/**
 * One entry point for packages of either DFU protocol: the manifest says which (a legacy one has
 * dfu_version or init_packet_data, spec §7.2), and the matching reader checks the rest.
 *
 * The server's package readers (server/jobs/packageWorker.ts) call it; the job layer carries the
 * AnyDfuPackage to dfu/engine.ts, which chooses the engine with isLegacyPackage.
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
