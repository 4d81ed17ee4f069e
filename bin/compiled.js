// Where the launchers (bin/bledfu.js, bin/bledfud.js) and the project's scripts find the compiled
// JavaScript: dist/, made by `npm run build` (which `npm install` and `npm ci` run through
// `prepare`). Plain JavaScript with no dependency, so a launch costs only Node's start and the
// program's own imports; the TypeScript toolchain (tsc, tsx) is never loaded at run time.
//
// A clone whose sources changed after the last build (a `git pull`, an edit) would otherwise
// run old code without a word: the launchers refuse that, naming the newer file and the command
// that fixes it. Without sources beside dist/ (an installed copy) there is nothing to compare.
//
// BLEDFU_RUN_FROM_SOURCE=1 runs the TypeScript sources through tsx instead (a dev dependency,
// for development and the test suite: scripts/run-tests.mjs sets it, so tests run the code
// under test, not the last build).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Written by scripts/build.mjs after a successful build: when that build read the sources. */
export const BUILD_STAMP = join(root, 'dist', 'build-stamp.json');

/** What `npm run build` compiles (tsconfig.build.json) and generates from (proto/). */
const SOURCE_DIRS = ['server', 'clients', 'proto'];
const SOURCE_FILES = ['tsconfig.json', 'tsconfig.build.json'];
const SKIPPED_DIRS = new Set(['node_modules', 'python', '__pycache__']);
const isSource = (name) => (name.endsWith('.ts') && !name.endsWith('.d.ts')) || name.endsWith('.proto');

/** The newest source file under `dir` that was modified after `since` (ms), or undefined. */
function newerSource(dir, since) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (SKIPPED_DIRS.has(e.name)) continue;
      const found = newerSource(path, since);
      if (found !== undefined) return found;
    } else if (isSource(e.name) && statSync(path).mtimeMs > since) {
      return path;
    }
  }
  return undefined;
}

/**
 * Why dist/ cannot be run for `entry` ("server/main", a path under the repository without
 * extension), as one sentence with its remedy; undefined when it can.
 */
export function compiledProblem(entry) {
  const file = join(root, 'dist', `${entry}.js`);
  const rebuild = 'run `npm run build` (or `npm install`, which builds), or set BLEDFU_RUN_FROM_SOURCE=1 to run the TypeScript sources through tsx';
  if (!existsSync(file) || !existsSync(BUILD_STAMP)) {
    return `the compiled program is missing (dist/${entry}.js): ${rebuild}`;
  }
  const hasSources = existsSync(join(root, `${entry}.ts`));
  if (!hasSources) return undefined;
  let builtFrom;
  try {
    builtFrom = JSON.parse(readFileSync(BUILD_STAMP, 'utf8')).sourcesReadAt;
  } catch {
    builtFrom = undefined;
  }
  if (typeof builtFrom !== 'number') return `dist/ is incomplete (no readable build stamp): ${rebuild}`;
  const newer =
    SOURCE_DIRS.map((d) => newerSource(join(root, d), builtFrom)).find((f) => f !== undefined) ??
    SOURCE_FILES.map((f) => join(root, f)).find((f) => existsSync(f) && statSync(f).mtimeMs > builtFrom);
  if (newer !== undefined) {
    return `dist/ is older than the sources (${newer.slice(root.length)} changed after the last build): ${rebuild}`;
  }
  return undefined;
}

/**
 * Imports the compiled module of `entry` (a program's top level runs it); with
 * BLEDFU_RUN_FROM_SOURCE=1 the TypeScript source instead. When dist/ is missing or stale, exits
 * 1 with one line on stderr, prefixed with `program`.
 */
export async function importCompiled(entry, program) {
  if (process.env.BLEDFU_RUN_FROM_SOURCE === '1') {
    let tsx;
    try {
      tsx = await import('tsx/esm/api');
    } catch {
      process.stderr.write(`${program}: BLEDFU_RUN_FROM_SOURCE=1 runs the TypeScript sources through tsx, a dev dependency that is not installed here: run \`npm install\` in a clone, or unset it to run dist/\n`);
      process.exit(1);
    }
    tsx.register();
    return import(pathToFileURL(join(root, `${entry}.ts`)).href);
  }
  const problem = compiledProblem(entry);
  if (problem !== undefined) {
    process.stderr.write(`${program}: ${problem}\n`);
    process.exit(1);
  }
  return import(pathToFileURL(join(root, 'dist', `${entry}.js`)).href);
}
