import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { firmwareSource, parseIdList } from '../../../clients/cli/commands/pkg.js';
import { decodeInitPacket, encodeIntelHex, readPackage, verifyInitPacketSignature } from '../../../clients/ts/index.js';
import { VALIDATION_TYPE } from '../../../server/dfu/package/initPacket.js';
import { makeLegacyPackage } from '../../../server/dfu/package/legacyGenerate.js';
import { ADAFRUIT } from '../../../server/dfu/package/legacyInitPacket.js';
import { cliInProcess as cli } from '../../helpers/cli-in-process.js';

/** Deterministic filler standing in for firmware (what the package tools see is bytes at an address). */
function image(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 131 + seed * 17 + (i >> 8)) & 0xff);
}

const APP_START = 0x27000;
const BL_START = 0xf1000;
const SD_START = 0x1000;

describe('bledfu keys and bledfu pkg (no server)', () => {
  let dir: string;
  let key: string;
  let appHex: string;
  let blHex: string;
  let sdHex: string;
  const appBytes = image(5000, 1);
  const path = (name: string): string => join(dir, name);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-pkgcli-'));
    key = path('signing.pem');
    appHex = path('app.hex');
    blHex = path('bl.hex');
    sdHex = path('sd.hex');
    await writeFile(appHex, encodeIntelHex([{ address: APP_START, data: appBytes }]));
    await writeFile(blHex, encodeIntelHex([{ address: BL_START, data: image(3000, 2) }]));
    await writeFile(sdHex, encodeIntelHex([{ address: SD_START, data: image(8192, 3) }]));
    const made = await cli(['keys', 'generate', key]);
    assert.equal(made.code, 0, made.stderr);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Files in the directory: an atomic write leaves no temporary file behind. */
  const files = async (): Promise<string[]> => (await readdir(dir)).sort();

  describe('keys generate', () => {
    it('writes an EC private key (SEC1 PEM, P-256) readable by its owner only; --json gives its public key', async () => {
      const file = path('k1.pem');
      const r = await cli(['--json', 'keys', 'generate', file]);
      assert.equal(r.code, 0, r.stderr);
      const pem = await readFile(file, 'utf8');
      assert.match(pem, /^-----BEGIN EC PRIVATE KEY-----\n/);
      const k = createPrivateKey(pem);
      assert.equal(k.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const record = r.records.at(-1);
      assert.equal(record?.['type'], 'key');
      assert.ok(createPublicKey(String(record?.['publicKeyPem'])).equals(createPublicKey(k)));
    });

    it('never overwrites: an existing file stays as it was, exit 2 naming it', async () => {
      const file = path('precious.pem');
      await writeFile(file, 'my only key');
      const r = await cli(['--json', 'keys', 'generate', file]);
      assert.equal(r.code, 2);
      const error = r.records.at(-1);
      assert.equal(error?.['type'], 'error');
      assert.match(String(error?.['message']), /precious\.pem exists; bledfu keys generate never overwrites a key/);
      assert.equal(await readFile(file, 'utf8'), 'my only key');
    });
  });

  describe('keys display', () => {
    it('--key pk --format pem prints the public key; --format code the pk[] array (X then Y, each little-endian)', async () => {
      const pub = createPublicKey(createPrivateKey(await readFile(key, 'utf8')));
      const pem = await cli(['keys', 'display', '--key', 'pk', '--format', 'pem', key]);
      assert.equal(pem.code, 0, pem.stderr);
      assert.equal(pem.stdout, pub.export({ type: 'spki', format: 'pem' }).toString());

      const code = await cli(['keys', 'display', '--format', 'code', '--key', 'pk', key]);
      assert.equal(code.code, 0, code.stderr);
      assert.match(code.stdout, /__ALIGN\(4\) const uint8_t pk\[64\] =/);
      const bytes = [...code.stdout.matchAll(/0x([0-9a-f]{2})/g)].map((m) => Number.parseInt(m[1] as string, 16));
      assert.equal(bytes.length, 64);
      const jwk = pub.export({ format: 'jwk' });
      const x = [...Buffer.from(String(jwk.x), 'base64url')].reverse();
      const y = [...Buffer.from(String(jwk.y), 'base64url')].reverse();
      assert.deepEqual(bytes, [...x, ...y]);
    });

    it('shows the private key only as PEM, and reads private key files only (as nrfutil)', async () => {
      const sk = await cli(['--json', 'keys', 'display', '--key', 'sk', '--format', 'pem', key]);
      assert.equal(sk.code, 0);
      const shown = createPrivateKey(String(sk.records[0]?.['text']));
      assert.equal(shown.export({ format: 'jwk' }).d, createPrivateKey(await readFile(key, 'utf8')).export({ format: 'jwk' }).d);
      const skCode = await cli(['--json', 'keys', 'display', '--key', 'sk', '--format', 'code', key]);
      assert.equal(skCode.code, 2);
      assert.match(String(skCode.records.at(-1)?.['remedy']), /--key pk --format code/);
      const pubFile = path('public.pem');
      await writeFile(pubFile, createPublicKey(shown).export({ type: 'spki', format: 'pem' }).toString());
      const ofPublic = await cli(['--json', 'keys', 'display', '--key', 'pk', '--format', 'pem', pubFile]);
      assert.equal(ofPublic.code, 2);
      assert.match(String(ofPublic.records.at(-1)?.['message']), /public\.pem holds a public key; keys display reads the private key file/);
    });

    it('refuses a missing --key, a missing file (remedy: keys generate) and a bad choice, exit 2', async () => {
      const noKey = await cli(['--json', 'keys', 'display', '--format', 'pem', key]);
      assert.equal(noKey.code, 2);
      assert.match(String(noKey.records.at(-1)?.['message']), /--key pk .* or --key sk/);
      const missing = await cli(['--json', 'keys', 'display', '--key', 'pk', '--format', 'pem', path('nope.pem')]);
      assert.equal(missing.code, 2);
      assert.match(String(missing.records.at(-1)?.['message']), /key file .*nope\.pem does not exist/);
      assert.match(String(missing.records.at(-1)?.['remedy']), /bledfu keys generate .*nope\.pem/);
      assert.equal((await cli(['keys', 'display', '--key', 'pk', '--format', 'hex', key])).code, 2);
    });
  });

  describe('pkg generate: options', () => {
    it('reads --sd-req comma-separated and repeated, in hex and decimal, and the versions; signs with --key-file', async () => {
      const zip = path('app.zip');
      const r = await cli([
        '--json', 'pkg', 'generate', zip,
        '--application', appHex, '--application-version', '0x10',
        '--hw-version', '52',
        '--sd-req', '0x0100,0x0101', '--sd-req', '182',
        '--key-file', key,
      ]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const record = r.records.at(-1);
      assert.equal(record?.['type'], 'package');
      assert.equal(record?.['file'], zip);
      assert.deepEqual(record?.['images'], [
        {
          kind: 'application',
          size: appBytes.length,
          fwVersion: 16,
          hwVersion: 52,
          sdReq: [0x100, 0x101, 182],
          sha256: (await readPackage(await readFile(zip))).images[0]?.summary.sha256,
          signed: true,
          isDebug: false,
        },
      ]);
      const pkg = await readPackage(await readFile(zip));
      const app = pkg.images[0];
      assert.deepEqual(app?.bin, appBytes, 'the .bin is the hex image\'s bytes');
      assert.ok(app !== undefined && verifyInitPacketSignature(app.dat, createPublicKey(createPrivateKey(await readFile(key, 'utf8')))));
      assert.equal(record?.['sha256'], pkg.sha256);
    });

    it('--debug-mode and the boot validation types reach the init packet; without --key-file the package is unsigned and says so', async () => {
      const zip = path('debug.zip');
      const r = await cli([
        'pkg', 'generate', zip,
        '--application', appHex,
        '--hw-version', '52', '--sd-req', '0x100',
        '--debug-mode', '--app-boot-validation', 'VALIDATE_GENERATED_SHA256',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^wrote .*debug\.zip/m);
      assert.match(r.stdout, /unsigned/);
      const image0 = (await readPackage(await readFile(zip))).images[0];
      assert.ok(image0 !== undefined);
      assert.equal(image0.summary.isDebug, true);
      assert.equal(image0.summary.signed, false);
      assert.deepEqual(decodeInitPacket(image0.dat).init.bootValidation.map((v) => v.type), [VALIDATION_TYPE.VALIDATE_SHA256]);
    });

    it('takes .bin as well as .hex, by extension or by content', async () => {
      const bin = path('app.bin');
      await writeFile(bin, appBytes);
      const hexWithoutExtension = path('app-image');
      await writeFile(hexWithoutExtension, await readFile(appHex));
      assert.deepEqual(firmwareSource('x.bin', new TextEncoder().encode(':00000001FF\n')), { name: 'x.bin', bin: new TextEncoder().encode(':00000001FF\n') });
      assert.ok('hex' in firmwareSource('x', new TextEncoder().encode('\n:00000001FF\n')));
      assert.ok('bin' in firmwareSource('x', Uint8Array.of(0x3a, 0x00, 0x01, 0xff)), 'a binary that starts with ":" is not text');
      for (const input of [bin, hexWithoutExtension]) {
        const zip = path('from-input.zip');
        const r = await cli(['pkg', 'generate', zip, '--application', input, '--application-version', '1', '--hw-version', '52', '--sd-req', '0x100', '--key-file', key]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual((await readPackage(await readFile(zip))).images[0]?.bin, appBytes, input);
      }
    });

    it('refuses malformed numbers and lists, unknown choices and missing required options, exit 2', async () => {
      assert.throws(() => parseIdList('--sd-req', ['0x100,,0x101']), /empty entry/);
      assert.throws(() => parseIdList('--sd-req', ['0x1FFFF']), /--sd-req must be a number from 0 to 65535/);
      assert.throws(() => parseIdList('--sd-req', ['S140']), /got "S140"/);
      const base = ['pkg', 'generate', path('never.zip'), '--application', appHex, '--application-version', '1'];
      for (const [args, message] of [
        [[...base, '--hw-version', '52'], /--sd-req is required/],
        [[...base, '--sd-req', '0x100'], /--hw-version is required/],
        [[...base, '--hw-version', '-1', '--sd-req', '0x100'], /--hw-version must be a number/],
        [['pkg', 'generate', path('never.zip'), '--hw-version', '52', '--sd-req', '0x100'], /nothing to package/],
        [[...base, '--hw-version', '52', '--sd-req', '0x100', '--app-boot-validation', 'VALIDATE_EVERYTHING'], /argument 'VALIDATE_EVERYTHING' is invalid/],
      ] as const) {
        const r = await cli(['--json', ...args]);
        assert.equal(r.code, 2, args.join(' '));
        assert.match(String(r.records.at(-1)?.['message']), message);
      }
      assert.ok(!(await files()).includes('never.zip'));
    });
  });

  describe('pkg generate: the zip is written whole and only on success', () => {
    const bad = async (): Promise<[string, string[], RegExp, RegExp?][]> => {
      const overlapping = path('overlap.hex');
      // The same data record twice: its bytes are written twice (which would the device get?).
      const overlapHex = encodeIntelHex([{ address: APP_START, data: image(16, 4) }]).split('\n');
      const twice = [overlapHex[0], overlapHex[1], overlapHex[1], ...overlapHex.slice(2)].join('\n');
      await writeFile(overlapping, twice);
      const beyond = path('beyond.hex');
      await writeFile(beyond, encodeIntelHex([{ address: 0xfff00, data: image(512, 5) }]));
      const app = ['--application', appHex, '--application-version', '1', '--hw-version', '52', '--sd-req', '0x100'];
      const publicKey = path('public-only.pem');
      await writeFile(publicKey, createPublicKey(createPrivateKey(await readFile(key, 'utf8'))).export({ type: 'spki', format: 'pem' }));
      return [
        ['missing key file', [...app, '--key-file', path('missing-key.pem')], /key file .*missing-key\.pem does not exist/, /bledfu keys generate .*missing-key\.pem/],
        ['public key as --key-file', [...app, '--key-file', publicKey], /public-only\.pem holds a public key/],
        ['SoftDevice without --sd-id', ['--softdevice', sdHex, ...app, '--key-file', key], /needs sd-id/, /--sd-id/],
        ['overlapping hex records', ['--application', overlapping, '--application-version', '1', '--hw-version', '52', '--sd-req', '0x100'], /overlap\.hex:\d+/],
        ['image beyond the flash', ['--application', beyond, '--application-version', '1', '--hw-version', '52', '--sd-req', '0x100'], /beyond the flash/],
      ];
    };

    it('each bad input is a clear error (exit 2, with a remedy), and an existing zip is left untouched', async () => {
      const zip = path('keep.zip');
      await writeFile(zip, 'the previous package');
      const before = await files();
      for (const [label, args, message, remedy] of await bad()) {
        const r = await cli(['--json', 'pkg', 'generate', zip, ...args]);
        assert.equal(r.code, 2, `${label}: ${r.stdout}`);
        const error = r.records.at(-1);
        assert.equal(error?.['type'], 'error', label);
        // The library's refusals keep their code, as a server's would (the CLI's own: USAGE).
        assert.equal(error?.['code'], label === 'missing key file' ? 'USAGE' : 'INVALID_ARGUMENT', label);
        assert.match(String(error?.['message']), message, label);
        assert.ok(String(error?.['remedy'] ?? '') !== '', `${label}: has a remedy`);
        if (remedy !== undefined) assert.match(String(error?.['remedy']), remedy, label);
        assert.equal(await readFile(zip, 'utf8'), 'the previous package', `${label}: the old file stays`);
      }
      assert.deepEqual(await files(), [...before, 'beyond.hex', 'overlap.hex', 'public-only.pem'].sort(), 'no new file, no temporary file');
    });

    it('nothing is created at a new path on error; a success replaces an existing file whole', async () => {
      const zip = path('fresh.zip');
      const r = await cli(['pkg', 'generate', zip, '--application', appHex, '--application-version', '1', '--hw-version', '52', '--sd-req', '0x100', '--key-file', path('absent.pem')]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /absent\.pem does not exist/);
      assert.ok(!(await files()).includes('fresh.zip'));

      await writeFile(zip, 'old');
      const before = await files();
      const ok = await cli(['pkg', 'generate', zip, '--application', appHex, '--application-version', '1', '--hw-version', '52', '--sd-req', '0x100', '--key-file', key]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal((await readPackage(await readFile(zip))).images.length, 1);
      assert.deepEqual(await files(), before, 'replaced in place, no temporary file left');
    });
  });

  describe('pkg display', () => {
    it('prints what a package holds, as text and as the same --json record generate gives', async () => {
      const zip = path('sdbl.zip');
      const made = await cli(['--json', 'pkg', 'generate', zip, '--softdevice', sdHex, '--bootloader', blHex, '--bootloader-version', '2', '--hw-version', '52', '--sd-req', '0x100', '--key-file', key]);
      assert.equal(made.code, 0, made.stdout);
      const shown = await cli(['--json', 'pkg', 'display', zip]);
      assert.equal(shown.code, 0);
      assert.deepEqual(shown.records, made.records);
      assert.deepEqual(
        (shown.records[0]?.['images'] as { kind: string }[]).map((i) => i.kind),
        ['softdevice_bootloader'],
      );
      const text = await cli(['pkg', 'display', zip]);
      assert.equal(text.code, 0);
      assert.match(text.stdout, /softdevice_bootloader/);
    });

    it('names a legacy package (adafruit-nrfutil style) as such: protocol, dfu_version, init layout, the Adafruit device type; --json says DFU_PROTOCOL_LEGACY', async () => {
      const zip = path('legacy.zip');
      await writeFile(zip, await makeLegacyPackage({ application: appBytes, deviceType: ADAFRUIT.DEVICE_TYPE, applicationVersion: 3 }));
      const text = await cli(['pkg', 'display', zip]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^protocol: legacy DFU \(SDK ≤ 11 \/ Adafruit\), manifest dfu_version 0\.5$/m);
      assert.match(text.stdout, /^ {2}init layout {6}DFU revision 0\.5: header \+ CRC-16 /m);
      assert.match(text.stdout, /^ {2}device_type {6}0x0052 \(Adafruit nRF52 bootloader\)$/m);
      assert.match(text.stdout, /^ {2}app_version {6}0x00000003 \(3\)$/m);
      const json = await cli(['--json', 'pkg', 'display', zip]);
      assert.equal(json.code, 0);
      const record = json.records[0] as Record<string, unknown>;
      assert.deepEqual([record['protocol'], record['legacyDfuVersion']], ['DFU_PROTOCOL_LEGACY', '0.5']);
      const [img] = record['images'] as Record<string, unknown>[];
      assert.deepEqual([img?.['kind'], img?.['size'], img?.['initLayout'], img?.['deviceType'], img?.['applicationVersion']], ['application', appBytes.length, '0.5', 0x52, 3]);
    });

        it('refuses what is not a package (exit 2, PACKAGE_INVALID) and a missing file', async () => {
      const junk = path('junk.zip');
      await writeFile(junk, 'not a zip');
      const r = await cli(['--json', 'pkg', 'display', junk]);
      assert.equal(r.code, 2);
      assert.equal(r.records.at(-1)?.['code'], 'PACKAGE_INVALID');
      const missing = await cli(['--json', 'pkg', 'display', path('nowhere.zip')]);
      assert.equal(missing.code, 2);
      assert.match(String(missing.records.at(-1)?.['message']), /cannot read .*nowhere\.zip/);
    });
  });
});
