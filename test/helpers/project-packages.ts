/**
 * The project's own DFU packages, made at test time: the demo firmware of server/sim/demoFirmware.ts
 * packaged with the package writer (generatePackage) and signed with the project's published demo
 * key (demo/bledfu-demo-key.pem), which the simulator trusts by default. Tests that merely need "a
 * package to update a device with" use these; tests about compatibility with Nordic's own
 * packages read those from ../shared (shared-packages.ts, dfu-fixtures.ts).
 *
 * The options mirror how Nordic made the SDK 17.0.2 test images the tests used before (nRF52840,
 * hw_version 52, sd_req 0x0100 = S140 7.2.0, debug mode: the simulator's debug bootloader takes them
 * again and again, whatever version it has). Every fact a test asserts (size, SHA-256, CRC-32,
 * version) is computed here from the bytes, never written down; each package is built once per
 * process.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import JSZip from 'jszip';
import { crc32 } from '../../server/common/crc32.js';
import { generatePackage, type GeneratedImage, type GeneratePackageOptions } from '../../server/dfu/package/generate.js';
import { loadSigningKey } from '../../server/dfu/package/signingKey.js';
import type { ImageKind } from '../../server/dfu/types.js';
import { demoApplication, demoBootloader, demoSoftDevice, type DemoImage } from '../../server/sim/demoFirmware.js';

/** The demo key's file, relative to the repository root (this file is test/helpers/). */
export const DEMO_KEY_FILE = new URL('../../demo/bledfu-demo-key.pem', import.meta.url);

let demoKeyObject: KeyObject | undefined;

/** The project's published demo signing key (private). */
export function demoKey(): KeyObject {
  demoKeyObject ??= loadSigningKey(readFileSync(DEMO_KEY_FILE, 'utf8'), 'demo/bledfu-demo-key.pem');
  return demoKeyObject;
}

/** The FWID of the SoftDevice the simulated chip has installed (S140 7.2.0). */
export const SIM_SD_FWID = 0x0100;

/** FWID of the lone SoftDevice package's SoftDevice (Nordic's test SoftDevices carry 0xCAFE too). */
export const TEST_SD_FWID = 0xcafe;
/** FWID of the SoftDevice in the SD+BL(+app) packages. */
export const SDBL_SD_FWID = 0x00b6;

/** The demo images the packages are made of (fixed seeds: the same bytes in every run). */
export const PROJECT_IMAGES = {
  /** ~100 KB, like Nordic's HRS example: 25 data objects of 4 KiB, so resume/PRN/progress tests have room. */
  app: (): DemoImage => demoApplication(),
  /** Fits a single 4 KiB data object, like pc-nrfutil's blinky. */
  appSmall: (): DemoImage => demoApplication({ size: 1_504, seed: 0x5a11, version: 3 }),
  bootloader: (): DemoImage => demoBootloader(),
  /** Same major version as the chip's SoftDevice (7), with the FWID 0xCAFE of Nordic's test SoftDevices. */
  softdevice: (): DemoImage => demoSoftDevice({ fwid: TEST_SD_FWID }),
  /**
   * The SoftDevice of the SD+BL(+app) packages: another major version (6.1.1, FWID 0xB6, as
   * S140 6.1.1 has), so installing it invalidates the application like a real major change.
   */
  sdblSoftdevice: (): DemoImage => demoSoftDevice({ seed: 0x5d0b1, size: 148 * 1024, version: 6_001_001, fwid: SDBL_SD_FWID }),
  sdblBootloader: (): DemoImage => demoBootloader({ seed: 0xb10b1, size: 20 * 1024, version: 3 }),
} as const;

export type ProjectPackageName = 'app' | 'app-small' | 'bootloader' | 'softdevice' | 'sd-bl' | 'bl-app' | 'sd-bl-app';

export const PROJECT_PACKAGE_NAMES: readonly ProjectPackageName[] = ['app', 'app-small', 'bootloader', 'softdevice', 'sd-bl', 'bl-app', 'sd-bl-app'];

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

const BASE = { hwVersion: 52, sdReq: [SIM_SD_FWID], debugMode: true } as const;

const source = (file: string, image: DemoImage): { name: string; hex: string } => ({ name: file, hex: image.hex });

function facts(img: GeneratedImage, fwVersion: number, debug: boolean): ProjectImage {
  const base = {
    kind: img.kind,
    binFile: img.binFile,
    datFile: img.datFile,
    bin: img.bin,
    dat: img.dat,
    size: img.bin.length,
    sha256: sha256(img.bin),
    crc32: crc32(img.bin),
    fwVersion,
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
      const sd = PROJECT_IMAGES.sdblSoftdevice().bytes;
      return {
        ...base,
        sdSize: sd.length,
        blSize: img.bin.length - sd.length,
        parts: { softdevice: sha256(img.bin.subarray(0, sd.length)), bootloader: sha256(img.bin.subarray(sd.length)) },
      };
    }
    default:
      return base;
  }
}

async function generated(o: GeneratePackageOptions): Promise<{ zip: Uint8Array; images: readonly ProjectImage[] }> {
  const pkg = await generatePackage({ ...o, key: demoKey() });
  const versionOf = (kind: ImageKind): number => {
    if (kind === 'application') return o.applicationVersion ?? 0xffffffff;
    if (kind === 'softdevice') return 0xffffffff;
    return o.bootloaderVersion ?? 0xffffffff;
  };
  return { zip: pkg.zip, images: pkg.images.map((img) => facts(img, versionOf(img.kind), o.debugMode === true)) };
}

/**
 * A bootloader + application package, as `nrfutil pkg generate --bootloader … --application …`
 * lays it out (the package writer refuses that pair in one call, so it is put together here from
 * the two single-image packages, each image keeping its own signed init packet): the manifest lists
 * both, and the package reader sends the bootloader first (spec §3.7).
 */
async function bootloaderAndApplication(): Promise<{ zip: Uint8Array; images: readonly ProjectImage[] }> {
  const bl = await projectPackage('bootloader');
  const app = await projectPackage('app');
  const images = [...bl.images, ...app.images];
  const manifest: Record<string, { bin_file: string; dat_file: string }> = {};
  for (const img of [...images].sort((a, b) => (a.kind < b.kind ? -1 : 1))) manifest[img.kind] = { bin_file: img.binFile, dat_file: img.datFile };
  const zip = new JSZip();
  zip.file('manifest.json', JSON.stringify({ manifest }, null, 4));
  for (const img of images) {
    zip.file(img.binFile, img.bin);
    zip.file(img.datFile, img.dat);
  }
  return { zip: await zip.generateAsync({ type: 'uint8array', compression: 'STORE' }), images };
}

async function build(name: ProjectPackageName): Promise<ProjectPackage> {
  const app = PROJECT_IMAGES.app();
  const bl = PROJECT_IMAGES.bootloader();
  let made: { zip: Uint8Array; images: readonly ProjectImage[] };
  switch (name) {
    case 'app':
      made = await generated({ ...BASE, application: source('bledfu_demo_app.hex', app), applicationVersion: app.version });
      break;
    case 'app-small': {
      const small = PROJECT_IMAGES.appSmall();
      made = await generated({ ...BASE, application: source('bledfu_demo_app_small.hex', small), applicationVersion: small.version });
      break;
    }
    case 'bootloader':
      made = await generated({ ...BASE, bootloader: source('bledfu_demo_bootloader.hex', bl), bootloaderVersion: bl.version });
      break;
    case 'softdevice':
      made = await generated({ ...BASE, softdevice: source('bledfu_demo_softdevice.hex', PROJECT_IMAGES.softdevice()) });
      break;
    case 'sd-bl': {
      const sdblBl = PROJECT_IMAGES.sdblBootloader();
      made = await generated({
        ...BASE,
        softdevice: source('bledfu_demo_softdevice.hex', PROJECT_IMAGES.sdblSoftdevice()),
        bootloader: source('bledfu_demo_bootloader.hex', sdblBl),
        bootloaderVersion: sdblBl.version,
      });
      break;
    }
    case 'sd-bl-app': {
      const sdblBl = PROJECT_IMAGES.sdblBootloader();
      made = await generated({
        ...BASE,
        softdevice: source('bledfu_demo_softdevice.hex', PROJECT_IMAGES.sdblSoftdevice()),
        bootloader: source('bledfu_demo_bootloader.hex', sdblBl),
        bootloaderVersion: sdblBl.version,
        application: source('bledfu_demo_app.hex', app),
        applicationVersion: app.version,
        sdId: [SDBL_SD_FWID],
      });
      break;
    }
    case 'bl-app':
      made = await bootloaderAndApplication();
      break;
  }
  return { name, ...made };
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
