// Makes the project's demo firmware and its DFU package: the ~100 KB demo application
// (server/sim/demoFirmware.ts) as the .hex a build would leave, and the package
// `nrfutil pkg generate` would make of it, signed with the published demo key
// (demo/bledfu-demo-key.pem) that the simulator trusts by default. Through the library, compiled
// (dist/, checked as bin/bledfu.js checks it: missing or stale says `npm run build`). Used by the
// demo and by CI.
// Usage: node scripts/demo-package.mjs [<dir>]   (default .bledfu; prints the package's path)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importCompiled } from '../bin/compiled.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Writes the demo application as bledfu_demo_app.hex into `dir` (what a firmware build leaves); returns its path. */
export async function writeDemoHex(dir) {
  const { demoApplication } = await importCompiled('server/sim/demoFirmware', 'demo-package');
  mkdirSync(dir, { recursive: true });
  const hexPath = join(dir, 'bledfu_demo_app.hex');
  writeFileSync(hexPath, demoApplication().hex);
  return hexPath;
}

/** Writes bledfu_demo_app.hex and bledfu_demo_app.zip into `dir`; returns the zip's path and what it holds. */
export async function makeDemoPackage(dir) {
  const { demoApplication } = await importCompiled('server/sim/demoFirmware', 'demo-package');
  const { makeDemoPackage: make } = await importCompiled('server/sim/demoPackages', 'demo-package');
  const { loadSigningKey } = await importCompiled('server/dfu/package/signingKey', 'demo-package');
  const { readPackage } = await importCompiled('server/dfu/package/package', 'demo-package');
  const { describePackage } = await importCompiled('server/dfu/package/display', 'demo-package');
  mkdirSync(dir, { recursive: true });
  const hexPath = join(dir, 'bledfu_demo_app.hex');
  const zipPath = join(dir, 'bledfu_demo_app.zip');
  writeFileSync(hexPath, demoApplication().hex);
  const key = loadSigningKey(readFileSync(join(root, 'demo', 'bledfu-demo-key.pem'), 'utf8'), 'demo/bledfu-demo-key.pem');
  const pkg = await make('app', key);
  writeFileSync(zipPath, pkg.zip);
  return { hexPath, zipPath, description: describePackage(await readPackage(pkg.zip)) };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { zipPath } = await makeDemoPackage(process.argv[2] ?? join(root, '.bledfu'));
  console.log(zipPath);
}
