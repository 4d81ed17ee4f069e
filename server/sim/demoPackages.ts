/**
 * The project's own DFU packages: the demo firmware (demoFirmware.ts) packaged with the package
 * writer, the way the demo, the station and the tests use them. The signing key is the caller's
 * (the demo key, demo/bledfu-demo-key.pem, which the simulator trusts by default): shipped code
 * reads no key file of its own.
 *
 * The options mirror how Nordic made the SDK 17.0.2 test images the project used before
 * (nRF52840, hw_version 52, sd_req 0x0100 = S140 7.2.0, debug mode, so the simulator's debug
 * bootloader takes them again and again whatever version it has). Same key, same bytes: nothing
 * here depends on the clock or chance, except the signatures (ECDSA signs with a random nonce).
 */
import type { KeyObject } from 'node:crypto';
import { combinePackages, generatePackage, type GeneratedImage, type GeneratePackageOptions } from '../dfu/package/generate.js';
import { demoApplication, demoBootloader, demoSoftDevice, type DemoImage } from './demoFirmware.js';

/** The FWID of the SoftDevice the simulated chip has installed (S140 7.2.0). */
export const SIM_SD_FWID = 0x0100;
/** FWID of the lone SoftDevice package's SoftDevice (Nordic's test SoftDevices carry 0xCAFE too). */
export const TEST_SD_FWID = 0xcafe;
/** FWID of the SoftDevice in the SD+BL(+app) packages: S140 6.1.0's. */
export const SDBL_SD_FWID = 0x00a9;

/** The demo images the packages are made of (fixed seeds: the same bytes in every run). */
export const DEMO_PACKAGE_IMAGES = {
  /** ~100 KB, like Nordic's HRS example: 24 full data objects of 4 KiB and a short last one. */
  app: (): DemoImage => demoApplication(),
  /** Fits a single 4 KiB data object, like pc-nrfutil's blinky. */
  appSmall: (): DemoImage => demoApplication({ size: 1_504, seed: 0x5a11, version: 3 }),
  bootloader: (): DemoImage => demoBootloader(),
  /** Same major version as the chip's SoftDevice (7), with the FWID 0xCAFE of Nordic's test SoftDevices. */
  softdevice: (): DemoImage => demoSoftDevice({ fwid: TEST_SD_FWID }),
  /**
   * The SoftDevice of the SD+BL(+app) packages: another major version (6.1.0, FWID 0xA9 as
   * S140 6.1.0 has), so installing it invalidates the application like a real major change.
   */
  sdblSoftdevice: (): DemoImage => demoSoftDevice({ seed: 0x5d0b1, size: 148 * 1024, version: 6_001_000, fwid: SDBL_SD_FWID }),
  sdblBootloader: (): DemoImage => demoBootloader({ seed: 0xb10b1, size: 20 * 1024, version: 3 }),
} as const;

/**
 * The project's packages. All but 'bl-app' come from one call of the writer; the bootloader +
 * application package (which `generatePackage` refuses, as nrfutil does) is 'bootloader' and
 * 'app' put together with `combinePackages`, each image keeping its own init packet.
 */
export type DemoPackageName = 'app' | 'app-small' | 'bootloader' | 'softdevice' | 'sd-bl' | 'sd-bl-app' | 'bl-app';

export const DEMO_PACKAGE_NAMES: readonly DemoPackageName[] = ['app', 'app-small', 'bootloader', 'softdevice', 'sd-bl', 'sd-bl-app', 'bl-app'];

export interface DemoPackage {
  readonly name: DemoPackageName;
  readonly zip: Uint8Array;
  /** In sending order, with the version each init packet carries. */
  readonly images: readonly (GeneratedImage & { readonly fwVersion: number })[];
  /** Made with --debug-mode. */
  readonly debugMode: boolean;
}

const BASE = { hwVersion: 52, sdReq: [SIM_SD_FWID], debugMode: true } as const;

const source = (file: string, image: DemoImage): { name: string; hex: string } => ({ name: file, hex: image.hex });

async function generated(name: DemoPackageName, o: GeneratePackageOptions, key: KeyObject): Promise<DemoPackage> {
  const pkg = await generatePackage({ ...o, key });
  const versionOf = (kind: GeneratedImage['kind']): number => {
    if (kind === 'application') return o.applicationVersion ?? 0xffffffff;
    if (kind === 'softdevice') return 0xffffffff;
    return o.bootloaderVersion ?? 0xffffffff;
  };
  return { name, zip: pkg.zip, images: pkg.images.map((img) => ({ ...img, fwVersion: versionOf(img.kind) })), debugMode: o.debugMode === true };
}

/** Makes one of the project's packages, signed with `key`. */
export async function makeDemoPackage(name: DemoPackageName, key: KeyObject): Promise<DemoPackage> {
  const img = DEMO_PACKAGE_IMAGES;
  switch (name) {
    case 'app': {
      const app = img.app();
      return generated(name, { ...BASE, application: source('bledfu_demo_app.hex', app), applicationVersion: app.version }, key);
    }
    case 'app-small': {
      const small = img.appSmall();
      return generated(name, { ...BASE, application: source('bledfu_demo_app_small.hex', small), applicationVersion: small.version }, key);
    }
    case 'bootloader': {
      const bl = img.bootloader();
      return generated(name, { ...BASE, bootloader: source('bledfu_demo_bootloader.hex', bl), bootloaderVersion: bl.version }, key);
    }
    case 'softdevice':
      return generated(name, { ...BASE, softdevice: source('bledfu_demo_softdevice.hex', img.softdevice()) }, key);
    case 'sd-bl': {
      const bl = img.sdblBootloader();
      const o = { ...BASE, softdevice: source('bledfu_demo_softdevice.hex', img.sdblSoftdevice()), bootloader: source('bledfu_demo_bootloader.hex', bl), bootloaderVersion: bl.version };
      return generated(name, o, key);
    }
    case 'sd-bl-app': {
      const bl = img.sdblBootloader();
      const app = img.app();
      const o = {
        ...BASE,
        softdevice: source('bledfu_demo_softdevice.hex', img.sdblSoftdevice()),
        bootloader: source('bledfu_demo_bootloader.hex', bl),
        bootloaderVersion: bl.version,
        application: source('bledfu_demo_app.hex', app),
        applicationVersion: app.version,
        sdId: [SDBL_SD_FWID],
      };
      return generated(name, o, key);
    }
    case 'bl-app': {
      const parts = [await makeDemoPackage('bootloader', key), await makeDemoPackage('app', key)];
      const pkg = await combinePackages(parts);
      const versions = new Map(parts.flatMap((p) => p.images.map((img) => [img.kind, img.fwVersion] as const)));
      return { name, zip: pkg.zip, images: pkg.images.map((img) => ({ ...img, fwVersion: versions.get(img.kind) ?? 0xffffffff })), debugMode: true };
    }
  }
}
