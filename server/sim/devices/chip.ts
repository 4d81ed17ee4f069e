/**
 * One simulated nRF52840 as the bootloader sees it: the flash and the bootloader settings that
 * survive resets, laid out like the SDK 17.0.2 DK image of the shared reference fixtures
 * (../shared/fixtures/dfu/README.md §5: MBR, S140 7.2.0 from 0x1000, application from 0x27000,
 * debug bootloader at 0xF1000).
 *
 * The initial images are placeholders carrying the identity (size, CRC, SHA-256, version) of the
 * DK image's parts; only the SoftDevice info struct inside the placeholder is real, because the
 * bootloader reads the installed FWID from flash (0x300C). Images delivered by DFU are stored
 * byte for byte.
 */
import { createHash } from 'node:crypto';
import type { DeviceAddress } from '../../ble/address.js';
import { crc32 } from '../../common/crc32.js';
import { Flash } from './flash.js';

export const LAYOUT = {
  softDeviceStart: 0x1000,
  /**
   * SoftDevice info struct (nrf_sdm.h): its size (u8) at +0, magic at +4, end address at +8,
   * FWID (u16) at +0xC, SoftDevice ID at +0x10, version (major × 1 000 000 + minor × 1 000 + patch) at +0x14.
   */
  softDeviceInfoOffset: 0x2000,
  softDeviceInfoMagic: 0x51b1e5db,
  appStart: 0x27000,
  /** NRF_DFU_APP_DATA_AREA_SIZE: pages below the bootloader kept for application data. */
  appDataPages: 3,
  bootloaderStart: 0xf1000,
  /** The bootloader area ends where the MBR parameter page starts. */
  bootloaderEnd: 0xfe000,
  settingsPage: 0xff000,
} as const;

export type ImageRole = 'softdevice' | 'application' | 'bootloader';

export interface InstalledImage {
  readonly size: number;
  readonly crc32: number;
  /** Normal byte order, hex. */
  readonly sha256: string;
  readonly fwVersion: number | undefined;
}

/** A DFU image received and checked, to be activated on the next boot. */
export interface PendingActivation {
  /** FwType of the init packet (0 app, 1 SD, 2 BL, 3 SD+BL). */
  readonly fwType: number;
  readonly bankAddress: number;
  readonly size: number;
  readonly sdSize: number;
  readonly blSize: number;
  readonly fwVersion: number | undefined;
  readonly isDebug: boolean;
}

/** Data-object progress as NRF_DFU_SAVE_PROGRESS_IN_FLASH keeps it. */
export interface SavedProgress {
  readonly offsetLast: number;
  readonly crcLast: number;
}

/** What the bootloader keeps in its settings page. */
export interface BootloaderSettings {
  appVersion: number;
  bootloaderVersion: number;
  app: InstalledImage | undefined;
  appValid: boolean;
  softDevice: InstalledImage | undefined;
  bootloader: InstalledImage | undefined;
  /** Executed (validated) init packet, kept across disconnects and resets. */
  initPacket: Uint8Array | undefined;
  /** Where the data of that init packet goes. */
  bankAddress: number;
  progress: SavedProgress;
  pending: PendingActivation | undefined;
  /** Advertising name for the bootloader set through buttonless 0x02. */
  advName: string | undefined;
}

/**
 * The peer a legacy (SDK 11) application hands to its bootloader when it jumps into it on behalf
 * of a bonded central (dfu_app_handler.c dfu_app_peer_data_set → the bootloader's SVC,
 * dfu_ble_svc.c): the bootloader keeps the application's address and advertises only for that
 * central. `directed`: the central distributed no IRK, so the bootloader uses directed
 * advertising toward its address (dfu_transport_ble.c advertising_start); otherwise undirected
 * advertising with a whitelist of that central.
 */
export interface LegacyPeer {
  readonly address: DeviceAddress;
  readonly directed: boolean;
}

/** GPREGRET-like state: survives a soft reset, not a power cycle (we never power-cycle). */
export interface RetainedRegisters {
  enterBootloader: boolean;
  /** After an SD (+BL) update with a still valid app: wait only this long in DFU mode. */
  continuation: boolean;
  /**
   * Legacy peer data in the bootloader's no-init RAM (CRC-protected there): it survives the
   * bootloader's own resets until an application runs again and reuses that RAM.
   */
  legacyPeer: LegacyPeer | undefined;
}

export function imageIdentity(bytes: Uint8Array, fwVersion: number | undefined): InstalledImage {
  return { size: bytes.length, crc32: crc32(bytes), sha256: createHash('sha256').update(bytes).digest('hex'), fwVersion };
}

/** What S140 7.2.0 and the fixtures' SoftDevices carry in the info struct's size byte. */
const INFO_STRUCT_SIZE = 0x2c;

/**
 * Major version of the SoftDevice whose image (starting at flash 0x1000) is `sd`, as the SDK's
 * SD_MAJOR_VERSION_EXTRACT(SD_VERSION_GET()) reads it: 0 when the info struct is too short to
 * hold a version (old SoftDevices), undefined when `sd` is no SoftDevice.
 */
export function softDeviceMajorVersion(sd: Uint8Array): number | undefined {
  const base = LAYOUT.softDeviceInfoOffset;
  if (sd.length < base + 0x18) return undefined;
  const info = new DataView(sd.buffer, sd.byteOffset + base, 0x18);
  if (info.getUint32(4, true) !== LAYOUT.softDeviceInfoMagic) return undefined;
  if (info.getUint8(0) <= 0x14) return 0;
  return Math.floor(info.getUint32(0x14, true) / 1_000_000);
}

/**
 * Deterministic filler (xorshift32) so placeholder and demo images are not all 0xFF (which would
 * read as erased flash): the same seed gives the same bytes in every run.
 */
export function deterministicFiller(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export interface InitialImageFacts {
  readonly softDeviceFwid: number;
  /** As the info struct stores it: 7002000 is S140 7.2.0. */
  readonly softDeviceVersion: number;
  readonly softDeviceSize: number;
  readonly app: InstalledImage;
  readonly bootloader: InstalledImage;
  readonly appVersion: number;
  readonly bootloaderVersion: number;
}

/** ../shared/fixtures/dfu/README.md §3/§5: the DK image's parts (their identity only: no byte of them is in the repository). */
export const DK_IMAGE: InitialImageFacts = {
  softDeviceFwid: 0x0100,
  softDeviceVersion: 7_002_000,
  softDeviceSize: 0x26634 - 0x1000,
  app: {
    size: 53_136,
    crc32: 0xc3d38f68,
    sha256: '7f030207a1b243df126c23835239c705be5de8039fa882b89d2b4d4b71c1c797',
    fwVersion: 1,
  },
  bootloader: {
    size: 49_524,
    crc32: 0x5e0c7f0a,
    sha256: '92e927a7ed56037cde692effad90ce63ecd51f94b015a1994ef96118a50c4bde',
    fwVersion: 1,
  },
  appVersion: 1,
  bootloaderVersion: 1,
};

export class NrfChip {
  readonly flash: Flash;
  readonly settings: BootloaderSettings;
  readonly retained: RetainedRegisters = { enterBootloader: false, continuation: false, legacyPeer: undefined };

  constructor(facts: InitialImageFacts = DK_IMAGE) {
    this.flash = new Flash();
    const sd = deterministicFiller(facts.softDeviceSize, 0x5d);
    const info = new DataView(sd.buffer, LAYOUT.softDeviceInfoOffset, INFO_STRUCT_SIZE);
    info.setUint8(0, INFO_STRUCT_SIZE);
    info.setUint32(4, LAYOUT.softDeviceInfoMagic, true);
    info.setUint32(8, LAYOUT.appStart, true);
    info.setUint16(0xc, facts.softDeviceFwid, true);
    info.setUint32(0x14, facts.softDeviceVersion, true);
    this.flash.program(LAYOUT.softDeviceStart, sd);
    this.flash.program(LAYOUT.appStart, deterministicFiller(facts.app.size, 0xa9));
    this.flash.program(LAYOUT.bootloaderStart, deterministicFiller(facts.bootloader.size, 0xb1));
    this.settings = {
      appVersion: facts.appVersion,
      bootloaderVersion: facts.bootloaderVersion,
      app: facts.app,
      appValid: true,
      softDevice: imageIdentity(sd, undefined),
      bootloader: facts.bootloader,
      initPacket: undefined,
      bankAddress: 0,
      progress: { offsetLast: 0, crcLast: 0 },
      pending: undefined,
      advName: undefined,
    };
  }

  /** FWID of the installed SoftDevice, read from its info struct; undefined if none is there. */
  softDeviceFwid(): number | undefined {
    const base = LAYOUT.softDeviceStart + LAYOUT.softDeviceInfoOffset;
    if (this.flash.readU32(base + 4) !== LAYOUT.softDeviceInfoMagic) return undefined;
    return this.flash.readU32(base + 0xc) & 0xffff;
  }

  /** Major version of the installed SoftDevice (see softDeviceMajorVersion). */
  softDeviceMajor(): number | undefined {
    const end = this.softDeviceEnd();
    if (end === undefined) return undefined;
    return softDeviceMajorVersion(this.flash.read(LAYOUT.softDeviceStart, LAYOUT.softDeviceInfoOffset + 0x18));
  }

  /** Where the SoftDevice says the application starts. */
  softDeviceEnd(): number | undefined {
    const base = LAYOUT.softDeviceStart + LAYOUT.softDeviceInfoOffset;
    if (this.flash.readU32(base + 4) !== LAYOUT.softDeviceInfoMagic) return undefined;
    return this.flash.readU32(base + 8);
  }

  /** Top of the application area (application data pages excluded). */
  appAreaEnd(): number {
    return LAYOUT.bootloaderStart - LAYOUT.appDataPages * this.flash.geometry.pageSize;
  }

  /** The cost of persisting the settings page (erase + write of ~0x5C bytes), ms. */
  saveSettings(): number {
    const g = this.flash.geometry;
    return g.pageEraseMs + Math.ceil(0x5c / 4) * g.wordWriteMs;
  }
}
