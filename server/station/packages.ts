/**
 * The day's packages, read from a directory of nrfutil packages at run time (the station command
 * and the tests point it at the shared DFU fixtures), with the facts the plan and the checks need.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeInitPacket } from '../dfu/package/initPacket.js';
import { readPackage } from '../dfu/package/package.js';
import { packageFacts, type PackageKind, type StationPackage, type StationPackages } from './population.js';

/** File names of the packages each kind uses, in a directory laid out like shared/fixtures/dfu. */
export const PACKAGE_FILES: Readonly<Record<Exclude<PackageKind, 'bl-app'>, string>> = {
  app: 'sdk17.0.2_hrs_application_s140.zip',
  'sd-bl-app': 'iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip',
};

export async function stationPackage(kind: PackageKind, file: string, bytes: Uint8Array): Promise<StationPackage> {
  const pkg = await readPackage(bytes);
  const facts = packageFacts(
    pkg.images.map((i) => ({
      kind: i.summary.kind,
      bin: i.bin,
      fwVersion: i.summary.fwVersion,
      isDebug: i.summary.isDebug,
      sdSize: decodeInitPacket(i.dat).init.sdSize,
    })),
  );
  return { kind, file, bytes, facts };
}

/**
 * Reads the application and SoftDevice + bootloader + application packages from `dir`.
 * `blApp` is the hook for the bootloader + application package (issue 10 item 3): give its bytes
 * (a package zipping the shared bootloader and application images) to bring `bl-app` boards in.
 */
export async function loadStationPackages(dir: string, blApp?: { readonly file: string; readonly bytes: Uint8Array }): Promise<StationPackages> {
  const read = (name: string): Uint8Array => new Uint8Array(readFileSync(join(dir, name)));
  return {
    app: await stationPackage('app', PACKAGE_FILES.app, read(PACKAGE_FILES.app)),
    sdBlApp: await stationPackage('sd-bl-app', PACKAGE_FILES['sd-bl-app'], read(PACKAGE_FILES['sd-bl-app'])),
    ...(blApp === undefined ? {} : { blApp: await stationPackage('bl-app', blApp.file, blApp.bytes) }),
  };
}
