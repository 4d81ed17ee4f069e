import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteWriter, fromHex, toHex } from '../../../server/common/bytes.js';
import { crc32 } from '../../../server/common/crc32.js';
import { DK_IMAGE, NrfChip } from '../../../server/sim/devices/chip.js';
import { DfuTarget } from '../../../server/sim/devices/dfuTarget.js';
import { NEEDS_NORDIC_PACKAGES } from '../../helpers/shared-packages.js';
import { fixtureImage, newTarget, projectPackageImage, targetConfig } from './helpers.js';

const cp = (t: DfuTarget, hex: string): string => toHex(t.handleControlPoint(fromHex(hex)).response, ' ');

/** Streams bytes over DP in `size`-byte writes; returns the PRNs, as hex. */
function stream(t: DfuTarget, bytes: Uint8Array, size: number): string[] {
  const prns: string[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    const n = t.handlePacket(bytes.subarray(at, at + size)).notification;
    if (n !== undefined) prns.push(toHex(n, ' '));
  }
  return prns;
}

/** Sends the init packet and executes it; returns the Execute response. */
function sendInit(t: DfuTarget, dat: Uint8Array): string {
  cp(t, '0601');
  t.handleControlPoint(Uint8Array.of(0x01, 0x01, dat.length & 0xff, dat.length >> 8, 0, 0));
  stream(t, dat, 20);
  return cp(t, '04');
}

describe("DfuTarget: spec §2.2 trace with pc-nrfutil's blinky package (MTU 23, PRN 10)", NEEDS_NORDIC_PACKAGES, () => {
  it('answers byte for byte as the SDK 17 bootloader', async () => {
    const { dat, bin } = await fixtureImage('nrfutil_blinky_mbr_sdk160.zip');
    const { target } = newTarget('sdk16.0.0');
    assert.equal(cp(target, '06 01'), '60 06 01 00 02 00 00 00 00 00 00 00 00 00 00');
    assert.equal(cp(target, '01 01 8b 00 00 00'), '60 01 01');
    assert.deepEqual(stream(target, dat, 20), []);
    assert.equal(cp(target, '03'), '60 03 01 8b 00 00 00 46 8c 46 4f');
    assert.equal(cp(target, '04'), '60 04 01');
    assert.equal(cp(target, '02 0a 00'), '60 02 01');
    assert.equal(cp(target, '06 02'), '60 06 01 00 10 00 00 00 00 00 00 00 00 00 00');
    assert.equal(cp(target, '01 02 e4 05 00 00'), '60 01 01');
    const prns = stream(target, bin, 20);
    // 76 writes with PRN 10: seven PRNs, the first at offset 200.
    assert.equal(prns.length, 7);
    assert.equal(prns[0], '60 03 01 c8 00 00 00 3c 0a 15 dc');
    assert.equal(cp(target, '03'), '60 03 01 e4 05 00 00 4c e1 77 34');
    const exec = target.handleControlPoint(fromHex('04'));
    assert.equal(toHex(exec.response, ' '), '60 04 01');
    assert.equal(exec.followUp.kind, 'activate');
  });

  it('counts PRNs per write, restarts the count on Create, and carries errors in the PRN', async () => {
    const { dat, bin } = await fixtureImage('nrfutil_blinky_mbr_sdk160.zip');
    const { target } = newTarget('sdk16.0.0');
    assert.equal(sendInit(target, dat), '60 04 01');
    cp(target, '02 03 00');
    cp(target, '01 02 e4 05 00 00');
    // Two writes, then a Create resets the counter: the third write is not yet the third.
    stream(target, bin.subarray(0, 40), 20);
    cp(target, '01 02 e4 05 00 00');
    assert.deepEqual(stream(target, bin.subarray(0, 40), 20), []);
    assert.deepEqual(stream(target, bin.subarray(40, 60), 20).length, 1);
    // Writing beyond the object is silent until a PRN is due, which then carries 0x03.
    cp(target, '01 02 e4 05 00 00');
    stream(target, bin, 1508);
    const r1 = target.handlePacket(new Uint8Array(20));
    assert.equal(r1.result, 0x03);
    assert.equal(r1.notification, undefined);
    const r2 = target.handlePacket(new Uint8Array(20));
    assert.equal(toHex(r2.notification ?? new Uint8Array(0), ' '), '60 03 03');
  });
});

describe("DfuTarget: init packet validation of Nordic's packages (shared fixtures/dfu/README.md §6, SDK 17 debug key)", NEEDS_NORDIC_PACKAGES, () => {
  const cases = [
    ['nrfutil_test_package_unsigned.zip', '60 04 0b 08'],
    ['sdk12.2.0_dfu_test_app_hrm_s132.zip', '60 04 05'],
    ['sdk14.2.0_softdevice_bootloader_secure_ble_debug_without_bonds_s132.zip', '60 04 05'],
    ['iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip', '60 04 05'],
    ['nrfutil_blinky_mbr_sdk160.zip', '60 04 05'],
    ['sdk17.0.2_hrs_application_s140.zip', '60 04 01'],
    ['sdk17.0.2_bootloader_secure_ble_debug_without_bonds_s140.zip', '60 04 01'],
  ] as const;
  for (const [name, expected] of cases) {
    it(`${name} → ${expected}`, async () => {
      const { dat } = await fixtureImage(name);
      const { target } = newTarget('sdk17.0.2');
      assert.equal(sendInit(target, dat), expected);
    });
  }

  it('rejects sd_req without the installed FWID (ext 0x07) when no debug bypass applies', async () => {
    const { dat } = await fixtureImage('sdk12.2.0_dfu_test_app_hrm_s132.zip');
    const { target } = newTarget('sdk12.2.0', { debug: false });
    assert.equal(sendInit(target, dat), '60 04 0b 07');
    // The failure reset progress: Select shows nothing stored.
    assert.equal(cp(target, '06 01'), '60 06 01 00 02 00 00 00 00 00 00 00 00 00 00');
  });

  it('applies downgrade protection on a release bootloader: BL version must be strictly higher (ext 0x05)', async () => {
    const { dat } = await fixtureImage('sdk17.0.2_bootloader_secure_ble_debug_without_bonds_s140.zip');
    const { target } = newTarget('sdk17.0.2', { debug: false });
    assert.equal(sendInit(target, dat), '60 04 0b 05');
  });

  it('iosdfu SD+BL passes with its key on a release bootloader (sd_req 0x100, version 34 > 1)', async () => {
    const { dat } = await fixtureImage('iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip');
    const { target } = newTarget('iosdfu', { debug: false });
    assert.equal(sendInit(target, dat), '60 04 01');
  });
});

describe('DfuTarget: object rules', () => {
  it('rejects data before an init packet, bad sizes, and unknown opcodes', async () => {
    const { dat } = await projectPackageImage('app');
    const { target } = newTarget('bledfu-demo');
    assert.equal(cp(target, '01 02 00 10 00 00'), '60 01 08');
    assert.equal(cp(target, '06 03'), '60 06 05');
    assert.equal(cp(target, '00'), '60 00 02');
    assert.equal(cp(target, '09 01'), '60 09 02');
    assert.equal(cp(target, '01 01 00 00 00 00'), '60 01 03');
    assert.equal(cp(target, '01 01 01 02 00 00'), '60 01 04');
    assert.equal(sendInit(target, dat), '60 04 01');
    assert.equal(cp(target, '01 02 00 08 00 00'), '60 01 03');
    assert.equal(cp(target, '01 02 00 20 00 00'), '60 01 04');
    // Executing an incomplete object.
    assert.equal(cp(target, '01 02 00 10 00 00'), '60 01 01');
    assert.equal(cp(target, '04'), '60 04 08');
  });

  it('reproduces the boundary re-Execute quirk: 0x08 with a Create pending, success without', async () => {
    const { dat, bin } = await projectPackageImage('app');
    const { target } = newTarget('bledfu-demo');
    sendInit(target, dat);
    cp(target, '06 02');
    cp(target, '01 02 00 10 00 00');
    stream(target, bin.subarray(0, 4096), 244);
    assert.equal(cp(target, '04'), '60 04 01');
    // Without a pending Create the same Execute succeeds (an empty object).
    target.onDisconnect();
    assert.equal(cp(target, '04'), '60 04 01');
    cp(target, '01 02 00 10 00 00');
    target.onDisconnect();
    // Resume: Select shows the boundary, the re-Execute gets 0x08.
    const crc = new ByteWriter().u32le(crc32(bin.subarray(0, 4096))).finish();
    assert.equal(cp(target, '06 02'), `60 06 01 00 10 00 00 00 10 00 00 ${toHex(crc, ' ')}`);
    assert.equal(cp(target, '04'), '60 04 08');
  });

  it('flash timing as nrf_dfu_req_handler.c: command Execute and data Create queue their flash work and answer at once, CRC answers at once, data Execute waits for the flash and writes the settings after answering', async () => {
    const { dat, bin } = await projectPackageImage('app');
    for (const progress of ['keep', 'reload'] as const) {
      const { chip, target } = newTarget('bledfu-demo', { progressOnDisconnect: progress });
      const g = chip.flash.geometry;
      cp(target, '06 01');
      target.handleControlPoint(Uint8Array.of(0x01, 0x01, dat.length & 0xff, dat.length >> 8, 0, 0));
      stream(target, dat, 20);
      // The init packet's Execute answers at once and queues the settings write (on_cmd_obj_execute_request).
      const init = target.handleControlPoint(fromHex('04'));
      assert.equal(toHex(init.response, ' '), '60 04 01');
      assert.deepEqual([init.costMs, init.waitsForFlash, init.afterAnswerMs], [0, false, chip.saveSettings()], `${progress}: command Execute`);
      cp(target, '06 02');
      const create = target.handleControlPoint(fromHex('01 02 00 10 00 00'));
      assert.equal(toHex(create.response, ' '), '60 01 01');
      assert.deepEqual([create.costMs, create.waitsForFlash, create.afterAnswerMs], [g.pageEraseMs, false, 0], `${progress}: Create`);
      stream(target, bin.subarray(0, 4096), 244);
      const crc = target.handleControlPoint(fromHex('03'));
      assert.deepEqual([crc.costMs, crc.waitsForFlash], [0, false], `${progress}: CRC`);
      const exec = target.handleControlPoint(fromHex('04'));
      assert.equal(toHex(exec.response, ' '), '60 04 01');
      assert.equal(exec.waitsForFlash, true, `${progress}: Execute waits for the queued erase and writes`);
      // The settings page between objects only when progress is saved in flash.
      assert.equal(exec.afterAnswerMs, progress === 'keep' ? chip.saveSettings() : 0, `${progress}: settings write after the answer`);
    }
  });

  it("'reload' progress mode forgets data progress on disconnect but keeps the executed init packet", async () => {
    const { dat, bin } = await projectPackageImage('app');
    const { target } = newTarget('bledfu-demo', { progressOnDisconnect: 'reload' });
    sendInit(target, dat);
    cp(target, '06 02');
    cp(target, '01 02 00 10 00 00');
    stream(target, bin.subarray(0, 4096), 244);
    assert.equal(cp(target, '04'), '60 04 01');
    target.onDisconnect();
    assert.equal(cp(target, '06 02'), '60 06 01 00 10 00 00 00 00 00 00 00 00 00 00');
    const sel = cp(target, '06 01');
    assert.ok(sel.startsWith(`60 06 01 00 02 00 00 ${toHex(Uint8Array.of(dat.length, 0, 0, 0), ' ')}`));
    assert.equal(cp(target, '04'), '60 04 01');
  });

  it('checks the SHA-256 at the last Execute (ext 0x0C)', async () => {
    const { dat, bin } = await projectPackageImage('app-small');
    const { target } = newTarget('bledfu-demo');
    sendInit(target, dat);
    assert.ok(bin.length <= 4096, 'one data object');
    assert.equal(toHex(target.handleControlPoint(Uint8Array.of(0x01, 0x02, bin.length & 0xff, bin.length >> 8, 0, 0)).response, ' '), '60 01 01');
    const bad = bin.slice();
    bad[100] = (bad[100] as number) ^ 0xff;
    stream(target, bad, 244);
    assert.equal(cp(target, '04'), '60 04 0b 0c');
  });

  /** Sends a whole image in 4 096-byte objects; returns the last Execute's response. */
  function sendImage(t: DfuTarget, bin: Uint8Array): string {
    let last = '';
    for (let at = 0; at < bin.length; at += 4096) {
      const part = bin.subarray(at, at + 4096);
      const w = Uint8Array.of(0x01, 0x02, part.length & 0xff, (part.length >> 8) & 0xff, 0, 0);
      assert.equal(toHex(t.handleControlPoint(w).response, ' '), '60 01 01');
      stream(t, part, 244);
      last = cp(t, '04');
    }
    return last;
  }

  it('a SoftDevice of another major version without a bootloader is refused at the last Execute (0x05), as a BLE bootloader needs its SoftDevice', async () => {
    const { dat, bin } = await projectPackageImage('softdevice');
    // The same major version (7) as installed: accepted.
    const same = newTarget('bledfu-demo');
    assert.equal(sendInit(same.target, dat), '60 04 01');
    assert.equal(sendImage(same.target, bin), '60 04 01');
    // An S140 6.1.1 chip: a 7.x SoftDevice is a major update, refused.
    const chip = new NrfChip({ ...DK_IMAGE, softDeviceVersion: 6_001_001 });
    const target = new DfuTarget(chip, targetConfig('bledfu-demo'));
    assert.equal(sendInit(target, dat), '60 04 01');
    assert.equal(sendImage(target, bin), '60 04 05');
    assert.equal(chip.settings.pending, undefined, 'nothing to activate');
  });
});
