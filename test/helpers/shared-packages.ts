/**
 * Packages made at test time from the shared DFU fixtures (../shared/fixtures/dfu next to the
 * repository, described in its README.md). No Nordic binary is committed for them: each image keeps
 * its own .bin and signed .dat byte for byte; only the manifest is written here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import JSZip from 'jszip';

const SHARED_DFU = new URL('../../../shared/fixtures/dfu/', import.meta.url);

/** A file of the shared fixtures; fails with a clear message when the folder is not there. */
export function sharedFixture(name: string): Uint8Array {
  const url = new URL(name, SHARED_DFU);
  if (!existsSync(url)) {
    throw new Error(
      `shared DFU fixture ${name} not found at ${fileURLToPath(url)}: these tests need the project's shared folder (../shared/fixtures/dfu beside the repository) checked out`,
    );
  }
  return new Uint8Array(readFileSync(url));
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
