/**
 * `npm run bench`: one day at the station (server/station) on the accelerated simulator — a seeded
 * population over two dongles (the virtual HCI controller and the simulated connectivity dongle),
 * with the default fault plan and the bootloader + application boards, on the project's own packages
 * (demo firmware signed with the demo key, built at run time). Prints, for the day: devices updated per hour per dongle (modelled
 * time), jobs and devices needing a retry, time lost to faults, failures by code, and whether every
 * invariant held. Asserts nothing (speed goals are not tests).
 *
 * BENCH_STATION_SEED, BENCH_STATION_DEVICES, BENCH_STATION_HOURS, BENCH_STATION_DONGLE
 * (hci|zephyr|nrf|mixed) and BENCH_STATION_ADAPTERS size the day.
 */
import { projectStationPackages } from '../../server/station/packages.js';
import { formatClock } from '../../server/station/invariants.js';
import { runStation, type DongleChoice } from '../../server/station/run.js';
import { demoKey } from '../helpers/project-packages.js';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const seed = Number(env('BENCH_STATION_SEED', '1'));
const devices = Number(env('BENCH_STATION_DEVICES', '24'));
const hours = Number(env('BENCH_STATION_HOURS', '8'));
const dongle = env('BENCH_STATION_DONGLE', 'mixed') as DongleChoice;
const adapters = Number(env('BENCH_STATION_ADAPTERS', '2'));

const packages = await projectStationPackages(demoKey());
const report = await runStation({ seed, devices, hours, dongle, adapters, packages });
const s = report.summary;
const kv = (r: Readonly<Record<string, number>>): string => Object.entries(r).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';

console.log(`\nstation day: seed ${seed}, ${devices} devices, ${hours} h, ${s.adapters.join(' + ')} (${report.rerun})`);
console.log(`  devices updated per hour per dongle  ${s.updatedPerHourPerDongle} (modelled ${s.modelledHours} h; ${s.devicesUpdated} updated, ${s.devicesWithTheirOwnError} with their own error, ${s.devicesWrong} wrong)`);
console.log(`  jobs                                 ${s.jobs} for ${s.devices} devices; devices needing a retry ${s.devicesNeedingRetry}`);
console.log(`  time lost to faults                  ${formatClock(s.timeLostToFaultsMs)} modelled (faults planned: ${kv(s.faultsPlanned)}; unplugs ${s.unplugs}, kills ${s.kills})`);
console.log(`  failures by code                     ${kv(s.failuresByCode)}`);
console.log(`  invariants                           ${report.invariants.filter((i) => i.ok).length}/${report.invariants.length} hold${report.ok ? '' : ` (failing: ${report.invariants.filter((i) => !i.ok).map((i) => i.name).join('; ')})`}`);
console.log(`  real time                            ${(report.diagnostics.realMs / 1000).toFixed(1)} s (the only figure that depends on the machine)`);
