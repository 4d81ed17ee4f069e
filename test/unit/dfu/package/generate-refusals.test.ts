/** What generatePackage refuses: each a BledfuError INVALID_ARGUMENT with a message naming the problem and a remedy. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { isBledfuError } from '../../../../server/common/errors.js';
import { encodeIntelHex } from '../../../../server/dfu/package/hex.js';
import { generatePackage, type GeneratePackageOptions } from '../../../../server/dfu/package/generate.js';
import { generateSigningKey, loadSigningKey } from '../../../../server/dfu/package/signingKey.js';
import { createPublicKey } from 'node:crypto';

const code = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 13) & 0xff);
const appHex = (address: number, n = 64): string => encodeIntelHex([{ address, data: code(n) }]);
const app = { name: 'app.hex', hex: appHex(0x27000) };
const sd = { name: 'sd.hex', hex: encodeIntelHex([{ address: 0x1000, data: code(0x100) }]) };
const bl = { name: 'bl.hex', hex: appHex(0xf8000) };
const ok: GeneratePackageOptions = { application: app, applicationVersion: 1, hwVersion: 52, sdReq: [0x100] };

async function refuses(o: GeneratePackageOptions, re: RegExp): Promise<void> {
  await assert.rejects(generatePackage(o), (e: unknown) => {
    assert.ok(isBledfuError(e), `not a BledfuError: ${String(e)}`);
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.match(e.message, re);
    assert.ok((e.remedy ?? '').length > 10, `remedy: ${String(e.remedy)}`);
    return true;
  });
}

describe('generatePackage refuses', () => {
  it('(the baseline options are accepted)', async () => {
    assert.equal((await generatePackage(ok)).images.length, 1);
  });

  it('a hex with overlapping records, naming file and line', async () => {
    const hex = [':020000040002F8', ':047000000102030482', ':047002000506070870', ':00000001FF'].join('\n');
    await refuses({ ...ok, application: { name: 'overlap.hex', hex } }, /^overlap\.hex:3: record at 0x00027002 overlaps bytes already written by line 2/);
  });

  it('a hex with a bad checksum', async () => {
    await refuses({ ...ok, application: { name: 'bad.hex', hex: ':020000040002F8\n:047000000102030483\n:00000001FF\n' } }, /^bad\.hex:2: bad checksum 0x83 \(the record's bytes need 0x82\)/);
  });

  it('an image beyond the flash, telling the region', async () => {
    await refuses({ ...ok, application: { name: 'big.hex', hex: appHex(0xfffe0, 64) } }, /application big\.hex has data at 0x00100000, beyond the flash .*nRF52840/);
    await refuses({ ...ok, application: { name: 'big.bin', bin: code(0x2000), address: 0xff000 } }, /application big\.bin ends at 0x00100FFF, beyond the flash/);
    await refuses({ ...ok, application: { name: 'ram.hex', hex: appHex(0x20000000) } }, /ram\.hex has data at 0x20000000, in RAM/);
    await refuses({ ...ok, application: { name: 'ficr.hex', hex: appHex(0x10000000) } }, /in the FICR/);
    await refuses({ bootloader: { name: 'bl.hex', hex: appHex(0x200000) }, bootloaderVersion: 1, hwVersion: 52, sdReq: [0x100] }, /bootloader bl\.hex has data at 0x00200000, beyond the flash/);
  });

  it('an application over the MBR (below 0x1000)', async () => {
    await refuses({ ...ok, application: { name: 'mbr.hex', hex: appHex(0x800) } }, /application mbr\.hex has data at 0x00000800, over the MBR/);
    await refuses({ ...ok, application: { name: 'mbr.bin', bin: code(16), address: 0 } }, /application mbr\.bin starts at 0x00000000, inside the MBR/);
    await refuses({ softdevice: { name: 'sd.bin', bin: code(0x2000), address: 0 }, hwVersion: 52, sdReq: [0] }, /softdevice sd\.bin starts at 0x00000000, inside the MBR/);
  });

  it('an application over the SoftDevice of the same package', async () => {
    await refuses(
      { ...ok, softdevice: sd, sdId: [0x100], application: { name: 'low.hex', hex: appHex(0x1080) } },
      /application low\.hex \(from 0x00001080\) overlaps the softdevice sd\.hex \(up to 0x000010FF\)/,
    );
  });

  it('a SoftDevice with an application but without sd-id, and sd-id without both', async () => {
    await refuses({ ...ok, softdevice: sd }, /SoftDevice and an application needs sd-id/);
    await refuses({ ...ok, sdId: [0x100] }, /sd-id applies only to a package with a SoftDevice and an application/);
  });

  it('no image at all', async () => {
    await refuses({ hwVersion: 52, sdReq: [0x100] }, /^no image to package/);
  });

  it('versions out of the u32 range', async () => {
    await refuses({ ...ok, applicationVersion: 2 ** 32 }, /application-version 4294967296 is not a 32-bit unsigned integer/);
    await refuses({ ...ok, applicationVersion: -1 }, /application-version -1 is not/);
    await refuses({ ...ok, applicationVersion: 1.5 }, /application-version 1.5 is not/);
    await refuses({ ...ok, hwVersion: 2 ** 32 }, /hw-version 4294967296 is not/);
    await refuses({ bootloader: bl, bootloaderVersion: Number.NaN, hwVersion: 52, sdReq: [0x100] }, /bootloader-version NaN is not/);
  });

  it('a missing hw-version, application or bootloader version', async () => {
    const { hwVersion: _h, ...noHw } = ok;
    await refuses(noHw as GeneratePackageOptions, /^the hardware version is missing/);
    const { applicationVersion: _v, ...noVersion } = ok;
    await refuses(noVersion, /^an application needs an application version/);
    await refuses({ bootloader: bl, hwVersion: 52, sdReq: [0x100] }, /^a bootloader needs a bootloader version/);
    await refuses({ ...ok, bootloaderVersion: 1 }, /^a bootloader version was given without a bootloader image/);
  });

  it('an empty sd-req (outside debug mode) and FWIDs that are not 16-bit', async () => {
    await refuses({ ...ok, sdReq: [] }, /sd-req\) is empty/);
    await refuses({ ...ok, sdReq: [0x10000] }, /--sd-req value 65536 is not a SoftDevice firmware ID/);
  });

  it('a key that is not a P-256 private key', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    await refuses({ ...ok, key: privateKey }, /the signing key is an EC key on curve secp384r1/);
    const pub = createPublicKey(loadSigningKey(generateSigningKey().privatePem));
    await refuses({ ...ok, key: pub }, /the signing key is a public key/);
  });

  it('ECDSA boot validation without a key', async () => {
    await refuses({ ...ok, appBootValidation: 'VALIDATE_ECDSA_P256_SHA256' }, /VALIDATE_ECDSA_P256_SHA256 boot validation signs the image, but no key was given/);
  });

  it('a bootloader with an application but no SoftDevice (nrfutil: two packages)', async () => {
    await refuses({ ...ok, bootloader: bl, bootloaderVersion: 1 }, /bootloader and an application in one package without a SoftDevice/);
  });

  it('two images that would share file names', async () => {
    await refuses(
      { ...ok, softdevice: { name: 'fw.hex', hex: sd.hex }, sdId: [0x100], application: { name: 'FW.bin', bin: code(64), address: 0x27000 } },
      /two images would both be stored as fw\.bin\/\.dat/,
    );
  });

  it('empty images', async () => {
    await refuses({ ...ok, application: { name: 'e.bin', bin: new Uint8Array(0) } }, /application e\.bin is empty/);
    await refuses({ ...ok, application: { name: 'e.hex', hex: ':00000001FF\n' } }, /application e\.hex holds no data/);
  });
});
