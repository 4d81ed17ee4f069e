import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isBledfuError } from '../../../../server/common/errors.js';
import { verifyInitPacketSignature } from '../../../../server/dfu/package/signature.js';
import { encodeInitPacket, SIGNATURE_TYPE } from '../../../../server/dfu/package/initPacket.js';
import {
  generateSigningKey,
  loadSigningKey,
  publicKeyCode,
  publicKeyPem,
  signInitCommand,
} from '../../../../server/dfu/package/signingKey.js';
import { derToNordic, nordicToDer } from '../../../helpers/ecdsa-der.js';
import { NEEDS_NORDIC_PACKAGES, sharedFixture } from '../../../helpers/shared-packages.js';

const dir = mkdtempSync(join(tmpdir(), 'bledfu-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function refuses(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isBledfuError(e), `not a BledfuError: ${String(e)}`);
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.match(e.message, re);
    assert.match(e.remedy ?? '', /keys generate/);
    return true;
  });
}

describe('signing keys', () => {
  it('generateSigningKey writes a SEC1 P-256 private key openssl reads, and its public half', () => {
    const { privatePem, publicPem } = generateSigningKey();
    assert.match(privatePem, /^-----BEGIN EC PRIVATE KEY-----\n/);
    assert.match(publicPem, /^-----BEGIN PUBLIC KEY-----\n/);
    writeFileSync(join(dir, 'gen.pem'), privatePem);
    assert.match(openssl('ec', '-in', 'gen.pem', '-noout', '-text'), /ASN1 OID: prime256v1/);
    const opensslPublic = execFileSync('openssl', ['ec', '-in', 'gen.pem', '-pubout'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.equal(opensslPublic, publicPem);
    assert.equal(publicKeyPem(loadSigningKey(privatePem)), publicPem);
  });

  it('signs what openssl verifies (key from openssl ecparam), and verifies what openssl signs (key from generateSigningKey)', () => {
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ossl.pem');
    openssl('ec', '-in', 'ossl.pem', '-pubout', '-out', 'ossl.pub.pem');
    const key = loadSigningKey(readFileSync(join(dir, 'ossl.pem'), 'utf8'), 'ossl.pem');
    const message = randomBytes(67);
    const sig = signInitCommand(message, key);
    assert.equal(sig.length, 64);
    writeFileSync(join(dir, 'msg.bin'), message);
    writeFileSync(join(dir, 'sig.der'), nordicToDer(sig));
    assert.match(openssl('dgst', '-sha256', '-verify', 'ossl.pub.pem', '-signature', 'sig.der', 'msg.bin'), /Verified OK/);
    // one flipped message byte: openssl must refuse (so the check above can fail)
    writeFileSync(join(dir, 'msg.bin'), Uint8Array.from(message, (b, i) => (i === 0 ? b ^ 1 : b)));
    assert.throws(() => openssl('dgst', '-sha256', '-verify', 'ossl.pub.pem', '-signature', 'sig.der', 'msg.bin'));

    // the reverse: openssl signs with a bledfu key; the init-packet verifier accepts it
    const { privatePem, publicPem } = generateSigningKey();
    writeFileSync(join(dir, 'mine.pem'), privatePem);
    const init = Uint8Array.of(0x08, 0x01, 0x10, 0x34);
    writeFileSync(join(dir, 'init.bin'), init);
    execFileSync('openssl', ['dgst', '-sha256', '-sign', 'mine.pem', '-out', 'init.sig', 'init.bin'], { cwd: dir });
    const initSig = derToNordic(new Uint8Array(readFileSync(join(dir, 'init.sig'))));
    const dat = encodeInitPacket(init, { type: SIGNATURE_TYPE.ECDSA_P256_SHA256, bytes: initSig });
    assert.equal(verifyInitPacketSignature(dat, publicPem), true);
    assert.equal(verifyInitPacketSignature(dat, generateSigningKey().publicPem), false);
  });

  it('publicKeyCode prints pk[] as X then Y, each little-endian (the SDK 17.0.2 debug key as in its dfu_public_key.c)', NEEDS_NORDIC_PACKAGES, () => {
    const pem = new TextDecoder().decode(sharedFixture('nrf5_sdk_17.0.2_debug_public_key.pem'));
    const code = publicKeyCode(createPublicKey(pem));
    // shared/fixtures/dfu/README.md §2: pk[] of the SDK 17.0.2 debug bootloaders
    const x = '357f66a396f29bde409081f2bf6f2a6b511a41bc612f73be16e6dcab207aabf8';
    const y = '8392b8c447e763b9848330e8505e399674d89c3e1e881d1859d90d2b4713b21e';
    const row = (h: string): string => (h.match(/../g) ?? []).map((b) => `0x${b}`).join(', ');
    assert.ok(code.includes(`__ALIGN(4) const uint8_t pk[64] =\n{\n    ${row(x)},\n    ${row(y)}\n};\n`), code);
    assert.ok(code.includes('#include "compiler_abstraction.h"'));
  });

  describe('loadSigningKey refuses', () => {
    it('a public key', () => {
      refuses(() => loadSigningKey(generateSigningKey().publicPem, 'pub.pem'), /^pub\.pem holds a public key; signing needs the private key/);
    });
    it('a key on another curve', () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
      const pem = privateKey.export({ type: 'sec1', format: 'pem' }).toString();
      refuses(() => loadSigningKey(pem, 'p384.pem'), /^p384\.pem is an EC key on curve secp384r1; .*P-256/);
    });
    it('an RSA key', () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
      refuses(() => loadSigningKey(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'rsa.pem'), /^rsa\.pem holds an RSA key; .*P-256/);
    });
    it('an encrypted key', () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'x' }).toString();
      refuses(() => loadSigningKey(pem, 'enc.pem'), /^enc\.pem is an encrypted private key/);
    });
    it('garbage', () => {
      refuses(() => loadSigningKey('not a key', 'junk.pem'), /^junk\.pem is not a PEM private key/);
    });
  });
});
