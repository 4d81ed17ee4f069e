// Builds the TypeScript client's npm package (@bledfu/client, clients/ts/package.json) into
// clients/ts/dist: clients/ts/index.ts and everything it imports (the generated protocol code in
// proto/gen, the pure package codec and the one error type of server/), compiled with type
// declarations. `npm pack` in clients/ts runs it (prepack), so the tarball always carries a
// fresh build.
//
// It compiles the protocol code as proto/gen holds it (`npm ci` and `npm run generate` write it)
// and never regenerates it here: tests run from these sources while a package is built.
//
// Before compiling it checks that the package is versioned with the contract (one version: the
// root package.json's, which the Python client's pyproject.toml carries too) and that its
// dependencies are the root's ranges; after, that they are exactly the packages the built code
// imports, so the package needs nothing it does not declare and declares nothing it does not use.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const clientDir = join(root, 'clients', 'ts');
const dist = join(clientDir, 'dist');
const fail = (message) => {
  console.error(`build-ts-client: ${message}`);
  process.exit(1);
};
const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

const rootPkg = readJson(join(root, 'package.json'));
const clientPkg = readJson(join(clientDir, 'package.json'));
const pyproject = readFileSync(join(root, 'clients', 'python', 'pyproject.toml'), 'utf8');
const pythonVersion = /^version\s*=\s*"([^"]+)"/m.exec(pyproject)?.[1];
if (clientPkg.version !== rootPkg.version || pythonVersion !== rootPkg.version) {
  fail(
    `the clients are versioned with the contract: package.json has ${rootPkg.version}, clients/ts/package.json ` +
      `${clientPkg.version}, clients/python/pyproject.toml ${pythonVersion ?? '(none)'}; make them agree`,
  );
}
for (const [name, range] of Object.entries(clientPkg.dependencies ?? {})) {
  if (rootPkg.dependencies?.[name] !== range) {
    fail(`clients/ts/package.json wants ${name}@${range}, the root package.json ${rootPkg.dependencies?.[name] ?? 'nothing'}: the client is built and tested against the root's`);
  }
}
if (!existsSync(join(root, 'proto', 'gen', 'bledfu', 'v1', 'service.ts'))) {
  fail('proto/gen is missing: run `npm run generate` (or `npm ci`) first');
}

rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(clientDir, 'tsconfig.package.json')], {
  cwd: root,
  stdio: 'inherit',
});
if (tsc.status !== 0) fail(`tsc -p clients/ts/tsconfig.package.json failed (exit ${tsc.status ?? tsc.signal})`);

/** The npm packages the built files import (JavaScript and declarations), by package name. */
function importedPackages(dir) {
  const found = new Set();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, e.name);
      if (e.isDirectory()) walk(path);
      else if (/\.(d\.ts|js)$/.test(e.name)) {
        const text = readFileSync(path, 'utf8');
        for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)) {
          const spec = m[1];
          if (spec.startsWith('.') || spec.startsWith('node:')) continue;
          found.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
        }
      }
    }
  };
  walk(dir);
  return found;
}
const imported = importedPackages(dist);
const declared = new Set(Object.keys(clientPkg.dependencies ?? {}));
const undeclared = [...imported].filter((n) => !declared.has(n));
const unused = [...declared].filter((n) => !imported.has(n));
if (undeclared.length > 0 || unused.length > 0) {
  fail(
    `clients/ts/package.json's dependencies must be what the built code imports: ` +
      `${undeclared.length > 0 ? `missing ${undeclared.join(', ')}` : ''}${undeclared.length > 0 && unused.length > 0 ? '; ' : ''}` +
      `${unused.length > 0 ? `unused ${unused.join(', ')}` : ''}`,
  );
}
console.log(`build-ts-client: ${clientPkg.name}@${clientPkg.version} built in clients/ts/dist (imports ${[...imported].sort().join(', ')})`);
