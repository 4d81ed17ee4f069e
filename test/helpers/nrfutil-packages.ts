/**
 * Reading nrfutil-made packages of the shared fixtures (../shared/fixtures/dfu) as plain files,
 * without bledfu's reader, so generator tests compare against what nrfutil wrote.
 */
import JSZip from 'jszip';
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

export function file(z: ZipFiles, name: string): Uint8Array {
  const f = z.files.get(name);
  if (f === undefined) throw new Error(`zip lacks ${name} (has ${[...z.files.keys()].join(', ')})`);
  return f;
}
