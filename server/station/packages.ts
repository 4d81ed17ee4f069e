/**
 * The day's packages, with the facts the plan and the checks need: by default the project's own
 * (server/sim/demoPackages.ts, signed with the demo key the simulator trusts by default), or real
 * nrfutil packages read from a directory laid out like the shared DFU fixtures (`--packages DIR`).
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeInitPacket } from '../dfu/package/initPacket.js';
import { readPackage } from '../dfu/package/package.js';
import { makeLegacyPackage } from '../dfu/package/legacyGenerate.js';
import { ADAFRUIT } from '../dfu/package/legacyInitPacket.js';
import { readLegacyPackage } from '../dfu/package/legacyPackage.js';
import { makeDemoPackage } from '../sim/demoPackages.js';
import { DEFAULT_SIM_KEY } from '../sim/keys.js';
import { packageFacts, type PackageKind, type StationPackage, type StationPackages } from './population.js';

/** File names of the packages each kind uses, in a directory laid out like shared/fixtures/dfu. */
export const PACKAGE_FILES: Readonly<Record<'app' | 'sd-bl-app', string>> = {
  app: 'sdk17.0.2_hrs_application_s140.zip',
  'sd-bl-app': 'iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip',
};

/** The simulator keys that verify those packages (and a bootloader + application package made of the shared SDK 17.0.2 images). */
export const PACKAGE_DIR_KEYS: Readonly<Record<'app' | 'sd-bl-app' | 'bl-app', string>> = { app: 'sdk17.0.2', 'sd-bl-app': 'iosdfu', 'bl-app': 'sdk17.0.2' };

export async function stationPackage(kind: PackageKind, file: string, bytes: Uint8Array, key: string): Promise<StationPackage> {
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
  return { kind, file, bytes, facts, key };
}

/** A legacy package of the day, with the facts the plan and the checks need (no bootloader: an application package). */
async function legacyStationPackage(kind: 'legacy-sdk11' | 'legacy-adafruit', file: string, bytes: Uint8Array, key: string): Promise<StationPackage> {
  const pkg = await readLegacyPackage(bytes);
  const facts = packageFacts(pkg.images.map((i) => ({ kind: i.summary.kind, bin: i.bin, fwVersion: i.summary.applicationVersion, isDebug: true, sdSize: undefined })));
  return { kind, file, bytes, facts, key };
}

/**
 * The day's legacy application packages, made with makeLegacyPackage from the `app` package's
 * application image: an nrfutil 0.5 style one (device type and revision left unset) for SDK 11
 * boards, an adafruit-nrfutil style one (device type 0x0052) for Adafruit boards. `key` is only
 * the station's bookkeeping: legacy bootloaders check no signature.
 */
export async function legacyStationPackages(app: StationPackage): Promise<NonNullable<StationPackages['legacy']>> {
  const application = (await readPackage(app.bytes)).images.find((i) => i.summary.kind === 'application');
  if (application === undefined) throw new Error(`the application package ${app.file} has no application image`);
  const version = application.summary.fwVersion;
  const common = { application: application.bin, ...(version === undefined ? {} : { applicationVersion: version }) };
  return {
    sdk11: await legacyStationPackage('legacy-sdk11', 'legacy_sdk11_app.zip', await makeLegacyPackage(common), app.key),
    adafruit: await legacyStationPackage('legacy-adafruit', 'legacy_adafruit_app.zip', await makeLegacyPackage({ ...common, deviceType: ADAFRUIT.DEVICE_TYPE }), app.key),
  };
}

export interface BlAppPackage {
  readonly file: string;
  readonly bytes: Uint8Array;
}

/**
 * Reads the application and SoftDevice + bootloader + application packages from `dir`.
 * `blApp` is the hook for the bootloader + application package (issue 10 item 3): give its bytes
 * (a package zipping the shared bootloader and application images) to bring `bl-app` boards in.
 */
export async function loadStationPackages(dir: string, blApp?: BlAppPackage): Promise<StationPackages> {
  const read = (name: string): Uint8Array => new Uint8Array(readFileSync(join(dir, name)));
  const app = await stationPackage('app', PACKAGE_FILES.app, read(PACKAGE_FILES.app), PACKAGE_DIR_KEYS.app);
  return {
    app,
    legacy: await legacyStationPackages(app),
    sdBlApp: await stationPackage('sd-bl-app', PACKAGE_FILES['sd-bl-app'], read(PACKAGE_FILES['sd-bl-app']), PACKAGE_DIR_KEYS['sd-bl-app']),
    ...(blApp === undefined ? {} : { blApp: await stationPackage('bl-app', blApp.file, blApp.bytes, PACKAGE_DIR_KEYS['bl-app']), blAppFromFile: true }),
    dir,
  };
}

/**
 * The project's application, SoftDevice + bootloader + application and bootloader + application
 * packages, signed with `key`, which must be the private half of the simulator's default key (the
 * demo key, demo/bledfu-demo-key.pem). `blApp`, when given, replaces the project's own bootloader
 * + application package and must be signed with that key too.
 */
export async function projectStationPackages(key: KeyObject, blApp?: BlAppPackage): Promise<StationPackages> {
  const app = await makeDemoPackage('app', key);
  const sdBlApp = await makeDemoPackage('sd-bl-app', key);
  const appPackage = await stationPackage('app', 'app.zip', app.zip, DEFAULT_SIM_KEY);
  const blAppFile = blApp ?? { file: 'bl_app.zip', bytes: (await makeDemoPackage('bl-app', key)).zip };
  return {
    app: appPackage,
    legacy: await legacyStationPackages(appPackage),
    sdBlApp: await stationPackage('sd-bl-app', 'sd_bl_app.zip', sdBlApp.zip, DEFAULT_SIM_KEY),
    blApp: await stationPackage('bl-app', blAppFile.file, blAppFile.bytes, DEFAULT_SIM_KEY),
    ...(blApp === undefined ? {} : { blAppFromFile: true }),
  };
}
