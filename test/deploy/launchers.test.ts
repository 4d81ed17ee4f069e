/**
 * bin/bledfu.js and bin/bledfud.js run the compiled JavaScript in dist/ and load no TypeScript
 * tooling; a missing or stale dist/ is refused with the command that fixes it; the package's
 * `prepare` builds dist/ so `npm install` leaves a runnable clone. The launchers are copied into
 * a throwaway repository layout with a stand-in program, so each case controls what exists and
 * how old it is (file times set explicitly, no waiting).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A repository layout holding only the launchers (no node_modules: tsx cannot be found). */
function layout(): { dir: string; run: (env?: Record<string, string>) => { status: number | null; stdout: string; stderr: string } } {
  const dir = mkdtempSync(join(tmpdir(), 'bledfu-launch-'));
  mkdirSync(join(dir, 'bin'));
  for (const f of ['compiled.js', 'bledfu.js', 'bledfud.js']) copyFileSync(join(ROOT, 'bin', f), join(dir, 'bin', f));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  const run = (env: Record<string, string> = {}) => {
    // The test runner sets BLEDFU_RUN_FROM_SOURCE for the suite's own programs: not here.
    const { BLEDFU_RUN_FROM_SOURCE: _fromSource, ...base } = process.env;
    const r = spawnSync(process.execPath, [join(dir, 'bin', 'bledfu.js'), 'a1'], { encoding: 'utf8', env: { ...base, ...env } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  return { dir, run };
}

const T = 1_700_000_000_000; // a fixed moment; every file time below is relative to it
const at = (path: string, ms: number): void => utimesSync(path, ms / 1000, ms / 1000);

function writeCompiled(dir: string, sourcesReadAt: number): void {
  mkdirSync(join(dir, 'dist', 'clients', 'cli'), { recursive: true });
  writeFileSync(join(dir, 'dist', 'clients', 'cli', 'main.js'), "console.log('compiled', process.argv.slice(2).join(' '));\n");
  writeFileSync(join(dir, 'dist', 'build-stamp.json'), JSON.stringify({ sourcesReadAt }));
}

function writeSource(dir: string, path: string, ms: number): void {
  mkdirSync(join(dir, path, '..'), { recursive: true });
  writeFileSync(join(dir, path), "console.log('source', process.argv.slice(2).join(' '));\n");
  at(join(dir, path), ms);
}

describe('bin launchers', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const fresh = () => {
    const l = layout();
    dirs.push(l.dir);
    return l;
  };

  it('run dist/ without tsx or any node_modules', () => {
    const { dir, run } = fresh();
    writeSource(dir, 'clients/cli/main.ts', T - 60_000);
    writeSource(dir, 'server/sim/world.ts', T - 60_000);
    writeCompiled(dir, T);
    const r = run();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'compiled a1\n');
    assert.equal(r.stderr, '');
  });

  it('refuse a missing dist/ and say how to build it', () => {
    const { dir, run } = fresh();
    writeSource(dir, 'clients/cli/main.ts', T);
    const r = run();
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^bledfu: the compiled program is missing \(dist\/clients\/cli\/main\.js\): run `npm run build`/);
  });

  it('refuse dist/ without its build stamp (an interrupted build)', () => {
    const { dir, run } = fresh();
    writeCompiled(dir, T);
    rmSync(join(dir, 'dist', 'build-stamp.json'));
    const r = run();
    assert.equal(r.status, 1);
    assert.match(r.stderr, /npm run build/);
  });

  it('refuse a dist/ older than any source, naming the newer file', () => {
    const { dir, run } = fresh();
    writeSource(dir, 'clients/cli/main.ts', T - 60_000);
    writeSource(dir, 'proto/bledfu/v1/dfu.proto', T + 1_000);
    writeCompiled(dir, T);
    const r = run();
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^bledfu: dist\/ is older than the sources \(proto\/bledfu\/v1\/dfu\.proto changed after the last build\): run `npm run build`/);
    // The same tree, rebuilt (a newer stamp), runs.
    writeCompiled(dir, T + 2_000);
    assert.equal(run().status, 0);
    // tsconfig.build.json decides what is compiled: a newer one makes dist/ stale too.
    writeFileSync(join(dir, 'tsconfig.build.json'), '{}');
    at(join(dir, 'tsconfig.build.json'), T + 3_000);
    assert.match(run().stderr, /tsconfig\.build\.json changed after the last build/);
  });

  it('run an installed copy (dist/ without sources beside it) whatever its age', () => {
    const { dir, run } = fresh();
    writeCompiled(dir, 0);
    const r = run();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'compiled a1\n');
  });

  it('run the TypeScript sources through tsx with BLEDFU_RUN_FROM_SOURCE=1, built or not', () => {
    const { dir, run } = fresh();
    writeSource(dir, 'clients/cli/main.ts', T + 1_000);
    // Without the dev dependencies (an installed copy) it says so rather than fail to import.
    const missing = run({ BLEDFU_RUN_FROM_SOURCE: '1' });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^bledfu: BLEDFU_RUN_FROM_SOURCE=1 runs the TypeScript sources through tsx, a dev dependency that is not installed here/);
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const r = run({ BLEDFU_RUN_FROM_SOURCE: '1' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'source a1\n');
  });
});

describe('package.json', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };

  it('builds dist/ on npm install/ci (prepare) with the one build script, and its bin entries are the launchers', () => {
    assert.equal(pkg.scripts['prepare'], 'npm run build');
    assert.equal(pkg.scripts['build'], 'node scripts/build.mjs');
    assert.deepEqual(pkg.bin, { bledfu: './bin/bledfu.js', bledfud: './bin/bledfud.js' });
    // The launchers and the scripts the documented paths run load no TypeScript tooling eagerly.
    for (const file of ['bin/bledfu.js', 'bin/bledfud.js', 'scripts/demo.mjs', 'scripts/demo-package.mjs']) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      assert.doesNotMatch(text, /^import .*['"]tsx/m, `${file} imports tsx`);
      assert.doesNotMatch(text, /import\(['"][^'"]+\.ts['"]\)/, `${file} imports a .ts file`);
    }
  });
});
