/**
 * The shared reference data beside the repository (../shared, not part of it): Nordic's real
 * nrfutil packages and keys (fixtures/dfu, described in its README.md) and the byte-exact
 * connectivity vectors made with Nordic's codecs (vectors/nrf-connectivity). They are third-party
 * data the project must not redistribute, so tests read them where they are, at run time.
 *
 * Tests whose point is compatibility with that data declare it with `needsShared` (a describe/it
 * option): without ../shared they say which folder is missing and why, and skip on a developer's
 * machine, but under CI (process.env.CI set) they run and fail with that message instead, so a CI
 * run without the reference data cannot pass by skipping.
 *
 * Packages made here at test time from the shared fixtures keep each image's .bin and signed .dat
 * byte for byte; only the manifest is written here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import JSZip from 'jszip';

export type SharedFolder = 'fixtures/dfu' | 'vectors/nrf-connectivity';

/** ../shared relative to the repository root (this file is test/helpers/). */
const SHARED = new URL('../../../shared/', import.meta.url);

function folderUrl(folder: SharedFolder): URL {
  return new URL(`${folder}/`, SHARED);
}

export function sharedPresent(folder: SharedFolder): boolean {
  return existsSync(folderUrl(folder));
}

/** True when this run must not skip for missing reference data. */
export function underCi(): boolean {
  const ci = process.env['CI'];
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

function missing(folder: SharedFolder, why: string): string {
  return (
    `needs ../shared/${folder} (beside the repository, not in it): ${why}. ` +
    `It is absent at ${fileURLToPath(folderUrl(folder))}; check out the project's shared reference folder there` +
    (underCi() ? ' (CI refuses to skip these tests)' : ' to run these tests')
  );
}

/**
 * Options for a describe/it that needs a shared folder: `{ skip: reason }` when it is absent on a
 * developer's machine; `{ skip: false }` when present or under CI (where the reads then fail,
 * naming the folder).
 */
export function needsShared(folder: SharedFolder, why: string): { readonly skip: string | false } {
  if (sharedPresent(folder) || underCi()) return { skip: false };
  return { skip: missing(folder, why) };
}

/** A file of a shared folder; fails with a clear message (which folder, why) when absent. */
export function sharedFile(folder: SharedFolder, name: string, why = 'reference data made by third parties'): Uint8Array {
  const url = new URL(name, folderUrl(folder));
  if (!sharedPresent(folder)) throw new Error(missing(folder, why));
  if (!existsSync(url)) throw new Error(`shared reference file ${folder}/${name} not found at ${fileURLToPath(url)}`);
  return new Uint8Array(readFileSync(url));
}

/** Why the DFU fixtures are needed, for the messages of tests that read them. */
export const NORDIC_PACKAGES_WHY = "Nordic's real nrfutil packages and keys, to check compatibility with them";

/** describe/it option of tests that need Nordic's packages (fixtures/dfu). */
export const NEEDS_NORDIC_PACKAGES = needsShared('fixtures/dfu', NORDIC_PACKAGES_WHY);

/** A file of the shared DFU fixtures; fails with a clear message when the folder is not there. */
export function sharedFixture(name: string): Uint8Array {
  return sharedFile('fixtures/dfu', name, NORDIC_PACKAGES_WHY);
}

interface ManifestEntry {
  readonly bin_file: string;
  readonly dat_file: string;
}

/** The single image of an nrfutil package: its manifest key and its two files. */
async function onlyImage(zipName: string): Promise<{ key: string; bin: { name: string; bytes: Uint8Array }; dat: { name: string; bytes: Uint8Array } }> {
  const zip = await JSZip.loadAsync(sharedFixture(zipName));
  const manifestText = await zip.file('manifest.json')?.async('string');
  if (manifestText === undefined) throw new Error(`${zipName} has no manifest.json`);
  const entries = Object.entries((JSON.parse(manifestText) as { manifest: Record<string, ManifestEntry> }).manifest);
  const [entry] = entries;
  if (entries.length !== 1 || entry === undefined) throw new Error(`${zipName} holds ${entries.length} images, expected 1`);
  const [key, files] = entry;
  const read = async (name: string): Promise<{ name: string; bytes: Uint8Array }> => {
    const bytes = await zip.file(name)?.async('uint8array');
    if (bytes === undefined) throw new Error(`${zipName} lacks ${name}`);
    return { name, bytes };
  };
  return { key, bin: await read(files.bin_file), dat: await read(files.dat_file) };
}

/** The two packages the bootloader + application package is made of (shared README §2). */
export const BL_APP_SOURCES = {
  bootloader: 'sdk17.0.2_bootloader_secure_ble_debug_without_bonds_s140.zip',
  application: 'sdk17.0.2_hrs_application_s140.zip',
} as const;

/**
 * A bootloader + application package as `nrfutil pkg generate --bootloader … --application …`
 * makes one, from two of Nordic's signed test images of nRF5 SDK 17.0.2 (shared README §2:
 * sdw333/nRF5_SDK examples/dfu/secure_dfu_test_images/ble/nrf52840/, commit faad3ff3…): the debug
 * BLE secure bootloader and the HRS application, both signed with the SDK 17.0.2 debug key. Their
 * .bin/.dat files are taken unchanged (each image keeps its own signed init packet). The manifest
 * is laid out the way pc-nrfutil writes it (nordicsemi/dfu/manifest.py: json.dumps with
 * sort_keys=True, indent=4, so "application" comes before "bootloader" and "bin_file" before
 * "dat_file"); the sending order, bootloader first, is the package reader's (spec §3.7).
 */
export async function bootloaderAndApplicationPackage(): Promise<Uint8Array> {
  const bl = await onlyImage(BL_APP_SOURCES.bootloader);
  const app = await onlyImage(BL_APP_SOURCES.application);
  if (bl.key !== 'bootloader' || app.key !== 'application') throw new Error(`unexpected image kinds ${bl.key}, ${app.key}`);
  const names = [bl.bin.name, bl.dat.name, app.bin.name, app.dat.name];
  if (new Set(names).size !== names.length) throw new Error(`file names clash: ${names.join(', ')}`);
  const manifest = {
    manifest: {
      application: { bin_file: app.bin.name, dat_file: app.dat.name },
      bootloader: { bin_file: bl.bin.name, dat_file: bl.dat.name },
    },
  };
  const out = new JSZip();
  out.file('manifest.json', JSON.stringify(manifest, null, 4));
  for (const f of [app.bin, app.dat, bl.bin, bl.dat]) out.file(f.name, f.bytes);
  return out.generateAsync({ type: 'uint8array', compression: 'DEFLATE' });
}
