/**
 * Acceptance: Secure DFU through every layer — gRPC client → server → job manager → engine → HCI
 * host stack → H4 bytes → virtual controller → simulated air → simulated nRF5 application
 * (buttonless entry) and bootloader. Each test has its own world and server. The single-image
 * updates send the project's own packages (demo firmware signed with the demo key the simulator
 * trusts by default), with facts computed from their bytes; the multi-image update sends Nordic's
 * real iosdfu package from ../shared, whose values come from that folder's README §3.1, not from
 * our decoder.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import JSZip from 'jszip';
import { describe, it } from 'node:test';
import { ImageType, JobState, startDfu } from '../../clients/ts/index.js';
import {
  addressTarget,
  drain,
  finished,
  fixture,
  journey,
  progresses,
  revisionOf,
  SIM_DONGLES, startSimServer,
  type Drained,
  type SimServer,
} from '../helpers/sim-server.js';
import { NEEDS_NORDIC_PACKAGES } from '../helpers/dfu-fixtures.js';
import { projectImage, projectZip, type ProjectPackageName } from '../helpers/project-packages.js';

/** shared fixtures/dfu README §3.1 */
const IOS = {
  zip: 'iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip',
  sdBl: { size: 177_352, sdSize: 153_140, blSize: 24_212, fwVersion: 34 },
  app: { size: 53_624, crc32: 0x33010c1a, fwVersion: 1, sha256: 'a3bf0b73eb3ef405ba3b1725f19b20fba169f6682a214f38d7402e9a94e141bd' },
};
/** The DK image the simulated chip starts with (shared fixtures/dfu README §3.1, buttonless without bonds). */
const DK_APP_SHA256 = '7f030207a1b243df126c23835239c705be5de8039fa882b89d2b4d4b71c1c797';

const TEST_TIMEOUT_MS = 30_000;

async function dfu(s: SimServer, zip: string | Uint8Array, ms = 20_000): Promise<Drained> {
  const data = typeof zip === 'string' ? fixture(zip) : zip;
  return drain(startDfu(s.client, { package: { data }, target: addressTarget(s.device().address.value) }, { signal: AbortSignal.timeout(ms) }));
}

/** A project package and the facts of its one application image. */
async function project(name: ProjectPackageName): Promise<{ zip: Uint8Array; size: number; crc32: number; fwVersion: number; sha256: string }> {
  return { zip: await projectZip(name), ...(await projectImage(name)) };
}

/** Progress only grows, per image and over the package, never repeats itself, and ends at the package's total. */
function assertProgressMonotonic(events: Drained['events'], total: number): void {
  const ps = progresses(events);
  assert.ok(ps.length > 0, 'no progress events');
  for (let i = 1; i < ps.length; i++) {
    const a = ps[i - 1];
    const b = ps[i];
    assert.ok(a !== undefined && b !== undefined);
    assert.ok(b.totalBytesSent >= a.totalBytesSent, `total progress went back: ${a.totalBytesSent} → ${b.totalBytesSent}`);
    assert.ok(b.imageIndex >= a.imageIndex, `image index went back: ${a.imageIndex} → ${b.imageIndex}`);
    if (b.imageIndex === a.imageIndex) assert.ok(b.imageBytesSent >= a.imageBytesSent, `image progress went back: ${a.imageBytesSent} → ${b.imageBytesSent}`);
    // A PRN, the CRC check and the Execute of one object confirm the same bytes: reported once.
    assert.ok(b.imageIndex !== a.imageIndex || b.imageBytesSent !== a.imageBytesSent, `progress repeated: image ${b.imageIndex} at ${b.imageBytesSent} bytes`);
  }
  for (const p of ps) {
    assert.equal(p.totalBytesTotal, total);
    assert.ok(p.totalBytesSent <= total && p.imageBytesSent <= p.imageBytesTotal);
  }
  const last = ps.at(-1);
  assert.equal(last?.totalBytesSent, total, 'progress did not reach the total');
  assert.equal(last?.imageBytesSent, last?.imageBytesTotal);
}

function assertSucceeded(r: Drained): NonNullable<ReturnType<typeof finished>> {
  assert.equal(r.error, undefined, `the call failed: ${String(r.error)}`);
  const f = finished(r.events);
  assert.ok(f, 'no finished event');
  assert.equal(f.result.success, true, f.error?.message);
  assert.equal(r.events[0]?.type, 'snapshot');
  return f;
}

for (const dongle of SIM_DONGLES) {
  describe(`Secure DFU over gRPC on the simulator (${dongle.label})`, () => {
    it('small application (demo key): buttonless entry, one object, the new image boots', { timeout: TEST_TIMEOUT_MS }, async () => {
      const SMALL = await project('app-small');
      const s = await startSimServer({}, {}, dongle);
      try {
        const dev = s.device();
        assert.equal(dev.firmwareRevision(), revisionOf(1, DK_APP_SHA256));
        const resetsBefore = dev.resets();
        const r = await dfu(s, SMALL.zip);
        const f = assertSucceeded(r);
        const expected = revisionOf(SMALL.fwVersion, SMALL.sha256);
        // What the engine read over DIS after the update, and what the simulated chip runs.
        assert.equal(f.result.firmwareRevision, expected);
        assert.equal(dev.firmwareRevision(), expected);
        assert.equal(dev.mode(), 'application');
        const app = dev.images().application;
        assert.equal(app?.sha256, SMALL.sha256);
        assert.equal(app?.size, SMALL.size);
        assert.equal(app?.crc32, SMALL.crc32);
        // Buttonless jump (one reset) and activation (one more).
        assert.equal(dev.resets() - resetsBefore, 2);
        assert.deepEqual(journey(r.events), ['CONNECTING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'ACTIVATING', 'SUCCEEDED']);
        assertProgressMonotonic(r.events, SMALL.size);
        // Everything was sent once: no retransmission on a clean link.
        assert.equal(s.observed().dataBytes, SMALL.size);
        const job = (await s.client.getJob({ jobId: f.jobId })).job;
        assert.equal(job?.state, JobState.JOB_STATE_SUCCEEDED);
        assert.equal(job?.deviceAddress?.value, dev.address.value);
        assert.ok((f.result.modelledAirTime?.seconds ?? 0) > 0, 'the simulated adapter reports modelled air time');
      } finally {
        await s.close();
      }
    });

    it('~100 KB application (demo key): 25 objects, progress to the end, new revision', { timeout: TEST_TIMEOUT_MS }, async () => {
      const LARGE = await project('app');
      assert.equal(Math.ceil(LARGE.size / 4096), 25, 'as many data objects as the HRS example');
      const s = await startSimServer({}, {}, dongle);
      try {
        const dev = s.device();
        const r = await dfu(s, LARGE.zip);
        const f = assertSucceeded(r);
        const expected = revisionOf(LARGE.fwVersion, LARGE.sha256);
        assert.equal(f.result.firmwareRevision, expected);
        assert.equal(dev.firmwareRevision(), expected);
        assert.equal(dev.images().application?.sha256, LARGE.sha256);
        assert.equal(dev.images().application?.crc32, LARGE.crc32);
        assertProgressMonotonic(r.events, LARGE.size);
        assert.ok(progresses(r.events).every((p) => p.imageType === ImageType.IMAGE_TYPE_APPLICATION && p.imageCount === 1 && p.imageIndex === 0));
        assert.deepEqual(journey(r.events), ['CONNECTING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'ACTIVATING', 'SUCCEEDED']);
        assert.equal(s.observed().dataBytes, LARGE.size);
      } finally {
        await s.close();
      }
    });

    it("multi-image iosdfu package (Nordic's, iosdfu key): SoftDevice+bootloader, then the application", { timeout: TEST_TIMEOUT_MS, ...NEEDS_NORDIC_PACKAGES }, async () => {
      const s = await startSimServer({ devices: [{ key: 'iosdfu' }] }, {}, dongle);
      try {
        const dev = s.device();
        const before = dev.images();
        assert.equal(before.bootloaderVersion, 1);
        const r = await dfu(s, IOS.zip, 25_000);
        const f = assertSucceeded(r);
        const total = IOS.sdBl.size + IOS.app.size;
        assertProgressMonotonic(r.events, total);
        const ps = progresses(r.events);
        // Image 0 (SD+BL) strictly before image 1 (app), each reported with its own type and size.
        const firstApp = ps.findIndex((p) => p.imageIndex === 1);
        assert.ok(firstApp > 0, 'progress of both images');
        assert.ok(ps.slice(0, firstApp).every((p) => p.imageIndex === 0 && p.imageType === ImageType.IMAGE_TYPE_SOFTDEVICE_BOOTLOADER && p.imageBytesTotal === IOS.sdBl.size));
        assert.ok(ps.slice(firstApp).every((p) => p.imageIndex === 1 && p.imageType === ImageType.IMAGE_TYPE_APPLICATION && p.imageBytesTotal === IOS.app.size));
        assert.ok(ps.every((p) => p.imageCount === 2));
        assert.equal(ps[firstApp - 1]?.imageBytesSent, IOS.sdBl.size, 'the SD+BL image was complete before the app started');
        assert.equal(ps[firstApp - 1]?.totalBytesSent, IOS.sdBl.size);

        const expected = revisionOf(IOS.app.fwVersion, IOS.app.sha256);
        assert.equal(f.result.firmwareRevision, expected);
        assert.equal(dev.firmwareRevision(), expected);
        assert.equal(dev.mode(), 'application');
        const after = dev.images();
        assert.equal(after.application?.sha256, IOS.app.sha256);
        assert.equal(after.application?.crc32, IOS.app.crc32);
        // The flash view: the SoftDevice and the bootloader were replaced by the package's parts.
        const sdBl = await readSdBl();
        assert.equal(after.softDevice?.size, IOS.sdBl.sdSize);
        assert.equal(after.softDevice?.sha256, sdBl.sd);
        assert.notEqual(after.softDevice?.sha256, before.softDevice?.sha256);
        assert.equal(after.softDeviceFwid, 0x100, 'the iosdfu SoftDevice carries the real S140 7.2.0 FWID');
        assert.equal(after.bootloader?.size, IOS.sdBl.blSize);
        assert.equal(after.bootloader?.sha256, sdBl.bl);
        assert.notEqual(after.bootloader?.sha256, before.bootloader?.sha256);
        assert.equal(after.bootloaderVersion, IOS.sdBl.fwVersion);
        assert.equal(s.observed().dataBytes, total);
        assert.deepEqual(journey(r.events), ['CONNECTING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'ACTIVATING', 'SUCCEEDED']);
        const job = (await s.client.getJob({ jobId: f.jobId })).job;
        assert.deepEqual(job?.images.map((i) => i.type), [ImageType.IMAGE_TYPE_SOFTDEVICE_BOOTLOADER, ImageType.IMAGE_TYPE_APPLICATION]);
      } finally {
        await s.close();
      }
    });
  });
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** SHA-256 of the SoftDevice and bootloader parts of the iosdfu sd_bl.bin (split at sd_size). */
async function readSdBl(): Promise<{ sd: string; bl: string }> {
  const zip = await JSZip.loadAsync(fixture(IOS.zip));
  const names = Object.keys(zip.files).filter((n) => n.endsWith('.bin'));
  for (const n of names) {
    const bin = await zip.file(n)?.async('uint8array');
    if (bin?.length === IOS.sdBl.size) {
      return { sd: sha(bin.subarray(0, IOS.sdBl.sdSize)), bl: sha(bin.subarray(IOS.sdBl.sdSize)) };
    }
  }
  throw new Error('no sd_bl.bin in the iosdfu package');
}
