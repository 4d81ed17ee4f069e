/** What a DFU package holds once read: its images and what each init packet says. Pure types (and two type guards). */

/** Image kinds in the order they are sent (spec §7.3). */
export const IMAGE_KINDS = ['softdevice_bootloader', 'softdevice', 'bootloader', 'application'] as const;
export type ImageKind = (typeof IMAGE_KINDS)[number];

/** What the init packet of one image says, for display and for checks before connecting. */
export interface ImageSummary {
  readonly kind: ImageKind;
  readonly size: number;
  readonly fwVersion: number | undefined;
  readonly hwVersion: number | undefined;
  readonly sdReq: readonly number[];
  /** SHA-256 of the .bin, hex, normal byte order. */
  readonly sha256: string;
  readonly signed: boolean;
  readonly isDebug: boolean;
}

/** One image of a package, ready to send. */
export interface PackageImage {
  readonly summary: ImageSummary;
  /** Firmware bytes (.bin). */
  readonly bin: Uint8Array;
  /** Init packet bytes (.dat), sent verbatim. */
  readonly dat: Uint8Array;
}

/** A parsed, validated nrfutil package; images in sending order (spec §7.3). */
export interface DfuPackage {
  readonly images: readonly PackageImage[];
  /** SHA-256 of the .zip file, hex. */
  readonly sha256: string;
  /** Size of the .zip file in bytes. */
  readonly size: number;
}

// ---------------------------------------------------------------------------------------------
// Legacy DFU (nRF5 SDK ≤ 11, nrfutil ≤ 0.5, adafruit-nrfutil): a separate type, so an engine or
// the job layer branches on `isLegacyPackage` and the Secure DFU code never sees a legacy image.

/** The layout of a legacy init packet (legacyInitPacket.ts): bare CRC-16 (SDK ≤ 6) or the DFU revision it was made for. */
export type LegacyInitLayout = 'bare' | '0.5' | '0.6' | '0.7' | '0.8';

/** What a legacy image and its init packet say, for display and for checks before connecting. */
export interface LegacyImageSummary {
  readonly kind: ImageKind;
  readonly size: number;
  /**
   * The three sizes of the legacy image size packet (SoftDevice, bootloader, application) for this
   * image alone: a softdevice_bootloader image is its SoftDevice part then its bootloader part
   * (the manifest's sd_size and bl_size); any other image fills its own slot.
   */
  readonly sizes: { readonly softdevice: number; readonly bootloader: number; readonly application: number };
  readonly initLayout: LegacyInitLayout;
  /** Header fields of the init packet; undefined for a bare (SDK ≤ 6) one. 0xFFFF / 0xFFFFFFFF = not set. */
  readonly deviceType: number | undefined;
  readonly deviceRevision: number | undefined;
  readonly applicationVersion: number | undefined;
  /** SoftDevice FWIDs the image needs; 0xFFFE = any. Empty for a bare init packet. */
  readonly softdeviceReq: readonly number[];
  /** CRC-16/CCITT-FALSE of the .bin (checked against the init packet when it carries one). */
  readonly crc16: number;
  /** SHA-256 of the .bin, hex, normal byte order. */
  readonly sha256: string;
  /** The init packet carries an ECDSA signature (layout 0.8); bledfu cannot check it, the bootloader does. */
  readonly signed: boolean;
}

export interface LegacyPackageImage {
  readonly summary: LegacyImageSummary;
  readonly bin: Uint8Array;
  /** Init packet bytes (.dat), sent verbatim. */
  readonly dat: Uint8Array;
}

/** A parsed, validated legacy package; images in sending order (softdevice_bootloader, softdevice, bootloader, application). */
export interface LegacyDfuPackage {
  readonly protocol: 'legacy';
  /** The manifest's dfu_version as written (0.5 from nrfutil 0.5.x and adafruit-nrfutil); undefined when absent. */
  readonly dfuVersion: number | undefined;
  readonly images: readonly LegacyPackageImage[];
  /** SHA-256 of the .zip file, hex. */
  readonly sha256: string;
  /** Size of the .zip file in bytes. */
  readonly size: number;
}

/** Which DFU protocol a package is for. */
export type DfuProtocol = 'secure' | 'legacy';

/** A package of either protocol, as readAnyPackage returns it. */
export type AnyDfuPackage = DfuPackage | LegacyDfuPackage;

export function isLegacyPackage(pkg: AnyDfuPackage): pkg is LegacyDfuPackage {
  return 'protocol' in pkg && pkg.protocol === 'legacy';
}

export function packageProtocol(pkg: AnyDfuPackage): DfuProtocol {
  return isLegacyPackage(pkg) ? 'legacy' : 'secure';
}
