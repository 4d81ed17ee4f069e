/**
 * manifest.json of a legacy package, as nrfutil ≤ 0.5 and adafruit-nrfutil write it:
 *
 *   { "manifest": { "dfu_version": 0.5,
 *       "application": { "bin_file", "dat_file", "init_packet_data": { … } },
 *       "softdevice_bootloader": { "bin_file", "dat_file", "init_packet_data": { … }, "sd_size", "bl_size" } } }
 *
 * Sources: adafruit/Adafruit_nRF52_nrfutil (a fork of pc-nrfutil 0.5.x) `nordicsemi/dfu/manifest.py`
 * (ManifestGenerator: dfu_version next to the images; SoftdeviceBootloaderFirmware carries sd_size
 * and bl_size; InitPacketData holds device_type, device_revision, application_version,
 * softdevice_req, ext_packet_id, firmware_length, firmware_hash, firmware_crc16, init_packet_ecds)
 * and `package.py` (dfu_ver 0.5 by default, 0.6–0.8 on request, 0.8 when signing).
 *
 * `init_packet_data` is informational: the `.dat` is what the bootloader receives, and real
 * packages exist whose manifest disagrees with their .dat (spec §7.2), so the reader checks the
 * .dat against the image and ignores these values.
 */
import type { ImageKind } from './images.js';
import { manifestImageFiles, manifestObject, type ManifestEntry } from './manifest.js';
import { packageInvalid } from '../errors.js';

/** dfu_version values the nrfutil generations write (package.py: 0.5 CRC-16, 0.6 ext CRC-16, 0.7 SHA-256, 0.8 signed). */
export const LEGACY_DFU_VERSIONS: readonly number[] = [0.5, 0.6, 0.7, 0.8];

/** Legacy packages send the combined SoftDevice + bootloader image first, the application last (as Secure DFU, spec §7.3). */
const LEGACY_IMAGE_ORDER = ['softdevice_bootloader', 'softdevice', 'bootloader', 'application'] as const satisfies readonly ImageKind[];

export interface LegacyManifestEntry extends ManifestEntry {
  /** softdevice_bootloader only: where the SoftDevice part ends and the bootloader part begins. */
  readonly sdSize: number | undefined;
  readonly blSize: number | undefined;
}

export interface LegacyManifest {
  readonly dfuVersion: number | undefined;
  readonly entries: readonly LegacyManifestEntry[];
}

function size(entry: Record<string, unknown>, key: 'sd_size' | 'bl_size', kind: ImageKind): number {
  const v = entry[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw packageInvalid(`manifest entry "${kind}" needs ${key} as a positive integer (it is ${JSON.stringify(v)}): the bootloader is told both sizes before the transfer`);
  }
  return v;
}

/** Parses a legacy manifest.json into its entries, in sending order. */
export function parseLegacyManifest(text: string): LegacyManifest {
  const manifest = manifestObject(text);
  const version = manifest['dfu_version'];
  if (version !== undefined && (typeof version !== 'number' || !LEGACY_DFU_VERSIONS.includes(version))) {
    throw packageInvalid(
      `manifest dfu_version ${JSON.stringify(version)} is not one of the legacy DFU versions nrfutil writes (${LEGACY_DFU_VERSIONS.join(', ')})`,
      'regenerate the package with nrfutil 0.5.x (nrfutil dfu genpkg) or adafruit-nrfutil',
    );
  }
  const entries: LegacyManifestEntry[] = manifestImageFiles(manifest, LEGACY_IMAGE_ORDER).map(({ kind, binFile, datFile, entry }) => {
    const combinedImage = kind === 'softdevice_bootloader';
    return {
      kind,
      binFile,
      datFile,
      sdSize: combinedImage ? size(entry, 'sd_size', kind) : undefined,
      blSize: combinedImage ? size(entry, 'bl_size', kind) : undefined,
    };
  });
  return { dfuVersion: typeof version === 'number' ? version : undefined, entries };
}
