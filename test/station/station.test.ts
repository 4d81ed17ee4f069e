/**
 * A day at the station, CI-sized: fixed seeds on both simulated dongle kinds (and both at once),
 * one server in-process through every real layer, with seeded faults, unplugs, a kill and retries.
 * Every invariant must hold; and the same seed must give the same summary.
 *
 * Today's main breaks several invariants (issue 10: the adapter declared dead after normal jobs,
 * retries not finding a device in its bootloader, BL+app never completing, SD updates waiting for
 * an app, two jobs on one device, modelled time): those assertions are marked todo until the fixes
 * land — remove the todo then. The days are small because the server's timers still run in real
 * time (a DEVICE_NOT_FOUND costs its 10 s scan timeout); with one modelled clock, raise them to
 * 24 devices × 1 h.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { INVARIANT_NAMES } from '../../server/station/invariants.js';
import { loadStationPackages } from '../../server/station/packages.js';
import type { StationPackages } from '../../server/station/population.js';
import { formatReport, runStation, type DongleChoice, type StationOptions, type StationReport } from '../../server/station/run.js';

const PACKAGES_DIR = fileURLToPath(new URL('../../../shared/fixtures/dfu/', import.meta.url));
const TODO = 'issue 10 fixes pending';

/** Invariants today's main is known to break (see the module comment). */
const BROKEN_ON_MAIN: ReadonlySet<string> = new Set([INVARIANT_NAMES.firmware, INVARIANT_NAMES.adapterUnavailable, INVARIANT_NAMES.airTime]);

const DAYS: readonly { readonly seed: number; readonly dongle: DongleChoice; readonly adapters: number }[] = [
  { seed: 101, dongle: 'hci', adapters: 1 },
  { seed: 202, dongle: 'nrf', adapters: 1 },
  { seed: 303, dongle: 'mixed', adapters: 2 },
];
const DEVICES = 8;
const HOURS = 0.5;

let packages: StationPackages;
before(async () => {
  packages = await loadStationPackages(PACKAGES_DIR);
});

const options = (seed: number, dongle: DongleChoice, adapters: number, devices = DEVICES, hours = HOURS): StationOptions => ({
  seed,
  devices,
  hours,
  dongle,
  adapters,
  packages,
});

for (const day of DAYS) {
  describe(`a station day: seed ${day.seed}, ${DEVICES} devices, ${HOURS} h, ${day.dongle} × ${day.adapters}`, { timeout: 600_000 }, () => {
    let report: StationReport;
    before(async () => {
      report = await runStation(options(day.seed, day.dongle, day.adapters));
    });

    it('ran the whole population: every device got at least one job, through the real server', () => {
      assert.equal(report.summary.devices, DEVICES);
      assert.equal(report.attempts.length >= DEVICES, true);
      assert.deepEqual(new Set(report.attempts.map((a) => a.device)).size, DEVICES);
      assert.ok(report.summary.jobs >= DEVICES - report.attempts.filter((a) => a.jobId === undefined).length);
      assert.equal(report.invariants.length, Object.keys(INVARIANT_NAMES).length);
      assert.match(formatReport(report), new RegExp(`seed ${day.seed}`));
    });

    for (const name of Object.values(INVARIANT_NAMES)) {
      it(`holds: ${name}`, BROKEN_ON_MAIN.has(name) ? { todo: TODO } : {}, () => {
        const r = report.invariants.find((i) => i.name === name);
        assert.ok(r !== undefined);
        assert.ok(r.ok, `${r.violations} of ${r.checked} broke it:\n${r.examples.join('\n')}\nrerun: ${report.rerun}`);
      });
    }
  });
}

describe('a station day is decided by its seed', { timeout: 600_000 }, () => {
  it('the same seed prints the same summary twice', { todo: 'until the server runs on one modelled clock (issue 10)' }, async () => {
    const first = await runStation(options(7, 'hci', 1, 3, 0.1));
    const second = await runStation(options(7, 'hci', 1, 3, 0.1));
    assert.deepEqual(second.summary, first.summary, `rerun: ${first.rerun}`);
  });
});
