/**
 * Acceptance: failures reach the client as stable codes through every real layer — bad packages
 * are refused before anything goes on the air, the device's own rejections are surfaced by name,
 * and a device that is not there is NOT_FOUND after the scan timeout.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import JSZip from 'jszip';
import { decodeError, startDfu, Status } from '../../clients/ts/index.js';
import { addressTarget, drain, finished, fixture, journey, revisionOf, SIM_DONGLES, startSimServer, type SimServer } from '../helpers/sim-server.js';
import { NEEDS_NORDIC_PACKAGES } from '../helpers/dfu-fixtures.js';
import { projectZip } from '../helpers/project-packages.js';

const DK_APP_SHA256 = '7f030207a1b243df126c23835239c705be5de8039fa882b89d2b4d4b71c1c797';

async function dfu(s: SimServer, data: Uint8Array, target = addressTarget(s.device().address.value), scanTimeoutMs?: number) {
  return drain(
    startDfu(
      s.client,
      {
        package: { data },
        target,
        ...(scanTimeoutMs === undefined ? {} : { options: { scanTimeout: { seconds: Math.floor(scanTimeoutMs / 1000), nanos: (scanTimeoutMs % 1000) * 1_000_000 } } }),
      },
      { signal: AbortSignal.timeout(20_000) },
    ),
  );
}

/** A package with its .bin and .dat but no manifest.json. */
/** The SDK 16 blinky package with its init packet replaced by the SDK 11 fixture's legacy one. */
async function secureManifestLegacyDat(): Promise<Uint8Array> {
  const legacy = await JSZip.loadAsync(fixture('legacy_sdk11.0.0_dfu_test_app_hrm_s132.zip'));
  const dat = await legacy.file('dfu_test_app_hrm_s132.dat')?.async('uint8array');
  if (dat === undefined) throw new Error('the SDK 11 fixture has no dfu_test_app_hrm_s132.dat');
  const zip = await JSZip.loadAsync(fixture('nrfutil_blinky_mbr_sdk160.zip'));
  zip.file('nrf52840_xxaa.dat', dat);
  return zip.generateAsync({ type: 'uint8array' });
}

async function zipWithoutManifest(): Promise<Uint8Array> {
  const src = await JSZip.loadAsync(await projectZip('app-small'));
  const out = new JSZip();
  for (const [name, file] of Object.entries(src.files)) {
    if (name !== 'manifest.json' && !file.dir) out.file(name, await file.async('uint8array'));
  }
  assert.ok(Object.keys(out.files).length >= 2);
  return out.generateAsync({ type: 'uint8array' });
}

for (const dongle of SIM_DONGLES) {
  describe(`refused packages never reach the device (${dongle.label})`, () => {
    const cases: { name: string; bytes: () => Promise<Uint8Array>; code: string; message: RegExp; needs?: typeof NEEDS_NORDIC_PACKAGES }[] = [
      {
        name: 'a corrupt (truncated) zip',
        bytes: async () => (await projectZip('app')).subarray(0, 40_000),
        code: 'PACKAGE_INVALID',
        message: /not a readable zip/,
      },
      { name: 'a zip without manifest.json', bytes: zipWithoutManifest, code: 'PACKAGE_INVALID', message: /no manifest\.json/ },
      {
        // A legacy package is read (and sent by the legacy engine); one that mixes the protocols is not.
        name: 'a Secure DFU manifest with a legacy (SDK 11) init packet',
        bytes: secureManifestLegacyDat,
        code: 'PACKAGE_LEGACY',
        message: /legacy init packet, made for the legacy DFU of nRF5 SDK ≤ 11/,
        needs: NEEDS_NORDIC_PACKAGES,
      },
    ];
    for (const c of cases) {
      it(`${c.name}: INVALID_ARGUMENT ${c.code}, no scan, no connection, no reset`, { timeout: 15_000, ...c.needs }, async () => {
        const s = await startSimServer({}, {}, dongle);
        try {
          const dev = s.device();
          const resets = dev.resets();
          const { events, error } = await dfu(s, await c.bytes());
          assert.deepEqual(events, [], 'refused before any job exists');
          const d = decodeError(error);
          assert.equal(d.grpcCode, Status.INVALID_ARGUMENT);
          assert.equal(d.code, c.code);
          assert.match(d.message, c.message);
          assert.ok(d.remedy !== undefined && d.remedy.length > 0, 'a remedy is given');
          assert.deepEqual((await s.client.listJobs({ activeOnly: false })).jobs, []);
          // The simulated air: the controller never scanned nor tried to connect; the device saw nothing.
          assert.deepEqual({ ...s.air }, { scans: 0, scanning: false, initiations: 0, scanAddresses: [] });
          assert.equal(s.observed().connections, 0);
          assert.equal(dev.resets(), resets);
          assert.equal(dev.mode(), 'application');
          assert.equal(dev.images().application?.sha256, DK_APP_SHA256);
        } finally {
          await s.close();
        }
      });
    }
  });
}

for (const dongle of SIM_DONGLES) {
  describe(`the device's rejections, by name (${dongle.label})`, () => {
    it("wrong key (a project package, signed with the demo key, on a bootloader trusting Nordic's SDK 17.0.2 key): INVALID_OBJECT, FAILED_PRECONDITION", { timeout: 20_000 }, async () => {
      const s = await startSimServer({ devices: [{ key: 'sdk17.0.2' }] }, {}, dongle);
      try {
        const dev = s.device();
        const { events, error } = await dfu(s, await projectZip('app-small'));
        const d = decodeError(error);
        assert.equal(d.grpcCode, Status.FAILED_PRECONDITION);
        assert.equal(d.code, 'DFU_REMOTE_ERROR');
        assert.equal(d.dfuResult, 5);
        assert.equal(d.dfuResultName, 'INVALID_OBJECT');
        assert.equal(d.dfuExtended, undefined);
        assert.match(d.message, /INVALID_OBJECT/);
        // The job's own record says the same.
        const f = finished(events);
        assert.equal(f?.result.success, false);
        assert.equal(f?.error?.code, 'DFU_REMOTE_ERROR');
        assert.equal(f?.error?.dfuResultName, 'INVALID_OBJECT');
        assert.equal(journey(events).at(-1), 'FAILED');
        // Refused at the init packet: not a byte of firmware was sent, the old application stays.
        assert.ok(s.observed().commandBytes > 0);
        assert.equal(s.observed().dataBytes, 0);
        assert.equal(dev.images().application?.sha256, DK_APP_SHA256);
        assert.equal(dev.firmwareRevision(), revisionOf(1, DK_APP_SHA256));
      } finally {
        await s.close();
      }
    });

    it("unsigned package (nrfutil's) on a bootloader that requires signed apps: EXT_ERROR SIGNATURE_MISSING (8)", { timeout: 20_000, ...NEEDS_NORDIC_PACKAGES }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const { events, error } = await dfu(s, fixture('nrfutil_test_package_unsigned.zip'));
        const d = decodeError(error);
        assert.equal(d.grpcCode, Status.FAILED_PRECONDITION);
        assert.equal(d.code, 'DFU_REMOTE_ERROR');
        assert.equal(d.dfuResult, 0x0b);
        assert.equal(d.dfuResultName, 'EXT_ERROR');
        assert.equal(d.dfuExtended, 8);
        assert.equal(d.dfuExtendedName, 'SIGNATURE_MISSING');
        assert.match(d.message, /SIGNATURE_MISSING/);
        assert.equal(finished(events)?.error?.dfuExtendedName, 'SIGNATURE_MISSING');
        assert.equal(s.observed().dataBytes, 0);
      } finally {
        await s.close();
      }
    });
  });
}

for (const dongle of SIM_DONGLES) {
  describe(`a device that is not there (${dongle.label})`, () => {
    it('unknown address: NOT_FOUND DEVICE_NOT_FOUND after the scan timeout', { timeout: 15_000 }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const scanTimeoutMs = 400;
        const nobody = 'C0:FF:EE:00:00:01';
        // The scan timeout runs on the server's clock: the simulator's modelled time.
        const t0 = s.registry.clock.now();
        const { events, error } = await dfu(s, await projectZip('app-small'), addressTarget(nobody), scanTimeoutMs);
        const elapsed = s.registry.clock.now() - t0;
        const d = decodeError(error);
        assert.equal(d.grpcCode, Status.NOT_FOUND);
        assert.equal(d.code, 'DEVICE_NOT_FOUND');
        assert.match(d.message, new RegExp(nobody));
        assert.ok(elapsed >= scanTimeoutMs, `gave up after ${elapsed.toFixed(0)} ms, before the ${scanTimeoutMs} ms scan timeout`);
        assert.ok(elapsed < 5_000, `took ${elapsed.toFixed(0)} ms: the short scan_timeout was not used`);
        const f = finished(events);
        assert.equal(f?.result.success, false);
        assert.equal(f?.error?.code, 'DEVICE_NOT_FOUND');
        // It scanned (and heard the real device), but connected to nothing.
        assert.ok(s.air.scans > 0);
        assert.equal(s.air.initiations, 0);
        assert.equal(s.observed().connections, 0);
      } finally {
        await s.close();
      }
    });
  });
}
