/**
 * What a legacy bootloader checks in the init packet before it takes any firmware
 * (dfu_init_prevalidate) and after (dfu_init_postvalidate), in its two deployed flavours.
 *
 * The packet (dfu_init.h dfu_init_packet_t, all little-endian): device_type u16, device_rev u16,
 * application_version u32, softdevice_len u16, softdevice[len] u16, then the "extended" part, at
 * least 2 bytes, whose first two bytes are the image's CRC-16/CCITT-FALSE. The transport pads
 * what the host wrote with zeros to whole words before it gets here (dfu_transport_ble.c
 * init_data_process), so a 14-byte nrfutil 0.5 packet arrives as 16 bytes.
 *
 * - SDK 11 (dfu_init_template.c): device type and revision must match the device information
 *   in UICR unless that is erased (0xFFFF); the installed SoftDevice's FWID, or 0xFFFE (any),
 *   must be listed. Failures are NRF_ERROR_INVALID_DATA (answered "operation failed").
 * - Adafruit (Adafruit_nRF52_Bootloader's dfu_init): device type must be ADAFRUIT_DEVICE_TYPE
 *   0x0052, and an update that touches the SoftDevice or the bootloader must carry the unlock
 *   code 0xADAF as device revision; failures are NRF_ERROR_FORBIDDEN ("operation failed").
 *   (Its SDK 11 template copy still has 52840 for nRF52840 builds; the deployed boards and
 *   adafruit-nrfutil's --dev-type use 0x0052 on both chips, which is what is modelled.)
 */
import { crc16 } from '../../../common/crc16.js';
import { LEGACY_IMAGE, type NrfError } from './protocol.js';

/** dfu_init.h DFU_SOFTDEVICE_ANY. */
export const SOFTDEVICE_ANY = 0xfffe;
/** Erased UICR: no device information, any type or revision accepted. */
export const DEVICE_INFO_EMPTY = 0xffff;
export const ADAFRUIT = { deviceType: 0x0052, sdUnlockCode: 0xadaf } as const;

/** sizeof(dfu_init_packet_t) with its one-element softdevice array. */
const FIXED_LENGTH = 12;
const EXT_LENGTH_MIN = 2;

export interface LegacyInitFields {
  readonly deviceType: number;
  readonly deviceRevision: number;
  readonly applicationVersion: number;
  readonly softDevices: readonly number[];
  /** The CRC-16 the extended part carries. */
  readonly crc16: number;
}

export type InitCheckPolicy =
  | {
      readonly kind: 'sdk11';
      /** UICR device information (DFU_DEVICE_INFO); 0xFFFF = erased. */
      readonly deviceType: number;
      readonly deviceRevision: number;
    }
  | { readonly kind: 'adafruit'; readonly deviceType: number };

/** Parses what dfu_init_prevalidate reads; an error code when the bootloader would refuse the length. */
export function parseLegacyInit(bytes: Uint8Array): LegacyInitFields | 'invalidLength' {
  if (bytes.length < FIXED_LENGTH) return 'invalidLength';
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = v.getUint16(8, true);
  const extStart = 10 + 2 * count;
  if (bytes.length < extStart + EXT_LENGTH_MIN) return 'invalidLength';
  const softDevices: number[] = [];
  for (let i = 0; i < count; i++) softDevices.push(v.getUint16(10 + 2 * i, true));
  return {
    deviceType: v.getUint16(0, true),
    deviceRevision: v.getUint16(2, true),
    applicationVersion: v.getUint32(4, true),
    softDevices,
    crc16: v.getUint16(extStart, true),
  };
}

/** dfu_init_prevalidate: 'success' or the nRF error the bootloader returns. */
export function prevalidate(
  init: LegacyInitFields,
  imageType: number,
  installedFwid: number | undefined,
  policy: InitCheckPolicy,
): NrfError {
  if (policy.kind === 'sdk11') {
    if (policy.deviceType !== DEVICE_INFO_EMPTY && init.deviceType !== policy.deviceType) return 'invalidData';
    if (policy.deviceRevision !== DEVICE_INFO_EMPTY && init.deviceRevision !== policy.deviceRevision) return 'invalidData';
  } else {
    if (init.deviceType !== policy.deviceType) return 'forbidden';
    if ((imageType & (LEGACY_IMAGE.softDevice | LEGACY_IMAGE.bootloader)) !== 0 && init.deviceRevision !== ADAFRUIT.sdUnlockCode) return 'forbidden';
  }
  return init.softDevices.some((sd) => sd === SOFTDEVICE_ANY || sd === installedFwid) ? 'success' : 'invalidData';
}

/** dfu_init_postvalidate: the CRC-16 of the received image against the init packet's. */
export function postvalidate(init: LegacyInitFields, image: Uint8Array): NrfError {
  return crc16(image) === init.crc16 ? 'success' : 'invalidData';
}
