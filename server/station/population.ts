/**
 * Who comes to the station in a day: a mixed population of boards spread over the adapters, each
 * with the package it gets, how the operator names it, when it arrives, and how its update must
 * end (a firmware identity, or the device's own named error). Decided by the seed alone.
 */
import { createHash } from 'node:crypto';
import type { SimDeviceConfig } from '../sim/world.js';
import { defaultDeviceConfig } from '../sim/world.js';
import type { Rng } from './random.js';

/**
 * - `app`: an application with buttonless DFU, gets the application-only package;
 * - `bootloader`: a board that has only its bootloader (no valid application), waiting in DFU mode;
 * - `sd-bl-app`: gets SoftDevice + bootloader + application (its bootloader trusts that package's key);
 * - `bl-app`: gets bootloader + application (only when such a package is given: see StationPackages);
 * - `wrong-key`: its bootloader trusts another key: the application package must fail INVALID_OBJECT;
 * - `other-sd`: another SoftDevice and a release bootloader: must fail EXT_ERROR SD_VERSION_FAILURE;
 * - `up-to-date`: a unit already updated (a release bootloader holding the application package's
 *   version that refuses the same version again): its job must end UP_TO_DATE, its application
 *   kept. Not drawn by weight: a share of the `app` boards (UP_TO_DATE_SHARE), from a stream of
 *   its own, so adding it left the other draws of a seed as they were.
 * - `legacy-sdk11`, `legacy-adafruit`: a legacy DFU board (nRF5 SDK 11 bootloader, or the Adafruit
 *   nRF52 bootloader) running a legacy buttonless application; gets the legacy application package
 *   of its kind (StationPackages.legacy). Drawn like `up-to-date`: a share of the `app` boards
 *   (LEGACY_SHARE) from streams of their own, and only when the day has legacy packages.
 * - `legacy-on-secure`: a Secure DFU board (as `app`) that the operator sends the SDK 11 legacy
 *   package by mistake: the job must fail GATT_SERVICE_MISSING before anything is written, the
 *   board keeping its application. Planted once per day (one `app` board, its own stream).
 */
export type DeviceKind = 'app' | 'bootloader' | 'sd-bl-app' | 'bl-app' | 'wrong-key' | 'other-sd' | 'up-to-date' | 'legacy-sdk11' | 'legacy-adafruit' | 'legacy-on-secure';

export const DEVICE_KINDS: readonly DeviceKind[] = ['app', 'bootloader', 'sd-bl-app', 'bl-app', 'wrong-key', 'other-sd', 'up-to-date', 'legacy-sdk11', 'legacy-adafruit', 'legacy-on-secure'];

/** Of the `app` boards (not up to date), the share that are legacy DFU boards (half SDK 11, half Adafruit). */
export const LEGACY_SHARE = 0.25;

/** The boards that speak legacy DFU. */
export function isLegacyKind(kind: DeviceKind): kind is 'legacy-sdk11' | 'legacy-adafruit' {
  return kind === 'legacy-sdk11' || kind === 'legacy-adafruit';
}

/** The DFU protocol of a package kind: what its jobs must be named in ListJobs and the audit. */
export function packageProtocolOf(kind: PackageKind): 'secure' | 'legacy' {
  return kind === 'legacy-sdk11' || kind === 'legacy-adafruit' ? 'legacy' : 'secure';
}

/** Of the `app` boards, the share that is already on the application package's version. */
export const UP_TO_DATE_SHARE = 0.2;

/** `legacy-sdk11`, `legacy-adafruit`: the legacy application packages (makeLegacyPackage, from the day's application image). */
export type PackageKind = 'app' | 'sd-bl-app' | 'bl-app' | 'legacy-sdk11' | 'legacy-adafruit';

/** One image of a package as the device must hold it afterwards. */
export interface PackageFacts {
  /** SHA-256 of the application image (hex), if the package has one. */
  readonly application: string | undefined;
  /** SHA-256 of the bootloader part, if the package has one. */
  readonly bootloader: string | undefined;
  /** Number of data objects (4 KiB) over all images: where "after the final Execute" is. */
  readonly dataObjects: number;
  /** Bytes of firmware over all images. */
  readonly bytes: number;
  /** The bootloader version a release (not debug) bootloader image sets; undefined otherwise. */
  readonly releaseBootloaderVersion: number | undefined;
  /** The application image's fw_version, if the package has an application that carries one. */
  readonly applicationVersion?: number | undefined;
}

export interface StationPackage {
  readonly kind: PackageKind;
  readonly file: string;
  readonly bytes: Uint8Array;
  readonly facts: PackageFacts;
  /** The simulator key (server/sim/keys.ts) its images are signed with: what its boards' bootloaders trust. */
  readonly key: string;
}

/**
 * The packages of a day. `blApp` is the bootloader + application package (issue 10 item 3): the
 * project's own by default, the `--bl-app` file when one is given; real nrfutil packages read
 * with `--packages` have none unless `--bl-app` brings one, and then no `bl-app` boards come to
 * the station.
 */
export interface StationPackages {
  readonly app: StationPackage;
  readonly sdBlApp: StationPackage;
  readonly blApp?: StationPackage;
  /** `blApp` came from a file the user named (`--bl-app`), so a rerun command must name it too. */
  readonly blAppFromFile?: boolean;
  /**
   * The legacy application packages (nrfutil 0.5 style for SDK 11 boards, adafruit-nrfutil style
   * with device type 0x0052 for Adafruit boards), made from the `app` package's application
   * image; without them no legacy boards come to the station.
   */
  readonly legacy?: { readonly sdk11: StationPackage; readonly adafruit: StationPackage };
  /** The directory they were read from (`--packages DIR`); absent for the project's own packages. */
  readonly dir?: string;
}

/** What the day's last job on a device must have left. */
export type Expected =
  | {
      readonly kind: 'updated';
      /** The application's SHA-256 the device must run (valid, in application mode). */
      readonly application: string;
      /** The bootloader version the device must report, when the package installs a release bootloader. */
      readonly bootloaderVersion: number | undefined;
    }
  | {
      /** The job must end UP_TO_DATE and the device keep this application (its old one), valid. */
      readonly kind: 'upToDate';
      readonly application: string;
    }
  | {
      /**
       * The job must fail with this code before anything is written (a package of the protocol the
       * board does not speak), and the board keep this application, valid.
       */
      readonly kind: 'refused';
      readonly code: 'GATT_SERVICE_MISSING';
      readonly application: string;
    }
  | {
      readonly kind: 'deviceError';
      /** The job's error code and the device's result (and extended error) names. */
      readonly code: 'DFU_REMOTE_ERROR';
      readonly dfuResultName: string;
      readonly dfuExtendedName: string | undefined;
      /** The application the device keeps (its old one). */
      readonly application: string;
    };

export type OperatorTarget = { readonly kind: 'name'; readonly name: string } | { readonly kind: 'address'; readonly address: string };

export interface StationDevice {
  /** 0-based over the station. */
  readonly index: number;
  /** Its label in the simulator and the station's tables ("st-017"). */
  readonly label: string;
  readonly kind: DeviceKind;
  /** Index of the adapter (simulated dongle) it is in range of. */
  readonly adapter: number;
  /** The simulated board's configuration. */
  readonly config: Partial<SimDeviceConfig> & { readonly address: string; readonly name: string };
  readonly packageKind: PackageKind;
  /** How the operator names it in StartDfu (and again on every retry). */
  readonly target: OperatorTarget;
  readonly expected: Expected;
  /** Modelled ms since the start of the day when the operator starts its update. */
  readonly arrivalMs: number;
}

/** The DK image's application (../shared/fixtures/dfu README §5): what a board runs before its update. */
export const FACTORY_APPLICATION_SHA256 = '7f030207a1b243df126c23835239c705be5de8039fa882b89d2b4d4b71c1c797';

/** How often each kind comes (relative weights); `bl-app` falls back to `app` without its package. */
export const DEFAULT_KIND_WEIGHTS: Readonly<Record<DeviceKind, number>> = {
  app: 40,
  bootloader: 15,
  'sd-bl-app': 15,
  'bl-app': 10,
  'wrong-key': 10,
  'other-sd': 10,
  // Never drawn by weight: see UP_TO_DATE_SHARE, LEGACY_SHARE and legacy-on-secure.
  'up-to-date': 0,
  'legacy-sdk11': 0,
  'legacy-adafruit': 0,
  'legacy-on-secure': 0,
};

/**
 * What a `wrong-key` board trusts: Nordic's SDK 16.0.0 debug key, which signs none of the day's
 * packages (the project's are signed with the demo key, the shared ones with SDK 17.0.2's and iosdfu's).
 */
const WRONG_KEY = 'sdk16.0.0';

/** S132 v6.1.1: a SoftDevice none of the day's packages lists in sd_req. */
const OTHER_SOFTDEVICE_FWID = 0x00b6;

export interface PopulationOptions {
  readonly devices: number;
  readonly adapters: number;
  /** Length of the day, modelled ms; arrivals fall in its first 80 %. */
  readonly dayMs: number;
  readonly packages: StationPackages;
  readonly weights?: Readonly<Record<DeviceKind, number>>;
}

export function planPopulation(rng: Rng, options: PopulationOptions): StationDevice[] {
  const weights = { ...(options.weights ?? DEFAULT_KIND_WEIGHTS) };
  if (options.packages.blApp === undefined) {
    weights.app += weights['bl-app'];
    weights['bl-app'] = 0;
  }
  const entries = DEVICE_KINDS.map((k) => [k, weights[k]] as const);
  const arrivals = Array.from({ length: options.devices }, () => Math.round(rng.between(0, 0.8 * options.dayMs))).sort((a, b) => a - b);
  const appVersion = options.packages.app.facts.applicationVersion;
  const legacy = options.packages.legacy;
  // Kinds beyond the weighted draw come from streams of their own, so a seed's other draws stay as they were.
  const kindOf = (drawn: DeviceKind, index: number): DeviceKind => {
    if (drawn === 'app' && appVersion !== undefined && rng.fork(`up-to-date ${index}`).chance(UP_TO_DATE_SHARE)) return 'up-to-date';
    if (drawn === 'app' && legacy !== undefined) {
      const l = rng.fork(`legacy ${index}`);
      if (l.chance(LEGACY_SHARE)) return l.chance(0.5) ? 'legacy-sdk11' : 'legacy-adafruit';
    }
    return drawn;
  };
  const devices = arrivals.map((arrivalMs, index): StationDevice => {
    const kind = kindOf(rng.weighted(entries), index);
    const label = `st-${String(index + 1).padStart(3, '0')}`;
    // Addresses of the simulator's default numbering: unique over the station, odd last octets
    // (the bootloader is at address + 1).
    const address = defaultDeviceConfig(index).address;
    const adapter = index % options.adapters;
    const packageKind = packageKindOf(kind);
    const pkg = packageOf(options.packages, packageKind);
    const config: StationDevice['config'] = {
      address,
      name: label,
      rssi: -40 - rng.int(0, 40),
      // A legacy bootloader checks no signature (its package carries the application package's key for the books).
      key: kind === 'wrong-key' ? WRONG_KEY : pkg.key,
      ...(isLegacyKind(kind) ? { kind } : {}),
      ...(kind === 'other-sd' ? { softDeviceFwid: OTHER_SOFTDEVICE_FWID, debugBootloader: false } : {}),
      ...(kind === 'bootloader' ? { validApp: false } : {}),
      ...(kind === 'up-to-date' && appVersion !== undefined ? { debugBootloader: false, appVersion, acceptSameAppVersion: false } : {}),
    };
    // A board waiting in its bootloader advertises "DfuTarg": the station knows it by its address.
    const target: OperatorTarget = kind === 'bootloader' || rng.chance(0.3) ? { kind: 'address', address } : { kind: 'name', name: label };
    return { index, label, kind, adapter, config, packageKind, target, expected: expectedOf(kind, pkg), arrivalMs };
  });
  // One Secure DFU board a day gets the SDK 11 legacy package by mistake (a stream of its own).
  // It stays the `app` board it was (same configuration, same key); only its package differs.
  const secureApps = devices.filter((d) => d.kind === 'app');
  if (legacy !== undefined && secureApps.length > 0) {
    const d = secureApps[rng.fork('legacy-on-secure').int(0, secureApps.length - 1)] as StationDevice;
    devices[d.index] = { ...d, kind: 'legacy-on-secure', packageKind: packageKindOf('legacy-on-secure'), expected: expectedOf('legacy-on-secure', packageOf(options.packages, 'legacy-sdk11')) };
  }
  return devices;
}

function packageKindOf(kind: DeviceKind): PackageKind {
  switch (kind) {
    case 'sd-bl-app':
    case 'bl-app':
    case 'legacy-sdk11':
    case 'legacy-adafruit':
      return kind;
    case 'legacy-on-secure':
      return 'legacy-sdk11';
    default:
      return 'app';
  }
}

export function packageOf(packages: StationPackages, kind: PackageKind): StationPackage {
  const p =
    kind === 'app'
      ? packages.app
      : kind === 'sd-bl-app'
        ? packages.sdBlApp
        : kind === 'bl-app'
          ? packages.blApp
          : kind === 'legacy-sdk11'
            ? packages.legacy?.sdk11
            : packages.legacy?.adafruit;
  if (p === undefined) throw new Error(`no ${kind} package in this station`);
  return p;
}

function expectedOf(kind: DeviceKind, pkg: StationPackage): Expected {
  switch (kind) {
    case 'wrong-key':
      return { kind: 'deviceError', code: 'DFU_REMOTE_ERROR', dfuResultName: 'INVALID_OBJECT', dfuExtendedName: undefined, application: FACTORY_APPLICATION_SHA256 };
    case 'other-sd':
      return { kind: 'deviceError', code: 'DFU_REMOTE_ERROR', dfuResultName: 'EXT_ERROR', dfuExtendedName: 'SD_VERSION_FAILURE', application: FACTORY_APPLICATION_SHA256 };
    case 'up-to-date':
      return { kind: 'upToDate', application: FACTORY_APPLICATION_SHA256 };
    case 'legacy-on-secure':
      return { kind: 'refused', code: 'GATT_SERVICE_MISSING', application: FACTORY_APPLICATION_SHA256 };
    default: {
      const application = pkg.facts.application;
      if (application === undefined) throw new Error(`the ${pkg.kind} package ${pkg.file} has no application`);
      return { kind: 'updated', application, bootloaderVersion: pkg.facts.releaseBootloaderVersion };
    }
  }
}

/** Image facts of a package's images, as the package reader returns them. */
export interface PackageImageFacts {
  readonly kind: 'application' | 'softdevice' | 'bootloader' | 'softdevice_bootloader';
  readonly bin: Uint8Array;
  readonly fwVersion: number | undefined;
  readonly isDebug: boolean;
  /** SoftDevice part of a softdevice_bootloader image. */
  readonly sdSize: number | undefined;
}

export function packageFacts(images: readonly PackageImageFacts[]): PackageFacts {
  const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
  const app = images.find((i) => i.kind === 'application');
  const bl = images.find((i) => i.kind === 'bootloader' || i.kind === 'softdevice_bootloader');
  const blBytes = bl === undefined ? undefined : bl.kind === 'bootloader' ? bl.bin : bl.bin.subarray(bl.sdSize ?? 0);
  return {
    application: app === undefined ? undefined : sha(app.bin),
    bootloader: blBytes === undefined ? undefined : sha(blBytes),
    dataObjects: images.reduce((n, i) => n + Math.ceil(i.bin.length / 4096), 0),
    bytes: images.reduce((n, i) => n + i.bin.length, 0),
    // A debug package leaves the bootloader version as it was (the simulated debug bootloader).
    releaseBootloaderVersion: bl !== undefined && !bl.isDebug ? bl.fwVersion : undefined,
    applicationVersion: app?.fwVersion,
  };
}
