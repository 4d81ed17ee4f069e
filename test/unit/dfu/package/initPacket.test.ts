import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import { crc32 } from '../../../../server/common/crc32.js';
import {
  decodeInitPacket,
  encodeInitCommand,
  encodeInitPacket,
  expectedImageSize,
  FW_TYPE,
  HASH_TYPE,
  hashHexNormalOrder,
  isLegacyInitPacket,
  signedMessage,
  VALIDATION_TYPE,
} from '../../../../server/dfu/package/initPacket.js';
import { imageFiles, KNOWN_IMAGES, zipEntries } from '../../../helpers/dfu-fixtures.js';
import { NEEDS_NORDIC_PACKAGES } from '../../../helpers/shared-packages.js';

describe('decodeInitPacket on every shared fixture (its README §3.1)', NEEDS_NORDIC_PACKAGES, () => {
  for (const known of KNOWN_IMAGES) {
    it(`${known.zip} → ${known.kind}`, async () => {
      const { bin, dat } = await imageFiles(known);
      assert.equal(bin.length, known.binSize);
      assert.equal(crc32(bin), known.binCrc);
      assert.equal(dat.length, known.datSize);
      assert.equal(isLegacyInitPacket(dat), false);
      const p = decodeInitPacket(dat);
      assert.equal(p.kind, known.key === undefined ? 'unsigned' : 'signed');
      assert.equal(p.opCode, 1);
      assert.equal(p.initRange.end - p.initRange.start, known.initSize);
      const i = p.init;
      assert.equal(i.type, known.fwType);
      assert.equal(i.fwVersion, known.fwVersion);
      assert.equal(i.hwVersion, known.hwVersion);
      assert.deepEqual(i.sdReq, known.sdReq);
      // nrfutil writes zero-valued sizes explicitly: present, not absent
      assert.equal(i.sdSize, known.sdSize);
      assert.equal(i.blSize, known.blSize);
      assert.equal(i.appSize, known.appSize);
      assert.equal(i.isDebug, known.isDebug);
      assert.equal(i.bootValidation.length, known.bootValidation);
      for (const bv of i.bootValidation) {
        assert.equal(bv.type, VALIDATION_TYPE.VALIDATE_GENERATED_CRC);
        assert.equal(bv.bytes.length, 0);
      }
      assert.equal(i.hash?.type, HASH_TYPE.SHA256);
      const sha = createHash('sha256').update(bin).digest('hex');
      if (known.sha256 !== '') assert.equal(sha, known.sha256);
      assert.equal(hashHexNormalOrder(i.hash!), sha);
      assert.equal(expectedImageSize(i), known.binSize);
      if (known.key !== undefined) {
        assert.equal(p.signatureType, 0);
        assert.equal(p.signature?.length, 64);
      } else {
        assert.equal(p.signature, undefined);
        assert.equal(p.signatureType, undefined);
      }
    });
  }
});

describe('decodeInitPacket on the worked example of spec §6.1 (blinky)', NEEDS_NORDIC_PACKAGES, () => {
  it('locates the 62 signed InitCommand bytes after "12 88 01 0a 42 08 01 12 3e"', async () => {
    const { dat } = await imageFiles(KNOWN_IMAGES.find((k) => k.zip.startsWith('nrfutil_blinky'))!);
    assert.equal(toHex(dat.subarray(0, 9)), '128801' + '0a42' + '0801' + '123e');
    const p = decodeInitPacket(dat);
    assert.deepEqual(p.initRange, { start: 9, end: 71 });
    const msg = signedMessage(dat, p);
    assert.equal(toHex(msg.subarray(0, 16)), '0801' + '1034' + '1a0100' + '2000' + '2800' + '3000' + '38e40b');
    assert.equal(msg[msg.length - 6], 0x52);
    assert.equal(toHex(dat.subarray(71, 75)), '10001a40');
    assert.equal(crc32(dat), 0x4f468c46);
  });
});

describe('legacy packets', NEEDS_NORDIC_PACKAGES, () => {
  it('recognises the 14-byte SDK 11 .dat of both legacy fixtures', async () => {
    for (const [zip, dat] of [
      ['legacy_sdk11.0.0_dfu_test_app_hrm_s132.zip', 'dfu_test_app_hrm_s132.dat'],
      ['legacy_sdk11.0.0_dfu_test_softdevice_w_bootloader_b_s132.zip', 'sd_bl.dat'],
    ] as const) {
      const bytes = (await zipEntries(zip)).get(dat)!;
      assert.equal(bytes.length, 14);
      assert.equal(isLegacyInitPacket(bytes), true);
      assert.throws(() => decodeInitPacket(bytes), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /legacy/.test(e.message));
    }
  });
  it('treats an empty .dat as legacy/invalid', () => {
    assert.equal(isLegacyInitPacket(new Uint8Array(0)), true);
    assert.throws(() => decodeInitPacket(new Uint8Array(0)), (e: unknown) => hasCode(e, 'PACKAGE_INVALID'));
  });
});

describe('wire-format details', () => {
  it('distinguishes absent from present-with-zero', () => {
    const dat = encodeInitPacket(encodeInitCommand({ fwVersion: 0, type: FW_TYPE.APPLICATION, appSize: 4 }));
    const i = decodeInitPacket(dat).init;
    assert.equal(i.fwVersion, 0);
    assert.equal(i.hwVersion, undefined);
    assert.equal(i.sdSize, undefined);
    assert.equal(i.appSize, 4);
    assert.equal(i.hash, undefined);
    assert.equal(i.isDebug, undefined);
    assert.deepEqual(i.sdReq, []);
  });

  it('accepts unpacked repeated sd_req and skips unknown fields of every wire type', () => {
    // InitCommand: sd_req 0x100 unpacked, unknown field 15 varint, field 16 fixed32, field 17 bytes, field 18 fixed64, sd_req 0xCAFE unpacked
    const init = fromHex('18 80 02' + '78 05' + '85 01 01 02 03 04' + '8a 01 02 aa bb' + '91 01 01 02 03 04 05 06 07 08' + '18 fe 95 03' + '10 34');
    const dat = encodeInitPacket(init);
    const p = decodeInitPacket(dat);
    assert.deepEqual(p.init.sdReq, [0x100, 0xcafe]);
    assert.equal(p.init.hwVersion, 52);
    assert.equal(p.kind, 'unsigned');
    assert.equal(toHex(signedMessage(dat, p)), toHex(init));
  });

  it('round-trips the encoder (nrfutil field order) byte for byte against a fixture', NEEDS_NORDIC_PACKAGES, async () => {
    const known = KNOWN_IMAGES.find((k) => k.zip.startsWith('nrfutil_blinky'))!;
    const { dat } = await imageFiles(known);
    const p = decodeInitPacket(dat);
    const re = encodeInitCommand({
      fwVersion: p.init.fwVersion!, hwVersion: p.init.hwVersion!, sdReq: p.init.sdReq, type: p.init.type!,
      sdSize: p.init.sdSize!, blSize: p.init.blSize!, appSize: p.init.appSize!,
      hash: { type: p.init.hash!.type!, bytes: p.init.hash!.bytes }, isDebug: p.init.isDebug!,
      bootValidation: p.init.bootValidation.map((b) => ({ type: b.type!, bytes: b.bytes })),
    });
    assert.equal(toHex(re), toHex(signedMessage(dat, p)));
    assert.equal(toHex(encodeInitPacket(re, { type: 0, bytes: p.signature! })), toHex(dat));
  });

  it('reports truncation and structural problems as PACKAGE_INVALID naming the problem', NEEDS_NORDIC_PACKAGES, async () => {
    const { dat } = await imageFiles(KNOWN_IMAGES[0]!);
    assert.throws(() => decodeInitPacket(dat.subarray(0, 50)), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /claims \d+ bytes/.test(e.message));
    assert.throws(() => decodeInitPacket(fromHex('0a 02 08 01')), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /no init/.test(e.message));
    assert.throws(() => decodeInitPacket(fromHex('12 02 10 00')), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /no command/.test(e.message));
    assert.throws(() => decodeInitPacket(fromHex('0a 00 12 00')), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /both/.test(e.message));
    assert.throws(() => decodeInitPacket(fromHex('0a 03 12 01 88')), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /varint/.test(e.message));
    assert.throws(() => decodeInitPacket(fromHex('0b')), (e: unknown) => hasCode(e, 'PACKAGE_INVALID'));
  });

  it('expectedImageSize follows the FwType size rules', () => {
    assert.equal(expectedImageSize({ ...decodeInitPacket(encodeInitPacket(encodeInitCommand({ type: 3, sdSize: 10, blSize: 5 }))).init }), 15);
    assert.equal(expectedImageSize(decodeInitPacket(encodeInitPacket(encodeInitCommand({ type: 3, sdSize: 10, blSize: 0 }))).init), undefined);
    assert.equal(expectedImageSize(decodeInitPacket(encodeInitPacket(encodeInitCommand({ type: 0, appSize: 0 }))).init), undefined);
    assert.equal(expectedImageSize(decodeInitPacket(encodeInitPacket(encodeInitCommand({ appSize: 7 }))).init), undefined);
  });
});
