import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import JSZip from 'jszip';
import { hasCode } from '../../../../server/common/errors.js';
import { readPackage } from '../../../../server/dfu/package/package.js';
import { parseManifest } from '../../../../server/dfu/package/manifest.js';
import { fixtureBytes, KNOWN_IMAGES, zipEntries } from '../../../helpers/dfu-fixtures.js';
import { createHash } from 'node:crypto';
import { NEEDS_NORDIC_PACKAGES } from '../../../helpers/shared-packages.js';

const SECURE_ZIPS = [...new Set(KNOWN_IMAGES.map((k) => k.zip))];

async function rezip(from: string, edit: (files: Map<string, Uint8Array | string>) => void): Promise<Uint8Array> {
  const files = new Map<string, Uint8Array | string>(await zipEntries(from));
  edit(files);
  const zip = new JSZip();
  for (const [name, data] of files) zip.file(name, data);
  return zip.generateAsync({ type: 'uint8array' });
}

describe('readPackage on the fixtures', NEEDS_NORDIC_PACKAGES, () => {
  for (const zipName of SECURE_ZIPS) {
    it(`${zipName}: images, order and summaries match the shared fixtures README §3.1`, async () => {
      const bytes = fixtureBytes(zipName);
      const pkg = await readPackage(bytes);
      const known = KNOWN_IMAGES.filter((k) => k.zip === zipName);
      assert.deepEqual(pkg.images.map((i) => i.summary.kind), known.map((k) => k.kind));
      assert.equal(pkg.size, bytes.length);
      assert.equal(pkg.sha256, createHash('sha256').update(bytes).digest('hex'));
      for (const [n, img] of pkg.images.entries()) {
        const k = known[n]!;
        assert.equal(img.bin.length, k.binSize);
        assert.equal(img.dat.length, k.datSize);
        assert.equal(img.summary.size, k.binSize);
        assert.equal(img.summary.fwVersion, k.fwVersion);
        assert.equal(img.summary.hwVersion, k.hwVersion);
        assert.deepEqual(img.summary.sdReq, k.sdReq);
        assert.equal(img.summary.signed, k.key !== undefined);
        assert.equal(img.summary.isDebug, k.isDebug);
        if (k.sha256 !== '') assert.equal(img.summary.sha256, k.sha256);
      }
    });
  }

  it('orders the multi-image iosdfu package softdevice_bootloader → application', async () => {
    const pkg = await readPackage(fixtureBytes('iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip'));
    assert.deepEqual(pkg.images.map((i) => i.summary.kind), ['softdevice_bootloader', 'application']);
    assert.equal(pkg.images[0]!.bin.length, 153140 + 24212);
  });

  for (const legacy of ['legacy_sdk11.0.0_dfu_test_app_hrm_s132.zip', 'legacy_sdk11.0.0_dfu_test_softdevice_w_bootloader_b_s132.zip']) {
    it(`${legacy} → PACKAGE_LEGACY with a clear message`, async () => {
      await assert.rejects(readPackage(fixtureBytes(legacy)), (e: unknown) =>
        hasCode(e, 'PACKAGE_LEGACY') && /legacy DFU of nRF5 SDK ≤ 11/.test(e.message) && /nrfutil pkg generate/.test(e.remedy ?? ''),
      );
    });
  }

  it('a Secure manifest pointing at a legacy .dat → PACKAGE_LEGACY', async () => {
    const legacyDat = (await zipEntries('legacy_sdk11.0.0_dfu_test_app_hrm_s132.zip')).get('dfu_test_app_hrm_s132.dat')!;
    const bytes = await rezip('nrfutil_blinky_mbr_sdk160.zip', (f) => f.set('nrf52840_xxaa.dat', legacyDat));
    await assert.rejects(readPackage(bytes), (e: unknown) => hasCode(e, 'PACKAGE_LEGACY') && /nrf52840_xxaa\.dat/.test(e.message));
  });
});

describe('readPackage on broken packages (made from pc-nrfutil\'s blinky package)', NEEDS_NORDIC_PACKAGES, () => {
  const invalid = (re: RegExp) => (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && re.test(e.message);

  it('not a zip', async () => {
    await assert.rejects(readPackage(new TextEncoder().encode('hello, not a zip')), invalid(/not a readable zip/));
    await assert.rejects(readPackage(fixtureBytes('nrfutil_blinky_mbr_sdk160.zip').subarray(0, 500)), invalid(/zip/));
  });
  it('a small zip whose image inflates past any nRF5 flash size (zip bomb) is refused while inflating', async () => {
    const zip = new JSZip();
    for (const [name, data] of await zipEntries('nrfutil_blinky_mbr_sdk160.zip')) zip.file(name, data);
    // 8 MiB of zeros deflate to a few KiB: the .zip is tiny, the image is not.
    zip.file('nrf52840_xxaa.bin', new Uint8Array(8 * 1024 * 1024));
    const bytes = await zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE' });
    assert.ok(bytes.length < 64 * 1024, `the bomb is small: ${bytes.length} bytes`);
    await assert.rejects(readPackage(bytes), invalid(/nrf52840_xxaa\.bin unpacks to more than 4194304 bytes/));
  });
  it('missing manifest', async () => {
    const bytes = await rezip('nrfutil_blinky_mbr_sdk160.zip', (f) => f.delete('manifest.json'));
    await assert.rejects(readPackage(bytes), invalid(/no manifest\.json/));
  });
  it('bad JSON', async () => {
    const bytes = await rezip('nrfutil_blinky_mbr_sdk160.zip', (f) => f.set('manifest.json', '{"manifest": {'));
    await assert.rejects(readPackage(bytes), invalid(/not valid JSON/));
  });
  it('missing file named by the manifest', async () => {
    const bytes = await rezip('nrfutil_blinky_mbr_sdk160.zip', (f) => f.delete('nrf52840_xxaa.bin'));
    await assert.rejects(readPackage(bytes), invalid(/missing nrf52840_xxaa\.bin.*application/));
  });
  it('FwType disagreeing with the manifest key', async () => {
    const bytes = await rezip('nrfutil_blinky_mbr_sdk160.zip', (f) =>
      f.set('manifest.json', JSON.stringify({ manifest: { bootloader: { bin_file: 'nrf52840_xxaa.bin', dat_file: 'nrf52840_xxaa.dat' } } })),
    );
    await assert.rejects(readPackage(bytes), invalid(/APPLICATION but the manifest lists it as bootloader/));
  });
  it('.bin size disagreeing with the init packet', async () => {
    const bytes = await rezip('nrfutil_blinky_mbr_sdk160.zip', (f) => f.set('nrf52840_xxaa.bin', new Uint8Array(1500)));
    await assert.rejects(readPackage(bytes), invalid(/announces 1508 bytes but nrf52840_xxaa\.bin has 1500/));
  });
  it('.bin not matching the hash', async () => {
    const bytes = await rezip('nrfutil_blinky_mbr_sdk160.zip', (f) => f.set('nrf52840_xxaa.bin', new Uint8Array(1508)));
    await assert.rejects(readPackage(bytes), invalid(/do not belong together/));
  });
  it('ignores unknown keys and unreferenced entries (__MACOSX junk)', async () => {
    const bytes = await rezip('nrfutil_blinky_mbr_sdk160.zip', (f) => {
      f.set('__MACOSX/._nrf52840_xxaa.bin', new Uint8Array([0, 5, 22, 7]));
      f.set('manifest.json', JSON.stringify({ manifest: { application: { bin_file: 'nrf52840_xxaa.bin', dat_file: 'nrf52840_xxaa.dat', extra: 1 } }, other: true }));
    });
    const pkg = await readPackage(bytes);
    assert.equal(pkg.images.length, 1);
  });
});

describe('parseManifest', () => {
  it('orders keys softdevice_bootloader → softdevice → bootloader → application', () => {
    const e = parseManifest(JSON.stringify({ manifest: {
      application: { bin_file: 'a.bin', dat_file: 'a.dat' },
      bootloader: { bin_file: 'b.bin', dat_file: 'b.dat' },
      softdevice: { bin_file: 's.bin', dat_file: 's.dat' },
      softdevice_bootloader: { bin_file: 'sb.bin', dat_file: 'sb.dat', info_read_only_metadata: { bl_size: 1, sd_size: 2 } },
    } }));
    assert.deepEqual(e.map((x) => x.kind), ['softdevice_bootloader', 'softdevice', 'bootloader', 'application']);
  });
  it('rejects empty, combined and incomplete manifests', () => {
    assert.throws(() => parseManifest('{"manifest":{}}'), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /names no image/.test(e.message));
    assert.throws(() => parseManifest('{"manifest":{"softdevice_application":{}}}'), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /combined/.test(e.message));
    assert.throws(() => parseManifest('{"manifest":{"application":{"bin_file":"a.bin"}}}'), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /dat_file/.test(e.message));
    assert.throws(() => parseManifest('[]'), (e: unknown) => hasCode(e, 'PACKAGE_INVALID'));
  });
});
