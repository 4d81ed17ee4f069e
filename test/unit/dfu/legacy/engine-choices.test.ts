/**
 * The legacy engine's pure choices and the job layer's one summary shape for either protocol:
 * the PRN interval legacy bootloaders get, and how a legacy image is reported (UploadPackage,
 * job snapshots) next to Secure DFU images.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { LEGACY_MAX_PRN_SDK6 } from '../../../../server/dfu/legacy/controlPoint.js';
import { LEGACY_DEFAULT_PRN, legacyPrn } from '../../../../server/dfu/legacy/engine.js';
import { readAnyPackage } from '../../../../server/dfu/package/anyPackage.js';
import { isLegacyPackage } from '../../../../server/dfu/package/images.js';
import { makeLegacyPackage } from '../../../../server/dfu/package/legacyGenerate.js';
import { imageSummaries, legacyImageSummary } from '../../../../server/dfu/package/summaries.js';
import { projectZip } from '../../../helpers/project-packages.js';
import { readPackage } from '../../../../server/dfu/package/package.js';

describe('legacyPrn', () => {
  it('never turns packet receipt notifications off: 0 (none asked for) becomes the default of 10', () => {
    assert.equal(LEGACY_DEFAULT_PRN, 10);
    assert.equal(legacyPrn(0, false), 10);
    assert.equal(legacyPrn(0, true), 10);
  });
  it('keeps what was asked for an SDK 7+ bootloader, bounds it for an SDK ≤ 6 (DFU v1) one', () => {
    assert.equal(legacyPrn(25, false), 25);
    assert.equal(legacyPrn(25, true), LEGACY_MAX_PRN_SDK6);
    assert.equal(legacyPrn(4, true), 4);
    assert.equal(legacyPrn(70_000, false), 0xffff, 'the request carries a u16');
  });
});

describe('image summaries of either protocol', () => {
  it('a legacy image: application version as fw_version, device revision as hw_version, the SoftDevice list as sd_req', async () => {
    const pkg = await readAnyPackage(await makeLegacyPackage({ application: new Uint8Array(1024).fill(3), deviceRevision: 52840, applicationVersion: 7, softdeviceReq: [0x88, 0x8c] }));
    assert.ok(isLegacyPackage(pkg));
    const [s] = imageSummaries(pkg);
    assert.deepEqual(s, {
      kind: 'application',
      size: 1024,
      fwVersion: 7,
      hwVersion: 52840,
      sdReq: [0x88, 0x8c],
      sha256: pkg.images[0]?.summary.sha256,
      signed: false,
      isDebug: false,
    });
  });
  it('the "not set" values of a legacy init packet (0xFFFFFFFF, 0xFFFF) are reported absent', async () => {
    const pkg = await readAnyPackage(await makeLegacyPackage({ application: new Uint8Array(64) }));
    assert.ok(isLegacyPackage(pkg));
    const s = legacyImageSummary(pkg.images[0]!.summary);
    assert.equal(s.fwVersion, undefined);
    assert.equal(s.hwVersion, undefined);
    assert.deepEqual(s.sdReq, [0xfffe]);
  });
  it('a Secure DFU package keeps its own summaries', async () => {
    const pkg = await readPackage(await projectZip('app-small'));
    assert.deepEqual(imageSummaries(pkg), pkg.images.map((i) => i.summary));
  });
});
