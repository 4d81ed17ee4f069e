/**
 * The legacy DFU engine end to end: through gRPC on the accelerated simulator with both dongle
 * kinds, simulated legacy devices (nRF5 SDK 11 and Adafruit bootloaders, legacy buttonless
 * applications) are updated with Nordic's two SDK 11 fixtures (read from ../shared at run time)
 * and with packages made here (makeLegacyPackage). What reached each device is counted at the
 * simulator, not taken from the server's account.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import JSZip from 'jszip';
import { decodeError, SkipReason, startDfu, uploadPackage, type DfuEvent } from '../../clients/ts/index.js';
import { makeLegacyPackage } from '../../server/dfu/package/legacyGenerate.js';
import { ADAFRUIT } from '../../server/dfu/package/legacyInitPacket.js';
import { firmwareRevisionOf } from '../../server/sim/devices/application.js';
import { deterministicFiller, imageIdentity } from '../../server/sim/devices/chip.js';
import type { SimDeviceConfig } from '../../server/sim/world.js';
import { NEEDS_NORDIC_PACKAGES } from '../helpers/shared-packages.js';
import { projectZip } from '../helpers/project-packages.js';
import { addressTarget, drain, finished, fixture, SIM_DONGLES, startSimServer, until, type SimServer } from '../helpers/sim-server.js';

const SDK11_APP = 'legacy_sdk11.0.0_dfu_test_app_hrm_s132.zip';
const SDK11_SDBL = 'legacy_sdk11.0.0_dfu_test_softdevice_w_bootloader_b_s132.zip';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** One image of a legacy package, as the device should hold it afterwards. */
async function zipImage(zip: Uint8Array, key: string): Promise<{ bin: Uint8Array; sdSize: number; blSize: number }> {
  const z = await JSZip.loadAsync(zip);
  const manifest = JSON.parse((await z.file('manifest.json')?.async('string')) ?? '{}') as { manifest: Record<string, { bin_file: string; sd_size?: number; bl_size?: number }> };
  const entry = manifest.manifest[key];
  assert.ok(entry, `no ${key} in the package`);
  const bin = await z.file(entry.bin_file)?.async('uint8array');
  assert.ok(bin);
  return { bin, sdSize: entry.sd_size ?? 0, blSize: entry.bl_size ?? 0 };
}

async function dfu(s: SimServer, zip: Uint8Array, options: { prn?: number } = {}) {
  return drain(
    startDfu(s.client, { package: { data: zip }, target: addressTarget(s.device().address.value), ...(options.prn === undefined ? {} : { options: { prn: options.prn } }) }, { signal: AbortSignal.timeout(120_000) }),
  );
}

const ms = (d: { readonly seconds: number; readonly nanos: number } | undefined): number => (d === undefined ? Number.NaN : d.seconds * 1000 + d.nanos / 1e6);

/** The job's state details, in order. */
const details = (events: readonly DfuEvent[]): string[] => events.flatMap((e) => (e.type === 'state' ? [`${e.stateName}: ${e.detail}`] : []));

const revisionOfBin = (bin: Uint8Array): string => firmwareRevisionOf(imageIdentity(bin, undefined));

/** A generated application image for SDK 11 style devices (any device type, any SoftDevice). */
async function sdk11AppPackage(size: number, seed: number): Promise<{ zip: Uint8Array; bin: Uint8Array }> {
  const bin = deterministicFiller(size, seed);
  return { zip: await makeLegacyPackage({ application: bin }), bin };
}

async function withServer(device: Partial<SimDeviceConfig>, dongle: (typeof SIM_DONGLES)[number], fn: (s: SimServer) => Promise<void>): Promise<void> {
  const s = await startSimServer({ devices: [device] }, {}, dongle);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

for (const dongle of SIM_DONGLES) {
  describe(`legacy DFU through gRPC (${dongle.label})`, { timeout: 120_000 }, () => {
    it(`Nordic's SDK 11 application fixture (${SDK11_APP}) updates an SDK 11 device from its application (buttonless entry, bootloader at address + 1)`, NEEDS_NORDIC_PACKAGES, async () => {
      await withServer({ kind: 'legacy-sdk11' }, dongle, async (s) => {
        const zip = fixture(SDK11_APP);
        const app = await zipImage(zip, 'application');
        const running = s.device().firmwareRevision();
        const { events, error } = await dfu(s, zip);
        const f = finished(events);
        assert.equal(f?.result.deviceInfo?.firmwareRevision, running, "the application's Device Information, read on first contact");
        assert.equal(error, undefined, String(error));
        assert.equal(f?.result.success, true, JSON.stringify(f?.result));
        const dev = s.device();
        assert.equal(dev.images().application?.sha256, sha256(app.bin));
        assert.equal(dev.mode(), 'application');
        assert.equal(f?.result.firmwareRevision, firmwareRevisionOf(imageIdentity(app.bin, undefined)));
        assert.equal(s.observed().dataBytes, app.bin.length, 'each firmware byte sent once');
      });
    });

    it(`Nordic's SDK 11 SoftDevice + bootloader fixture (${SDK11_SDBL}) installs in one Start DFU (type 0x03); the device stays in its bootloader`, NEEDS_NORDIC_PACKAGES, async () => {
      await withServer({ kind: 'legacy-sdk11', startInBootloader: true }, dongle, async (s) => {
        const zip = fixture(SDK11_SDBL);
        const sdbl = await zipImage(zip, 'softdevice_bootloader');
        const { events, error } = await dfu(s, zip);
        assert.equal(error, undefined, String(error));
        const f = finished(events);
        assert.equal(f?.result.success, true, JSON.stringify(f?.result));
        const images = s.device().images();
        assert.equal(images.softDevice?.sha256, imageIdentity(sdbl.bin.subarray(0, sdbl.sdSize), undefined).sha256);
        assert.equal(images.bootloader?.sha256, imageIdentity(sdbl.bin.subarray(sdbl.sdSize), undefined).sha256);
        assert.equal(s.device().mode(), 'bootloader', 'a new SoftDevice invalidated the application');
        assert.equal(s.observed().dataBytes, sdbl.bin.length);
      });
    });

    it('a SoftDevice + bootloader + application package: SD+BL in one connection, the application in a second one after the reset', async () => {
      await withServer({ kind: 'legacy-sdk11' }, dongle, async (s) => {
        const softdevice = deterministicFiller(8_192, 0x51);
        const bootloader = deterministicFiller(4_096, 0x52);
        const application = deterministicFiller(6_000, 0x53);
        const zip = await makeLegacyPackage({ softdevice, bootloader, application });
        const { events, error } = await dfu(s, zip);
        assert.equal(error, undefined, String(error));
        const f = finished(events);
        assert.equal(f?.result.success, true, JSON.stringify(f?.result));
        const images = s.device().images();
        assert.equal(images.softDevice?.sha256, imageIdentity(softdevice, undefined).sha256);
        assert.equal(images.bootloader?.sha256, imageIdentity(bootloader, undefined).sha256);
        assert.equal(images.application?.sha256, sha256(application));
        assert.equal(s.device().mode(), 'application');
        assert.equal(f?.result.firmwareRevision, revisionOfBin(application));
        assert.equal(s.observed().dataBytes, softdevice.length + bootloader.length + application.length);
      });
    });

    it('an Adafruit-style package (device type 0x0052), uploaded with UploadPackage, updates an Adafruit bootloader from its application', async () => {
      await withServer({ kind: 'legacy-adafruit' }, dongle, async (s) => {
        const bin = deterministicFiller(12_000, 0xad);
        const zip = await makeLegacyPackage({ application: bin, deviceType: ADAFRUIT.DEVICE_TYPE, applicationVersion: 3 });
        const uploaded = await uploadPackage(s.client, zip);
        assert.deepEqual(
          uploaded.images.map((i) => ({ size: i.size, fwVersion: i.fwVersion, sha256: i.sha256 })),
          [{ size: bin.length, fwVersion: 3, sha256: sha256(bin) }],
        );
        const { events, error } = await drain(
          startDfu(s.client, { package: { packageId: uploaded.packageId }, target: addressTarget(s.device().address.value) }, { signal: AbortSignal.timeout(120_000) }),
        );
        assert.equal(error, undefined, String(error));
        const f = finished(events);
        assert.equal(f?.result.success, true, JSON.stringify(f?.result));
        assert.equal(s.device().images().application?.sha256, sha256(bin));
        assert.equal(f?.result.firmwareRevision, firmwareRevisionOf(imageIdentity(bin, 3)), 'the application version of the init packet is what the device records');
        // Where the job's time went, on the server's one clock: the phases add up to its duration.
        const p = f?.result.phaseTimes;
        assert.ok(p !== undefined);
        const phases = { scan: p.scan, connect: p.connect, buttonlessEntry: p.buttonlessEntry, rebootWaits: p.rebootWaits, initPacket: p.initPacket, dataTransfer: p.dataTransfer, flashWaits: p.flashWaits, activation: p.activation, finalRead: p.finalRead, other: p.other };
        const text = Object.entries(phases).map(([k, d]) => `${k} ${ms(d)}`).join(', ');
        const sum = Object.values(phases).reduce((n, d) => n + ms(d), 0);
        assert.ok(Math.abs(sum - ms(f?.result.duration)) <= 1, `phases add up to ${sum} ms, the job took ${ms(f?.result.duration)} ms: ${text}`);
        for (const k of ['scan', 'connect', 'rebootWaits', 'dataTransfer', 'flashWaits', 'activation', 'finalRead'] as const) assert.ok(ms(phases[k]) > 0, `${k} took no time: ${text}`);
        assert.ok(ms(phases.other) < 10, text);
      });
    });

    it('an Adafruit bootloader refuses a package without its device type: LEGACY_OPERATION_FAILED at the init packet, no firmware byte sent', async () => {
      await withServer({ kind: 'legacy-adafruit' }, dongle, async (s) => {
        const { zip } = await sdk11AppPackage(4_000, 0xae);
        const { events, error } = await dfu(s, zip);
        assert.equal(finished(events)?.result.success, false);
        const d = decodeError(error);
        assert.equal(d.code, 'DFU_REMOTE_ERROR');
        assert.equal(d.dfuResultName, 'LEGACY_OPERATION_FAILED');
        assert.match(d.remedy ?? '', /0x0052/);
        assert.equal(s.observed().dataBytes, 0);
      });
    });

    it('a device named by its advertised name: found, sent to its bootloader (address + 1, "DfuTarg") and updated', async () => {
      await withServer({ kind: 'legacy-sdk11', name: 'legacy-hrm' }, dongle, async (s) => {
        const { zip, bin } = await sdk11AppPackage(3_000, 0x63);
        const { events, error } = await drain(
          startDfu(s.client, { package: { data: zip }, target: { selector: { $case: 'name', name: 'legacy-hrm' } } }, { signal: AbortSignal.timeout(120_000) }),
        );
        assert.equal(error, undefined, String(error));
        assert.equal(finished(events)?.result.success, true);
        assert.equal(s.device().images().application?.sha256, sha256(bin));
        assert.equal(finished(events)?.result.firmwareRevision, revisionOfBin(bin));
      });
    });

    for (const entry of ['same-address', 'directed'] as const) {
      it(`buttonless entry with a shared bond (${entry}): the bootloader at the application's address`, async () => {
        await withServer({ kind: 'legacy-sdk11', legacyEntry: entry }, dongle, async (s) => {
          const { zip, bin } = await sdk11AppPackage(5_000, entry === 'directed' ? 0x61 : 0x62);
          const { events, error } = await dfu(s, zip);
          assert.equal(error, undefined, String(error));
          assert.equal(finished(events)?.result.success, true);
          assert.equal(s.device().images().application?.sha256, sha256(bin));
          assert.equal(finished(events)?.result.firmwareRevision, revisionOfBin(bin));
        });
      });
    }

    it('a link lost mid-transfer: the image restarts from the beginning (the job says so) and the device ends updated', async () => {
      await withServer({ kind: 'legacy-sdk11' }, dongle, async (s) => {
        const { zip, bin } = await sdk11AppPackage(6_000, 0x71);
        s.world.faults.inject({ kind: 'dropLinkAfterDataBytes', bytes: 2_000 });
        const { events, error } = await dfu(s, zip);
        assert.equal(error, undefined, String(error));
        assert.equal(finished(events)?.result.success, true);
        assert.ok(details(events).some((d) => /^RESUMING: .*restarting image: legacy DFU cannot resume/.test(d)), details(events).join('\n'));
        assert.equal(s.device().images().application?.sha256, sha256(bin));
        assert.ok(s.observed().dataBytes >= bin.length + 2_000, `the image was sent again from its start (${s.observed().dataBytes} bytes)`);
      });
    });

    it('a link lost right after Start DFU was answered: the bootloader then answers INVALID_STATE, is reset, and the image is sent from its start', async () => {
      await withServer({ kind: 'legacy-adafruit', startInBootloader: true, validApp: false }, dongle, async (s) => {
        const bin = deterministicFiller(4_000, 0x74);
        const zip = await makeLegacyPackage({ application: bin, deviceType: ADAFRUIT.DEVICE_TYPE });
        s.world.faults.inject({ kind: 'dropLinkAfterLegacyResponse', op: 0x01 });
        const resets = s.device().resets();
        const { events, error } = await dfu(s, zip);
        assert.equal(s.device().resets() - resets, 2, 'a System Reset for the interrupted transfer, then the activation');
        assert.equal(error, undefined, String(error));
        assert.equal(finished(events)?.result.success, true);
        assert.ok(details(events).some((d) => /restarting image: legacy DFU cannot resume/.test(d)), details(events).join('\n'));
        assert.equal(s.device().images().application?.sha256, sha256(bin));
        assert.equal(s.observed().dataBytes, bin.length, 'no firmware byte had been sent before the loss');
      });
    });

    it('a corrupted packet: Validate answers CRC error, the bootloader is reset and the image sent again; the device ends updated', async () => {
      await withServer({ kind: 'legacy-sdk11' }, dongle, async (s) => {
        const { zip, bin } = await sdk11AppPackage(3_000, 0x72);
        s.world.faults.inject({ kind: 'corruptDataPacket', packet: 7 });
        const { events, error } = await dfu(s, zip);
        assert.equal(error, undefined, String(error));
        assert.equal(finished(events)?.result.success, true);
        assert.ok(details(events).some((d) => /^RESUMING: .*LEGACY_CRC_ERROR.*restarting image/.test(d)), details(events).join('\n'));
        assert.equal(s.device().images().application?.sha256, sha256(bin));
        assert.equal(s.observed().dataBytes, 2 * bin.length, 'sent twice, whole');
      });
    });

    it('an SDK ≤ 6 bootloader (no DFU Revision: DFU v1) takes an application with the one-byte Start DFU, the 4-byte size and the CRC-16 alone', async () => {
      await withServer({ kind: 'legacy-sdk11', legacyRevision: 0, startInBootloader: true }, dongle, async (s) => {
        const { zip, bin } = await sdk11AppPackage(2_400, 0x73);
        const { events, error } = await dfu(s, zip, { prn: 50 });
        assert.equal(error, undefined, String(error));
        assert.equal(finished(events)?.result.success, true);
        assert.equal(s.device().images().application?.sha256, sha256(bin));
        assert.equal(s.device().mode(), 'application');
      });
    });

    it("skip_if_firmware_revision equal to the legacy application's: skipped, read from its Device Information, no jump and nothing sent", async () => {
      await withServer({ kind: 'legacy-sdk11' }, dongle, async (s) => {
        const { zip } = await sdk11AppPackage(2_000, 0x82);
        const running = s.device().firmwareRevision();
        assert.ok(running !== undefined);
        const resets = s.device().resets();
        const { events, error } = await drain(
          startDfu(s.client, { package: { data: zip }, target: addressTarget(s.device().address.value), options: { skipIfFirmwareRevision: running } }, { signal: AbortSignal.timeout(60_000) }),
        );
        assert.equal(error, undefined, String(error));
        const f = finished(events);
        assert.equal(f?.result.success, true);
        assert.equal(f?.result.skipped, SkipReason.SKIP_REASON_FIRMWARE_REVISION);
        assert.equal(s.device().mode(), 'application');
        assert.equal(s.device().resets(), resets, 'not sent to its bootloader');
        assert.equal(s.observed().dataBytes + s.observed().commandBytes, 0);
      });
    });

    it('a legacy package aimed at a Secure DFU device fails naming both protocols before anything is sent', async () => {
      await withServer({}, dongle, async (s) => {
        const { zip } = await sdk11AppPackage(4_000, 0x81);
        const before = s.device().images().application?.sha256;
        const { events, error } = await dfu(s, zip);
        assert.equal(finished(events)?.result.success, false);
        const d = decodeError(error);
        assert.equal(d.code, 'GATT_SERVICE_MISSING');
        assert.match(d.message, /speaks Secure DFU.*legacy DFU package/);
        assert.match(d.remedy ?? '', /Secure DFU package/);
        assert.equal(s.observed().dataBytes, 0);
        assert.equal(s.observed().commandBytes, 0);
        assert.equal(s.device().images().application?.sha256, before);
        assert.equal(s.device().mode(), 'application');
      });
    });

    it('a Secure DFU package aimed at a legacy device fails naming both protocols before anything is sent', async () => {
      await withServer({ kind: 'legacy-sdk11' }, dongle, async (s) => {
        const before = s.device().images().application?.sha256;
        const { events, error } = await dfu(s, await projectZip('app-small'));
        assert.equal(finished(events)?.result.success, false);
        const d = decodeError(error);
        assert.equal(d.code, 'GATT_SERVICE_MISSING');
        assert.match(d.message, /speaks legacy DFU/);
        assert.match(d.remedy ?? '', /legacy DFU package/);
        assert.equal(s.observed().dataBytes, 0);
        assert.equal(s.observed().commandBytes, 0);
        assert.equal(s.device().images().application?.sha256, before);
        assert.equal(s.device().mode(), 'application');
      });
    });

    it('CancelJob mid-transfer: CANCELLED, the device stays in its bootloader, and a new job updates it', async () => {
      await withServer({ kind: 'legacy-sdk11' }, dongle, async (s) => {
        const { zip, bin } = await sdk11AppPackage(20_000, 0x91);
        const seen: DfuEvent[] = [];
        const it1 = startDfu(s.client, { package: { data: zip }, target: addressTarget(s.device().address.value) }, { signal: AbortSignal.timeout(60_000) })[Symbol.asyncIterator]();
        const snapshot = await until(it1, (e) => e.type === 'snapshot', seen);
        await until(it1, (e) => e.type === 'progress' && e.progress.imageBytesSent > 2_000, seen);
        await s.client.cancelJob({ jobId: snapshot.jobId });
        let error: unknown;
        try {
          for (let r = await it1.next(); r.done !== true; r = await it1.next()) seen.push(r.value);
        } catch (e) {
          error = e;
        }
        assert.equal(decodeError(error).code, 'CANCELLED');
        assert.equal(s.device().mode(), 'bootloader', 'left in its bootloader');
        const { events, error: again } = await dfu(s, zip);
        assert.equal(again, undefined, String(again));
        assert.equal(finished(events)?.result.success, true);
        assert.equal(s.device().images().application?.sha256, sha256(bin));
        assert.equal(s.device().mode(), 'application');
      });
    });
  });
}
