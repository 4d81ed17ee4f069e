// Runs every test/**/*.test.ts with Node's test runner (tsx loads TypeScript). The programs the
// tests start through bin/ run from the TypeScript sources too (BLEDFU_RUN_FROM_SOURCE, see
// bin/compiled.js), so a test always runs the code under test, built or not.
// Usage: node scripts/run-tests.mjs [path-substring ...]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSkipRecords, skipSummary } from './test-skips.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const walk = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
const filters = process.argv.slice(2);
const files = walk(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// A test that hangs (say, a wait the virtual clock never lets come) fails after 5 minutes with
// its name, instead of holding the whole run until CI's limit.
// A second reporter notes every skipped suite and test (scripts/test-skips.mjs): Node's summary
// counts skipped tests but not skipped suites, so the real count is printed after it.
const skipsDir = mkdtempSync(join(tmpdir(), 'bledfu-test-skips-'));
const skipsFile = join(skipsDir, 'skips.jsonl');
const r = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${new URL('./test-skips.mjs', import.meta.url).href}`,
    `--test-reporter-destination=${skipsFile}`,
    '--test-timeout=300000',
    ...files,
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, BLEDFU_RUN_FROM_SOURCE: '1' },
  },
);
let skips = '';
try {
  skips = readFileSync(skipsFile, 'utf8');
} catch {
  // No file: the runner never got as far as reporting.
}
rmSync(skipsDir, { recursive: true, force: true });
for (const line of skipSummary(parseSkipRecords(skips))) console.log(`ℹ ${line}`);
process.exit(r.status ?? 1);
