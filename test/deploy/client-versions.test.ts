/**
 * The clients are versioned with the contract: the root package.json's version is the one version
 * of bledfud, the TypeScript client's npm package (clients/ts/package.json) and the Python
 * client's wheel (clients/python/pyproject.toml), so a program that depends on a client knows
 * which server it speaks to. The TS package's dependency ranges are the ones the repository is
 * built and tested with.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly private?: boolean;
  readonly dependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
}
const root = JSON.parse(read('package.json')) as PackageJson;
const ts = JSON.parse(read('clients/ts/package.json')) as PackageJson;

/** [project] version of a pyproject.toml (a literal string: the file declares no dynamic version). */
function pyprojectVersion(text: string): string | undefined {
  const project = /^\[project\]\n([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(text)?.[1] ?? '';
  return /^version\s*=\s*"([^"]+)"/m.exec(project)?.[1];
}

describe('client packages are versioned with the contract', () => {
  it('the TypeScript and Python clients carry the root package.json version', () => {
    assert.match(root.version, /^\d+\.\d+\.\d+/);
    assert.equal(ts.version, root.version, 'clients/ts/package.json');
    assert.equal(pyprojectVersion(read('clients/python/pyproject.toml')), root.version, 'clients/python/pyproject.toml');
  });

  it('the TypeScript client is a public package whose dependencies are the root ranges', () => {
    assert.equal(ts.name, '@bledfu/client');
    assert.notEqual(ts.private, true);
    assert.equal(ts.devDependencies, undefined, 'the package is built by the repository, it needs no tools of its own');
    const deps = Object.entries(ts.dependencies ?? {});
    assert.ok(deps.length > 0);
    for (const [name, range] of deps) assert.equal(range, root.dependencies?.[name], `${name} in clients/ts/package.json`);
  });
});
