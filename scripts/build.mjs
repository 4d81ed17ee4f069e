// `npm run build` (and so `npm install`/`npm ci`, through `prepare`): the protocol code, then
// the server and clients compiled into a fresh dist/ (tsconfig.build.json), then a stamp saying
// when tsc began reading the sources, by which bin/compiled.js tells a stale dist/ from a current one.
// dist/ is emptied first so that a module removed from the sources does not live on there.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BUILD_STAMP } from '../bin/compiled.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const step = (what, command, args) => {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build: ${what} failed (exit ${r.status ?? r.signal}); dist/ is left without a build stamp, so bin/ refuses to run it`);
    process.exit(r.status ?? 1);
  }
};
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
step('generating the protocol code', process.execPath, ['scripts/generate.mjs']);
// After the generation, which writes proto/gen: tsc reads the sources from here on.
const sourcesReadAt = Date.now();
step('compiling (tsc -p tsconfig.build.json)', process.execPath, [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.build.json']);
mkdirSync(new URL('../dist', import.meta.url), { recursive: true });
writeFileSync(BUILD_STAMP, `${JSON.stringify({ sourcesReadAt })}\n`);
