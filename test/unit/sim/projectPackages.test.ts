/**
 * The project's own packages (test/helpers/project-packages.ts) are what most tests update the
 * simulator with: they must read back as the images they were made of, and the simulated
 * bootloader must accept them with its default (demo) key and refuse them with Nordic's.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { readPackage } from '../../../server/dfu/package/package.js';
import { verifyInitPacketSignature } from '../../../server/dfu/package/signature.js';
import { NrfChip } from '../../../server/sim/devices/chip.js';
import { loadPolicyKey, validateInitPacket } from '../../../server/sim/devices/initValidation.js';
import { DEFAULT_SIM_KEY, SIM_PUBLIC_KEYS } from '../../../server/sim/keys.js';
import { PROJECT_IMAGES, PROJECT_PACKAGE_NAMES, projectImage, projectPackage } from '../../helpers/project-packages.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const KINDS = {
  app: ['application'],
  'app-small': ['application'],
  bootloader: ['bootloader'],
  softdevice: ['softdevice'],
  'sd-bl': ['softdevice_bootloader'],
  'bl-app': ['bootloader', 'application'],
  'sd-bl-app': ['softdevice_bootloader', 'application'],
} as const;

describe('project packages', () => {
  it('the simulator trusts the demo key by default', () => {
    assert.equal(DEFAULT_SIM_KEY, 'bledfu-demo');
  });

  for (const name of PROJECT_PACKAGE_NAMES) {
    it(`${name}: reads back with the computed facts, signed with the demo key, accepted by a default simulated bootloader`, async () => {
      const pkg = await projectPackage(name);
      const read = await readPackage(pkg.zip);
      assert.deepEqual(read.images.map((i) => i.summary.kind), [...KINDS[name]]);
      assert.equal(pkg.images.length, read.images.length);
      for (const [i, image] of read.images.entries()) {
        const facts = pkg.images[i];
        assert.ok(facts !== undefined);
        assert.equal(image.summary.kind, facts.kind);
        assert.equal(image.bin.length, facts.size);
        assert.equal(image.summary.sha256, facts.sha256);
        assert.equal(sha(image.bin), facts.sha256);
        assert.equal(image.summary.fwVersion, facts.fwVersion);
        assert.ok(verifyInitPacketSignature(image.dat, SIM_PUBLIC_KEYS['bledfu-demo']), 'signed with the demo key');
        assert.ok(!verifyInitPacketSignature(image.dat, SIM_PUBLIC_KEYS['sdk17.0.2']), "not with Nordic's");
        const policy = { hwVersion: 52, debug: true, requireSignedApp: true, publicKey: loadPolicyKey(SIM_PUBLIC_KEYS[DEFAULT_SIM_KEY]) };
        const v = validateInitPacket(image.dat, new NrfChip(), policy);
        assert.ok(v.ok, `${facts.kind} accepted: ${JSON.stringify(v)}`);
        assert.equal(v.imageSize, facts.size);
        const nordic = validateInitPacket(image.dat, new NrfChip(), { ...policy, publicKey: loadPolicyKey(SIM_PUBLIC_KEYS['sdk17.0.2']) });
        assert.equal(nordic.ok, false, "a bootloader with Nordic's key refuses it");
      }
    });
  }

  it('holds the demo firmware bytes: the ~100 KB application, the small one, and SD+BL split at sd_size', async () => {
    const app = await projectImage('app');
    assert.equal(app.sha256, sha(PROJECT_IMAGES.app().bytes));
    assert.ok(app.size > 90_000 && app.size < 110_000);
    assert.ok((await projectImage('app-small')).size < 4096, 'one data object');
    const sdbl = await projectImage('sd-bl');
    assert.equal(sdbl.sdSize + sdbl.blSize, sdbl.size);
    assert.equal(sdbl.parts?.softdevice, sha(PROJECT_IMAGES.sdblSoftdevice().bytes));
    assert.equal(sdbl.parts?.bootloader, sha(PROJECT_IMAGES.sdblBootloader().bytes));
    assert.equal((await projectImage('bl-app', 'application')).sha256, app.sha256);
  });

  it('is built once per process', async () => {
    assert.equal(await projectPackage('app'), await projectPackage('app'));
  });
});
