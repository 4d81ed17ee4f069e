/**
 * `npm run station -- --seeds`: the seed list, reading a day's report, and the verdict over many
 * days (a failed day, a seed whose two summaries differ), with days given by the test instead of
 * child processes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSeedList, readDayOutput, runSeeds, type DayOutcome } from '../../server/station/seeds.js';

const report = (updated: number, realS: number, verdict = 'PASS (seed 1)'): string =>
  ['invariant  result', `updated ${updated}, already up to date 0, ended with their own device error 0, wrong 0`, 'jobs 9 (attempts 9), devices needing a retry 1', `diagnostics (not part of the day): real time ${realS} s`, verdict, ''].join('\n');

describe('station --seeds', () => {
  it('parses ranges and lists, each seed once, and refuses what is not one', () => {
    assert.deepEqual(parseSeedList('1-5'), [1, 2, 3, 4, 5]);
    assert.deepEqual(parseSeedList('7,3, 3,1-2'), [7, 3, 1, 2]);
    assert.deepEqual(parseSeedList('0'), [0]);
    for (const bad of ['', '3-1', 'a', '1-', '-2', '1..3', '0-10000']) assert.equal(typeof parseSeedList(bad), 'string', bad);
  });

  it("reads a day's lines; its digest ignores only the real-time line", () => {
    const a = readDayOutput(1, 0, report(4, 10.9));
    const b = readDayOutput(1, 0, report(4, 51.2));
    assert.equal(a.updated, 'updated 4, already up to date 0, ended with their own device error 0, wrong 0');
    assert.equal(a.jobs, 'jobs 9 (attempts 9), devices needing a retry 1');
    assert.deepEqual([a.realSeconds, b.realSeconds], [10.9, 51.2]);
    assert.equal(a.digest, b.digest);
    assert.notEqual(a.digest, readDayOutput(1, 0, report(5, 10.9)).digest);
    assert.equal(readDayOutput(1, 0, 'station: crashed').updated, '?');
    const campaign = (s: number): string => `jobs 8, devices needing a retry 0\ndiagnostics (not part of the run): real time ${s} s\nPASS (seed 1, campaign mode)`;
    assert.equal(readDayOutput(1, 0, campaign(9)).realSeconds, 9, 'a campaign-mode report');
    assert.equal(readDayOutput(1, 0, campaign(9)).digest, readDayOutput(1, 0, campaign(12.5)).digest);
  });

  it('passes only when every day held and, with --twice, every seed printed the same summary', async () => {
    const run = async (days: Record<number, string[]>, twice: boolean): Promise<{ code: number; text: string }> => {
      const calls = new Map<number, number>();
      let text = '';
      const runDay = async (seed: number): Promise<DayOutcome> => {
        const n = calls.get(seed) ?? 0;
        calls.set(seed, n + 1);
        const out = days[seed]?.[n] ?? '';
        return readDayOutput(seed, out.includes('FAIL') ? 1 : 0, out);
      };
      const code = await runSeeds({ seeds: Object.keys(days).map(Number), args: [], jobs: 2, twice, write: (t) => (text += t), runDay });
      return { code, text };
    };
    const good = await run({ 1: [report(4, 1), report(4, 2)], 2: [report(3, 1), report(3, 9)] }, true);
    assert.equal(good.code, 0);
    assert.match(good.text, /2 of 2 seeds held every invariant; 2 of 2 printed the same summary twice\n$/);
    const differ = await run({ 1: [report(4, 1), report(5, 1)], 2: [report(3, 1), report(3, 1)] }, true);
    assert.equal(differ.code, 1);
    assert.match(differ.text, /SUMMARIES DIFFER/);
    assert.match(differ.text, /different summaries: 1\n$/);
    const failed = await run({ 1: [report(4, 1)], 2: [report(3, 1, 'FAIL (seed 2) — rerun with: npm run station -- --seed 2')] }, false);
    assert.equal(failed.code, 1);
    assert.match(failed.text, /1 of 2 seeds held every invariant; failed: 2\n$/);
    assert.match(failed.text, /--- seed 2 ---\n[\s\S]*rerun with/, "the failed day's whole report is printed");
  });
});
