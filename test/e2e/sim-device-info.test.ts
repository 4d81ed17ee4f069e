/**
 * Acceptance: the Device Information the engine reads before updating, through gRPC on the
 * accelerated simulator on both dongle kinds — the job's facts equal what the simulated board
 * holds, the audit end record carries them (the serial number at least), skip_if_firmware_revision
 * leaves a device on that revision untouched (checked on the simulated air, not by the server's
 * account), and a device met in its bootloader has none.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AuditResult, JobState, SkipReason, startDfu, type DeviceInfo, type DfuEvent, type DfuOptions } from '../../clients/ts/index.js';
import { AuditLog } from '../../server/audit/log.js';
import { SIM_DEVICE_INFO, softwareRevisionOf } from '../../server/sim/devices/application.js';
import type { SimConfig } from '../../server/sim/world.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { projectFacts } from '../helpers/project-packages.js';
import { addressTarget, drain, finished, journey, revisionOf, SIM_DONGLES, startSimServer, type SimDongle, type SimServer } from '../helpers/sim-server.js';

const APP = await projectFacts('app');

/** What the simulated board's application reports, from the board itself. */
function boardInfo(s: SimServer, firmwareRevision: string): DeviceInfo {
  const dev = s.device();
  return {
    manufacturer: SIM_DEVICE_INFO.manufacturer,
    model: SIM_DEVICE_INFO.model,
    serialNumber: dev.serialNumber,
    hardwareRevision: SIM_DEVICE_INFO.hardwareRevision,
    firmwareRevision,
    softwareRevision: softwareRevisionOf(dev.device.chip.softDeviceFwid()),
  };
}

const deviceInfos = (events: readonly DfuEvent[]): DeviceInfo[] => events.flatMap((e) => (e.type === 'device-info' ? [e.info] : []));

const EMPTY: DeviceInfo = { manufacturer: '', model: '', serialNumber: '', hardwareRevision: '', firmwareRevision: '', softwareRevision: '' };

async function withServer<T>(dongle: SimDongle, sim: Partial<SimConfig>, fn: (s: SimServer, audit: AuditLog) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'bledfu-devinfo-'));
  const audit = AuditLog.open(join(dir, 'audit.jsonl')).log;
  const s = await startSimServer(sim, {}, dongle, { audit });
  try {
    return await fn(s, audit);
  } finally {
    await s.close();
    audit.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function run(s: SimServer, target = addressTarget(s.device().address.value), options: Partial<DfuOptions> = {}): ReturnType<typeof drain> {
  return drain(startDfu(s.client, { package: { data: APP.zip }, target, options }, { signal: AbortSignal.timeout(25_000) }));
}

for (const dongle of SIM_DONGLES) {
  describe(`Device Information before the update, over gRPC on the simulator (${dongle.label})`, () => {
    it('reads the board\'s DIS once, before the bootloader entry, into the event, the job, its result and the audit record', { timeout: 30_000 }, async () => {
      await withServer(dongle, {}, async (s) => {
        const dev = s.device();
        const before = dev.firmwareRevision();
        assert.ok(before !== undefined);
        // A revision the board does not run: no skip.
        const r = await run(s, undefined, { skipIfFirmwareRevision: 'app v999 00000000' });
        assert.equal(r.error, undefined, String(r.error));
        const f = finished(r.events);
        assert.equal(f?.result.state, JobState.JOB_STATE_SUCCEEDED);
        assert.equal(f?.result.skipped, SkipReason.SKIP_REASON_UNSPECIFIED);
        assert.equal(dev.firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256), 'the board was updated');
        const expected = boardInfo(s, before);
        assert.deepEqual(deviceInfos(r.events), [expected], 'one device-info event with the board\'s facts');
        // Before anything was written to the device: ahead of the buttonless entry.
        const infoAt = r.events.findIndex((e) => e.type === 'device-info');
        const enteringAt = r.events.findIndex((e) => e.type === 'state' && e.stateName === 'ENTERING_BOOTLOADER');
        assert.ok(infoAt >= 0 && enteringAt > infoAt, `device-info at ${infoAt}, ENTERING_BOOTLOADER at ${enteringAt}`);
        assert.deepEqual(f?.result.deviceInfo, expected);
        const jobId = f?.jobId ?? '';
        const { job } = await s.client.getJob({ jobId });
        assert.deepEqual(job?.deviceInfo, expected);
        const { records } = await s.client.listAuditRecords({ deviceAddress: dev.address.value });
        const rec = records.find((x) => x.jobId === jobId);
        assert.equal(rec?.deviceInfo?.serialNumber, dev.serialNumber);
        assert.deepEqual(rec?.deviceInfo, expected);
        assert.equal(rec?.skipped, SkipReason.SKIP_REASON_UNSPECIFIED);
        // And on to the line report: the job's line names the unit.
        const csv = (await cliInProcess(['--server', s.address, 'audit', '--csv'], { BLEDFU_SERVER: '' })).stdout.trim().split('\n');
        const columns = csv[0]?.split(',') ?? [];
        const row = csv.find((l) => l.startsWith(`${jobId},`))?.split(',') ?? [];
        assert.equal(row[columns.indexOf('serial_number')], dev.serialNumber);
        assert.equal(row[columns.indexOf('firmware_revision_before')], before);
      });
    });

    it('skip_if_firmware_revision equal to the board\'s: the job ends UP_TO_DATE as skipped, nothing reaches the device', { timeout: 30_000 }, async () => {
      await withServer(dongle, {}, async (s) => {
        const dev = s.device();
        const before = dev.firmwareRevision();
        assert.ok(before !== undefined);
        const imageBefore = dev.images().application?.sha256;
        const r = await run(s, undefined, { skipIfFirmwareRevision: before });
        assert.equal(r.error, undefined, String(r.error));
        const f = finished(r.events);
        assert.equal(f?.result.success, true);
        assert.equal(f?.result.skipped, SkipReason.SKIP_REASON_FIRMWARE_REVISION);
        assert.equal(f?.result.firmwareRevision, before);
        assert.deepEqual(f?.result.deviceInfo, boardInfo(s, before));
        assert.equal(f?.result.state, JobState.JOB_STATE_UP_TO_DATE);
        assert.equal(f?.result.refusedImage, undefined, 'no bootloader was asked');
        assert.deepEqual(journey(r.events), ['CONNECTING', 'UP_TO_DATE']);
        // On the air: one connection to the application, no reset (no buttonless entry), no DFU bytes.
        const seen = s.observed();
        assert.equal(seen.connections, 1);
        assert.equal(seen.commandBytes + seen.dataBytes, 0);
        assert.equal(dev.resets(), 0, 'the board never left its application');
        assert.equal(dev.mode(), 'application');
        assert.equal(dev.images().application?.sha256, imageBefore);
        const { records } = await s.client.listAuditRecords({ deviceAddress: dev.address.value });
        const rec = records.find((x) => x.jobId === f?.jobId);
        assert.equal(rec?.skipped, SkipReason.SKIP_REASON_FIRMWARE_REVISION);
        assert.equal(rec?.result, AuditResult.AUDIT_RESULT_UP_TO_DATE);
        assert.equal(rec?.deviceInfo?.serialNumber, dev.serialNumber);
      });
    });

    it('a board found in its bootloader has no Device Information: reported empty, and updated even with a skip revision', { timeout: 30_000 }, async () => {
      await withServer(dongle, { devices: [{ startInBootloader: true }] }, async (s) => {
        const dev = s.device();
        assert.equal(dev.mode(), 'bootloader');
        const before = dev.firmwareRevision();
        assert.ok(before !== undefined);
        const r = await run(s, undefined, { skipIfFirmwareRevision: before });
        assert.equal(r.error, undefined, String(r.error));
        const f = finished(r.events);
        assert.equal(f?.result.success, true);
        assert.equal(f?.result.skipped, SkipReason.SKIP_REASON_UNSPECIFIED);
        assert.deepEqual(deviceInfos(r.events), [EMPTY]);
        assert.deepEqual(f?.result.deviceInfo, EMPTY);
        assert.equal(dev.firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
      });
    });
  });
}
