/**
 * What a legacy bootloader decides when the init packet is complete (Init DFU parameters 02 01):
 * the pre-check of nRF5 SDK 11's init packet template (`dfu_init_prevalidate`) and of the
 * Adafruit nRF52 bootloader's version of it (Adafruit_nRF52_Bootloader `src/dfu_init.c`). Pure,
 * so the simulated legacy bootloaders refuse exactly what real ones refuse, and an engine can say
 * before anything is flashed why a package cannot work on a device whose facts it knows.
 *
 * Every refusal is answered OPERATION_FAILED: the pre-check returns NRF_ERROR_INVALID_LENGTH,
 * NRF_ERROR_INVALID_DATA or (Adafruit) NRF_ERROR_FORBIDDEN, and `nrf_err_code_translate` in
 * bootloader_dfu/dfu_transport_ble.c maps all three to BLE_DFU_RESP_VAL_OPER_FAILED for the
 * init procedure (only the validate procedure turns INVALID_DATA into CRC_ERROR).
 */
import { ADAFRUIT, LEGACY_ANY, type LegacyInitPacket } from '../package/legacyInitPacket.js';
import { LEGACY_IMAGE_TYPE } from './controlPoint.js';
import { LEGACY_STATUS } from './opcodes.js';

export type LegacyBootloaderVariant = 'nordic-sdk11' | 'adafruit';

export type AdafruitChip = keyof typeof ADAFRUIT.UNLOCK_REVISION;

/** What the bootloader compares the init packet with. */
export interface LegacyDeviceFacts {
  readonly variant: LegacyBootloaderVariant;
  /**
   * Nordic: the device's own type and revision (DFU_DEVICE_INFO in UICR); 0xFFFF (empty, the
   * default) means the template accepts any value. Ignored by the Adafruit variant.
   */
  readonly deviceType?: number;
  readonly deviceRevision?: number;
  /** FWID of the installed SoftDevice (SD_FWID_GET), matched against the packet's list. */
  readonly softdeviceFwid: number;
  /** Adafruit: which chip, whose unlock revision SoftDevice/bootloader updates need. */
  readonly chip?: AdafruitChip;
}

export interface LegacyRefusal {
  /** The status the bootloader answers (always OPERATION_FAILED, see above). */
  readonly status: number;
  /** Why, in a user's words, naming the values. */
  readonly reason: string;
}

const hex = (n: number, digits = 4): string => `0x${n.toString(16).toUpperCase().padStart(digits, '0')}`;

/**
 * The refusal the bootloader answers to this init packet for an image of `imageType` (Start DFU
 * bits), or undefined when it accepts it. A bare (SDK ≤ 6) packet is too short for either
 * variant's header.
 */
export function legacyInitRefusal(p: LegacyInitPacket, imageType: number, device: LegacyDeviceFacts): LegacyRefusal | undefined {
  const refuse = (reason: string): LegacyRefusal => ({ status: LEGACY_STATUS.OPERATION_FAILED, reason });
  if (p.format === 'bare') return refuse('the init packet is a bare CRC-16 (SDK ≤ 6); this bootloader needs the extended init packet');
  if (device.variant === 'adafruit') {
    if (p.deviceType !== ADAFRUIT.DEVICE_TYPE) {
      return refuse(`device type ${hex(p.deviceType)} is not the Adafruit bootloader's ${hex(ADAFRUIT.DEVICE_TYPE)} (make the package with adafruit-nrfutil --dev-type 0x0052)`);
    }
    if ((imageType & (LEGACY_IMAGE_TYPE.SOFTDEVICE | LEGACY_IMAGE_TYPE.BOOTLOADER)) !== 0) {
      const unlock = device.chip === undefined ? undefined : ADAFRUIT.UNLOCK_REVISION[device.chip];
      if (unlock === undefined || p.deviceRevision !== unlock) {
        return refuse(
          `a SoftDevice or bootloader update needs the chip's device revision (${unlock === undefined ? 'unknown chip' : `${device.chip}: ${unlock} (${hex(unlock)})`}), the package has ${p.deviceRevision} (${hex(p.deviceRevision)})`,
        );
      }
    }
  } else {
    const ownType = device.deviceType ?? LEGACY_ANY.DEVICE_TYPE;
    if (ownType !== LEGACY_ANY.DEVICE_TYPE && p.deviceType !== ownType) {
      return refuse(`device type ${hex(p.deviceType)} is not this device's ${hex(ownType)}`);
    }
    const ownRevision = device.deviceRevision ?? LEGACY_ANY.DEVICE_REVISION;
    if (ownRevision !== LEGACY_ANY.DEVICE_REVISION && p.deviceRevision !== ownRevision) {
      return refuse(`device revision ${hex(p.deviceRevision)} is not this device's ${hex(ownRevision)}`);
    }
  }
  if (!p.softdeviceReq.some((sd) => sd === LEGACY_ANY.SOFTDEVICE || sd === device.softdeviceFwid)) {
    return refuse(`the image needs SoftDevice ${p.softdeviceReq.map((sd) => hex(sd)).join(' or ') || '(none listed)'}, the device has ${hex(device.softdeviceFwid)}`);
  }
  return undefined;
}
