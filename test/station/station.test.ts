/**
 * A day at the station, CI-sized: three fixed seeds, 24 boards over one modelled hour each, on the
 * virtual HCI controller, on the simulated connectivity dongle and mixed (two adapters each; mixed
 * is a Zephyr-profile HCI controller without a public address beside a connectivity dongle), with the project's packages (demo firmware, demo key) and its bootloader + application
 * package in the population. One server in-process
 * through every real layer, seeded faults, an unplug, a kill and operators' retries; the station
 * and the server share one modelled clock, so a day takes a few seconds of real time and is
 * decided by its seed. Every invariant must hold, and the same seed must give the same summary.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { INVARIANT_NAMES } from '../../server/station/invariants.js';
import { projectStationPackages } from '../../server/station/packages.js';
import type { StationPackages } from '../../server/station/population.js';
import { formatReport, runStation, type DongleChoice, type StationOptions, type StationReport } from '../../server/station/run.js';
import { demoKey } from '../helpers/project-packages.js';

const DAYS: readonly { readonly seed: number; readonly dongle: DongleChoice }[] = [
  { seed: 101, dongle: 'hci' },
  { seed: 202, dongle: 'nrf' },
  { seed: 303, dongle: 'mixed' },
];
const DEVICES = 24;
const HOURS = 1;
const ADAPTERS = 2;

let packages: StationPackages;
before(async () => {
  packages = await projectStationPackages(demoKey());
});

const options = (seed: number, dongle: DongleChoice, devices = DEVICES, hours = HOURS): StationOptions => ({
  seed,
  devices,
  hours,
  dongle,
  adapters: ADAPTERS,
  packages,
});

for (const day of DAYS) {
  describe(`a station day: seed ${day.seed}, ${DEVICES} devices, ${HOURS} h, ${day.dongle} × ${ADAPTERS}`, { timeout: 300_000 }, () => {
    let report: StationReport;
    before(async () => {
      report = await runStation(options(day.seed, day.dongle));
    });

    it('ran the whole population: every device got at least one job, through the real server', () => {
      assert.equal(report.summary.devices, DEVICES);
      assert.equal(report.attempts.length >= DEVICES, true);
      assert.deepEqual(new Set(report.attempts.map((a) => a.device)).size, DEVICES);
      assert.ok(report.summary.jobs >= DEVICES - report.attempts.filter((a) => a.jobId === undefined).length);
      assert.equal(report.invariants.length, Object.keys(INVARIANT_NAMES).length);
      assert.match(formatReport(report), new RegExp(`seed ${day.seed}`));
    });

    it('updated most devices: the others ended with their own device error, none wrong', () => {
      const s = report.summary;
      assert.equal(s.devicesUpdated + s.devicesUpToDate + s.devicesWithTheirOwnError, DEVICES);
      assert.equal(s.devicesUpToDate, s.devicesByKind['up-to-date'] ?? 0, 'every up-to-date board was reported so, no other');
      assert.equal(s.devicesWrong, 0);
      assert.ok(s.devicesUpdated > DEVICES / 2, `${s.devicesUpdated} of ${DEVICES} updated`);
    });

    it('met the hostile client: its calls were made and each refused with its code, no job or lease left', () => {
      const s = report.summary;
      assert.ok(s.hostileCalls >= 2, `${s.hostileCalls} hostile calls`);
      assert.equal(s.hostileRefusedAsExpected + s.hostileLost, s.hostileCalls, JSON.stringify(s.hostileByKind));
      assert.ok(s.hostileRefusedAsExpected >= 1);
      assert.match(formatReport(report), new RegExp(`hostile calls: ${s.hostileCalls} made, ${s.hostileRefusedAsExpected} refused as expected`));
    });

    it("checked the jobs' Device Information: serials read from the boards, in the jobs and the audit", () => {
      const r = report.invariants.find((i) => i.name === INVARIANT_NAMES.deviceInfo);
      assert.ok(r !== undefined && r.checked >= DEVICES / 2, `checked ${r?.checked}`);
      assert.ok(report.attempts.some((a) => a.deviceSerial !== undefined && a.deviceSerial !== ''), 'some job read a serial number');
    });

    it("met the technician: a Connect call held a device, its operator's DFU was refused DEVICE_CONNECTED without a job, then updated it", () => {
      const s = report.summary;
      assert.ok(s.technicianCalls >= 1 && s.technicianConnected >= 1, `${s.technicianCalls} calls, ${s.technicianConnected} connected`);
      assert.ok(s.refusedDeviceConnected >= 1, 'at least one DFU refused DEVICE_CONNECTED');
      const refused = report.attempts.filter((a) => a.errorCode === 'DEVICE_CONNECTED');
      assert.equal(refused.length, s.refusedDeviceConnected);
      assert.ok(refused.every((a) => a.result === 'REFUSED' && a.jobId === undefined && a.heldBy?.method === 'Connect'));
      // Each refused device was tried again once the call had ended, and that attempt got a job.
      for (const device of new Set(refused.map((a) => a.device))) {
        const after = report.attempts.filter((a) => a.device === device).at(-1);
        assert.ok(after !== undefined && after.jobId !== undefined && after.errorCode !== 'DEVICE_CONNECTED', `${device}: ${after?.result ?? 'no attempt'}`);
      }
      assert.match(formatReport(report), new RegExp(`technician's Connect calls: ${s.technicianCalls} .*DFUs refused DEVICE_CONNECTED ${s.refusedDeviceConnected}`));
    });

    it('asked for retries 0 on some first jobs, each judged by the board (nothing stored twice)', () => {
      const s = report.summary;
      const asked = report.attempts.filter((a) => a.retries === 0 && a.jobId !== undefined);
      assert.equal(asked.length, s.attemptsWithNoRetries);
      assert.ok(asked.length >= 1, 'at least one job asked for no retries');
      assert.ok(asked.every((a) => a.resentBytes === 0 && !a.resumed));
      assert.ok(report.attempts.every((a) => a.retries === undefined || a.retries === 0));
      assert.match(formatReport(report), new RegExp(`attempts asking for retries 0: ${s.attemptsWithNoRetries} \\(failed ${s.noRetriesFailed}`));
    });

    for (const name of Object.values(INVARIANT_NAMES)) {
      it(`holds: ${name}`, () => {
        const r = report.invariants.find((i) => i.name === name);
        assert.ok(r !== undefined);
        assert.ok(r.ok, `${r.violations} of ${r.checked} broke it:\n${r.examples.join('\n')}\nrerun: ${report.rerun}`);
      });
    }
  });
}

describe('a station day is decided by its seed', { timeout: 300_000 }, () => {
  it('the same seed gives the same summary and the same attempts, to the modelled millisecond', async () => {
    const first = await runStation(options(7, 'mixed', 8, 0.25));
    const second = await runStation(options(7, 'mixed', 8, 0.25));
    assert.deepEqual(second.summary, first.summary, `rerun: ${first.rerun}`);
    // Job ids are random, and so is the port of the technician's connection that a
    // DEVICE_CONNECTED refusal names: everything else an operator saw must be the same.
    const seen = (r: StationReport) =>
      r.attempts.map(({ jobId: _jobId, errorMessage, ...rest }) => ({ ...rest, errorMessage: errorMessage?.replace(/(\d{1,3}\.){3}\d{1,3}:\d+/g, 'HOST:PORT') }));
    assert.deepEqual(seen(second), seen(first));
    assert.ok(first.summary.jobs >= 8);
  });
});
