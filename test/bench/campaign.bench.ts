/**
 * `npm run bench`: devices per hour of a campaign over 100 devices — the station in campaign mode
 * (server/station/campaignRun.ts) on the accelerated simulator: one server in-process on two
 * virtual HCI controllers (`sim:?dongle=hci`), one campaign started through gRPC (name prefix
 * "st-", include_bootloaders, 4 jobs at a time per adapter, 5 jobs per device at most) over a rack
 * of 100 boards all in range from the start, with the project's application package (demo
 * firmware, ~100 KB, demo key). The mix is the campaign mode's: applications with buttonless DFU
 * (a fifth of them already on the package's version, a release bootloader: UP_TO_DATE), boards
 * stranded in their bootloader, boards with the wrong key and with another SoftDevice (both end
 * FAILED with their device error after one job) — every board ends one way or another, and the rate
 * counts them all. No faults and no line events (the line's clean throughput); the invariants are
 * checked all the same. Prints, in modelled time: devices per hour (boards finished: updated, up to
 * date, failed with their own error), updated per hour, the makespan (StartCampaign to the
 * campaign's end). Asserts nothing (speed goals are not tests).
 *
 * BENCH_CAMPAIGN_SEED, BENCH_CAMPAIGN_DEVICES, BENCH_CAMPAIGN_ADAPTERS, BENCH_CAMPAIGN_PARALLEL and
 * BENCH_CAMPAIGN_DONGLE (hci|zephyr|nrf|mixed) resize it; BENCH_CAMPAIGN_FAULTS=1 runs the
 * default fault plan and line events instead (arrivals as in `npm run station -- --campaign`).
 */
import { NO_CAMPAIGN_FAULTS } from '../../server/station/campaignPlan.js';
import { runCampaignStation } from '../../server/station/campaignRun.js';
import { projectStationPackages } from '../../server/station/packages.js';
import type { DongleChoice } from '../../server/station/run.js';
import { demoKey } from '../helpers/project-packages.js';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const seed = Number(env('BENCH_CAMPAIGN_SEED', '1'));
const devices = Number(env('BENCH_CAMPAIGN_DEVICES', '100'));
const adapters = Number(env('BENCH_CAMPAIGN_ADAPTERS', '2'));
const parallel = Number(env('BENCH_CAMPAIGN_PARALLEL', '4'));
const dongle = env('BENCH_CAMPAIGN_DONGLE', 'hci') as DongleChoice;
const faults = env('BENCH_CAMPAIGN_FAULTS', '0') === '1';

const packages = await projectStationPackages(demoKey());
const report = await runCampaignStation({
  seed,
  devices,
  dongle,
  adapters,
  packages,
  parallelPerAdapter: parallel,
  ...(faults ? {} : { rates: NO_CAMPAIGN_FAULTS, rackShare: 1 }),
});
const s = report.summary;
const kv = (r: Readonly<Record<string, number>>): string => Object.entries(r).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';

console.log(`\ncampaign: seed ${seed}, ${devices} devices${faults ? ' (default faults and line events)' : ' in the rack, no faults'}, ${s.adapters.join(' + ')} × ${parallel} parallel (${report.rerun})`);
console.log(`  mix                       ${kv(s.devicesByKind)}`);
console.log(`  devices per hour          ${s.devicesPerHour} (modelled; ${s.devicesUpdated} updated, ${s.devicesUpToDate} up to date, ${s.devicesFailedWithTheirError} failed with their own error, ${s.devicesWrong} wrong)`);
console.log(`  updated per hour          ${s.updatedPerHour}`);
console.log(`  makespan                  ${s.modelledMinutes} modelled min (${s.campaigns.map((c) => `${c.stopReason}: ${c.found} devices, ${c.jobs} jobs`).join('; ')})`);
console.log(`  invariants                ${report.invariants.filter((i) => i.ok).length}/${report.invariants.length} hold${report.ok ? '' : ` (failing: ${report.invariants.filter((i) => !i.ok).map((i) => i.name).join('; ')})`}`);
console.log(`  real time                 ${(report.diagnostics.realMs / 1000).toFixed(1)} s (the only figure that depends on the machine)`);
