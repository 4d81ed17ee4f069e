/**
 * Acceptance: packages whose images leave the device in different places, through gRPC on both
 * simulated dongles. What an SDK 15–17 bootloader does after each image type (spec §3.7,
 * nrf_bootloader_fw_activation.c, nrf_dfu_validation.c):
 * - after a bootloader-only image it starts the still valid application, so the engine must ask
 *   that application (buttonless) to enter DFU mode again before the application image;
 * - after a SoftDevice (+ bootloader) it stays in DFU mode: for good when the SoftDevice's major
 *   version changed (the application is invalidated), else for the 10 s continuation window
 *   before it starts the old application again; without an application image in the package
 *   the job ends there and says so, without waiting for an application.
 * Each test has its own world and server.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import JSZip from 'jszip';
import { describe, it } from 'node:test';
import { DeviceState, JobState, startDfu, type DfuEvent } from '../../clients/ts/index.js';
import type { SimFault } from '../../server/sim/faults.js';
import { LAYOUT } from '../../server/sim/devices/chip.js';
import { addressTarget, finished, journey, progresses, revisionOf, SIM_DONGLES, startSimServer, type SimServer } from '../helpers/sim-server.js';
import { bootloaderAndApplicationPackage, sharedFixture } from '../helpers/shared-packages.js';

/** Shared fixtures README §3.1. */
const HRS = { size: 98_944, fwVersion: 1, sha256: '6375973bc506fbbb5bb3af4615da2e25f4839fa1f7f74792294a7aa4bb3a273c' };
const BL17 = { size: 49_524, sha256: '92e927a7ed56037cde692effad90ce63ecd51f94b015a1994ef96118a50c4bde' };
const SD17 = { zip: 'sdk17.0.2_softdevice_s140.zip', size: 153_140, sha256: '8ab4ff1466b6a53647f0c5d81ccb7997125c44ab1885b7e3ebe41600073de335' };
/** S132 5.0.0 test build (FWID 0xCAFE, ends at 0x23000) + the SDK 14.2.0 debug bootloader. */
const SDBL14 = { zip: 'sdk14.2.0_softdevice_bootloader_secure_ble_debug_without_bonds_s132.zip', size: 178_004, sdSize: 136_360, blSize: 41_644 };
const IOS = { zip: 'iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip', app: { fwVersion: 1, sha256: 'a3bf0b73eb3ef405ba3b1725f19b20fba169f6682a214f38d7402e9a94e141bd' } };
/** The simulated bootloader's NRF_BL_DFU_CONTINUATION_TIMEOUT_MS (world defaults). */
const CONTINUATION_MS = 10_000;

const TEST_TIMEOUT_MS = 40_000;
const REENTER = 'asking it to enter DFU mode again for the application image';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** An event as received, with the simulator's modelled time at that moment. */
interface Seen {
  readonly event: DfuEvent;
  readonly modelledMs: number;
}

interface Run {
  readonly seen: Seen[];
  readonly events: DfuEvent[];
  readonly error: unknown;
}

async function dfu(s: SimServer, data: Uint8Array, ms = 30_000): Promise<Run> {
  const seen: Seen[] = [];
  let error: unknown;
  try {
    for await (const event of startDfu(s.client, { package: { data }, target: addressTarget(s.device().address.value) }, { signal: AbortSignal.timeout(ms) })) {
      seen.push({ event, modelledMs: s.world.scheduler.nowMs() });
    }
  } catch (e) {
    error = e;
  }
  return { seen, events: seen.map((x) => x.event), error };
}

function succeeded(r: Run): NonNullable<ReturnType<typeof finished>> {
  assert.equal(r.error, undefined, `the call failed: ${String(r.error)}`);
  const f = finished(r.events);
  assert.ok(f, 'no finished event');
  assert.equal(f.result.success, true, f.error?.message);
  return f;
}

const details = (r: Run, state: string): string[] => r.events.flatMap((e) => (e.type === 'state' && e.stateName === state ? [e.detail] : []));

/** Modelled time from the last image's final Execute (the ACTIVATING state) to the job's end. */
function modelledAfterLastImage(r: Run): number {
  const activating = r.seen.find((x) => x.event.type === 'state' && x.event.stateName === 'ACTIVATING');
  const end = r.seen.at(-1);
  assert.ok(activating !== undefined && end !== undefined, 'no ACTIVATING state');
  return end.modelledMs - activating.modelledMs;
}

/** The bytes at the bootloader's place in the simulated flash. */
function bootloaderFlashSha(s: SimServer, size: number): string {
  return sha(s.device().device.chip.flash.read(LAYOUT.bootloaderStart, size));
}

async function sdBlParts(zipName: string, sdSize: number): Promise<{ sd: string; bl: string }> {
  const zip = await JSZip.loadAsync(sharedFixture(zipName));
  const bin = await zip.file('sd_bl.bin')?.async('uint8array');
  assert.ok(bin, `no sd_bl.bin in ${zipName}`);
  return { sd: sha(bin.subarray(0, sdSize)), bl: sha(bin.subarray(sdSize)) };
}

for (const dongle of SIM_DONGLES) {
  describe(`multi-image packages and where they leave the device, over gRPC on the simulator (${dongle.label})`, () => {
    it('bootloader + application: the bootloader starts the old application, which is asked to enter DFU mode again; the new application runs', { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await startSimServer({ devices: [{ key: 'sdk17.0.2' }] }, {}, dongle);
      try {
        const dev = s.device();
        // The DK placeholder carries the bootloader's identity, not its bytes.
        assert.notEqual(bootloaderFlashSha(s, BL17.size), BL17.sha256);
        const r = await dfu(s, await bootloaderAndApplicationPackage());
        const f = succeeded(r);
        const expected = revisionOf(HRS.fwVersion, HRS.sha256);
        assert.equal(f.result.firmwareRevision, expected);
        assert.equal(f.result.deviceState, DeviceState.DEVICE_STATE_APPLICATION);
        assert.equal(dev.mode(), 'application');
        assert.equal(dev.firmwareRevision(), expected);
        assert.equal(dev.images().application?.sha256, HRS.sha256);
        // The bootloader image went into place byte for byte.
        assert.equal(bootloaderFlashSha(s, BL17.size), BL17.sha256);
        assert.equal(dev.images().bootloader?.sha256, BL17.sha256);
        // Buttonless into DFU mode twice: once for each image.
        assert.deepEqual(journey(r.events), ['CONNECTING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'ACTIVATING', 'SUCCEEDED']);
        assert.ok(
          details(r, 'ENTERING_BOOTLOADER').some((d) => d.includes('the bootloader started the application after activating the bootloader image') && d.includes(REENTER)),
          `no event says why the application was asked again: ${details(r, 'ENTERING_BOOTLOADER').join(' | ')}`,
        );
        const ps = progresses(r.events);
        assert.equal(ps.at(-1)?.totalBytesSent, BL17.size + HRS.size);
        assert.equal(s.observed().dataBytes, BL17.size + HRS.size, 'each image sent once');
        const job = (await s.client.getJob({ jobId: f.jobId })).job;
        assert.equal(job?.state, JobState.JOB_STATE_SUCCEEDED);
        assert.equal(job?.result?.deviceState, DeviceState.DEVICE_STATE_APPLICATION);
      } finally {
        await s.close();
      }
    });

    it('bootloader + application with the link lost on reaching the bootloader for the application image: still completes', { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await startSimServer({ devices: [{ key: 'sdk17.0.2' }] }, {}, dongle);
      try {
        const dev = s.device();
        // The second Select of the command object is the application image's first request.
        const cut: SimFault = { kind: 'dropLinkAfterRequest', op: 'select', objectType: 'command', occurrence: 2 };
        const handle = s.world.faults.inject(cut);
        const r = await dfu(s, await bootloaderAndApplicationPackage());
        const f = succeeded(r);
        assert.equal(handle.fired, 1, 'the link was cut between the images');
        assert.equal(f.result.firmwareRevision, revisionOf(HRS.fwVersion, HRS.sha256));
        assert.equal(f.result.deviceState, DeviceState.DEVICE_STATE_APPLICATION);
        assert.equal(dev.images().application?.sha256, HRS.sha256);
        assert.equal(bootloaderFlashSha(s, BL17.size), BL17.sha256);
        assert.ok(journey(r.events).includes('RESUMING'), `no resume: ${journey(r.events).join(' → ')}`);
        assert.equal(s.observed().dataBytes, BL17.size + HRS.size, 'nothing sent twice');
      } finally {
        await s.close();
      }
    });

    it('SoftDevice only (same major version): activated, the device waits in DFU mode and the job ends without waiting for an application', { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await startSimServer({ devices: [{ key: 'sdk17.0.2' }] }, {}, dongle);
      try {
        const dev = s.device();
        const r = await dfu(s, sharedFixture(SD17.zip));
        const f = succeeded(r);
        assert.equal(f.result.deviceState, DeviceState.DEVICE_STATE_DFU_MODE);
        assert.equal(f.result.firmwareRevision, '');
        assert.equal(dev.images().softDevice?.sha256, SD17.sha256);
        assert.equal(dev.images().softDeviceFwid, 0xcafe, "the test SoftDevice's FWID");
        // S140 7.2.0 → 7.2.0 test build: a minor update keeps the application valid, so the
        // bootloader only waits for the continuation window — and the job ended inside it.
        assert.equal(dev.images().applicationValid, true);
        assert.equal(dev.mode(), 'bootloader', 'the job ended while the device was still in DFU mode');
        assert.ok(modelledAfterLastImage(r) < CONTINUATION_MS, `modelled ${modelledAfterLastImage(r)} ms after the last image`);
        assert.ok(details(r, 'ACTIVATING').some((d) => d.includes('stays in its bootloader (DFU mode)') && d.includes('send an application package next')));
        assert.deepEqual(journey(r.events), ['CONNECTING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'ACTIVATING', 'SUCCEEDED']);
      } finally {
        await s.close();
      }
    });

    it('SoftDevice + bootloader of another major version: the application is invalidated and the device stays in DFU mode', { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await startSimServer({ devices: [{ key: 'sdk14.2.0' }] }, {}, dongle);
      try {
        const dev = s.device();
        const before = dev.images();
        const r = await dfu(s, sharedFixture(SDBL14.zip));
        const f = succeeded(r);
        assert.equal(f.result.deviceState, DeviceState.DEVICE_STATE_DFU_MODE);
        assert.equal(f.result.firmwareRevision, '');
        const parts = await sdBlParts(SDBL14.zip, SDBL14.sdSize);
        const after = dev.images();
        assert.equal(after.softDevice?.sha256, parts.sd);
        assert.equal(after.bootloader?.sha256, parts.bl);
        assert.notEqual(after.bootloader?.sha256, before.bootloader?.sha256);
        // S140 7 → S132 5: no application is valid any more; the device stays in DFU mode.
        assert.equal(after.applicationValid, false);
        assert.equal(dev.mode(), 'bootloader');
        assert.equal(dev.firmwareRevision(), undefined);
        assert.ok(modelledAfterLastImage(r) < CONTINUATION_MS, `modelled ${modelledAfterLastImage(r)} ms after the last image`);
        const job = (await s.client.getJob({ jobId: f.jobId })).job;
        assert.equal(job?.state, JobState.JOB_STATE_SUCCEEDED);
        assert.equal(job?.result?.deviceState, DeviceState.DEVICE_STATE_DFU_MODE);
      } finally {
        await s.close();
      }
    });

    it('SoftDevice + bootloader + application (iosdfu): ends in the new application with its revision', { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await startSimServer({ devices: [{ key: 'iosdfu' }] }, {}, dongle);
      try {
        const dev = s.device();
        const r = await dfu(s, sharedFixture(IOS.zip));
        const f = succeeded(r);
        const expected = revisionOf(IOS.app.fwVersion, IOS.app.sha256);
        assert.equal(f.result.deviceState, DeviceState.DEVICE_STATE_APPLICATION);
        assert.equal(f.result.firmwareRevision, expected);
        assert.equal(dev.mode(), 'application');
        assert.equal(dev.firmwareRevision(), expected);
        // After the SD+BL image the bootloader waited in DFU mode: no buttonless re-entry.
        assert.deepEqual(journey(r.events), ['CONNECTING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'ACTIVATING', 'SUCCEEDED']);
      } finally {
        await s.close();
      }
    });
  });
}
