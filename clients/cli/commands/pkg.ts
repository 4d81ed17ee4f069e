/**
 * `bledfu pkg generate` and `bledfu pkg display`: DFU packages made and read in this process, with
 * nrfutil's options where they apply. No server is involved.
 */
import {
  BOOT_VALIDATION_NAMES,
  describeLegacyPackage,
  describePackage,
  generatePackage,
  isLegacyPackage,
  loadSigningKey,
  readAnyPackage,
  readPackage,
  type AnyDfuPackage,
  type BootValidationName,
  type FirmwareSource,
  type GeneratePackageOptions,
} from '../../ts/index.js';
import { UsageError, type CliBase } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';
import { formatBytes } from '../format.js';
import type { OutputRecord } from '../recordTypes.js';
import { readKeyText } from './keys.js';

/** nrfutil's names for the boot validation types, as its --app-boot-validation takes them. */
export const BOOT_VALIDATIONS: readonly BootValidationName[] = BOOT_VALIDATION_NAMES;

export interface PkgGenerateFlags {
  readonly application?: string;
  readonly applicationVersion?: string;
  readonly bootloader?: string;
  readonly bootloaderVersion?: string;
  readonly softdevice?: string;
  readonly hwVersion?: string;
  /** Each --sd-req as given (repeated flags collect; each may hold a comma-separated list). */
  readonly sdReq?: readonly string[];
  readonly sdId?: readonly string[];
  readonly keyFile?: string;
  readonly debugMode?: boolean;
  readonly appBootValidation?: BootValidationName;
  readonly sdBootValidation?: BootValidationName;
}

/** Commander's collector for a repeatable option. */
export function collect(value: string, previous: readonly string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** An integer in decimal or 0x-hex, as nrfutil reads --sd-req and the versions. */
export function parseInteger(flag: string, text: string, max: number): number {
  const t = text.trim();
  const n = /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t.slice(2), 16) : /^\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new UsageError(`${flag} must be a number from 0 to ${max} (decimal, or hex like 0x${max.toString(16).toUpperCase()}), got "${text}"`);
  }
  return n;
}

/** `--sd-req 0x0100,0x0101 --sd-req 0xB6` → [0x100, 0x101, 0xB6]. */
export function parseIdList(flag: string, values: readonly string[] | undefined): number[] | undefined {
  if (values === undefined) return undefined;
  const items = values.flatMap((v) => v.split(','));
  if (items.some((i) => i.trim() === '')) {
    throw new UsageError(`${flag} has an empty entry: "${values.join(',')}"`, `separate FWIDs with single commas, e.g. ${flag} 0x0100,0x0101`);
  }
  return items.map((i) => parseInteger(flag, i, 0xffff));
}

const HEX_NAME = /\.(hex|ihex|ihx)$/i;
const BIN_NAME = /\.bin$/i;

/**
 * An image file as Intel HEX or raw binary: by extension (.hex/.ihex/.ihx, .bin), otherwise by
 * content (Intel HEX is ASCII text whose first record starts with ':').
 */
export function firmwareSource(name: string, bytes: Uint8Array): FirmwareSource {
  if (BIN_NAME.test(name)) return { name, bin: bytes };
  if (HEX_NAME.test(name) || looksLikeIntelHex(bytes)) return { name, hex: new TextDecoder().decode(bytes) };
  return { name, bin: bytes };
}

function looksLikeIntelHex(bytes: Uint8Array): boolean {
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3; // UTF-8 BOM
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  if (bytes[i] !== 0x3a) return false; // ':'
  // Text only: a binary image starting with 0x3A would have other bytes below 0x20 or above 0x7E.
  const head = bytes.subarray(i, i + 4096);
  return head.every((b) => b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f));
}

async function readInput(ctx: CliBase, flag: string, file: string): Promise<Uint8Array> {
  try {
    return await ctx.readFile(file);
  } catch (e) {
    throw new UsageError(`cannot read ${flag} ${file}: ${(e as Error).message}`, `check the path of the ${flag.replace(/^--/, '')} file`);
  }
}

async function readKey(ctx: CliBase, file: string): Promise<ReturnType<typeof loadSigningKey>> {
  return loadSigningKey(await readKeyText(ctx, file), file);
}

/** The library's options from the flags: every file read, every number parsed. */
export async function generateOptions(ctx: CliBase, flags: PkgGenerateFlags): Promise<GeneratePackageOptions> {
  if (flags.application === undefined && flags.bootloader === undefined && flags.softdevice === undefined) {
    throw new UsageError('nothing to package', 'give at least one of --application, --bootloader, --softdevice (Intel HEX or .bin files)');
  }
  // nrfutil requires both too: a bootloader checks them on every package.
  if (flags.hwVersion === undefined) {
    throw new UsageError('--hw-version is required', 'give the hardware version the bootloader checks, e.g. --hw-version 52 for an nRF52 (the SDK default)');
  }
  const sdReq = parseIdList('--sd-req', flags.sdReq);
  if (sdReq === undefined) {
    throw new UsageError(
      '--sd-req is required',
      'give the FWID(s) of the SoftDevice(s) the images may be installed over, e.g. --sd-req 0x0100 (S140 7.2.0); 0x00 for a device with no SoftDevice',
    );
  }
  const sdId = parseIdList('--sd-id', flags.sdId);
  const image = async (flag: string, file: string | undefined): Promise<FirmwareSource | undefined> =>
    file === undefined ? undefined : firmwareSource(file, await readInput(ctx, flag, file));
  const [application, bootloader, softdevice] = await Promise.all([
    image('--application', flags.application),
    image('--bootloader', flags.bootloader),
    image('--softdevice', flags.softdevice),
  ]);
  const key = flags.keyFile === undefined ? undefined : await readKey(ctx, flags.keyFile);
  const version = (flag: string, text: string | undefined): number | undefined =>
    text === undefined ? undefined : parseInteger(flag, text, 0xffff_ffff);
  const applicationVersion = version('--application-version', flags.applicationVersion);
  const bootloaderVersion = version('--bootloader-version', flags.bootloaderVersion);
  return {
    hwVersion: parseInteger('--hw-version', flags.hwVersion, 0xffff_ffff),
    sdReq,
    ...(sdId === undefined ? {} : { sdId }),
    ...(application === undefined ? {} : { application }),
    ...(applicationVersion === undefined ? {} : { applicationVersion }),
    ...(bootloader === undefined ? {} : { bootloader }),
    ...(bootloaderVersion === undefined ? {} : { bootloaderVersion }),
    ...(softdevice === undefined ? {} : { softdevice }),
    ...(key === undefined ? {} : { key }),
    ...(flags.debugMode === true ? { debugMode: true } : {}),
    ...(flags.appBootValidation === undefined ? {} : { appBootValidation: flags.appBootValidation }),
    ...(flags.sdBootValidation === undefined ? {} : { sdBootValidation: flags.sdBootValidation }),
  };
}

/**
 * The --json record of a package: its DFU protocol (named as Job.protocol is in protobuf JSON) and
 * what each image's init packet says; a legacy package's also its manifest's dfu_version
 * (`legacyDfuVersion`, as UploadPackageResponse) and per image the init packet layout and fields.
 */
function packageRecord(type: 'package', file: string, pkg: AnyDfuPackage): OutputRecord {
  const base = { type, file, size: pkg.size, sha256: pkg.sha256 };
  if (isLegacyPackage(pkg)) {
    return {
      ...base,
      protocol: 'DFU_PROTOCOL_LEGACY',
      ...(pkg.dfuVersion === undefined ? {} : { legacyDfuVersion: String(pkg.dfuVersion) }),
      images: pkg.images.map(({ summary: s }) => ({
        kind: s.kind,
        size: s.size,
        initLayout: s.initLayout,
        ...(s.deviceType === undefined ? {} : { deviceType: s.deviceType }),
        ...(s.deviceRevision === undefined ? {} : { deviceRevision: s.deviceRevision }),
        ...(s.applicationVersion === undefined ? {} : { applicationVersion: s.applicationVersion }),
        softdeviceReq: s.softdeviceReq,
        crc16: s.crc16,
        sha256: s.sha256,
        signed: s.signed,
      })),
    };
  }
  return {
    ...base,
    protocol: 'DFU_PROTOCOL_SECURE',
    images: pkg.images.map(({ summary: s }) => ({
      kind: s.kind,
      size: s.size,
      ...(s.fwVersion === undefined ? {} : { fwVersion: s.fwVersion }),
      ...(s.hwVersion === undefined ? {} : { hwVersion: s.hwVersion }),
      sdReq: s.sdReq,
      sha256: s.sha256,
      signed: s.signed,
      isDebug: s.isDebug,
    })),
  };
}

/**
 * `bledfu pkg generate <zip>`: the zip is written only once the package is complete, and read
 * back with the reader the server uses before it is, so a package this writes is one bledfu
 * accepts. The file appears whole (temporary file + rename) or not at all.
 */
export async function pkgGenerateCommand(ctx: CliBase, file: string, flags: PkgGenerateFlags): Promise<ExitCode> {
  const generated = await generatePackage(await generateOptions(ctx, flags));
  const pkg = await readPackage(generated.zip);
  try {
    await ctx.writeFile(file, generated.zip, { how: 'atomic' });
  } catch (e) {
    throw new UsageError(`cannot write ${file}: ${(e as Error).message}`, 'give a path in a directory you can write to');
  }
  ctx.out.line(`wrote ${file} (${formatBytes(generated.zip.length)})`);
  ctx.out.line(describePackage(pkg).trimEnd());
  if (flags.keyFile === undefined) {
    ctx.out.line(
      'note: unsigned; a Secure DFU bootloader refuses it unless built to accept unsigned applications (NRF_DFU_REQUIRE_SIGNED_APP_UPDATE=0); sign with --key-file',
    );
  }
  ctx.out.record(packageRecord('package', file, pkg));
  return EXIT.ok;
}

/**
 * `bledfu pkg display <zip>`: any DFU package, ours or a third party's: an nrfutil Secure DFU one,
 * or a legacy one (nrfutil ≤ 0.5, adafruit-nrfutil), each described with its protocol.
 */
export async function pkgDisplayCommand(ctx: CliBase, file: string): Promise<ExitCode> {
  let bytes: Uint8Array;
  try {
    bytes = await ctx.readFile(file);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`, 'give the path of a DFU package (.zip)');
  }
  const pkg = await readAnyPackage(bytes);
  ctx.out.line(`${file}:`);
  ctx.out.line((isLegacyPackage(pkg) ? describeLegacyPackage(pkg) : describePackage(pkg)).trimEnd());
  ctx.out.record(packageRecord('package', file, pkg));
  return EXIT.ok;
}
