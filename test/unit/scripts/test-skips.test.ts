/**
 * The test runner's skip summary (scripts/test-skips.mjs, printed by scripts/run-tests.mjs):
 * Node's own summary leaves skipped suites out, so a run without btvirt or protoc said
 * "skipped 1" while seven suites skipped. Run here on a fixture with a skipped suite, skipped
 * tests and a test that skips itself, through Node's real test runner.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

interface SkipRecord {
  readonly kind: 'suite' | 'test';
  readonly name: string;
  readonly reason: string;
}
interface SkipsModule {
  parseSkipRecords(text: string): SkipRecord[];
  skipSummary(records: readonly SkipRecord[]): string[];
}

const REPORTER = new URL('../../../scripts/test-skips.mjs', import.meta.url);
const skips = (await import(REPORTER.href)) as SkipsModule;

const FIXTURE = `
import { describe, it } from 'node:test';
describe('needs btvirt', { skip: 'btvirt not installed' }, () => { it('a', () => {}); it('b', () => {}); });
describe('needs btvirt too', { skip: 'btvirt not installed' }, () => { it('c', () => {}); });
describe('runs', () => {
  it('needs docker-compose', { skip: 'docker-compose not installed' }, () => {});
  it('passes', () => {});
  it('skips itself', (t) => { t.skip('no mkfifo here'); });
  it('skips without a reason', { skip: true }, () => {});
});
`;

const dir = mkdtempSync(join(tmpdir(), 'bledfu-skips-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('test run skip summary', () => {
  it('counts skipped suites and tests apart, by reason, through the real test runner', () => {
    const fixture = join(dir, 'fixture.test.mjs');
    const out = join(dir, 'skips.jsonl');
    writeFileSync(fixture, FIXTURE);
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${REPORTER.href}`, `--test-reporter-destination=${out}`, fixture], {
      encoding: 'utf8',
      timeout: 60_000,
      // Not a child of this run's runner: its own summary, on its own stdout.
      env: { ...process.env, NODE_TEST_CONTEXT: undefined },
    });
    assert.equal(r.status, 0, r.stderr);
    // What Node says on its own: the two skipped suites count nowhere.
    assert.match(r.stdout, /ℹ skipped 3\n/);
    const records = skips.parseSkipRecords(readFileSync(out, 'utf8'));
    assert.deepEqual(
      records.map((x) => [x.kind, x.name, x.reason]),
      [
        ['suite', 'needs btvirt', 'btvirt not installed'],
        ['suite', 'needs btvirt too', 'btvirt not installed'],
        ['test', 'needs docker-compose', 'docker-compose not installed'],
        ['test', 'skips itself', 'no mkfifo here'],
        ['test', 'skips without a reason', '(no reason given)'],
      ],
    );
    assert.deepEqual(skips.skipSummary(records), [
      "skipped: 2 suites and 3 tests (a skipped suite's tests are not run, and not counted above); by reason:",
      '  2 suites: btvirt not installed',
      '  1 test: (no reason given)',
      '  1 test: docker-compose not installed',
      '  1 test: no mkfifo here',
    ]);
  });

  it('says so when nothing was skipped, and ignores a torn last line', () => {
    assert.deepEqual(skips.skipSummary([]), ['skipped: nothing']);
    assert.deepEqual(skips.parseSkipRecords('{"kind":"test","name":"x","reason":"r"}\n{"kind":"te'), [{ kind: 'test', name: 'x', reason: 'r' }]);
  });
});
