import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { fromHex } from '../../../../server/common/bytes.js';
import { decodeInitPacket, signedMessage } from '../../../../server/dfu/package/initPacket.js';
import { loadPublicKey, reverseHalves, verifyInitPacketSignature } from '../../../../server/dfu/package/signature.js';
import { fixtureText, imageFiles, KNOWN_IMAGES, PEMS, type PemName } from '../../../helpers/dfu-fixtures.js';
import { NEEDS_NORDIC_PACKAGES } from '../../../helpers/shared-packages.js';

const pemNames = Object.keys(PEMS) as PemName[];

describe('verifyInitPacketSignature', NEEDS_NORDIC_PACKAGES, () => {
  for (const known of KNOWN_IMAGES) {
    it(`${known.zip} → ${known.kind}: verifies with ${known.key ?? 'no key'} only`, async () => {
      const { dat } = await imageFiles(known);
      for (const pem of pemNames) {
        assert.equal(verifyInitPacketSignature(dat, fixtureText(PEMS[pem])), pem === known.key, `key ${pem}`);
      }
    });
  }

  it('does not verify over the whole Command (only the InitCommand is signed)', async () => {
    const known = KNOWN_IMAGES.find((k) => k.zip.startsWith('nrfutil_blinky'))!;
    const { dat } = await imageFiles(known);
    const p = decodeInitPacket(dat);
    const command = dat.subarray(p.initRange.start - 4, p.initRange.end); // 08 01 12 3e + InitCommand
    const key = loadPublicKey(fixtureText(PEMS.sdk16));
    const sig = reverseHalves(p.signature!);
    assert.equal(verify('sha256', command, { key, dsaEncoding: 'ieee-p1363' }, sig), false);
    assert.equal(verify('sha256', signedMessage(dat, p), { key, dsaEncoding: 'ieee-p1363' }, sig), true);
    assert.equal(signedMessage(dat, p).length, 62);
  });

  it('fails for a tampered InitCommand byte', async () => {
    const { dat } = await imageFiles(KNOWN_IMAGES[0]!);
    const p = decodeInitPacket(dat);
    const bad = Uint8Array.from(dat);
    bad[p.initRange.start + 1] = 2; // fw_version 1 → 2
    assert.equal(verifyInitPacketSignature(bad, fixtureText(PEMS.sdk17)), false);
  });

  it('accepts the firmware pk[] form (LE X‖Y) of the SDK 17.0.2 key', async () => {
    const pk = fromHex(
      '357f66a396f29bde409081f2bf6f2a6b511a41bc612f73be16e6dcab207aabf8' + '8392b8c447e763b9848330e8505e399674d89c3e1e881d1859d90d2b4713b21e',
    );
    const fromRaw = loadPublicKey(pk).export({ format: 'jwk' });
    const fromPem = loadPublicKey(fixtureText(PEMS.sdk17)).export({ format: 'jwk' });
    assert.deepEqual(fromRaw, fromPem);
    const { dat } = await imageFiles(KNOWN_IMAGES[0]!);
    assert.equal(verifyInitPacketSignature(dat, pk), true);
  });

  it('reverseHalves reverses r and s separately', () => {
    const le = Uint8Array.from({ length: 64 }, (_, i) => i);
    const be = reverseHalves(le);
    assert.equal(be[0], 31);
    assert.equal(be[31], 0);
    assert.equal(be[32], 63);
    assert.equal(be[63], 32);
  });
});
