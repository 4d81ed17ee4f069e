import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describePackage } from '../../../../server/dfu/package/display.js';
import { generatePackage } from '../../../../server/dfu/package/generate.js';
import { encodeIntelHex } from '../../../../server/dfu/package/hex.js';
import { readPackage } from '../../../../server/dfu/package/package.js';
import { NEEDS_NORDIC_PACKAGES, sharedFixture } from '../../../helpers/shared-packages.js';

describe('describePackage', () => {
  it("tells every field of a third-party package (iosdfu's SD+BL+app), SoftDevice named from sd_req and from its info struct", NEEDS_NORDIC_PACKAGES, async () => {
    const text = describePackage(await readPackage(sharedFixture('iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip')));
    const lines = text.split('\n');
    assert.match(lines[0]!, /^DFU package: 2 images, \d+ bytes, sha256 1eeeb438e5df144a3400186243abceee1d6b3cc8302f2994d163246c4d09d204$/);
    const expected = [
      'Image 1: softdevice_bootloader, 177352 bytes (149-byte init packet)',
      '  type             SOFTDEVICE_BOOTLOADER',
      '  fw_version       0x00000022 (34)',
      '  hw_version       0x00000034 (52)',
      '  sd_req           0x0100 (s140_nrf52_7.2.0)',
      '  sd_size          153140',
      '  bl_size          24212',
      '  boot_validation  VALIDATE_GENERATED_CRC, VALIDATE_GENERATED_CRC',
      '  is_debug         false',
      '  SoftDevice       FWID 0x0100 (s140_nrf52_7.2.0), ends at 0x00027000',
      'Image 2: application, 53624 bytes (141-byte init packet)',
      // shared README §3.1: the sha256 of the iosdfu app.bin, in sha256sum order
      '  hash             SHA256 a3bf0b73eb3ef405ba3b1725f19b20fba169f6682a214f38d7402e9a94e141bd (sha256sum order)',
      '  app_size         53624',
    ];
    for (const line of expected) assert.ok(lines.includes(line), `missing line ${JSON.stringify(line)} in\n${text}`);
    assert.match(text, /signature {8}ECDSA_P256_SHA256 [0-9a-f]{128} \(r‖s, little-endian\)/);
  });

  it("says when a package is unsigned or has no boot validation field (Nordic's packages)", NEEDS_NORDIC_PACKAGES, async () => {
    const unsigned = describePackage(await readPackage(sharedFixture('nrfutil_test_package_unsigned.zip')));
    assert.match(unsigned, /\n {2}signature {8}none \(unsigned/);
    const sdk12 = describePackage(await readPackage(sharedFixture('sdk12.2.0_dfu_test_app_hrm_s132.zip')));
    assert.match(sdk12, /\n {2}boot_validation {2}\(none: .*before SDK 15\.3\)/);
    assert.match(sdk12, /\n {2}sd_req {11}0x008C \(s132_nrf52_3\.0\.0\), 0xCAFE \(Nordic's test SoftDevice builds\)\n/);
  });

  it('says when a SoftDevice package lacks a SoftDevice info struct', async () => {
    const fake = await generatePackage({
      softdevice: { name: 'sd.hex', hex: encodeIntelHex([{ address: 0x1000, data: new Uint8Array(0x3000).fill(0x5a) }]) },
      hwVersion: 52,
      sdReq: [0],
    });
    const text = describePackage(await readPackage(fake.zip));
    assert.match(text, /\n {2}fw_version {7}0xFFFFFFFF \(4294967295\), as for every SoftDevice\n/);
    assert.match(text, /\n {2}SoftDevice {7}no SoftDevice info struct at 0x3000/);
    assert.match(text, /\n {2}sd_req {11}0x0000 \(none: MBR only\)\n/);
  });
});
