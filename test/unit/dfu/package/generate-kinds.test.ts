/**
 * Bootloader, SoftDevice and combined packages against nrfutil's. The shared DK image
 * (../shared/fixtures/dfu README §5) holds the very parts nrfutil packaged elsewhere: its S140
 * 7.2.0 is the SoftDevice inside iosdfu's sd_bl.bin, its bootloader is the one of
 * sdk17.0.2_bootloader_…zip, its application the one of sdk17.0.2_ble_app_buttonless_…without_bonds.
 * The tests cut the hex into the files a build would give (SoftDevice with the MBR, bootloader
 * with its UICR words) and package them. Tests that use these parts or nrfutil's packages take
 * NEEDS_NORDIC_PACKAGES; the others (synthetic images) run without ../shared.
 */
import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { isBledfuError } from '../../../../server/common/errors.js';
import { encodeIntelHex } from '../../../../server/dfu/package/hex.js';
import { generatePackage } from '../../../../server/dfu/package/generate.js';
import { decodeInitPacket, FW_TYPE, signedMessage, VALIDATION_TYPE, type InitCommand } from '../../../../server/dfu/package/initPacket.js';
import { readPackage } from '../../../../server/dfu/package/package.js';
import { loadPublicKey, reverseHalves, verifyInitPacketSignature } from '../../../../server/dfu/package/signature.js';
import { generateSigningKey, loadSigningKey } from '../../../../server/dfu/package/signingKey.js';
import { dkHexPart, file, lazy, sharedZipFiles, zipFiles } from '../../../helpers/nrfutil-packages.js';
import { NEEDS_NORDIC_PACKAGES } from '../../../helpers/shared-packages.js';

const BL_ZIP = 'sdk17.0.2_bootloader_secure_ble_debug_without_bonds_s140.zip';
const APP_ZIP = 'sdk17.0.2_ble_app_buttonless_dfu_without_bonds_s140.zip';
const SD_ZIP = 'sdk17.0.2_softdevice_s140.zip';
const IOS_ZIP = 'iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip';
/** S140 7.2.0: 0x1000–0x26634 (shared README §3.1: the iosdfu sd_size). */
const S140_SIZE = 153_140;
const BL_SIZE = 49_524;

const demo = generateSigningKey();
const key = loadSigningKey(demo.privatePem);

/** As Nordic ships a SoftDevice hex: MBR + SoftDevice (read from ../shared on first use). */
const sdHex = lazy(() => dkHexPart([0, 0x27000]));
/** As the SDK builds a bootloader hex: code + UICR (bootloader address, MBR parameter page). */
const blHex = lazy(() => dkHexPart([0xf1000, 0xfe000], [0x10001000, 0x10002000]));
const appHex = lazy(() => dkHexPart([0x27000, 0xf1000]));

function withoutSizesAndHash(init: InitCommand): Omit<InitCommand, 'sdSize' | 'blSize' | 'appSize' | 'hash'> {
  const { sdSize: _s, blSize: _b, appSize: _a, hash: _h, ...rest } = init;
  return rest;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

describe('generatePackage — bootloader, SoftDevice and combinations', () => {
  it("bootloader: byte-equal .bin, names, manifest and InitCommand to nrfutil's sdk17.0.2 bootloader package (MBR/UICR dropped)", NEEDS_NORDIC_PACKAGES, async () => {
    const theirs = await sharedZipFiles(BL_ZIP);
    const pkg = await generatePackage({
      bootloader: { name: 'nrf52840_xxaa_s140.hex', hex: blHex() },
      bootloaderVersion: 1,
      hwVersion: 52,
      sdReq: [0x100, 0xcafe],
      debugMode: true,
      key,
    });
    const ours = await zipFiles(pkg.zip);
    assert.equal(ours.manifest, theirs.manifest);
    assert.ok(same(file(ours, 'nrf52840_xxaa_s140.bin'), file(theirs, 'nrf52840_xxaa_s140.bin')));
    const a = file(ours, 'nrf52840_xxaa_s140.dat');
    const b = file(theirs, 'nrf52840_xxaa_s140.dat');
    assert.ok(same(signedMessage(a, decodeInitPacket(a)), signedMessage(b, decodeInitPacket(b))), 'InitCommand bytes');
    assert.equal(verifyInitPacketSignature(a, demo.publicPem), true);
  });

  it("application cut from the DK image: byte-equal to nrfutil's buttonless package", NEEDS_NORDIC_PACKAGES, async () => {
    const theirs = await sharedZipFiles(APP_ZIP);
    const pkg = await generatePackage({ application: { name: 'nrf52840_xxaa.hex', hex: appHex() }, applicationVersion: 1, hwVersion: 52, sdReq: [0x100, 0xcafe], debugMode: true, key });
    const ours = await zipFiles(pkg.zip);
    assert.equal(ours.manifest, theirs.manifest);
    assert.ok(same(file(ours, 'nrf52840_xxaa.bin'), file(theirs, 'nrf52840_xxaa.bin')));
    const a = file(ours, 'nrf52840_xxaa.dat');
    const b = file(theirs, 'nrf52840_xxaa.dat');
    assert.ok(same(signedMessage(a, decodeInitPacket(a)), signedMessage(b, decodeInitPacket(b))));
  });

  it("SoftDevice: MBR dropped, fw_version 0xFFFFFFFF, the layout and fields of nrfutil's sdk17.0.2 SoftDevice package", NEEDS_NORDIC_PACKAGES, async () => {
    const theirs = await sharedZipFiles(SD_ZIP);
    const ios = await sharedZipFiles(IOS_ZIP);
    const pkg = await generatePackage({ softdevice: { name: 'softdevice_s140.hex', hex: sdHex() }, hwVersion: 52, sdReq: [0x100, 0xcafe], debugMode: true, key });
    const ours = await zipFiles(pkg.zip);
    assert.equal(ours.manifest, theirs.manifest);
    const bin = file(ours, 'softdevice_s140.bin');
    assert.equal(bin.length, S140_SIZE);
    assert.ok(same(bin, file(ios, 'sd_bl.bin').subarray(0, S140_SIZE)), "the S140 bytes nrfutil put into iosdfu's sd_bl.bin");
    const a = decodeInitPacket(file(ours, 'softdevice_s140.dat')).init;
    const b = decodeInitPacket(file(theirs, 'softdevice_s140.dat')).init; // Nordic's test S140 build: other bytes, same fields
    assert.deepEqual(withoutSizesAndHash(a), withoutSizesAndHash(b));
    assert.equal(a.fwVersion, 0xffffffff);
    assert.deepEqual([a.sdSize, a.blSize, a.appSize], [S140_SIZE, 0, 0]);
  });

  it("SoftDevice + bootloader + application: iosdfu's layout, sd_bl.bin = S140 ‖ bootloader, sizes in the manifest", NEEDS_NORDIC_PACKAGES, async () => {
    const ios = await sharedZipFiles(IOS_ZIP);
    const pkg = await generatePackage({
      softdevice: { name: 's140_nrf52_7.2.0_softdevice.hex', hex: sdHex() },
      bootloader: { name: 'bootloader.hex', hex: blHex() },
      application: { name: 'app.hex', hex: appHex() },
      bootloaderVersion: 34,
      applicationVersion: 1,
      hwVersion: 52,
      sdReq: [0x100],
      sdId: [0x100],
      key,
    });
    const ours = await zipFiles(pkg.zip);
    assert.deepEqual([...ours.files.keys()].sort(), [...ios.files.keys()].sort());
    // the same manifest but for the bootloader's size (iosdfu carries an SDK 17.1 bootloader)
    assert.equal(ours.manifest, ios.manifest.replace('"bl_size": 24212', `"bl_size": ${BL_SIZE}`));
    const sdbl = file(ours, 'sd_bl.bin');
    assert.equal(sdbl.length, S140_SIZE + BL_SIZE);
    assert.ok(same(sdbl.subarray(0, S140_SIZE), file(ios, 'sd_bl.bin').subarray(0, S140_SIZE)));
    assert.ok(same(sdbl.subarray(S140_SIZE), file(await sharedZipFiles(BL_ZIP), 'nrf52840_xxaa_s140.bin')));
    const a = decodeInitPacket(file(ours, 'sd_bl.dat')).init;
    const b = decodeInitPacket(file(ios, 'sd_bl.dat')).init;
    assert.deepEqual(withoutSizesAndHash(a), withoutSizesAndHash(b)); // fw_version 34 (the bootloader's), sd_req, [CRC, CRC], not debug
    assert.deepEqual([a.sdSize, a.blSize, a.appSize], [S140_SIZE, BL_SIZE, 0]);
    const appA = decodeInitPacket(file(ours, 'app.dat')).init;
    const appB = decodeInitPacket(file(ios, 'app.dat')).init;
    assert.deepEqual(withoutSizesAndHash(appA), withoutSizesAndHash(appB));
    assert.equal(appA.appSize, 53_136);
    const read = await readPackage(pkg.zip);
    assert.deepEqual(read.images.map((i) => i.summary.kind), ['softdevice_bootloader', 'application']);
    assert.deepEqual(pkg.images.map((i) => i.binFile), ['sd_bl.bin', 'app.bin']);
  });

  it('sd_req with sd-id: the SoftDevice/bootloader require sd-req ∪ sd-id, the application requires sd-id', NEEDS_NORDIC_PACKAGES, async () => {
    const pkg = await generatePackage({
      softdevice: { name: 'sd.hex', hex: sdHex() },
      application: { name: 'app.hex', hex: appHex() },
      applicationVersion: 2,
      hwVersion: 52,
      sdReq: [0xb6, 0xca],
      sdId: [0x100, 0xca],
    });
    const [sd, app] = pkg.images.map((i) => decodeInitPacket(i.dat).init);
    assert.deepEqual(sd?.sdReq, [0xb6, 0xca, 0x100]);
    assert.equal(sd?.type, FW_TYPE.SOFTDEVICE);
    assert.deepEqual(app?.sdReq, [0x100, 0xca]);
    assert.equal(app?.fwVersion, 2);
    assert.deepEqual((await readPackage(pkg.zip)).images.map((i) => i.summary.kind), ['softdevice', 'application']);
  });

  it("refuses an sd-id that is not the FWID the package's SoftDevice states (the application would be refused after the SoftDevice is in)", NEEDS_NORDIC_PACKAGES, async () => {
    await assert.rejects(
      generatePackage({ softdevice: { name: 'sd.hex', hex: sdHex() }, application: { name: 'app.hex', hex: appHex() }, applicationVersion: 2, hwVersion: 52, sdReq: [0xb6], sdId: [0x101] }),
      (e: unknown) => isBledfuError(e) && e.code === 'INVALID_ARGUMENT' && /sd-id 0x101 does not name the SoftDevice in the package, whose info struct says FWID 0x100/.test(e.message) && e.remedy === 'pass --sd-id 0x100',
    );
  });

  it('an early S132 hex (info struct 0x1000 higher) starts at 0x3000, as nrfutil cuts it', async () => {
    const mem = new Uint8Array(0x5000).fill(0x11);
    new DataView(mem.buffer).setUint32(0x4004, 0x51b1e5db, true);
    const pkg = await generatePackage({ softdevice: { name: 's132.hex', hex: encodeIntelHex([{ address: 0, data: mem }]) }, hwVersion: 52, sdReq: [0] });
    assert.equal(pkg.images[0]!.bin.length, 0x2000);
    assert.equal(new DataView(pkg.images[0]!.bin.buffer).getUint32(0x1004, true), 0x51b1e5db);
  });

  it('debug mode lets versions and sd-req default as nrfutil does (0xFFFFFFFF, 0xFFFE)', NEEDS_NORDIC_PACKAGES, async () => {
    const pkg = await generatePackage({ bootloader: { name: 'bl.hex', hex: blHex() }, hwVersion: 52, sdReq: [], debugMode: true });
    const init = decodeInitPacket(pkg.images[0]!.dat).init;
    assert.deepEqual([init.fwVersion, init.sdReq, init.isDebug], [0xffffffff, [0xfffe], true]);
  });

  describe('boot validation', () => {
    const appBin = { name: 'app.bin', bin: Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff), address: 0x27000 };
    const base = { application: appBin, applicationVersion: 1, hwVersion: 52, sdReq: [0x100] } as const;

    it('defaults to VALIDATE_GENERATED_CRC with empty bytes (the bootloader computes the CRC)', async () => {
      const init = decodeInitPacket((await generatePackage(base)).images[0]!.dat).init;
      assert.deepEqual(init.bootValidation, [{ type: VALIDATION_TYPE.VALIDATE_GENERATED_CRC, bytes: new Uint8Array(0) }]);
    });

    it('NO_VALIDATION and VALIDATE_GENERATED_SHA256 carry no bytes', async () => {
      for (const [name, type] of [['NO_VALIDATION', VALIDATION_TYPE.NO_VALIDATION], ['VALIDATE_GENERATED_SHA256', VALIDATION_TYPE.VALIDATE_SHA256]] as const) {
        const init = decodeInitPacket((await generatePackage({ ...base, appBootValidation: name })).images[0]!.dat).init;
        assert.deepEqual(init.bootValidation, [{ type, bytes: new Uint8Array(0) }], name);
      }
    });

    it('VALIDATE_ECDSA_P256_SHA256 signs the application image', async () => {
      const img = (await generatePackage({ ...base, appBootValidation: 'VALIDATE_ECDSA_P256_SHA256', key })).images[0]!;
      const [bv] = decodeInitPacket(img.dat).init.bootValidation;
      assert.equal(bv?.type, VALIDATION_TYPE.VALIDATE_ECDSA_P256_SHA256);
      const pub = loadPublicKey(demo.publicPem);
      assert.equal(verify('sha256', img.bin, { key: pub, dsaEncoding: 'ieee-p1363' }, reverseHalves(bv!.bytes)), true);
      assert.equal(verify('sha256', img.bin.subarray(1), { key: pub, dsaEncoding: 'ieee-p1363' }, reverseHalves(bv!.bytes)), false);
    });

    it('SoftDevice + bootloader: the SoftDevice type (ECDSA over the SoftDevice part), then CRC for the bootloader', NEEDS_NORDIC_PACKAGES, async () => {
      const pkg = await generatePackage({
        softdevice: { name: 'sd.hex', hex: sdHex() },
        bootloader: { name: 'bl.hex', hex: blHex() },
        bootloaderVersion: 2,
        hwVersion: 52,
        sdReq: [0x100],
        sdBootValidation: 'VALIDATE_ECDSA_P256_SHA256',
        key,
      });
      const img = pkg.images[0]!;
      const bvs = decodeInitPacket(img.dat).init.bootValidation;
      assert.deepEqual(bvs.map((b) => b.type), [VALIDATION_TYPE.VALIDATE_ECDSA_P256_SHA256, VALIDATION_TYPE.VALIDATE_GENERATED_CRC]);
      assert.equal(bvs[1]?.bytes.length, 0);
      const pub = loadPublicKey(demo.publicPem);
      assert.equal(verify('sha256', img.bin.subarray(0, S140_SIZE), { key: pub, dsaEncoding: 'ieee-p1363' }, reverseHalves(bvs[0]!.bytes)), true);
    });
  });
});
