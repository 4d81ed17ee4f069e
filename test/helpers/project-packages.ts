/**
 * The project's own DFU packages, made at test time (server/sim/demoPackages.ts: the demo firmware
 * of server/sim/demoFirmware.ts packaged with the package writer) and signed with the project's
 * published demo key (demo/bledfu-demo-key.pem), which the simulator trusts by default. Tests that
 * merely need "a package to update a device with" use these; tests about compatibility with
 * Nordic's own packages read those from ../shared (shared-packages.ts, dfu-fixtures.ts).
 *
 * Every fact a test asserts (size, SHA-256, CRC-32, version) is computed here from the bytes,
 * never written down; each package is built once per process.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from '../../server/common/crc32.js';
import { loadSigningKey } from '../../server/dfu/package/signingKey.js';
import type { ImageKind } from '../../server/dfu/types.js';
import { DEMO_PACKAGE_IMAGES, DEMO_PACKAGE_NAMES, makeDemoPackage, type DemoPackage, type DemoPackageName } from '../../server/sim/demoPackages.js';

/** The demo key's file, relative to the repository root (this file is test/helpers/). */
export const DEMO_KEY_FILE = new URL('../../demo/bledfu-demo-key.pem', import.meta.url);

let demoKeyObject: KeyObject | undefined;

/** The project's published demo signing key (private). */
export function demoKey(): KeyObject {
  demoKeyObject ??= loadSigningKey(readFileSync(DEMO_KEY_FILE, 'utf8'), 'demo/bledfu-demo-key.pem');
  return demoKeyObject;
}

export { SDBL_SD_FWID, SIM_SD_FWID, TEST_SD_FWID } from '../../server/sim/demoPackages.js';

/** The demo images the packages are made of (server/sim/demoPackages.ts). */
export const PROJECT_IMAGES = DEMO_PACKAGE_IMAGES;

/** The project's packages (server/sim/demoPackages.ts), 'bl-app' among them. */
export type ProjectPackageName = DemoPackageName;

export const PROJECT_PACKAGE_NAMES: readonly ProjectPackageName[] = DEMO_PACKAGE_NAMES;

/** What a test may assert about one image of a project package. */
export interface ProjectImage {
  readonly kind: ImageKind;
  readonly binFile: string;
  readonly datFile: string;
  readonly bin: Uint8Array;
  readonly dat: Uint8Array;
  readonly size: number;
  /** Of the .bin, normal byte order, hex. */
  readonly sha256: string;
  readonly crc32: number;
  /** As the init packet says (0xFFFFFFFF for a lone SoftDevice, as nrfutil writes it). */
  readonly fwVersion: number;
  readonly isDebug: boolean;
  readonly sdSize: number;
  readonly blSize: number;
  /** SD+BL only: SHA-256 of the SoftDevice and bootloader parts, as the chip installs them. */
  readonly parts?: { readonly softdevice: string; readonly bootloader: string };
}

export interface ProjectPackage {
  readonly name: ProjectPackageName;
  readonly zip: Uint8Array;
  /** In sending order. */
  readonly images: readonly ProjectImage[];
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function facts(img: DemoPackage['images'][number], debug: boolean): ProjectImage {
  const base = {
    kind: img.kind,
    binFile: img.binFile,
    datFile: img.datFile,
    bin: img.bin,
    dat: img.dat,
    size: img.bin.length,
    sha256: sha256(img.bin),
    crc32: crc32(img.bin),
    fwVersion: img.fwVersion,
    isDebug: debug,
    sdSize: 0,
    blSize: 0,
  };
  switch (img.kind) {
    case 'softdevice':
      return { ...base, sdSize: img.bin.length };
    case 'bootloader':
      return { ...base, blSize: img.bin.length };
    case 'softdevice_bootloader': {
      const sd = PROJECT_IMAGES.sdblSoftdevice().bytes.length;
      return {
        ...base,
        sdSize: sd,
        blSize: img.bin.length - sd,
        parts: { softdevice: sha256(img.bin.subarray(0, sd)), bootloader: sha256(img.bin.subarray(sd)) },
      };
    }
    default:
      return base;
  }
}

async function build(name: ProjectPackageName): Promise<ProjectPackage> {
  const pkg = await makeDemoPackage(name, demoKey());
  return { name, zip: pkg.zip, images: pkg.images.map((img) => facts(img, pkg.debugMode)) };
}

const cache = new Map<ProjectPackageName, Promise<ProjectPackage>>();

/** One of the project's packages (built on first use, then shared by the whole test process). */
export function projectPackage(name: ProjectPackageName): Promise<ProjectPackage> {
  let p = cache.get(name);
  if (p === undefined) {
    p = build(name);
    cache.set(name, p);
  }
  return p;
}

/** The zip bytes of a project package. */
export async function projectZip(name: ProjectPackageName): Promise<Uint8Array> {
  return (await projectPackage(name)).zip;
}

/** The one image of a single-image package, or the image of `kind`. */
export async function projectImage(name: ProjectPackageName, kind?: ImageKind): Promise<ProjectImage> {
  const { images } = await projectPackage(name);
  const image = kind === undefined ? (images.length === 1 ? images[0] : undefined) : images.find((i) => i.kind === kind);
  if (image === undefined) throw new Error(`project package ${name} has no ${kind ?? 'single'} image (it holds ${images.map((i) => i.kind).join(', ')})`);
  return image;
}

let dir: string | undefined;

/** A project package written to a file of this process's temporary folder (for CLIs and tools that take paths). */
export async function projectPackageFile(name: ProjectPackageName): Promise<string> {
  if (dir === undefined) {
    const made = join(tmpdir(), `bledfu-project-packages-${process.pid}`);
    mkdirSync(made, { recursive: true });
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
    dir = made;
  }
  const file = join(dir, `${name}.zip`);
  writeFileSync(file, await projectZip(name));
  return file;
}

/** The zip of a single-image project package with the facts of its image, for tests that send it. */
export interface ProjectFacts extends ProjectImage {
  readonly zip: Uint8Array;
  readonly datSize: number;
}

export async function projectFacts(name: ProjectPackageName): Promise<ProjectFacts> {
  const image = await projectImage(name);
  return { ...image, zip: await projectZip(name), datSize: image.dat.length };
}
