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
import { describe, it } from 'node:test';
import { DeviceState, JobState, startDfu, type DfuEvent } from '../../clients/ts/index.js';
import type { SimFault } from '../../server/sim/faults.js';
import { LAYOUT } from '../../server/sim/devices/chip.js';
import { addressTarget, finished, journey, progresses, revisionOf, SIM_DONGLES, startSimServer, type SimServer } from '../helpers/sim-server.js';
import { NEEDS_NORDIC_PACKAGES, sharedFixture } from '../helpers/shared-packages.js';
import { projectImage, projectZip, SDBL_SD_FWID, TEST_SD_FWID } from '../helpers/project-packages.js';

/**
 * The project's packages (demo firmware, demo key: the simulator's default), facts computed from
 * their bytes: the ~100 KB application and the bootloader of the bootloader + application package,
 * a SoftDevice of the installed major version (7, FWID 0xCAFE), and a SoftDevice (6.1.1, FWID
 * 0xB6) + bootloader of another major version.
 */
const APP = await projectImage('bl-app', 'application');
const BL = await projectImage('bl-app', 'bootloader');
const SD = await projectImage('softdevice');
const SDBL = await projectImage('sd-bl');
/** Nordic's iosdfu package (shared fixtures README §3.1). */
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

for (const dongle of SIM_DONGLES) {
  describe(`multi-image packages and where they leave the device, over gRPC on the simulator (${dongle.label})`, () => {
    it('bootloader + application: the bootloader starts the old application, which is asked to enter DFU mode again; the new application runs', { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const dev = s.device();
        // The DK placeholder carries the bootloader's identity, not its bytes.
        assert.notEqual(bootloaderFlashSha(s, BL.size), BL.sha256);
        const r = await dfu(s, await projectZip('bl-app'));
        const f = succeeded(r);
        const expected = revisionOf(APP.fwVersion, APP.sha256);
        assert.equal(f.result.firmwareRevision, expected);
        assert.equal(f.result.deviceState, DeviceState.DEVICE_STATE_APPLICATION);
        assert.equal(dev.mode(), 'application');
        assert.equal(dev.firmwareRevision(), expected);
        assert.equal(dev.images().application?.sha256, APP.sha256);
        // The bootloader image went into place byte for byte.
        assert.equal(bootloaderFlashSha(s, BL.size), BL.sha256);
        assert.equal(dev.images().bootloader?.sha256, BL.sha256);
        // Buttonless into DFU mode twice: once for each image.
        assert.deepEqual(journey(r.events), ['CONNECTING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'ACTIVATING', 'SUCCEEDED']);
        assert.ok(
          details(r, 'ENTERING_BOOTLOADER').some((d) => d.includes('the bootloader started the application after activating the bootloader image') && d.includes(REENTER)),
          `no event says why the application was asked again: ${details(r, 'ENTERING_BOOTLOADER').join(' | ')}`,
        );
        const ps = progresses(r.events);
        assert.equal(ps.at(-1)?.totalBytesSent, BL.size + APP.size);
        assert.equal(s.observed().dataBytes, BL.size + APP.size, 'each image sent once');
        const job = (await s.client.getJob({ jobId: f.jobId })).job;
        assert.equal(job?.state, JobState.JOB_STATE_SUCCEEDED);
        assert.equal(job?.result?.deviceState, DeviceState.DEVICE_STATE_APPLICATION);
      } finally {
        await s.close();
      }
    });

    it('bootloader + application with the link lost on reaching the bootloader for the application image: still completes', { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const dev = s.device();
        // The second Select of the command object is the application image's first request.
        const cut: SimFault = { kind: 'dropLinkAfterRequest', op: 'select', objectType: 'command', occurrence: 2 };
        const handle = s.world.faults.inject(cut);
        const r = await dfu(s, await projectZip('bl-app'));
        const f = succeeded(r);
        assert.equal(handle.fired, 1, 'the link was cut between the images');
        assert.equal(f.result.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
        assert.equal(f.result.deviceState, DeviceState.DEVICE_STATE_APPLICATION);
        assert.equal(dev.images().application?.sha256, APP.sha256);
        assert.equal(bootloaderFlashSha(s, BL.size), BL.sha256);
        assert.ok(journey(r.events).includes('RESUMING'), `no resume: ${journey(r.events).join(' → ')}`);
        assert.equal(s.observed().dataBytes, BL.size + APP.size, 'nothing sent twice');
      } finally {
        await s.close();
      }
    });

    it('SoftDevice only (same major version): activated, the device waits in DFU mode and the job ends without waiting for an application', { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const dev = s.device();
        const r = await dfu(s, await projectZip('softdevice'));
        const f = succeeded(r);
        assert.equal(f.result.deviceState, DeviceState.DEVICE_STATE_DFU_MODE);
        assert.equal(f.result.firmwareRevision, '');
        assert.equal(dev.images().softDevice?.sha256, SD.sha256);
        assert.equal(dev.images().softDeviceFwid, TEST_SD_FWID, "the package's SoftDevice FWID");
        // Major 7 → 7: a minor update keeps the application valid, so the
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
      const s = await startSimServer({}, {}, dongle);
      try {
        const dev = s.device();
        const before = dev.images();
        const r = await dfu(s, await projectZip('sd-bl'));
        const f = succeeded(r);
        assert.equal(f.result.deviceState, DeviceState.DEVICE_STATE_DFU_MODE);
        assert.equal(f.result.firmwareRevision, '');
        const parts = SDBL.parts;
        assert.ok(parts !== undefined);
        const after = dev.images();
        assert.equal(after.softDevice?.sha256, parts.softdevice);
        assert.equal(after.softDevice?.size, SDBL.sdSize);
        assert.equal(after.softDeviceFwid, SDBL_SD_FWID);
        assert.equal(after.bootloader?.sha256, parts.bootloader);
        assert.notEqual(after.bootloader?.sha256, before.bootloader?.sha256);
        // SoftDevice major 7 → 6: no application is valid any more; the device stays in DFU mode.
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

    it("SoftDevice + bootloader + application (Nordic's iosdfu package): ends in the new application with its revision", { timeout: TEST_TIMEOUT_MS, ...NEEDS_NORDIC_PACKAGES }, async () => {
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
