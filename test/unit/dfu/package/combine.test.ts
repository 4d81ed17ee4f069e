/**
 * combinePackages: a bootloader + application package (which generatePackage refuses in one call,
 * as nrfutil does) put together from two packages. The result must read back through the
 * package reader in sending order with each image's own init packet untouched (so its signature
 * still verifies), be the same bytes for the same parts, and refuse what cannot be combined.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBledfuError } from '../../../../server/common/errors.js';
import { combinePackages, type GeneratedPackage } from '../../../../server/dfu/package/generate.js';
import { readPackage } from '../../../../server/dfu/package/package.js';
import { makeDemoPackage } from '../../../../server/sim/demoPackages.js';
import { demoKey } from '../../../helpers/project-packages.js';
import { zipFiles } from '../../../helpers/nrfutil-packages.js';

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

function refusal(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  return assert.rejects(fn, (e: unknown) => {
    assert.ok(isBledfuError(e), String(e));
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.match(e.message, pattern);
    assert.ok((e.remedy ?? '').length > 0, 'a remedy');
    return true;
  });
}

describe('combinePackages', () => {
  it('bootloader + application: read back in sending order, each image with its own init packet, the manifest as nrfutil lays it out', async () => {
    const bl = await makeDemoPackage('bootloader', demoKey());
    const app = await makeDemoPackage('app', demoKey());
    // Given application first: the package still sends the bootloader first (spec §7.3).
    const combined = await combinePackages([app, bl]);
    assert.deepEqual(combined.images.map((i) => i.kind), ['bootloader', 'application']);
    const read = await readPackage(combined.zip);
    assert.deepEqual(read.images.map((i) => i.summary.kind), ['bootloader', 'application']);
    const parts = [bl.images[0], app.images[0]];
    for (const [i, img] of read.images.entries()) {
      assert.ok(same(img.bin, parts[i]?.bin ?? new Uint8Array()), `${img.summary.kind} .bin`);
      assert.ok(same(img.dat, parts[i]?.dat ?? new Uint8Array()), `${img.summary.kind} .dat untouched`);
    }
    const files = await zipFiles(combined.zip);
    const manifest = JSON.parse(files.manifest) as { manifest: Record<string, { bin_file: string; dat_file: string }> };
    assert.deepEqual(Object.keys(manifest.manifest), ['application', 'bootloader'], 'sorted keys, as nrfutil writes them');
    assert.equal(files.manifest, JSON.stringify(manifest, null, 4), '4-space indent');
    assert.ok(same((await combinePackages([app, bl])).zip, combined.zip), 'same parts, same bytes');
  });

  it("the project's bl-app package is its bootloader and application packages combined", async () => {
    const blApp = await makeDemoPackage('bl-app', demoKey());
    const bl = await makeDemoPackage('bootloader', demoKey());
    const app = await makeDemoPackage('app', demoKey());
    assert.deepEqual(blApp.images.map((i) => [i.kind, i.fwVersion]), [['bootloader', bl.images[0]?.fwVersion], ['application', app.images[0]?.fwVersion]]);
    assert.ok(same(blApp.images[1]?.bin ?? new Uint8Array(), app.images[0]?.bin ?? new Uint8Array([1])));
  });

  it('refuses nothing to combine, two images of one kind, a SoftDevice + bootloader image and clashing file names', async () => {
    const app = await makeDemoPackage('app', demoKey());
    const sdBl = await makeDemoPackage('sd-bl', demoKey());
    const bl = await makeDemoPackage('bootloader', demoKey());
    await refusal(() => combinePackages([]), /no image/);
    await refusal(() => combinePackages([app, app]), /two application images/);
    await refusal(() => combinePackages([sdBl, app]), /SoftDevice \+ bootloader/);
    const renamed: GeneratedPackage = { zip: bl.zip, images: bl.images.map((img) => ({ ...img, binFile: app.images[0]?.binFile ?? '' })) };
    await refusal(() => combinePackages([renamed, app]), /both be stored as/);
  });
});
