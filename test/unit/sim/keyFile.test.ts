import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkAdapterSpecs } from '../../../server/backends/registry.js';
import { hasCode } from '../../../server/common/errors.js';
import { trustedKeyFromFile, trustedKeyFromPem } from '../../../server/sim/keyFile.js';
import { createSimWorld, parseSimSpec } from '../../../server/sim/world.js';

function p256(): { privateSec1: string; privatePkcs8: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateSec1: privateKey.export({ type: 'sec1', format: 'pem' }).toString(),
    privatePkcs8: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

const invalidArgument = (pattern: RegExp) => (e: unknown) =>
  hasCode(e, 'INVALID_ARGUMENT') && pattern.test(e.message) && /bledfu keys generate/.test(e.remedy ?? '');

describe('sim:?keyfile= — the simulator trusting a user\'s key', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-keyfile-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('parses keyfile= into the world config, and refuses it together with key= or empty', () => {
    assert.equal(parseSimSpec('sim:?keyfile=keys/k.pem&devices=2').keyFile, 'keys/k.pem');
    assert.equal(parseSimSpec('sim:').keyFile, undefined);
    assert.throws(() => parseSimSpec('sim:?keyfile=k.pem&key=sdk17.0.2'), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /key= or keyfile=, not both/.test(e.message));
    assert.throws(() => parseSimSpec('sim:?keyfile='), /bad value "" for keyfile/);
  });

  it('trusts the public half of a private key file (SEC1 as bledfu keys generate writes it, or PKCS#8), and a public key file as is', async () => {
    const k = p256();
    for (const [name, text] of [['sec1.pem', k.privateSec1], ['pkcs8.pem', k.privatePkcs8], ['public.pem', k.publicPem]] as const) {
      const path = join(dir, name);
      await writeFile(path, text);
      const trusted = trustedKeyFromFile(path);
      assert.match(trusted, /BEGIN PUBLIC KEY/, name);
      assert.ok(createPublicKey(trusted).equals(createPublicKey(k.publicPem)), `${name}: the trusted key is the key pair's public key`);
    }
  });

  it('refuses a missing file, garbage and keys a bootloader cannot verify with, naming the file', async () => {
    const missing = join(dir, 'nope.pem');
    assert.throws(() => trustedKeyFromFile(missing), invalidArgument(new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} does not exist`)));
    assert.throws(() => trustedKeyFromPem('hello', 'g.pem'), invalidArgument(/g\.pem holds no PEM key/));
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ type: 'sec1', format: 'pem' }).toString();
    assert.throws(() => trustedKeyFromPem(p384, 'p384.pem'), invalidArgument(/p384\.pem holds an EC key on secp384r1.*P-256/));
    const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.throws(() => trustedKeyFromPem(ed, 'ed.pem'), invalidArgument(/ed\.pem holds a key of type ed25519/));
  });

  it('a world (adapter) with a missing key file is not created, and the server refuses the spec at startup', async () => {
    const missing = join(dir, 'missing.pem');
    assert.throws(() => createSimWorld({ keyFile: missing }), invalidArgument(/does not exist/));
    await assert.rejects(checkAdapterSpecs([`sim:?keyfile=${missing}`]), invalidArgument(/does not exist/));
    const good = join(dir, 'good.pem');
    await writeFile(good, p256().privateSec1);
    await checkAdapterSpecs([`sim:?keyfile=${good}`]);
    const world = createSimWorld(parseSimSpec(`sim:?keyfile=${good}&devices=2`));
    assert.equal(world.devices.length, 2);
    await world.close();
  });
});
