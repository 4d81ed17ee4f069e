/** What a DFU package holds once read: its images and what each init packet says. Pure types. */

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
