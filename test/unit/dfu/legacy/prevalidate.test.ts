/**
 * The init packet pre-check of the SDK 11 template and of the Adafruit nRF52 bootloader
 * (Adafruit_nRF52_Bootloader src/dfu_init.c dfu_init_prevalidate: device type 0x0052, unlock
 * revisions for DFU_UPDATE_SD | DFU_UPDATE_BL, DFU_SOFTDEVICE_ANY or the installed FWID).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LEGACY_IMAGE_TYPE, LEGACY_STATUS } from '../../../../server/dfu/legacy/controlPoint.js';
import { legacyInitRefusal, type LegacyDeviceFacts } from '../../../../server/dfu/legacy/prevalidate.js';
import { ADAFRUIT, type LegacyInitPacket } from '../../../../server/dfu/package/legacyInitPacket.js';

const packet = (o: Partial<Extract<LegacyInitPacket, { format: 'extended' }>>): LegacyInitPacket => ({
  format: 'extended',
  deviceType: 0xffff,
  deviceRevision: 0xffff,
  applicationVersion: 0xffffffff,
  softdeviceReq: [0xfffe],
  integrity: { kind: 'crc16', crc16: 0x1234 },
  ...o,
});

const SDK11: LegacyDeviceFacts = { variant: 'nordic-sdk11', softdeviceFwid: 0x0081 };
const FEATHER: LegacyDeviceFacts = { variant: 'adafruit', softdeviceFwid: 0x00b6, chip: 'nrf52840' };
const APP = LEGACY_IMAGE_TYPE.APPLICATION;
const SD_BL = LEGACY_IMAGE_TYPE.SOFTDEVICE | LEGACY_IMAGE_TYPE.BOOTLOADER;

describe('legacyInitRefusal: nRF5 SDK 11 template', () => {
  it('accepts the SDK 11 fixtures\' wildcards (type/revision 0xFFFF, SoftDevice 0xFFFE) on a device with empty UICR', () => {
    assert.equal(legacyInitRefusal(packet({}), APP, SDK11), undefined);
  });

  it('a device type set in UICR must match; 0xFFFF in UICR accepts any', () => {
    const own: LegacyDeviceFacts = { ...SDK11, deviceType: 0x0042 };
    assert.match(legacyInitRefusal(packet({ deviceType: 0x0043 }), APP, own)?.reason ?? '', /device type 0x0043 is not this device's 0x0042/);
    assert.equal(legacyInitRefusal(packet({ deviceType: 0x0042 }), APP, own), undefined);
    assert.equal(legacyInitRefusal(packet({ deviceType: 0x0043 }), APP, SDK11), undefined);
  });

  it('a SoftDevice list without 0xFFFE or the installed FWID is refused OPERATION_FAILED', () => {
    const r = legacyInitRefusal(packet({ softdeviceReq: [0x0088, 0x008c] }), APP, SDK11);
    assert.equal(r?.status, LEGACY_STATUS.OPERATION_FAILED);
    assert.match(r?.reason ?? '', /needs SoftDevice 0x0088 or 0x008C, the device has 0x0081/);
    assert.equal(legacyInitRefusal(packet({ softdeviceReq: [0x0088, 0x0081] }), APP, SDK11), undefined);
  });

  it('a bare SDK ≤ 6 init packet is refused', () => {
    assert.match(legacyInitRefusal({ format: 'bare', crc16: 1 }, APP, SDK11)?.reason ?? '', /bare CRC-16/);
  });
});

describe('legacyInitRefusal: Adafruit nRF52 bootloader', () => {
  it('refuses any image without device type 0x0052', () => {
    assert.match(legacyInitRefusal(packet({}), APP, FEATHER)?.reason ?? '', /device type 0xFFFF is not the Adafruit bootloader's 0x0052/);
  });

  it('accepts an application with 0x0052 and any revision', () => {
    assert.equal(legacyInitRefusal(packet({ deviceType: ADAFRUIT.DEVICE_TYPE }), APP, FEATHER), undefined);
  });

  it('a SoftDevice/bootloader update needs the chip\'s unlock revision (52840 on nRF52840, 0xADAF on nRF52832)', () => {
    const sdbl = packet({ deviceType: ADAFRUIT.DEVICE_TYPE, deviceRevision: 0xffff });
    assert.match(legacyInitRefusal(sdbl, SD_BL, FEATHER)?.reason ?? '', /nrf52840: 52840/);
    assert.equal(legacyInitRefusal(packet({ deviceType: ADAFRUIT.DEVICE_TYPE, deviceRevision: 52_840 }), SD_BL, FEATHER), undefined);
    assert.ok(legacyInitRefusal(packet({ deviceType: ADAFRUIT.DEVICE_TYPE, deviceRevision: 52_840 }), LEGACY_IMAGE_TYPE.BOOTLOADER, { ...FEATHER, chip: 'nrf52832' }));
    assert.equal(legacyInitRefusal(packet({ deviceType: ADAFRUIT.DEVICE_TYPE, deviceRevision: 0xadaf }), LEGACY_IMAGE_TYPE.BOOTLOADER, { ...FEATHER, chip: 'nrf52832' }), undefined);
  });
});
