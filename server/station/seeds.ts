/**
 * `npm run station -- --seeds 1-20 [--jobs 2] [--twice] …`: many days, one per seed, to qualify a
 * setup (or bledfu itself) the way issue 10 asks — "every invariant for 20 fixed seeds" — and,
 * with `--twice`, that each seed prints the same summary on a second run.
 *
 * Each day runs in a child process of its own (the same command with `--seed N`): a day owns its
 * process's modelled clock and compares the process's heap, handles and timers at its start and
 * end, so two days must not share one. `--jobs` days run at once (one per core is the most that
 * helps; the days stay deterministic, only the real time grows).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { CAMPAIGN_REAL_TIME_PREFIX, REAL_TIME_PREFIX } from './summary.js';

/** Parses "1-20", "1,3,7" or "1-5,9": the seeds in the order given, each once. */
export function parseSeedList(text: string): number[] | string {
  const seeds: number[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (m === null) return `"${part}" is not a seed or a range of seeds (e.g. 1-20 or 1,3,7)`;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to < from) return `"${part}" is not a rising range of seeds`;
    if (to - from >= 10_000) return `"${part}" is over 10 000 seeds`;
    for (let s = from; s <= to; s++) if (!seeds.includes(s)) seeds.push(s);
  }
  return seeds;
}

/** What one day's child printed, as the table needs it. */
export interface DayOutcome {
  readonly seed: number;
  /** The child's exit code: 0 every invariant held, 1 one failed, anything else the day did not run through. */
  readonly exitCode: number;
  /** The summary's "updated …" and "jobs …" lines. */
  readonly updated: string;
  readonly jobs: string;
  readonly realSeconds: number | undefined;
  /** SHA-256 of everything the day printed but its real-time line: equal digests, equal days. */
  readonly digest: string;
  /** The day's whole output, printed when it failed. */
  readonly output: string;
}

/** The line of a report that depends on the machine: "<prefix> 12.3 s". */
function realTimeOf(line: string): number | undefined {
  for (const prefix of [REAL_TIME_PREFIX, CAMPAIGN_REAL_TIME_PREFIX]) {
    const m = line.startsWith(`${prefix} `) ? /^([\d.]+) s$/.exec(line.slice(prefix.length + 1)) : null;
    if (m !== null) return Number(m[1]);
  }
  return undefined;
}

/** Reads a day's text report (summary.ts formatReport, campaignRun.ts formatCampaignReport). */
export function readDayOutput(seed: number, exitCode: number, output: string): DayOutcome {
  const lines = output.split('\n');
  let realSeconds: number | undefined;
  const kept: string[] = [];
  for (const line of lines) {
    const seconds = realTimeOf(line);
    if (seconds === undefined) kept.push(line);
    else realSeconds = seconds;
  }
  return {
    seed,
    exitCode,
    updated: lines.find((l) => l.startsWith('updated ')) ?? '?',
    jobs: lines.find((l) => l.startsWith('jobs ')) ?? '?',
    realSeconds,
    digest: createHash('sha256').update(kept.join('\n')).digest('hex'),
    output,
  };
}

/** Runs the station CLI (this process's script, with its Node options) for one seed. */
function runDay(args: readonly string[], seed: number): Promise<DayOutcome> {
  return new Promise((resolve, reject) => {
    const script = process.argv[1];
    if (script === undefined) {
      reject(new Error('station: cannot tell which script to run for each day'));
      return;
    }
    const child = spawn(process.execPath, [...process.execArgv, script, ...args, '--seed', String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(readDayOutput(seed, code ?? (signal === null ? 1 : 128), err.length === 0 ? out : `${out}\n${err}`)));
  });
}

export interface SeedsOptions {
  readonly seeds: readonly number[];
  /** The day's own arguments (everything but --seed, --seeds, --jobs and --twice). */
  readonly args: readonly string[];
  readonly jobs: number;
  readonly twice: boolean;
  readonly write: (text: string) => void;
  /** Runs one day (default: a child process of this script with `args` and `--seed`); tests give their own. */
  readonly runDay?: (seed: number) => Promise<DayOutcome>;
}

/** Runs the days and prints a line per day as it ends, then the verdict; resolves to the exit code. */
export async function runSeeds(o: SeedsOptions): Promise<number> {
  const runs = o.seeds.flatMap((seed) => (o.twice ? [seed, seed] : [seed]));
  const results = new Map<number, DayOutcome[]>();
  let next = 0;
  const failed: DayOutcome[] = [];
  const differing: number[] = [];
  o.write(`${'seed'.padStart(6)}  result  ${'real s'.padStart(7)}  summary\n`);
  const worker = async (): Promise<void> => {
    while (next < runs.length) {
      const seed = runs[next++] as number;
      const day = await (o.runDay ?? ((s: number) => runDay(o.args, s)))(seed);
      const both = [...(results.get(seed) ?? []), day];
      results.set(seed, both);
      const verdict = day.exitCode === 0 ? 'PASS' : day.exitCode === 1 ? 'FAIL' : `EXIT ${day.exitCode}`;
      let same = '';
      if (o.twice && both.length === 2) {
        const equal = both[0]?.digest === both[1]?.digest;
        same = equal ? '  (same summary twice)' : '  (SUMMARIES DIFFER)';
        if (!equal) differing.push(seed);
      }
      o.write(`${String(seed).padStart(6)}  ${verdict.padEnd(6)}  ${(day.realSeconds?.toFixed(1) ?? '?').padStart(7)}  ${day.updated}; ${day.jobs}${same}\n`);
      if (day.exitCode !== 0) failed.push(day);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.jobs, runs.length)) }, worker));
  for (const day of failed) o.write(`\n--- seed ${day.seed} ---\n${day.output.trimEnd()}\n`);
  const passed = o.seeds.filter((s) => (results.get(s) ?? []).every((d) => d.exitCode === 0)).length;
  o.write(
    `\n${passed} of ${o.seeds.length} seeds held every invariant` +
      (o.twice ? `; ${o.seeds.length - differing.length} of ${o.seeds.length} printed the same summary twice` : '') +
      (failed.length === 0 ? '' : `; failed: ${[...new Set(failed.map((d) => d.seed))].join(', ')}`) +
      (differing.length === 0 ? '' : `; different summaries: ${differing.join(', ')}`) +
      '\n',
  );
  return failed.length === 0 && differing.length === 0 ? 0 : 1;
}
