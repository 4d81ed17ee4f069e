/**
 * The repository carries no third-party firmware or reference data (issue 11): Nordic's packages,
 * keys and codec vectors live in ../shared and are read there at test time; the project's own
 * firmware and packages are made at run time (server/sim/demoFirmware.ts, `bledfu pkg generate`).
 * A copy slipping back in (a fixture "for convenience") fails here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { needsShared } from '../helpers/shared-packages.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));

/** The files git tracks (what a clone holds), relative to the repository root. */
function trackedFiles(): string[] {
  return execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '' && statSync(join(ROOT, f), { throwIfNoEntry: false })?.isFile() === true);
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('the repository carries no third-party data', () => {
  it('tracks no firmware image or package (.hex, .bin, .zip, .dat): the project makes its own at run time', () => {
    const firmware = trackedFiles().filter((f) => /\.(hex|ihex|bin|zip|dat)$/i.test(f));
    assert.deepEqual(firmware, []);
  });

  it('tracks no byte-copy of a file of ../shared (fixtures, vectors, specs)', needsShared('fixtures/dfu', 'the reference data whose copies must not be in the repository'), () => {
    const shared = new Map(walk(SHARED).map((p) => [sha256(p), p.slice(SHARED.length)]));
    assert.ok(shared.size > 20, `expected the shared reference files, found ${shared.size}`);
    const copies = trackedFiles().flatMap((f) => {
      const of = shared.get(sha256(join(ROOT, f)));
      return of === undefined ? [] : [`${f} = ../shared/${of}`];
    });
    assert.deepEqual(copies, []);
  });
});
