/**
 * generatePackage against nrfutil: the shared fixtures (../shared/fixtures/dfu, README there)
 * hold hex files and the packages nrfutil made from them; generating with the same options must
 * give the same .bin bytes, file names, manifest and InitCommand bytes (the signature differs:
 * Nordic's private keys are not public, so bledfu signs with its own and that must verify).
 * Tests that read those fixtures take NEEDS_NORDIC_PACKAGES; the others run without ../shared.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { generatePackage } from '../../../../server/dfu/package/generate.js';
import { decodeInitPacket, signedMessage } from '../../../../server/dfu/package/initPacket.js';
import { readPackage } from '../../../../server/dfu/package/package.js';
import { verifyInitPacketSignature } from '../../../../server/dfu/package/signature.js';
import { generateSigningKey, loadSigningKey } from '../../../../server/dfu/package/signingKey.js';
import { nordicToDer } from '../../../helpers/ecdsa-der.js';
import { file, sharedText, sharedZipFiles, zipFiles } from '../../../helpers/nrfutil-packages.js';
import { NEEDS_NORDIC_PACKAGES } from '../../../helpers/shared-packages.js';

const demo = generateSigningKey();
const key = loadSigningKey(demo.privatePem, 'test key');

const BLINKY = { hex: 'nrfutil_blinky_mbr_sdk160.hex', zip: 'nrfutil_blinky_mbr_sdk160.zip', pem: 'nrf5_sdk_16.0.0_debug_public_key.pem' } as const;
const HRS = { hex: 'sdk17.0.2_hrs_application_s140.hex', zip: 'sdk17.0.2_hrs_application_s140.zip', pem: 'nrf5_sdk_17.0.2_debug_public_key.pem' } as const;

/** The options the shared README §3.1 lists for these two application packages. */
const APP_CASES = [
  { ...BLINKY, options: { applicationVersion: 1, hwVersion: 52, sdReq: [0x00], debugMode: true } },
  { ...HRS, options: { applicationVersion: 1, hwVersion: 52, sdReq: [0x100, 0xcafe], debugMode: true } },
] as const;

/** Asserts a generated image matches nrfutil's: same bin, same InitCommand bytes, our signature valid. */
function assertSameAsNrfutil(
  ours: { bin: Uint8Array; dat: Uint8Array },
  theirs: { bin: Uint8Array; dat: Uint8Array },
  signed: boolean,
): void {
  assert.ok(Buffer.from(ours.bin).equals(Buffer.from(theirs.bin)), `.bin differs (ours ${ours.bin.length} B, nrfutil ${theirs.bin.length} B)`);
  const a = decodeInitPacket(ours.dat);
  const b = decodeInitPacket(theirs.dat);
  assert.deepEqual(a.init, b.init);
  assert.ok(Buffer.from(signedMessage(ours.dat, a)).equals(Buffer.from(signedMessage(theirs.dat, b))), 'serialized InitCommand differs');
  assert.equal(a.kind, signed ? 'signed' : 'unsigned');
  assert.equal(a.opCode, b.opCode);
  if (signed) {
    assert.equal(verifyInitPacketSignature(ours.dat, demo.publicPem), true);
    assert.equal(ours.dat.length, theirs.dat.length);
  }
}

describe('generatePackage — application only', () => {
  for (const c of APP_CASES) {
    it(`${c.hex} → the .bin, file names, manifest and init packet fields of nrfutil's ${c.zip}`, NEEDS_NORDIC_PACKAGES, async () => {
      const theirs = await sharedZipFiles(c.zip);
      const pkg = await generatePackage({ ...c.options, application: { name: 'nrf52840_xxaa.hex', hex: sharedText(c.hex) }, key });
      const ours = await zipFiles(pkg.zip);
      assert.deepEqual([...ours.files.keys()].sort(), [...theirs.files.keys()].sort());
      assert.equal(ours.manifest, theirs.manifest);
      assertSameAsNrfutil(
        { bin: file(ours, 'nrf52840_xxaa.bin'), dat: file(ours, 'nrf52840_xxaa.dat') },
        { bin: file(theirs, 'nrf52840_xxaa.bin'), dat: file(theirs, 'nrf52840_xxaa.dat') },
        true,
      );
      // Nordic's key did not sign this one
      assert.equal(verifyInitPacketSignature(file(ours, 'nrf52840_xxaa.dat'), sharedText(c.pem)), false);
      assert.deepEqual(pkg.images.map((i) => [i.kind, i.binFile, i.datFile]), [['application', 'nrf52840_xxaa.bin', 'nrf52840_xxaa.dat']]);
    });
  }

  it('unsigned: Packet.command with the same InitCommand bytes', NEEDS_NORDIC_PACKAGES, async () => {
    const theirs = await sharedZipFiles(BLINKY.zip);
    const pkg = await generatePackage({ ...APP_CASES[0].options, application: { name: 'nrf52840_xxaa.hex', hex: sharedText(BLINKY.hex) } });
    const [img] = pkg.images;
    assert.ok(img !== undefined);
    assertSameAsNrfutil(img, { bin: file(theirs, 'nrf52840_xxaa.bin'), dat: file(theirs, 'nrf52840_xxaa.dat') }, false);
    assert.equal(img.dat[0], 0x0a, 'Packet field 1 (command)');
  });

  it('from a .bin (with its address) gives the same image as from the .hex', NEEDS_NORDIC_PACKAGES, async () => {
    const theirs = await sharedZipFiles(HRS.zip);
    const bin = file(theirs, 'nrf52840_xxaa.bin');
    const pkg = await generatePackage({ ...APP_CASES[1].options, application: { name: 'nrf52840_xxaa.bin', bin, address: 0x27000 }, key });
    assertSameAsNrfutil(pkg.images[0]!, { bin, dat: file(theirs, 'nrf52840_xxaa.dat') }, true);
  });

  it('pads a .bin to whole words with 0xFF, as nrfutil does', async () => {
    const pkg = await generatePackage({ application: { name: 'odd.bin', bin: Uint8Array.of(1, 2, 3, 4, 5) }, applicationVersion: 7, hwVersion: 52, sdReq: [0x100] });
    const [img] = pkg.images;
    assert.deepEqual([...img!.bin], [1, 2, 3, 4, 5, 0xff, 0xff, 0xff]);
    assert.equal(decodeInitPacket(img!.dat).init.appSize, 8);
    assert.equal(img!.binFile, 'odd.bin');
    assert.equal(img!.datFile, 'odd.dat');
  });

  it('fills gaps between hex segments with 0xFF', async () => {
    const hex = [':020000040000FA', ':021000001122BB', ':02100400334473', ':00000001FF'].join('\n');
    const pkg = await generatePackage({ application: { name: 'gap.hex', hex }, applicationVersion: 1, hwVersion: 52, sdReq: [0] });
    assert.deepEqual([...pkg.images[0]!.bin], [0x11, 0x22, 0xff, 0xff, 0x33, 0x44, 0xff, 0xff]);
  });

  it('readPackage reads what it writes, signed and unsigned', NEEDS_NORDIC_PACKAGES, async () => {
    for (const signingKey of [key, undefined]) {
      const pkg = await generatePackage({
        application: { name: 'hrs.hex', hex: sharedText(HRS.hex) },
        applicationVersion: 0x01020304,
        hwVersion: 52,
        sdReq: [0x100],
        ...(signingKey === undefined ? {} : { key: signingKey }),
      });
      const read = await readPackage(pkg.zip);
      assert.equal(read.images.length, 1);
      const s = read.images[0]!.summary;
      assert.deepEqual(
        { kind: s.kind, size: s.size, fw: s.fwVersion, hw: s.hwVersion, sdReq: s.sdReq, signed: s.signed, debug: s.isDebug },
        { kind: 'application', size: 98944, fw: 0x01020304, hw: 52, sdReq: [0x100], signed: signingKey !== undefined, debug: false },
      );
      assert.equal(s.sha256, '6375973bc506fbbb5bb3af4615da2e25f4839fa1f7f74792294a7aa4bb3a273c'); // shared README §3.1
    }
  });
});

describe('generatePackage — signatures openssl verifies', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bledfu-pkg-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]): string =>
    execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  it('a key from `openssl ecparam -genkey` signs init packets that `openssl dgst -verify` accepts', NEEDS_NORDIC_PACKAGES, async () => {
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'key.pem');
    openssl('ec', '-in', 'key.pem', '-pubout', '-out', 'pub.pem');
    const pem = readFileSync(join(dir, 'key.pem'), 'utf8');
    const pkg = await generatePackage({ ...APP_CASES[0].options, application: { name: 'a.hex', hex: sharedText(BLINKY.hex) }, key: loadSigningKey(pem, 'key.pem') });
    const dat = pkg.images[0]!.dat;
    const p = decodeInitPacket(dat);
    writeFileSync(join(dir, 'init.bin'), signedMessage(dat, p));
    writeFileSync(join(dir, 'sig.der'), nordicToDer(p.signature!));
    assert.match(openssl('dgst', '-sha256', '-verify', 'pub.pem', '-signature', 'sig.der', 'init.bin'), /Verified OK/);
    // the whole Command is not what is signed: openssl must refuse it
    writeFileSync(join(dir, 'command.bin'), dat.subarray(p.initRange.start - 4, p.initRange.end));
    assert.throws(() => openssl('dgst', '-sha256', '-verify', 'pub.pem', '-signature', 'sig.der', 'command.bin'));
  });
});
