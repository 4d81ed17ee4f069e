/**
 * The DFU Revision characteristic (0x1534) of the legacy DFU service: two bytes, a little-endian
 * u16 whose high byte is the major and low byte the minor revision (SDK 11 `ble_dfu.c`
 * dfu_rev_char_add writes DFU_REVISION = (DFU_REV_MAJOR << 8) | DFU_REV_MINOR with uint16_encode),
 * so the bytes `01 00` are revision 0x0001, "0.1", and `08 00` is "0.8".
 *
 * What each value means (Android-DFU-Library `LegacyButtonlessDfuImpl.java` getVersionFeatures
 * and the comment above it; SDK 11 applications with the DFU service set DFU_REV_MINOR 0x01, the
 * SDK 11 bootloader's `dfu_transport_ble.c` and the Adafruit nRF52 bootloader's copy of it 0x08):
 *   absent  bootloader of SDK ≤ 6.1 (or an application of that age: it then has more services)
 *   0.1     an application with legacy buttonless DFU: Start DFU on its control point makes it
 *           reset into its bootloader, nothing is flashed through it
 *   0.5     bootloader of SDK 7.0: the extended init packet is required; bonds are lost
 *   0.6     bootloader of SDK 8.0: may keep bonds across an application update
 *   0.7     the init packet carries a SHA-256 instead of a CRC-16
 *   0.8     bootloader of SDK 9.0 or later (SDK 11, Adafruit): signed init packets supported
 */
import { legacyProtocolError } from './errors.js';

export type LegacyRevisionRole = 'application' | 'bootloader';

export interface LegacyRevision {
  /** The u16 as read (0x0001, 0x0008…). */
  readonly value: number;
  readonly major: number;
  readonly minor: number;
  /** "0.1", "0.8". */
  readonly text: string;
  /** What the device is running: an application that can only jump, or the bootloader itself. */
  readonly role: LegacyRevisionRole;
  /** The bootloader requires an (extended) init packet: revision 0.5 and later. */
  readonly initPacketRequired: boolean;
  /** What the revision stands for, for logs and job events. */
  readonly meaning: string;
}

/** The revision an application with legacy buttonless DFU exposes. */
export const LEGACY_APPLICATION_REVISION = 0x0001;

const MEANING: Record<number, string> = {
  0x0001: 'application with legacy buttonless DFU (SDK 7 or later): it jumps to its bootloader on Start DFU',
  0x0005: 'legacy bootloader of SDK 7.0: extended init packet required, bonds not kept',
  0x0006: 'legacy bootloader of SDK 8.0: extended init packet required, can keep bonds',
  0x0007: 'legacy bootloader: SHA-256 in the init packet instead of CRC-16',
  0x0008: 'legacy bootloader of SDK 9.0 or later (SDK 11, Adafruit nRF52): signed init packets supported',
};

export function decodeLegacyRevision(bytes: Uint8Array): LegacyRevision {
  if (bytes.length !== 2) {
    throw legacyProtocolError(`the legacy DFU Revision characteristic (0x1534) holds ${bytes.length} bytes, expected 2`, { characteristic: '1534' });
  }
  const value = (bytes[0] as number) | ((bytes[1] as number) << 8);
  const major = value >>> 8;
  const minor = value & 0xff;
  const role: LegacyRevisionRole = value === LEGACY_APPLICATION_REVISION ? 'application' : 'bootloader';
  return {
    value,
    major,
    minor,
    text: `${major}.${minor}`,
    role,
    initPacketRequired: role === 'bootloader' && value >= 0x0005,
    meaning: MEANING[value] ?? `legacy bootloader of an unknown DFU revision ${major}.${minor}`,
  };
}

export function encodeLegacyRevision(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`DFU revision ${value} is not a u16`);
  return Uint8Array.of(value & 0xff, value >>> 8);
}

/** What a legacy DFU service without the Revision characteristic is (SDK ≤ 6.1). */
export const LEGACY_REVISION_ABSENT_MEANING =
  'no DFU Revision characteristic: a bootloader of SDK 6.1 or older (application updates only, init packet optional), or an application of that age if it has more services';
