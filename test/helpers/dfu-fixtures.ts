/**
 * Nordic's real nrfutil packages in ../shared/fixtures/dfu (third-party reference data beside the
 * repository, never copied into it; see that folder's README.md) and their known values (its
 * §3.1), so tests compare against facts decoded independently rather than against our own
 * decoder. Tests that read them take the NEEDS_NORDIC_PACKAGES option (shared-packages.ts): they
 * skip with a clear message where ../shared is absent, and fail under CI.
 */
import JSZip from 'jszip';
import { NEEDS_NORDIC_PACKAGES, sharedFixture } from './shared-packages.js';

export { NEEDS_NORDIC_PACKAGES };

export function fixtureBytes(name: string): Uint8Array {
  return sharedFixture(name);
}

export function fixtureText(name: string): string {
  return new TextDecoder().decode(sharedFixture(name));
}

export type PemName = 'sdk17' | 'sdk16' | 'sdk14' | 'sdk12' | 'iosdfu';

export const PEMS = {
  sdk17: 'nrf5_sdk_17.0.2_debug_public_key.pem',
  sdk16: 'nrf5_sdk_16.0.0_debug_public_key.pem',
  sdk14: 'nrf5_sdk_14.2.0_debug_public_key.pem',
  sdk12: 'nrf5_sdk_12.2.0_debug_public_key.pem',
  iosdfu: 'iosdfu_test_firmwares_public_key.pem',
} as const satisfies Record<PemName, string>;

export interface KnownImage {
  readonly zip: string;
  readonly kind: 'application' | 'softdevice' | 'bootloader' | 'softdevice_bootloader';
  readonly bin: string;
  readonly dat: string;
  readonly binSize: number;
  readonly binCrc: number;
  readonly datSize: number;
  readonly initSize: number;
  readonly fwType: number;
  readonly fwVersion: number;
  readonly hwVersion: number;
  readonly sdReq: readonly number[];
  readonly sdSize: number;
  readonly blSize: number;
  readonly appSize: number;
  readonly isDebug: boolean;
  readonly bootValidation: number;
  readonly key: PemName | undefined;
  readonly sha256: string;
}

const SHA = {
  hrs: '6375973bc506fbbb5bb3af4615da2e25f4839fa1f7f74792294a7aa4bb3a273c',
  bnb: '7f030207a1b243df126c23835239c705be5de8039fa882b89d2b4d4b71c1c797',
  bwb: 'bbf8068a282fd942f57f0df7ed4f38cb088b6fbf82f495cfc586a8d19126292b',
  bl17: '92e927a7ed56037cde692effad90ce63ecd51f94b015a1994ef96118a50c4bde',
  sd17: '8ab4ff1466b6a53647f0c5d81ccb7997125c44ab1885b7e3ebe41600073de335',
  sdbl14: 'e5ab2da932f9fd8485eccf32da32e530c98987fd986c1a1afca18decdc22feaa',
  app12: '07ceef56d8072b628f960bfefd855143f1eee4c0de3d262ac884d98f99226dec',
  iosApp: 'a3bf0b73eb3ef405ba3b1725f19b20fba169f6682a214f38d7402e9a94e141bd',
  blinky: 'f5cd0c481fa612d0bce150a727cef633e03fb30eef49d77548c081ace80973e9',
  unsigned: '5103835fa73d414868c79fb6f3194133d8bfaf92fe1af01baea8b53bd3617203',
} as const;

export const KNOWN_IMAGES: readonly KnownImage[] = [
  { zip: 'sdk17.0.2_hrs_application_s140.zip', kind: 'application', bin: 'nrf52840_xxaa.bin', dat: 'nrf52840_xxaa.dat', binSize: 98944, binCrc: 0xdb09e679, datSize: 144, initSize: 67, fwType: 0, fwVersion: 1, hwVersion: 52, sdReq: [0x100, 0xcafe], sdSize: 0, blSize: 0, appSize: 98944, isDebug: true, bootValidation: 1, key: 'sdk17', sha256: SHA.hrs },
  { zip: 'sdk17.0.2_ble_app_buttonless_dfu_without_bonds_s140.zip', kind: 'application', bin: 'nrf52840_xxaa.bin', dat: 'nrf52840_xxaa.dat', binSize: 53136, binCrc: 0xc3d38f68, datSize: 144, initSize: 67, fwType: 0, fwVersion: 1, hwVersion: 52, sdReq: [0x100, 0xcafe], sdSize: 0, blSize: 0, appSize: 53136, isDebug: true, bootValidation: 1, key: 'sdk17', sha256: SHA.bnb },
  { zip: 'sdk17.0.2_ble_app_buttonless_dfu_with_bonds_s140.zip', kind: 'application', bin: 'nrf52840_xxaa.bin', dat: 'nrf52840_xxaa.dat', binSize: 53504, binCrc: 0xdf42b423, datSize: 144, initSize: 67, fwType: 0, fwVersion: 1, hwVersion: 52, sdReq: [0x100, 0xcafe], sdSize: 0, blSize: 0, appSize: 53504, isDebug: true, bootValidation: 1, key: 'sdk17', sha256: SHA.bwb },
  { zip: 'sdk17.0.2_bootloader_secure_ble_debug_without_bonds_s140.zip', kind: 'bootloader', bin: 'nrf52840_xxaa_s140.bin', dat: 'nrf52840_xxaa_s140.dat', binSize: 49524, binCrc: 0x5e0c7f0a, datSize: 144, initSize: 67, fwType: 2, fwVersion: 1, hwVersion: 52, sdReq: [0x100, 0xcafe], sdSize: 0, blSize: 49524, appSize: 0, isDebug: true, bootValidation: 1, key: 'sdk17', sha256: SHA.bl17 },
  { zip: 'sdk17.0.2_softdevice_s140.zip', kind: 'softdevice', bin: 'softdevice_s140.bin', dat: 'softdevice_s140.dat', binSize: 153140, binCrc: 0x94dc96ed, datSize: 148, initSize: 71, fwType: 1, fwVersion: 0xffffffff, hwVersion: 52, sdReq: [0x100, 0xcafe], sdSize: 153140, blSize: 0, appSize: 0, isDebug: true, bootValidation: 1, key: 'sdk17', sha256: SHA.sd17 },
  { zip: 'sdk14.2.0_softdevice_bootloader_secure_ble_debug_without_bonds_s132.zip', kind: 'softdevice_bootloader', bin: 'sd_bl.bin', dat: 'sd_bl.dat', binSize: 178004, binCrc: 0x148bad50, datSize: 140, initSize: 63, fwType: 3, fwVersion: 1, hwVersion: 52, sdReq: [0x98, 0xcafe], sdSize: 136360, blSize: 41644, appSize: 0, isDebug: true, bootValidation: 0, key: 'sdk14', sha256: SHA.sdbl14 },
  { zip: 'sdk12.2.0_dfu_test_app_hrm_s132.zip', kind: 'application', bin: 'nrf52832_xxaa.bin', dat: 'nrf52832_xxaa.dat', binSize: 31800, binCrc: 0x31206927, datSize: 138, initSize: 61, fwType: 0, fwVersion: 1, hwVersion: 52, sdReq: [0x8c, 0xcafe], sdSize: 0, blSize: 0, appSize: 31800, isDebug: true, bootValidation: 0, key: 'sdk12', sha256: SHA.app12 },
  { zip: 'iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip', kind: 'softdevice_bootloader', bin: 'sd_bl.bin', dat: 'sd_bl.dat', binSize: 177352, binCrc: 0x677ebd3e, datSize: 149, initSize: 72, fwType: 3, fwVersion: 34, hwVersion: 52, sdReq: [0x100], sdSize: 153140, blSize: 24212, appSize: 0, isDebug: false, bootValidation: 2, key: 'iosdfu', sha256: '' },
  { zip: 'iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip', kind: 'application', bin: 'app.bin', dat: 'app.dat', binSize: 53624, binCrc: 0x33010c1a, datSize: 141, initSize: 64, fwType: 0, fwVersion: 1, hwVersion: 52, sdReq: [0x100], sdSize: 0, blSize: 0, appSize: 53624, isDebug: false, bootValidation: 1, key: 'iosdfu', sha256: SHA.iosApp },
  { zip: 'nrfutil_blinky_mbr_sdk160.zip', kind: 'application', bin: 'nrf52840_xxaa.bin', dat: 'nrf52840_xxaa.dat', binSize: 1508, binCrc: 0x3477e14c, datSize: 139, initSize: 62, fwType: 0, fwVersion: 1, hwVersion: 52, sdReq: [0x00], sdSize: 0, blSize: 0, appSize: 1508, isDebug: true, bootValidation: 1, key: 'sdk16', sha256: SHA.blinky },
  { zip: 'nrfutil_test_package_unsigned.zip', kind: 'application', bin: 'dfu_test_app_hrm_s130.bin', dat: 'dfu_test_app_hrm_s130.dat', binSize: 20524, binCrc: 0xdb4c66e8, datSize: 70, initSize: 64, fwType: 0, fwVersion: 0, hwVersion: 52, sdReq: [0x8c], sdSize: 0, blSize: 0, appSize: 20524, isDebug: false, bootValidation: 1, key: undefined, sha256: SHA.unsigned },
];

/** The raw files of one zip, by name. */
export async function zipEntries(zipName: string): Promise<Map<string, Uint8Array>> {
  const zip = await JSZip.loadAsync(fixtureBytes(zipName));
  const out = new Map<string, Uint8Array>();
  for (const [name, file] of Object.entries(zip.files)) {
    if (!file.dir) out.set(name, await file.async('uint8array'));
  }
  return out;
}

export async function imageFiles(image: KnownImage): Promise<{ bin: Uint8Array; dat: Uint8Array }> {
  const files = await zipEntries(image.zip);
  const bin = files.get(image.bin);
  const dat = files.get(image.dat);
  if (bin === undefined || dat === undefined) throw new Error(`fixture ${image.zip} lacks ${image.bin}/${image.dat}`);
  return { bin, dat };
}
