/**
 * `npm run station -- --seed N --devices 200 --hours 8 [--dongle hci|zephyr|nrf|mixed] [--adapters K]
 * [--max-concurrent J] [--packages DIR] [--bl-app FILE] [--no-faults] [--json] [--verbose] [--log LEVEL]`:
 * a day at the station on the accelerated simulator (run.ts); with `--campaign [--parallel P]`,
 * the station in campaign mode (campaignRun.ts). Prints the invariants table and the summary (or
 * JSON); exits 1 when an invariant fails, printing the seed and the command that reruns the same run.
 * With `--seeds 1-20 [--jobs J] [--twice]`, one day per seed (seeds.ts), a line each and a verdict.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { silentLogger } from '../common/logger.js';
import { NO_FAULTS } from './faults.js';
import { loadSigningKey } from '../dfu/package/signingKey.js';
import { loadStationPackages, projectStationPackages } from './packages.js';
import { DONGLE_CHOICES, formatReport, runStation, type DongleChoice } from './run.js';
import { formatCampaignReport, runCampaignStation } from './campaignRun.js';
import { NO_CAMPAIGN_FAULTS } from './campaignPlan.js';
import { parseSeedList, runSeeds } from './seeds.js';

function isDongleChoice(value: string): value is DongleChoice {
  return (DONGLE_CHOICES as readonly string[]).includes(value);
}

/** The project's published demo key (this file is server/station/ of the repository, run from source). */
const DEMO_KEY_FILE = new URL('../../demo/bledfu-demo-key.pem', import.meta.url);

const USAGE = `usage: npm run station -- [--seed N | --seeds 1-20 [--jobs 2] [--twice]] [--devices 200] [--hours 8] [--dongle hci|zephyr|nrf|mixed] [--adapters 2]
                           [--max-concurrent 4] [--packages DIR] [--bl-app FILE] [--json] [--verbose] [--log LEVEL]
       npm run station -- --campaign [--seed N] [--devices 60] [--dongle …] [--adapters 2] [--parallel 4] [--rack 0.5] [--no-faults] …
  --campaign  campaign mode: the operator starts campaigns (StartCampaign, name prefix "st-",
              include_bootloaders, --parallel jobs per adapter, 3 attempts per device) instead of one
              StartDfu per board, over the boards that take the application package (--hours and
              --bl-app do not apply); the line meets first-job faults, unplugs, a client that
              re-watches, a stop and a new campaign over the rest, a server restart
  --rack      campaign mode: share of the boards in range from the start (the others arrive over
              10 modelled minutes); default 0.5
  --dongle    hci: the simulated HCI controller; zephyr: the same as Zephyr's hci_uart (no public
              address: the station runs on its static random address; few 27-byte ACL buffers);
              nrf: a simulated Nordic connectivity dongle; mixed: zephyr, nrf, hci, … by adapter
  --packages  directory with real nrfutil packages laid out like ../shared/fixtures/dfu (default: the
              project's own packages, made from its demo firmware and signed with demo/bledfu-demo-key.pem)
  --bl-app    the bootloader + application package of the bl-app boards (default: the project's own,
              its bootloader and application packages put together; with --packages, none unless
              given). Signed with the key of the other packages: the demo key, or with --packages
              the SDK 17.0.2 debug key
  --seeds     many days, one per seed ("1-20", "1,3,7"), each in its own process, a line each and a
              verdict; exits 1 if a day failed. --jobs J: J days at once (default 1); --twice: each
              seed twice, and its two summaries must be the same line for line
  --no-faults a day without faults (no drops, damaged objects, cancels, unplugs, kills, hostile
              calls or technician's Connect calls; some first jobs still ask for retries 0)
`;

function int(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) {
    process.stderr.write(`station: --${name} must be an integer ≥ ${min}, got "${value}"\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

function share(name: string, value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) {
    process.stderr.write(`station: --${name} must be a share from 0 to 1, got "${value}"\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      devices: { type: 'string' },
      hours: { type: 'string' },
      dongle: { type: 'string' },
      adapters: { type: 'string' },
      'max-concurrent': { type: 'string' },
      campaign: { type: 'boolean' },
      parallel: { type: 'string' },
      rack: { type: 'string' },
      packages: { type: 'string' },
      'bl-app': { type: 'string' },
      'no-faults': { type: 'boolean' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean' },
      log: { type: 'string' },
      help: { type: 'boolean' },
      seeds: { type: 'string' },
      jobs: { type: 'string' },
      twice: { type: 'boolean' },
    },
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.seeds !== undefined) {
    const seeds = parseSeedList(values.seeds);
    if (typeof seeds === 'string' || values.seed !== undefined || values.json === true) {
      const why = typeof seeds === 'string' ? seeds : 'it runs one day per seed and prints a line for each (no --seed, no --json)';
      process.stderr.write(`station: --seeds: ${why}\n${USAGE}`);
      return 2;
    }
    // Each day gets this command's own options again, but one seed.
    const perDay = ['seeds', 'jobs', 'twice', 'seed', 'json', 'help'];
    const args = Object.entries(values).flatMap(([k, v]) => (perDay.includes(k) || v === undefined || v === false ? [] : v === true ? [`--${k}`] : [`--${k}`, String(v)]));
    return runSeeds({ seeds, args, jobs: int('jobs', values.jobs, 1, 1), twice: values.twice === true, write: (t) => process.stdout.write(t) });
  }
  const dongle = values.dongle ?? 'hci';
  if (!isDongleChoice(dongle)) {
    process.stderr.write(`station: --dongle is ${DONGLE_CHOICES.slice(0, -1).join(', ')} or ${DONGLE_CHOICES.at(-1) ?? ''}, got "${dongle}"\n${USAGE}`);
    return 2;
  }
  const hours = Number(values.hours ?? '8');
  if (!(hours > 0)) {
    process.stderr.write(`station: --hours must be > 0\n${USAGE}`);
    return 2;
  }
  const blAppFile = values['bl-app'];
  const blApp = blAppFile === undefined ? undefined : { file: basename(blAppFile), bytes: new Uint8Array(readFileSync(blAppFile)) };
  const packages =
    values.packages === undefined
      ? await projectStationPackages(loadSigningKey(readFileSync(DEMO_KEY_FILE, 'utf8'), 'demo/bledfu-demo-key.pem'), blApp)
      : await loadStationPackages(values.packages, blApp);
  const options = {
    seed: int('seed', values.seed, 1, 0),
    devices: int('devices', values.devices, 200, 1),
    hours,
    dongle,
    adapters: int('adapters', values.adapters, 2, 1),
    maxConcurrentDfus: int('max-concurrent', values['max-concurrent'], 4, 1),
    packages,
    ...(values['no-faults'] === true ? { faultRates: NO_FAULTS } : {}),
    logger: values.log === undefined ? silentLogger() : pino({ level: values.log }, pino.destination(2)),
    ...(values.verbose === true ? { onEvent: (line: string) => process.stderr.write(`${line}\n`) } : {}),
  };
  if (values.campaign === true) {
    const report = await runCampaignStation({
      seed: options.seed,
      devices: int('devices', values.devices, 60, 1),
      dongle,
      adapters: options.adapters,
      packages,
      parallelPerAdapter: int('parallel', values.parallel, 4, 1),
      ...(values.rack === undefined ? {} : { rackShare: share('rack', values.rack) }),
      ...(values['max-concurrent'] === undefined ? {} : { maxConcurrentDfus: options.maxConcurrentDfus }),
      ...(values['no-faults'] === true ? { rates: NO_CAMPAIGN_FAULTS } : {}),
      logger: options.logger,
      ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
    });
    return printReport(report, values.json === true, formatCampaignReport(report));
  }
  const report = await runStation(options);
  return printReport(report, values.json === true, formatReport(report));
}

/** Prints a day's (or campaign run's) report as text or JSON; the exit code says whether it held. */
function printReport(
  report: { readonly ok: boolean; readonly summary: { readonly seed: number }; readonly invariants: unknown; readonly rerun: string; readonly diagnostics: unknown },
  json: boolean,
  text: string,
): number {
  if (json) {
    process.stdout.write(`${JSON.stringify({ ok: report.ok, summary: report.summary, invariants: report.invariants, rerun: report.rerun, diagnostics: report.diagnostics }, null, 2)}\n`);
    if (!report.ok) process.stderr.write(`FAIL (seed ${report.summary.seed}) — rerun with: ${report.rerun}\n`);
  } else {
    process.stdout.write(`${text}\n`);
  }
  return report.ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`station: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
