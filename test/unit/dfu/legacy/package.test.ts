/**
 * Reading legacy packages: the two shared nRF5 SDK 11.0.0 fixtures (read from ../shared at run
 * time), packages made with makeLegacyPackage from the project's demo images (nrfutil 0.5 and
 * adafruit-nrfutil layouts), and the refusals a damaged or mismatched package gets.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import JSZip from 'jszip';
import { crc16 } from '../../../../server/common/crc16.js';
import { hasCode } from '../../../../server/common/errors.js';
import { readAnyPackage } from '../../../../server/dfu/package/anyPackage.js';
import { isLegacyPackage, packageProtocol } from '../../../../server/dfu/package/images.js';
import { ADAFRUIT, decodeLegacyInitPacket } from '../../../../server/dfu/package/legacyInitPacket.js';
import { makeLegacyPackage } from '../../../../server/dfu/package/legacyGenerate.js';
import { readLegacyPackage } from '../../../../server/dfu/package/legacyPackage.js';
import { readPackage } from '../../../../server/dfu/package/package.js';
import { DEMO_PACKAGE_IMAGES } from '../../../../server/sim/demoPackages.js';
import { fixtureBytes, zipEntries } from '../../../helpers/dfu-fixtures.js';
import { NEEDS_NORDIC_PACKAGES } from '../../../helpers/shared-packages.js';

const APP = 'legacy_sdk11.0.0_dfu_test_app_hrm_s132.zip';
const SDBL = 'legacy_sdk11.0.0_dfu_test_softdevice_w_bootloader_b_s132.zip';

async function rezip(files: Map<string, Uint8Array | string>): Promise<Uint8Array> {
  const zip = new JSZip();
  for (const [name, data] of files) zip.file(name, data);
  return zip.generateAsync({ type: 'uint8array' });
}

async function editFixture(name: string, edit: (files: Map<string, Uint8Array | string>) => void): Promise<Uint8Array> {
  const files = new Map<string, Uint8Array | string>(await zipEntries(name));
  edit(files);
  return rezip(files);
}

function editManifest(files: Map<string, Uint8Array | string>, edit: (m: Record<string, Record<string, unknown>>) => void): void {
  const raw = files.get('manifest.json');
  const json = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw)) as { manifest: Record<string, Record<string, unknown>> };
  edit(json.manifest);
  files.set('manifest.json', JSON.stringify(json, null, 4));
}

describe('readLegacyPackage on the nRF5 SDK 11.0.0 fixtures', NEEDS_NORDIC_PACKAGES, () => {
  it(`${APP}: one application image, 20 576 bytes, init packet 0.5 layout with the manifest's values`, async () => {
    const bytes = fixtureBytes(APP);
    const pkg = await readLegacyPackage(bytes);
    assert.equal(pkg.protocol, 'legacy');
    assert.equal(pkg.dfuVersion, 0.5);
    assert.equal(pkg.size, bytes.length);
    assert.equal(pkg.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(pkg.images.length, 1);
    const img = pkg.images[0]!;
    assert.deepEqual(
      { ...img.summary, sha256: undefined },
      {
        kind: 'application',
        size: 20_576,
        sizes: { softdevice: 0, bootloader: 0, application: 20_576 },
        initLayout: '0.5',
        deviceType: 0xffff,
        deviceRevision: 0xffff,
        applicationVersion: 0xffffffff,
        softdeviceReq: [0xfffe],
        crc16: 27_581,
        sha256: undefined,
        signed: false,
      },
    );
    assert.equal(img.summary.sha256, createHash('sha256').update(img.bin).digest('hex'));
    assert.equal(img.dat.length, 14);
  });

  it(`${SDBL}: one softdevice_bootloader image split sd_size 108 212 + bl_size 14 900, CRC-16 40665`, async () => {
    const pkg = await readLegacyPackage(fixtureBytes(SDBL));
    assert.equal(pkg.images.length, 1);
    const s = pkg.images[0]!.summary;
    assert.equal(s.kind, 'softdevice_bootloader');
    assert.equal(s.size, 123_112);
    assert.deepEqual(s.sizes, { softdevice: 108_212, bootloader: 14_900, application: 0 });
    assert.equal(s.crc16, 40_665);
    assert.equal(s.initLayout, '0.5');
  });

  it('readAnyPackage routes the legacy fixtures to the legacy reader and Secure packages to readPackage', async () => {
    const legacy = await readAnyPackage(fixtureBytes(APP));
    assert.ok(isLegacyPackage(legacy));
    assert.equal(packageProtocol(legacy), 'legacy');
    const secure = await readAnyPackage(fixtureBytes('nrfutil_blinky_mbr_sdk160.zip'));
    assert.equal(isLegacyPackage(secure), false);
    assert.equal(packageProtocol(secure), 'secure');
    assert.deepEqual(secure, await readPackage(fixtureBytes('nrfutil_blinky_mbr_sdk160.zip')));
  });

  it('readPackage (Secure DFU only; jobs call readAnyPackage) refuses the legacy fixtures with PACKAGE_LEGACY', async () => {
    await assert.rejects(readPackage(fixtureBytes(SDBL)), (e: unknown) => hasCode(e, 'PACKAGE_LEGACY'));
  });

  it('an image whose bytes do not match the CRC-16 of its .dat → PACKAGE_INVALID naming the image and both files', async () => {
    const bytes = await editFixture(APP, (files) => {
      const bin = Uint8Array.from(files.get('dfu_test_app_hrm_s132.bin') as Uint8Array);
      bin[1000] = (bin[1000] as number) ^ 0x01;
      files.set('dfu_test_app_hrm_s132.bin', bin);
    });
    await assert.rejects(readLegacyPackage(bytes), (e: unknown) =>
      hasCode(e, 'PACKAGE_INVALID') &&
      /dfu_test_app_hrm_s132\.dat states CRC-16 0x6BBD for the application image but dfu_test_app_hrm_s132\.bin has CRC-16 0x[0-9A-F]{4}/.test(e.message) &&
      /do not belong together/.test(e.remedy ?? ''),
    );
  });

  it('a softdevice_bootloader whose sd_size + bl_size is not the .bin size → PACKAGE_INVALID', async () => {
    const bytes = await editFixture(SDBL, (files) => editManifest(files, (m) => void (m['softdevice_bootloader']!['bl_size'] = 14_901)));
    await assert.rejects(readLegacyPackage(bytes), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /sd_size 108212 \+ bl_size 14901 = 123113 bytes but it has 123112/.test(e.message));
  });

  it('a softdevice_bootloader without sd_size → PACKAGE_INVALID (the size packet needs both parts)', async () => {
    const bytes = await editFixture(SDBL, (files) => editManifest(files, (m) => void delete m['softdevice_bootloader']!['sd_size']));
    await assert.rejects(readLegacyPackage(bytes), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /needs sd_size/.test(e.message));
  });

  it('a dfu_version no nrfutil writes → PACKAGE_INVALID naming it', async () => {
    const bytes = await editFixture(APP, (files) => editManifest(files, (m) => void ((m as Record<string, unknown>)['dfu_version'] = 0.9)));
    await assert.rejects(readLegacyPackage(bytes), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /dfu_version 0\.9/.test(e.message));
  });

  it('a Secure DFU .dat under the legacy manifest → PACKAGE_INVALID saying so', async () => {
    const secureDat = (await zipEntries('nrfutil_blinky_mbr_sdk160.zip')).get('nrf52840_xxaa.dat')!;
    const bytes = await editFixture(APP, (files) => files.set('dfu_test_app_hrm_s132.dat', secureDat));
    await assert.rejects(readLegacyPackage(bytes), (e: unknown) =>
      hasCode(e, 'PACKAGE_INVALID') && /dfu_test_app_hrm_s132\.dat is a Secure DFU init packet .* but the manifest is a legacy one/.test(e.message),
    );
  });

  it('a truncated .dat → PACKAGE_INVALID naming the .dat', async () => {
    const bytes = await editFixture(APP, (files) => files.set('dfu_test_app_hrm_s132.dat', (files.get('dfu_test_app_hrm_s132.dat') as Uint8Array).subarray(0, 11)));
    await assert.rejects(readLegacyPackage(bytes), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /^dfu_test_app_hrm_s132\.dat: /.test(e.message));
  });
});

describe('makeLegacyPackage → readLegacyPackage (project demo images)', () => {
  const app = DEMO_PACKAGE_IMAGES.appSmall().bytes;

  it('an Adafruit-style application package (adafruit-nrfutil --dev-type 0x0052 --sd-req 0xFFFE) reads back with device type 0x0052', async () => {
    const pkg = await readLegacyPackage(await makeLegacyPackage({ deviceType: ADAFRUIT.DEVICE_TYPE, application: app }));
    assert.equal(pkg.dfuVersion, 0.5);
    const s = pkg.images[0]!.summary;
    assert.equal(s.kind, 'application');
    assert.equal(s.deviceType, 0x0052);
    assert.equal(s.deviceRevision, 0xffff);
    assert.deepEqual(s.softdeviceReq, [0xfffe]);
    assert.equal(s.crc16, crc16(app));
    assert.deepEqual(pkg.images[0]!.bin, app);
  });

  it('the manifest is laid out as nrfutil 0.5 writes it (sorted keys, init_packet_data with firmware_crc16)', async () => {
    const zip = await JSZip.loadAsync(await makeLegacyPackage({ application: app }));
    const manifest = JSON.parse((await zip.file('manifest.json')?.async('string')) ?? '') as {
      manifest: { application: { init_packet_data: Record<string, unknown> }; dfu_version: number };
    };
    assert.equal(manifest.manifest.dfu_version, 0.5);
    assert.deepEqual(Object.keys(manifest.manifest.application.init_packet_data), ['application_version', 'device_revision', 'device_type', 'firmware_crc16', 'softdevice_req']);
    assert.equal(manifest.manifest.application.init_packet_data['firmware_crc16'], crc16(app));
  });

  it('SoftDevice + bootloader + application (Adafruit unlock revision 52840): sd_bl first with its split, then the application', async () => {
    const sd = DEMO_PACKAGE_IMAGES.sdblSoftdevice().bytes;
    const bl = DEMO_PACKAGE_IMAGES.sdblBootloader().bytes;
    const pkg = await readLegacyPackage(
      await makeLegacyPackage({ deviceType: ADAFRUIT.DEVICE_TYPE, deviceRevision: ADAFRUIT.UNLOCK_REVISION.nrf52840, softdevice: sd, bootloader: bl, application: app }),
    );
    assert.deepEqual(pkg.images.map((i) => i.summary.kind), ['softdevice_bootloader', 'application']);
    assert.deepEqual(pkg.images[0]!.summary.sizes, { softdevice: sd.length, bootloader: bl.length, application: 0 });
    assert.equal(pkg.images[0]!.summary.deviceRevision, 52_840);
  });

  for (const dfuVersion of [0.6, 0.7] as const) {
    it(`dfu_version ${dfuVersion} packages read back with the ${dfuVersion} init layout; a changed image is refused`, async () => {
      const bytes = await makeLegacyPackage({ dfuVersion, application: app });
      const pkg = await readLegacyPackage(bytes);
      assert.equal(pkg.dfuVersion, dfuVersion);
      assert.equal(pkg.images[0]!.summary.initLayout, String(dfuVersion));
      const p = decodeLegacyInitPacket(pkg.images[0]!.dat);
      assert.equal(p.format === 'extended' && p.integrity.kind, dfuVersion === 0.6 ? 'ext-crc16' : 'sha256');
      const files = new Map<string, Uint8Array | string>();
      const zip = await JSZip.loadAsync(bytes);
      for (const f of Object.values(zip.files)) files.set(f.name, await f.async('uint8array'));
      const changed = Uint8Array.from(app);
      changed[0] = (changed[0] as number) ^ 0xff;
      files.set('application.bin', changed);
      await assert.rejects(readLegacyPackage(await rezip(files)), (e: unknown) =>
        hasCode(e, 'PACKAGE_INVALID') && (dfuVersion === 0.6 ? /states CRC-16/ : /states SHA-256/).test(e.message) && /application\.bin/.test(e.message),
      );
    });
  }

  it('a legacy package is refused by readPackage, a Secure one by nothing: readAnyPackage tells them apart', async () => {
    const bytes = await makeLegacyPackage({ application: app });
    await assert.rejects(readPackage(bytes), (e: unknown) => hasCode(e, 'PACKAGE_LEGACY'));
    assert.ok(isLegacyPackage(await readAnyPackage(bytes)));
  });
});
