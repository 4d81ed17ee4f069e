/**
 * Writes legacy packages the way `nrfutil dfu genpkg` (pc-nrfutil 0.5.x) and `adafruit-nrfutil dfu
 * genpkg` do, from raw images: for the simulator's legacy devices and for tests (an Adafruit-style
 * package is `deviceType: ADAFRUIT.DEVICE_TYPE`). Layout followed (facts only, no code taken):
 * adafruit/Adafruit_nRF52_nrfutil (a fork of pc-nrfutil 0.5.x) `nordicsemi/dfu/package.py` (per DFU
 * version: 0.5 CRC-16 only, 0.6 ext id 0 + CRC-16, 0.7 ext id 1 + length + SHA-256; SoftDevice and
 * bootloader together become one `sd_bl.bin`, SoftDevice first, with sd_size/bl_size in the
 * manifest; the .dat is named after the .bin) and `manifest.py` (json.dumps with sort_keys and
 * indent 4; init_packet_data with the fields the init packet holds, firmware_hash as hex).
 * DFU version 0.8 (signed) is not written: its key handling belongs to no supported device.
 */
import JSZip from 'jszip';
import { createHash } from 'node:crypto';
import { crc16 } from '../../common/crc16.js';
import { toHex } from '../../common/bytes.js';
import { encodeLegacyInitPacket, LEGACY_ANY, LEGACY_EXT_ID, type LegacyIntegrity } from './legacyInitPacket.js';

export type LegacyGenerateVersion = 0.5 | 0.6 | 0.7;

export interface LegacyGenerateOptions {
  /** manifest dfu_version and init packet layout; 0.5 (nrfutil 0.5.x and adafruit-nrfutil default). */
  readonly dfuVersion?: LegacyGenerateVersion;
  /** Defaults as nrfutil's: 0xFFFF, 0xFFFF, 0xFFFFFFFF, [0xFFFE]. */
  readonly deviceType?: number;
  readonly deviceRevision?: number;
  readonly applicationVersion?: number;
  readonly softdeviceReq?: readonly number[];
  readonly application?: Uint8Array;
  readonly bootloader?: Uint8Array;
  readonly softdevice?: Uint8Array;
}

interface Image {
  readonly key: 'application' | 'bootloader' | 'softdevice' | 'softdevice_bootloader';
  readonly binFile: string;
  readonly bin: Uint8Array;
  readonly sdSize?: number;
  readonly blSize?: number;
}

function integrity(version: LegacyGenerateVersion, bin: Uint8Array): { ext: LegacyIntegrity; manifest: Record<string, unknown> } {
  switch (version) {
    case 0.5: {
      const crc = crc16(bin);
      return { ext: { kind: 'crc16', crc16: crc }, manifest: { firmware_crc16: crc } };
    }
    case 0.6: {
      const crc = crc16(bin);
      return { ext: { kind: 'ext-crc16', crc16: crc }, manifest: { ext_packet_id: LEGACY_EXT_ID.CRC16, firmware_crc16: crc } };
    }
    case 0.7: {
      const sha256 = new Uint8Array(createHash('sha256').update(bin).digest());
      return {
        ext: { kind: 'sha256', length: bin.length, sha256 },
        manifest: { ext_packet_id: LEGACY_EXT_ID.SHA256, firmware_hash: toHex(sha256), firmware_length: bin.length },
      };
    }
  }
}

/** JSON with keys sorted at every level, 4-space indent (Python's json.dumps(sort_keys=True, indent=4)). */
function sortedJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  return JSON.stringify(sort(value), null, 4);
}

/** A legacy package (.zip bytes). RangeError when no image is given or a header value does not fit. */
export async function makeLegacyPackage(o: LegacyGenerateOptions): Promise<Uint8Array> {
  const version = o.dfuVersion ?? 0.5;
  const header = {
    deviceType: o.deviceType ?? LEGACY_ANY.DEVICE_TYPE,
    deviceRevision: o.deviceRevision ?? LEGACY_ANY.DEVICE_REVISION,
    applicationVersion: o.applicationVersion ?? LEGACY_ANY.APPLICATION_VERSION,
    softdeviceReq: o.softdeviceReq ?? [LEGACY_ANY.SOFTDEVICE],
  };
  const images: Image[] = [];
  if (o.softdevice !== undefined && o.bootloader !== undefined) {
    const bin = new Uint8Array(o.softdevice.length + o.bootloader.length);
    bin.set(o.softdevice, 0);
    bin.set(o.bootloader, o.softdevice.length);
    images.push({ key: 'softdevice_bootloader', binFile: 'sd_bl.bin', bin, sdSize: o.softdevice.length, blSize: o.bootloader.length });
  } else {
    if (o.softdevice !== undefined) images.push({ key: 'softdevice', binFile: 'softdevice.bin', bin: o.softdevice });
    if (o.bootloader !== undefined) images.push({ key: 'bootloader', binFile: 'bootloader.bin', bin: o.bootloader });
  }
  if (o.application !== undefined) images.push({ key: 'application', binFile: 'application.bin', bin: o.application });
  if (images.length === 0) throw new RangeError('a legacy package needs at least one image');

  const zip = new JSZip();
  const manifest: Record<string, unknown> = { dfu_version: version };
  for (const img of images) {
    const { ext, manifest: extFields } = integrity(version, img.bin);
    const datFile = img.binFile.replace(/\.bin$/, '.dat');
    zip.file(img.binFile, img.bin);
    zip.file(datFile, encodeLegacyInitPacket({ format: 'extended', ...header, integrity: ext }));
    manifest[img.key] = {
      bin_file: img.binFile,
      dat_file: datFile,
      init_packet_data: {
        application_version: header.applicationVersion,
        device_revision: header.deviceRevision,
        device_type: header.deviceType,
        softdevice_req: header.softdeviceReq,
        ...extFields,
      },
      ...(img.sdSize === undefined ? {} : { sd_size: img.sdSize, bl_size: img.blSize }),
    };
  }
  zip.file('manifest.json', sortedJson({ manifest }));
  return zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE' });
}
