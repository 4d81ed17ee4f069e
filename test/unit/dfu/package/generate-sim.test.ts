/**
 * What the simulated SDK 17 bootloader (server/sim/devices/dfuTarget.ts) makes of generated
 * packages, trusting the test's own key: every kind is accepted, init packet and data alike.
 * The images are the real parts of the shared DK hex (../shared/fixtures/dfu README §5), read on
 * first use: these tests take NEEDS_NORDIC_PACKAGES.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { generatePackage, type GeneratePackageOptions } from '../../../../server/dfu/package/generate.js';
import { generateSigningKey, loadSigningKey } from '../../../../server/dfu/package/signingKey.js';
import { NrfChip } from '../../../../server/sim/devices/chip.js';
import { DfuTarget } from '../../../../server/sim/devices/dfuTarget.js';
import { loadPolicyKey } from '../../../../server/sim/devices/initValidation.js';
import { dkHexPart, lazy } from '../../../helpers/nrfutil-packages.js';
import { NEEDS_NORDIC_PACKAGES } from '../../../helpers/shared-packages.js';

const sdHex = lazy(() => dkHexPart([0, 0x27000]));
const blHex = lazy(() => dkHexPart([0xf1000, 0xfe000]));
const appHex = lazy(() => dkHexPart([0x27000, 0xf1000]));
const sd = (): { name: string; hex: string } => ({ name: 'sd.hex', hex: sdHex() });
const bl = (): { name: string; hex: string } => ({ name: 'bl.hex', hex: blHex() });
const app = (): { name: string; hex: string } => ({ name: 'app.hex', hex: appHex() });

const demo = generateSigningKey();
const key = loadSigningKey(demo.privatePem);

function target(debug: boolean): DfuTarget {
  return new DfuTarget(new NrfChip(), {
    hwVersion: 52,
    debug,
    requireSignedApp: true,
    publicKey: loadPolicyKey(demo.publicPem),
    maxInitPacket: 512,
    dataObjectMax: 4096,
    progressOnDisconnect: 'keep',
    sha256BytesPerMs: 20_000,
  });
}

const cp = (t: DfuTarget, hex: string): string => toHex(t.handleControlPoint(fromHex(hex)).response, ' ');
function create(t: DfuTarget, type: 1 | 2, size: number): string {
  return toHex(t.handleControlPoint(Uint8Array.of(0x01, type, size & 0xff, (size >> 8) & 0xff, (size >> 16) & 0xff, 0)).response, ' ');
}
function write(t: DfuTarget, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; at += 244) t.handlePacket(bytes.subarray(at, at + 244));
}

/** Sends an init packet (PRN off); returns the Execute response. */
function sendInit(t: DfuTarget, dat: Uint8Array): string {
  cp(t, '020000');
  assert.equal(create(t, 1, dat.length), '60 01 01');
  write(t, dat);
  return cp(t, '04');
}

/** Sends one image as a DFU controller does; returns the init Execute's and the last data Execute's responses. */
function send(t: DfuTarget, image: { dat: Uint8Array; bin: Uint8Array }): [string, string] {
  const init = sendInit(t, image.dat);
  let last = '';
  for (let at = 0; at < image.bin.length; at += 4096) {
    const chunk = image.bin.subarray(at, at + 4096);
    assert.equal(create(t, 2, chunk.length), '60 01 01');
    write(t, chunk);
    last = cp(t, '04');
  }
  return [init, last];
}

const base = { hwVersion: 52, sdReq: [0x100], key } as const;
const CASES: readonly { name: string; options: () => GeneratePackageOptions; debug: boolean }[] = [
  { name: 'application', options: () => ({ ...base, application: app(), applicationVersion: 2 }), debug: false },
  { name: 'application, ECDSA boot validation', options: () => ({ ...base, application: app(), applicationVersion: 2, appBootValidation: 'VALIDATE_ECDSA_P256_SHA256' }), debug: false },
  // nrfutil writes no bytes for SHA-256 boot validation: the bootloader hashes the image itself.
  { name: 'application, SHA-256 boot validation', options: () => ({ ...base, application: app(), applicationVersion: 2, appBootValidation: 'VALIDATE_GENERATED_SHA256' }), debug: false },
  { name: 'bootloader (release bootloader: version 2 > 1)', options: () => ({ ...base, bootloader: bl(), bootloaderVersion: 2 }), debug: false },
  { name: 'SoftDevice', options: () => ({ ...base, softdevice: sd() }), debug: false },
  { name: 'SoftDevice + bootloader, ECDSA boot validation', options: () => ({ ...base, softdevice: sd(), bootloader: bl(), bootloaderVersion: 2, sdBootValidation: 'VALIDATE_ECDSA_P256_SHA256' }), debug: false },
  { name: 'SoftDevice + bootloader + application', options: () => ({ ...base, softdevice: sd(), bootloader: bl(), application: app(), bootloaderVersion: 2, applicationVersion: 2, sdId: [0x100] }), debug: false },
  { name: 'debug-mode application (versions and sd_req left to the defaults)', options: () => ({ application: app(), hwVersion: 52, sdReq: [], debugMode: true, key }), debug: true },
];

describe('generated packages on the simulated SDK 17 bootloader (trusting the package key)', NEEDS_NORDIC_PACKAGES, () => {
  for (const c of CASES) {
    it(`${c.name}: every image's init packet and data accepted`, async () => {
      const pkg = await generatePackage(c.options());
      for (const image of pkg.images) {
        const t = target(c.debug);
        assert.deepEqual(send(t, image), ['60 04 01', '60 04 01'], image.kind);
      }
    });
  }

  it('an unsigned package is refused by a bootloader that requires signatures (ext 0x08, signature missing)', async () => {
    const pkg = await generatePackage({ application: app(), applicationVersion: 2, hwVersion: 52, sdReq: [0x100] });
    assert.equal(sendInit(target(false), pkg.images[0]!.dat), '60 04 0b 08');
  });

  it('a package signed with another key is refused, so the acceptances above mean something', async () => {
    const other = loadSigningKey(generateSigningKey().privatePem);
    const pkg = await generatePackage({ application: app(), applicationVersion: 2, hwVersion: 52, sdReq: [0x100], key: other });
    const answer = sendInit(target(false), pkg.images[0]!.dat);
    assert.match(answer, /^60 04 /);
    assert.notEqual(answer, '60 04 01');
  });
});
