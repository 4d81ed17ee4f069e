/**
 * Writing Secure DFU packages (`.zip`: manifest.json, one `.bin` + `.dat` per image) the way
 * `nrfutil pkg generate` (pc-nrfutil 6.x, nordicsemi/dfu/package.py) writes them, so an nRF5 SDK
 * 15–17 bootloader accepts them. Pure: options and bytes in, zip bytes out; every check runs
 * before anything is produced, so a refusal leaves nothing half-made.
 *
 * What follows nrfutil, and why it matters:
 * - hex → bin: the MBR (below 0x1000) and UICR (0x10001000…) are dropped (a SoftDevice or
 *   bootloader .hex carries them, but DFU cannot write them); the image runs from its lowest to
 *   its highest byte with gaps filled with 0xFF, rounded up to whole 32-bit words.
 * - SoftDevice + bootloader become one `sd_bl.bin` (SoftDevice bytes, then bootloader bytes) with
 *   sd_size/bl_size in its init packet and in the manifest's `info_read_only_metadata`; its
 *   fw_version is the bootloader's, a lone SoftDevice's is 0xFFFFFFFF.
 * - sd_req: with `sdId`, the SoftDevice/bootloader images require sdReq ∪ sdId (so an update cut
 *   short after the new SoftDevice is in can be run again) and the application requires sdId (the
 *   SoftDevice it will find after the update).
 * - Boot validation: the application and SoftDevice take the chosen type (default
 *   VALIDATE_GENERATED_CRC), the bootloader always VALIDATE_GENERATED_CRC; only ECDSA carries
 *   bytes (a signature of the image; for sd_bl, of the SoftDevice part), the bootloader computes
 *   CRC/SHA-256 itself. The field exists from SDK 15.3 on; older bootloaders skip it.
 * - The init packet lists every field, zeros included (proto2 presence), in field order; the
 *   signature covers the serialized InitCommand.
 * - Files are named after the input file (`nrf52840_xxaa.hex` → `nrf52840_xxaa.bin`/`.dat`),
 *   zip entries are stored uncompressed, the manifest is JSON with sorted keys and 4-space indent.
 * Where bledfu is stricter than nrfutil it refuses what nrfutil would silently get wrong
 * (overlapping hex records, data outside the flash, an application over the MBR, clashing names).
 */
import { createHash, type KeyObject } from 'node:crypto';
import JSZip from 'jszip';
import { BledfuError } from '../../common/errors.js';
import type { ImageKind } from './images.js';
import { parseIntelHex, type HexSegment } from './hex.js';
import { encodeInitCommand, encodeInitPacket, HASH_TYPE, SIGNATURE_TYPE, VALIDATION_TYPE } from './initPacket.js';
import { KIND_FW_TYPE } from './package.js';
import { checkSigningKey, signInitCommand } from './signingKey.js';

/** A firmware image: Intel HEX text, or raw bytes (optionally with the flash address they go to, for range checks). `name` is the input file's name. */
export type FirmwareSource =
  | { readonly name: string; readonly hex: string }
  | { readonly name: string; readonly bin: Uint8Array; readonly address?: number };

/** nrfutil's --app-boot-validation / --sd-boot-validation choices. */
export type BootValidationName = 'NO_VALIDATION' | 'VALIDATE_GENERATED_CRC' | 'VALIDATE_GENERATED_SHA256' | 'VALIDATE_ECDSA_P256_SHA256';

export const BOOT_VALIDATION_NAMES = [
  'NO_VALIDATION',
  'VALIDATE_GENERATED_CRC',
  'VALIDATE_GENERATED_SHA256',
  'VALIDATE_ECDSA_P256_SHA256',
] as const satisfies readonly BootValidationName[];

const BOOT_VALIDATION_TYPE = {
  NO_VALIDATION: VALIDATION_TYPE.NO_VALIDATION,
  VALIDATE_GENERATED_CRC: VALIDATION_TYPE.VALIDATE_GENERATED_CRC,
  VALIDATE_GENERATED_SHA256: VALIDATION_TYPE.VALIDATE_SHA256,
  VALIDATE_ECDSA_P256_SHA256: VALIDATION_TYPE.VALIDATE_ECDSA_P256_SHA256,
} as const satisfies Record<BootValidationName, number>;

export interface GeneratePackageOptions {
  readonly application?: FirmwareSource;
  /** Required with an application (except in debug mode, where it defaults to 0xFFFFFFFF as in nrfutil). */
  readonly applicationVersion?: number;
  readonly bootloader?: FirmwareSource;
  /** Required with a bootloader (except in debug mode: 0xFFFFFFFF). */
  readonly bootloaderVersion?: number;
  readonly softdevice?: FirmwareSource;
  readonly hwVersion: number;
  /** FWIDs of the SoftDevices the images may be installed over (0x00: none, MBR only). Empty only in debug mode (then 0xFFFE: any). */
  readonly sdReq: readonly number[];
  /** FWID(s) of the SoftDevice in the package: required with a SoftDevice and an application, refused otherwise. */
  readonly sdId?: readonly number[];
  /** Absent → unsigned (nrfutil allows that; a bootloader built to require signatures refuses it). */
  readonly key?: KeyObject;
  readonly debugMode?: boolean;
  readonly appBootValidation?: BootValidationName;
  readonly sdBootValidation?: BootValidationName;
}

export interface GeneratedImage {
  readonly kind: ImageKind;
  readonly bin: Uint8Array;
  readonly dat: Uint8Array;
  readonly binFile: string;
  readonly datFile: string;
}

export interface GeneratedPackage {
  readonly zip: Uint8Array;
  /** In sending order (softdevice_bootloader, softdevice, bootloader, application). */
  readonly images: readonly GeneratedImage[];
}

/** Flash layout every nRF52 shares. */
export const FLASH = {
  /** The MBR owns the first page; DFU never writes it. */
  mbrEnd: 0x1000,
  /** 1 MiB, the flash of the nRF52840, the largest nRF5 (an nRF52832 has 512 KiB). */
  end: 0x100000,
  uicrStart: 0x10001000,
  uicrEnd: 0x10002000,
} as const;

/** The SoftDevice info struct's magic word, at 0x3004 (S1x0 and S140/S132 from 3.0 on) or 0x1000 further per older S132 (nrfhex.py). */
const SD_MAGIC = 0x51b1e5db;
const U32_MAX = 0xffffffff;
const ANY_SOFTDEVICE = 0xfffe;
const DATE = new Date(Date.UTC(1980, 0, 1)); // fixed zip timestamps: the same input gives the same bytes

function invalid(message: string, remedy: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', message, { layer: 'package', remedy });
}

/** The first value that occurs twice in `values`, or undefined. */
function firstRepeated<T>(values: readonly T[]): T | undefined {
  return values.find((v, i) => values.indexOf(v) !== i);
}

function hex32(n: number): string {
  return `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;
}

type Role = 'application' | 'bootloader' | 'softdevice';

/** One input converted to the bytes the device receives, with where they go when known. */
interface Prepared {
  readonly role: Role;
  readonly source: FirmwareSource;
  readonly bin: Uint8Array;
  /** Flash address of bin[0], when the input says (hex, or bin with address). */
  readonly start: number | undefined;
  readonly stem: string;
}

function checkU32(value: number | undefined, what: string, flag: string): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw invalid(`${what} ${String(value)} is not a 32-bit unsigned integer (0 … 4294967295)`, `pass ${flag} as a whole number from 0 to 0xFFFFFFFF`);
  }
}

function checkFwids(values: readonly number[], flag: string): void {
  for (const v of values) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) {
      throw invalid(
        `${flag} value ${String(v)} is not a SoftDevice firmware ID (FWIDs are 16-bit: 0x0000 … 0xFFFF)`,
        `pass ${flag} as FWIDs such as 0x100 (S140 7.2.0), 0x00 for no SoftDevice, 0xFFFE for any (debug only)`,
      );
    }
  }
}

function stemOf(name: string, role: Role): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  const stem = base.replace(/\.(hex|ihex|bin)$/i, '');
  if (stem === '') throw invalid(`the ${role} file name "${name}" has no name part to name the package's files after`, 'name the input file, e.g. app.hex');
  return stem;
}

/** Bytes of `segments` within [lo, hi). */
function clip(segments: readonly HexSegment[], lo: number, hi: number): HexSegment[] {
  const out: HexSegment[] = [];
  for (const s of segments) {
    const a = Math.max(s.address, lo);
    const b = Math.min(s.address + s.data.length, hi);
    if (a < b) out.push({ address: a, data: s.data.subarray(a - s.address, b - s.address) });
  }
  return out;
}

function regionName(address: number): string {
  if (address < 0x10000000) return `beyond the flash (${hex32(FLASH.end)} is the end of the 1 MiB flash of the largest nRF52, the nRF52840)`;
  if (address < FLASH.uicrStart) return 'in the FICR (factory information, read-only)';
  if (address < 0x20000000) return 'in the configuration registers past the UICR';
  if (address < 0x40000000) return 'in RAM';
  return 'in the peripheral/system address space';
}

function word(segments: readonly HexSegment[], address: number): number | undefined {
  for (const s of segments) {
    if (address >= s.address && address + 4 <= s.address + s.data.length) {
      return Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength).readUInt32LE(address - s.address);
    }
  }
  return undefined;
}

/** Where the MBR of this hex ends (nrfhex.py): 0x3000 for early S132 builds whose info struct sits 0x1000–0x4000 higher, else 0x1000. */
function mbrEndOf(segments: readonly HexSegment[]): number {
  if (word(segments, 0x3004) === SD_MAGIC) return FLASH.mbrEnd;
  for (let i = 1; i <= 4; i++) if (word(segments, 0x3004 + i * 0x1000) === SD_MAGIC) return 0x3000;
  return FLASH.mbrEnd;
}

/** The FWID a SoftDevice image states in its info struct (.bin offset 0x2000: flash 0x3000), if it has one. */
function softDeviceFwid(bin: Uint8Array): number | undefined {
  if (bin.length < 0x2010) return undefined;
  const view = new DataView(bin.buffer, bin.byteOffset + 0x2000, 0x10);
  return view.getUint32(4, true) === SD_MAGIC ? view.getUint16(0xc, true) : undefined;
}

/** Pads to whole 32-bit words with 0xFF (erased flash), as nrfutil does. */
function padToWord(bytes: Uint8Array): Uint8Array {
  const size = Math.ceil(bytes.length / 4) * 4;
  if (size === bytes.length) return Uint8Array.from(bytes);
  const out = new Uint8Array(size).fill(0xff);
  out.set(bytes);
  return out;
}

function prepare(role: Role, source: FirmwareSource): Prepared {
  const stem = stemOf(source.name, role);
  if ('bin' in source) {
    if (source.bin.length === 0) throw invalid(`the ${role} ${source.name} is empty`, `pass the ${role}'s .bin or .hex`);
    const start = source.address;
    if (start !== undefined) {
      checkU32(start, `the ${role} address`, 'the address');
      checkRange(role, source.name, start, start + source.bin.length);
    }
    return { role, source, bin: padToWord(source.bin), start, stem };
  }
  const all = parseIntelHex(source.hex, source.name);
  const outside = [...clip(all, FLASH.end, FLASH.uicrStart), ...clip(all, FLASH.uicrEnd, 2 ** 32)];
  const firstOutside = outside[0];
  if (firstOutside !== undefined) {
    throw invalid(
      `the ${role} ${source.name} has data at ${hex32(firstOutside.address)}, ${regionName(firstOutside.address)}`,
      `pass the ${role}'s own hex as its build made it, for an nRF52 (at most 1 MiB of flash)`,
    );
  }
  let flash = clip(all, 0, FLASH.end); // the UICR is dropped: DFU cannot write it
  if (role === 'application') {
    const low = clip(flash, 0, FLASH.mbrEnd)[0];
    if (low !== undefined) {
      throw invalid(
        `the application ${source.name} has data at ${hex32(low.address)}, over the MBR (0x00000000–0x00000FFF) that the application must not overwrite`,
        'pass the application hex alone, not one merged with the MBR or SoftDevice (mergehex output), and check its linker start address',
      );
    }
  } else {
    flash = clip(flash, mbrEndOf(flash), FLASH.end); // a SoftDevice or bootloader hex may carry the MBR; DFU cannot write it
  }
  const first = flash[0];
  const last = flash[flash.length - 1];
  if (first === undefined || last === undefined) {
    throw invalid(`the ${role} ${source.name} holds no data in the flash above the MBR`, `pass the ${role}'s hex`);
  }
  const start = first.address;
  const end = last.address + last.data.length;
  checkRange(role, source.name, start, end);
  const bytes = new Uint8Array(end - start).fill(0xff);
  for (const s of flash) bytes.set(s.data, s.address - start);
  return { role, source, bin: padToWord(bytes), start, stem };
}

function checkRange(role: Role, name: string, start: number, end: number): void {
  if (start < FLASH.mbrEnd) {
    throw invalid(
      `the ${role} ${name} starts at ${hex32(start)}, inside the MBR (0x00000000–0x00000FFF), which DFU never writes`,
      role === 'application'
        ? 'the application goes above the MBR and the SoftDevice; check the address and the linker script'
        : `pass the ${role}'s .hex (its MBR part is then left out, as nrfutil does) or a .bin that starts at 0x1000 or above`,
    );
  }
  if (end > FLASH.end) {
    throw invalid(
      `the ${role} ${name} ends at ${hex32(end - 1)}, beyond the flash (the largest nRF52, the nRF52840, has 1 MiB: up to 0x000FFFFF)`,
      `check the ${role}'s address and size`,
    );
  }
}

/** Refuses two images over the same flash, when both addresses are known. */
function checkDisjoint(images: readonly Prepared[]): void {
  const placed = images.filter((i) => i.start !== undefined).sort((a, b) => (a.start as number) - (b.start as number));
  for (let i = 1; i < placed.length; i++) {
    const a = placed[i - 1] as Prepared;
    const b = placed[i] as Prepared;
    const aEnd = (a.start as number) + a.bin.length;
    if ((b.start as number) < aEnd) {
      throw invalid(
        `the ${b.role} ${b.source.name} (from ${hex32(b.start as number)}) overlaps the ${a.role} ${a.source.name} (up to ${hex32(aEnd - 1)})`,
        `the images of one package go to separate flash; check that the ${b.role} was built for this ${a.role}`,
      );
    }
  }
}

/** a then the values of b not in a, each once. (nrfutil puts sd_req through a Python set, whose order is an accident of hashing; the bootloader does not care, so bledfu keeps the caller's order.) */
function union(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  for (const v of [...a, ...b]) if (!out.includes(v)) out.push(v);
  return out;
}

function reversedSha256(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(createHash('sha256').update(bytes).digest()).reverse();
}

interface ImagePlan {
  readonly kind: ImageKind;
  readonly bin: Uint8Array;
  readonly stem: string;
  readonly fwVersion: number;
  readonly sdReq: readonly number[];
  readonly sdSize: number;
  readonly blSize: number;
  readonly appSize: number;
  readonly bootValidation: readonly BootValidationName[];
  /** What an ECDSA boot validation signs: the image, or for sd_bl its SoftDevice part. */
  readonly validated: Uint8Array;
}

/** Checks the options alone (no image bytes yet); returns the values nrfutil would derive. */
function checkOptions(o: GeneratePackageOptions): { appVersion: number; blVersion: number; sdReq: readonly number[]; sdId: readonly number[] | undefined } {
  const debug = o.debugMode === true;
  if (o.application === undefined && o.bootloader === undefined && o.softdevice === undefined) {
    throw invalid('no image to package', 'give an application, a bootloader and/or a SoftDevice (.hex or .bin)');
  }
  if (o.bootloader !== undefined && o.application !== undefined && o.softdevice === undefined) {
    throw invalid(
      'a bootloader and an application in one package without a SoftDevice is not a combination nrfutil makes (the bootloader update resets the device before the application comes)',
      'make two packages: one with the bootloader, one with the application, and send them one after the other',
    );
  }
  if ((o.hwVersion as number | undefined) === undefined) throw invalid('the hardware version is missing', 'pass --hw-version (52 for nRF52 devices, as the SDK examples use)');
  checkU32(o.hwVersion, 'hw-version', '--hw-version');
  if (o.applicationVersion !== undefined && o.application === undefined) {
    throw invalid('an application version was given without an application image', 'add --application, or drop --application-version');
  }
  if (o.bootloaderVersion !== undefined && o.bootloader === undefined) {
    throw invalid('a bootloader version was given without a bootloader image', 'add --bootloader, or drop --bootloader-version');
  }
  checkU32(o.applicationVersion, 'application-version', '--application-version');
  checkU32(o.bootloaderVersion, 'bootloader-version', '--bootloader-version');
  if (o.application !== undefined && o.applicationVersion === undefined && !debug) {
    throw invalid('an application needs an application version', 'pass --application-version (the bootloader refuses versions lower than the installed one)');
  }
  if (o.bootloader !== undefined && o.bootloaderVersion === undefined && !debug) {
    throw invalid('a bootloader needs a bootloader version', 'pass --bootloader-version (the bootloader refuses versions not above the installed one)');
  }
  const sdReqGiven = (o.sdReq as readonly number[] | undefined) ?? [];
  if (sdReqGiven.length === 0 && !debug) {
    throw invalid(
      'the SoftDevice requirement (sd-req) is empty',
      'pass --sd-req with the FWID(s) of the SoftDevice(s) the device may have, e.g. 0x100 for S140 7.2.0, or 0x00 for a device with only the MBR',
    );
  }
  checkFwids(sdReqGiven, '--sd-req');
  const sdReq = union(sdReqGiven.length === 0 ? [ANY_SOFTDEVICE] : sdReqGiven, []); // without repeats
  const both = o.softdevice !== undefined && o.application !== undefined;
  let sdId: readonly number[] | undefined;
  if (o.sdId !== undefined && o.sdId.length > 0) {
    if (!both) {
      throw invalid(
        'sd-id applies only to a package with a SoftDevice and an application',
        'drop --sd-id; it names the SoftDevice the application will find after the SoftDevice in the same package is installed',
      );
    }
    checkFwids(o.sdId, '--sd-id');
    sdId = union(o.sdId, []);
  } else if (both) {
    throw invalid(
      'a package with a SoftDevice and an application needs sd-id: the FWID of the SoftDevice in the package, which the application will require',
      'pass --sd-id with the new SoftDevice\'s FWID (e.g. 0x100 for S140 7.2.0)',
    );
  }
  if (o.appBootValidation !== undefined && o.application === undefined) {
    throw invalid('app-boot-validation was given without an application', 'add --application, or drop --app-boot-validation');
  }
  if (o.sdBootValidation !== undefined && o.softdevice === undefined) {
    throw invalid('sd-boot-validation was given without a SoftDevice', 'add --softdevice, or drop --sd-boot-validation');
  }
  for (const v of [o.appBootValidation, o.sdBootValidation]) {
    if (v !== undefined && !(BOOT_VALIDATION_NAMES as readonly string[]).includes(v)) {
      throw invalid(`unknown boot validation ${String(v)}`, `use one of ${BOOT_VALIDATION_NAMES.join(', ')}`);
    }
    if (v === 'VALIDATE_ECDSA_P256_SHA256' && o.key === undefined) {
      throw invalid('VALIDATE_ECDSA_P256_SHA256 boot validation signs the image, but no key was given', 'pass --key-file, or choose VALIDATE_GENERATED_CRC / VALIDATE_GENERATED_SHA256');
    }
  }
  if (o.key !== undefined) checkSigningKey(o.key, 'the signing key');
  return {
    appVersion: o.applicationVersion ?? U32_MAX,
    blVersion: o.bootloaderVersion ?? U32_MAX,
    sdReq,
    sdId,
  };
}

function plan(o: GeneratePackageOptions): ImagePlan[] {
  const { appVersion, blVersion, sdReq, sdId } = checkOptions(o);
  const app = o.application === undefined ? undefined : prepare('application', o.application);
  const bl = o.bootloader === undefined ? undefined : prepare('bootloader', o.bootloader);
  const sd = o.softdevice === undefined ? undefined : prepare('softdevice', o.softdevice);
  checkDisjoint([app, bl, sd].filter((p): p is Prepared => p !== undefined));

  const newFwid = sd === undefined ? undefined : softDeviceFwid(sd.bin);
  if (app !== undefined && sdId !== undefined && newFwid !== undefined && !sdId.includes(newFwid)) {
    // The application would require a SoftDevice other than the one just installed: the bootloader
    // would refuse it after the SoftDevice was replaced, leaving the device without an application.
    throw invalid(
      `sd-id ${sdId.map((v) => `0x${v.toString(16).toUpperCase()}`).join(', ')} does not name the SoftDevice in the package, whose info struct says FWID 0x${newFwid.toString(16).toUpperCase()}`,
      `pass --sd-id 0x${newFwid.toString(16).toUpperCase()}`,
    );
  }
  const systemReq = union(sdReq, sdId ?? []);
  const sdValidation = o.sdBootValidation ?? 'VALIDATE_GENERATED_CRC';
  const plans: ImagePlan[] = [];
  if (sd !== undefined && bl !== undefined) {
    const bin = new Uint8Array(sd.bin.length + bl.bin.length);
    bin.set(sd.bin, 0);
    bin.set(bl.bin, sd.bin.length);
    plans.push({
      kind: 'softdevice_bootloader',
      bin,
      stem: 'sd_bl',
      fwVersion: blVersion, // nrfutil: the bootloader's version stands for the pair
      sdReq: systemReq,
      sdSize: sd.bin.length,
      blSize: bl.bin.length,
      appSize: 0,
      bootValidation: [sdValidation, 'VALIDATE_GENERATED_CRC'],
      validated: sd.bin,
    });
  } else if (sd !== undefined) {
    plans.push({ kind: 'softdevice', bin: sd.bin, stem: sd.stem, fwVersion: U32_MAX, sdReq: systemReq, sdSize: sd.bin.length, blSize: 0, appSize: 0, bootValidation: [sdValidation], validated: sd.bin });
  } else if (bl !== undefined) {
    plans.push({ kind: 'bootloader', bin: bl.bin, stem: bl.stem, fwVersion: blVersion, sdReq: systemReq, sdSize: 0, blSize: bl.bin.length, appSize: 0, bootValidation: ['VALIDATE_GENERATED_CRC'], validated: bl.bin });
  }
  if (app !== undefined) {
    plans.push({
      kind: 'application',
      bin: app.bin,
      stem: app.stem,
      fwVersion: appVersion,
      sdReq: sdId ?? sdReq,
      sdSize: 0,
      blSize: 0,
      appSize: app.bin.length,
      bootValidation: [o.appBootValidation ?? 'VALIDATE_GENERATED_CRC'],
      validated: app.bin,
    });
  }
  const clash = firstRepeated(plans.map((p) => p.stem.toLowerCase()));
  if (clash !== undefined) {
    throw invalid(
      `two images would both be stored as ${clash}.bin/.dat in the package`,
      'rename one of the input files (the package names its files after them)',
    );
  }
  return plans;
}

interface ManifestItem {
  readonly kind: ImageKind;
  readonly binFile: string;
  readonly datFile: string;
  readonly sdSize: number;
  readonly blSize: number;
}

function manifestJson(items: readonly ManifestItem[]): string {
  // nrfutil: json.dumps(sort_keys=True, indent=4); the image kinds sorted alphabetically are
  // application, bootloader, softdevice, softdevice_bootloader.
  const manifest: Record<string, unknown> = {};
  for (const img of [...items].sort((a, b) => (a.kind < b.kind ? -1 : 1))) {
    manifest[img.kind] =
      img.kind === 'softdevice_bootloader'
        ? { bin_file: img.binFile, dat_file: img.datFile, info_read_only_metadata: { bl_size: img.blSize, sd_size: img.sdSize } }
        : { bin_file: img.binFile, dat_file: img.datFile };
  }
  return JSON.stringify({ manifest }, null, 4);
}

/**
 * Builds a package. Refuses (BledfuError INVALID_ARGUMENT, with a remedy) nonsense options and
 * images before producing anything; see the module comment for what it writes.
 */
export async function generatePackage(o: GeneratePackageOptions): Promise<GeneratedPackage> {
  const plans = plan(o);
  const images: GeneratedImage[] = plans.map((p) => {
    const init = encodeInitCommand({
      fwVersion: p.fwVersion,
      hwVersion: o.hwVersion,
      sdReq: p.sdReq,
      type: KIND_FW_TYPE[p.kind],
      sdSize: p.sdSize,
      blSize: p.blSize,
      appSize: p.appSize,
      hash: { type: HASH_TYPE.SHA256, bytes: reversedSha256(p.bin) },
      isDebug: o.debugMode === true,
      bootValidation: p.bootValidation.map((name) => ({
        type: BOOT_VALIDATION_TYPE[name],
        bytes: name === 'VALIDATE_ECDSA_P256_SHA256' ? signInitCommand(p.validated, o.key as KeyObject) : new Uint8Array(0),
      })),
    });
    const dat = encodeInitPacket(
      init,
      o.key === undefined ? undefined : { type: SIGNATURE_TYPE.ECDSA_P256_SHA256, bytes: signInitCommand(init, o.key) },
    );
    return { kind: p.kind, bin: p.bin, dat, binFile: `${p.stem}.bin`, datFile: `${p.stem}.dat` };
  });
  const files = plans.map((p, i) => ({ ...p, binFile: (images[i] as GeneratedImage).binFile, datFile: (images[i] as GeneratedImage).datFile }));
  return { zip: await writeZip(manifestJson(files), images), images };
}

async function writeZip(manifest: string, images: readonly GeneratedImage[]): Promise<Uint8Array> {
  const zip = new JSZip();
  zip.file('manifest.json', manifest, { date: DATE });
  for (const img of images) {
    zip.file(img.binFile, img.bin, { date: DATE });
    zip.file(img.datFile, img.dat, { date: DATE });
  }
  return zip.generateAsync({ type: 'uint8array', compression: 'STORE' });
}

/** Sending order (spec §7.3): what a package reader hands the engine first. */
const SENDING_ORDER: readonly ImageKind[] = ['softdevice_bootloader', 'softdevice', 'bootloader', 'application'];

/**
 * Puts images of packages already made into one package, each image keeping its own signed init
 * packet. This is how a bootloader + application package is made: `generatePackage`, like
 * `nrfutil pkg generate`, refuses that pair in one call, yet such packages exist in the field
 * (made in two calls and zipped together) and an SDK 15–17 bootloader takes them, one image after
 * the other. SoftDevice + bootloader images are refused here (their manifest entry needs sizes a
 * generated image does not keep: generate them together instead), as are two images of one kind
 * or two with the same file name.
 */
export async function combinePackages(parts: readonly GeneratedPackage[]): Promise<GeneratedPackage> {
  const all = parts.flatMap((p) => p.images);
  if (all.length === 0) throw invalid('no image to put in the package', 'give at least one package with an image');
  const kinds = all.map((img) => img.kind);
  const twice = firstRepeated(kinds);
  if (twice !== undefined) throw invalid(`two ${twice} images`, 'a package carries at most one image of each kind');
  if (kinds.includes('softdevice_bootloader')) {
    throw invalid('a SoftDevice + bootloader image cannot be combined with other packages', 'generate the SoftDevice, bootloader and application in one call');
  }
  const clash = firstRepeated(all.flatMap((img) => [img.binFile, img.datFile]));
  if (clash !== undefined) throw invalid(`two images would both be stored as ${clash}`, 'generate one of the packages from a file with another name');
  const images = [...all].sort((a, b) => SENDING_ORDER.indexOf(a.kind) - SENDING_ORDER.indexOf(b.kind));
  return { zip: await writeZip(manifestJson(images.map((img) => ({ ...img, sdSize: 0, blSize: 0 }))), images), images };
}
