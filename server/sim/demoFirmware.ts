/**
 * Firmware images the project makes itself, for the demo and the tests: deterministic, plausible
 * nRF52840 images laid out where the simulated chip (devices/chip.ts LAYOUT) expects them, so the
 * repository needs no third-party firmware to show or test an update.
 *
 * Plausible means what a bootloader or a reader of the hex would look at is real: every image
 * starts with a Cortex-M vector table (initial stack pointer in RAM, reset handler inside the
 * image with the Thumb bit set, whose code is a `b .` loop), and the SoftDevice carries the info
 * struct the bootloader reads (magic, end address, FWID, ID, version). The rest is filler drawn
 * from a seed, so two images with different seeds differ everywhere and the same options always
 * give the same bytes (and so the same SHA-256 in every test run).
 */
import { BledfuError } from '../common/errors.js';
import { encodeIntelHex, type HexSegment } from '../dfu/package/hex.js';
import { deterministicFiller as filler, LAYOUT } from './devices/chip.js';

export type DemoImageKind = 'application' | 'bootloader' | 'softdevice';

export interface DemoImage {
  readonly kind: DemoImageKind;
  /** Flash address of the first byte. */
  readonly address: number;
  readonly bytes: Uint8Array;
  /** The version the image says it is (application/bootloader version, or SoftDevice version). */
  readonly version: number;
  /** The image as Intel HEX segments (one: each image is contiguous). */
  readonly segments: readonly HexSegment[];
  /** The image as Intel HEX text, like a build's .hex output. */
  readonly hex: string;
}

export interface DemoImageOptions {
  /** Bytes; a multiple of 4, at least one page of vectors and code. */
  readonly size?: number;
  /** Filler seed: different seeds give different images of the same size. */
  readonly seed?: number;
  readonly version?: number;
}

export interface DemoSoftDeviceOptions extends DemoImageOptions {
  /** FWID the bootloader checks sd_req against; default that of the chip's installed SoftDevice. */
  readonly fwid?: number;
}

/** Top of the nRF52840's 256 KiB RAM: the initial stack pointer of every image. */
const INITIAL_SP = 0x2004_0000;
/** 16 Cortex-M4 exceptions + 48 nRF52840 interrupts. */
const VECTOR_TABLE_BYTES = 64 * 4;
/** The reset handler follows the vector table and an identity text. */
const CODE_OFFSET = 0x200;
/** Thumb `b .` (branch to itself): what a reset handler that has nothing to do would loop on. */
const THUMB_BRANCH_SELF = [0xfe, 0xe7] as const;
/** The info struct's size byte, as S140 7.x carries it (chip.ts INFO_STRUCT_SIZE). */
const SD_INFO_STRUCT_SIZE = 0x2c;
/** SoftDevice ID of S140 (the info struct's SD ID field). */
const SD_ID_S140 = 140;

export const DEMO_DEFAULTS = {
  /** About the size of Nordic's SDK 17.0.2 HRS example: 24 full 4 KiB data objects and a short last one. */
  application: { size: 99_000, seed: 0xa11ce, version: 1 },
  bootloader: { size: 24 * 1024, seed: 0xb007, version: 2 },
  /** Ends below the application start, as the info struct's end address says. */
  softdevice: { size: 150 * 1024, seed: 0x5d5d, version: 7_002_000, fwid: 0x0100 },
} as const;

/** The area each kind may occupy on the simulated chip. */
const AREA: Readonly<Record<DemoImageKind, { start: number; end: number }>> = {
  softdevice: { start: LAYOUT.softDeviceStart, end: LAYOUT.appStart },
  application: { start: LAYOUT.appStart, end: LAYOUT.bootloaderStart },
  bootloader: { start: LAYOUT.bootloaderStart, end: LAYOUT.bootloaderEnd },
};

export function demoApplication(o: DemoImageOptions = {}): DemoImage {
  const d = DEMO_DEFAULTS.application;
  return build('application', o.size ?? d.size, o.seed ?? d.seed, o.version ?? d.version, () => undefined);
}

export function demoBootloader(o: DemoImageOptions = {}): DemoImage {
  const d = DEMO_DEFAULTS.bootloader;
  return build('bootloader', o.size ?? d.size, o.seed ?? d.seed, o.version ?? d.version, () => undefined);
}

/** A SoftDevice from 0x1000 with its info struct at 0x3000 (chip.ts softDeviceMajorVersion reads it). */
export function demoSoftDevice(o: DemoSoftDeviceOptions = {}): DemoImage {
  const d = DEMO_DEFAULTS.softdevice;
  const version = o.version ?? d.version;
  const fwid = o.fwid ?? d.fwid;
  if (!Number.isInteger(fwid) || fwid < 0 || fwid > 0xffff) {
    throw invalid(`SoftDevice FWID ${fwid} is not a 16-bit number`, 'choose a FWID from 0 to 0xFFFF');
  }
  return build('softdevice', o.size ?? d.size, o.seed ?? d.seed, version, (bytes) => {
    const info = new DataView(bytes.buffer, bytes.byteOffset + LAYOUT.softDeviceInfoOffset, SD_INFO_STRUCT_SIZE);
    for (let i = 0; i < SD_INFO_STRUCT_SIZE; i++) info.setUint8(i, 0xff);
    info.setUint8(0, SD_INFO_STRUCT_SIZE);
    info.setUint32(4, LAYOUT.softDeviceInfoMagic, true);
    // Where the application may start: the bootloader keeps the app valid only if this stays put.
    info.setUint32(8, LAYOUT.appStart, true);
    info.setUint16(0xc, fwid, true);
    info.setUint32(0x10, SD_ID_S140, true);
    info.setUint32(0x14, version, true);
  });
}

function build(kind: DemoImageKind, size: number, seed: number, version: number, finish: (bytes: Uint8Array) => void): DemoImage {
  const area = AREA[kind];
  const min = kind === 'softdevice' ? LAYOUT.softDeviceInfoOffset + SD_INFO_STRUCT_SIZE : CODE_OFFSET + 4;
  if (!Number.isInteger(size) || size % 4 !== 0 || size < min) {
    throw invalid(`demo ${kind} size ${size} is not a multiple of 4 of at least ${min} bytes`, `choose a size of at least ${min} bytes, a multiple of 4`);
  }
  if (area.start + size > area.end) {
    throw invalid(
      `demo ${kind} of ${size} bytes from 0x${hex32(area.start)} ends beyond 0x${hex32(area.end)}`,
      `choose a size of at most ${area.end - area.start} bytes`,
    );
  }
  if (!Number.isInteger(version) || version < 0 || version > 0xffff_ffff) {
    throw invalid(`demo ${kind} version ${version} is not a 32-bit number`, 'choose a version from 0 to 4294967295');
  }
  const bytes = filler(size, seed);
  const view = new DataView(bytes.buffer);
  const code = area.start + CODE_OFFSET;
  view.setUint32(0, INITIAL_SP, true);
  // Reset handler and every other vector: the `b .` loop, Thumb bit set as Cortex-M requires.
  for (let i = 1; i < VECTOR_TABLE_BYTES / 4; i++) view.setUint32(i * 4, (code | 1) >>> 0, true);
  const identity = new TextEncoder().encode(`bledfu demo ${kind} v${version} seed ${seed}\0`);
  bytes.set(identity.subarray(0, CODE_OFFSET - VECTOR_TABLE_BYTES), VECTOR_TABLE_BYTES);
  bytes.set(THUMB_BRANCH_SELF, CODE_OFFSET);
  finish(bytes);
  const segments = [{ address: area.start, data: bytes }];
  return { kind, address: area.start, bytes, version, segments, hex: encodeIntelHex(segments) };
}

function hex32(v: number): string {
  return v.toString(16).toUpperCase().padStart(5, '0');
}

function invalid(message: string, remedy: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', message, { layer: 'sim', remedy });
}
