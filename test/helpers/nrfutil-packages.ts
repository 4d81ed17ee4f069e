/**
 * Reading nrfutil-made packages of the shared fixtures (../shared/fixtures/dfu) as plain files,
 * without bledfu's reader, so generator tests compare against what nrfutil wrote.
 *
 * Nothing here reads ../shared when imported: the reads happen when a test calls these helpers,
 * and tests that do take the NEEDS_NORDIC_PACKAGES option (shared-packages.ts), so a test file
 * whose shared-data tests are skipped still loads and runs its other tests. Test files keep their
 * own values made from shared data lazy too (see `lazy`).
 */
import JSZip from 'jszip';
import { encodeIntelHex, parseIntelHex, type HexSegment } from '../../server/dfu/package/hex.js';
import { sharedFixture } from './shared-packages.js';

export interface ZipFiles {
  /** manifest.json as stored, line ends normalised to \n (some fixtures were zipped on Windows). */
  readonly manifest: string;
  readonly files: ReadonlyMap<string, Uint8Array>;
}

export async function zipFiles(bytes: Uint8Array): Promise<ZipFiles> {
  const zip = await JSZip.loadAsync(bytes);
  const files = new Map<string, Uint8Array>();
  for (const name of Object.keys(zip.files)) {
    const f = zip.file(name);
    if (f !== null) files.set(name, await f.async('uint8array'));
  }
  const manifest = files.get('manifest.json');
  if (manifest === undefined) throw new Error('zip has no manifest.json');
  return { manifest: new TextDecoder().decode(manifest).replace(/\r\n/g, '\n'), files };
}

/** A shared nrfutil package's files. */
export function sharedZipFiles(name: string): Promise<ZipFiles> {
  return zipFiles(sharedFixture(name));
}

export function sharedText(name: string): string {
  return new TextDecoder().decode(sharedFixture(name));
}

/**
 * A value made on first use and kept: for module-level values a test file makes from shared data
 * (say, parts of the DK image), so that importing the file reads nothing from ../shared.
 */
export function lazy<T>(make: () => T): () => T {
  let made: { readonly value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

export function file(z: ZipFiles, name: string): Uint8Array {
  const f = z.files.get(name);
  if (f === undefined) throw new Error(`zip lacks ${name} (has ${[...z.files.keys()].join(', ')})`);
  return f;
}

/** The shared DK image (README §5): MBR, S140 7.2.0, buttonless app, debug bootloader, settings, UICR. */
export const DK_HEX = 'sdk17.0.2_sd_s140_bootloader_buttonless_with_setting_page_dfu_secure_ble_debug_without_bonds.hex';

let dkSegments: readonly HexSegment[] | undefined;

/** The bytes of the shared DK image within the given [lo, hi) ranges, as Intel HEX: the file a build of that part would give. */
export function dkHexPart(...ranges: readonly (readonly [number, number])[]): string {
  dkSegments ??= parseIntelHex(sharedText(DK_HEX), DK_HEX);
  const out: HexSegment[] = [];
  for (const [lo, hi] of ranges) {
    for (const s of dkSegments) {
      const a = Math.max(lo, s.address);
      const b = Math.min(hi, s.address + s.data.length);
      if (a < b) out.push({ address: a, data: s.data.subarray(a - s.address, b - s.address) });
    }
  }
  return encodeIntelHex(out);
}
