/**
 * Facts the README and `bledfud --help` state about the code, kept equal to it: the `sim:`
 * parameters and key names (parseSimSpec, SIM_PUBLIC_KEYS), and the Debian packages the quick
 * start says the full suite needs (what .ci/run installs).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { isBledfuError } from '../../../server/common/errors.js';
import { helpText } from '../../../server/config/load.js';
import { SIM_PUBLIC_KEYS } from '../../../server/sim/keys.js';
import { parseSimSpec, SIM_SPEC_PARAMETERS } from '../../../server/sim/world.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const CI_RUN = readFileSync(join(ROOT, '.ci/run'), 'utf8');

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();
/** The `name=` parameters a text mentions. */
const parametersIn = (text: string): string[] => sorted([...text.matchAll(/\b([a-zA-Z]+)=/g)].map((m) => m[1] as string));

/** The sim: part of the --adapters description in `bledfud --help`. */
function helpSimText(): string {
  const help = helpText();
  const from = help.indexOf('"sim:');
  const to = help.indexOf('"hci:', from);
  assert.ok(from >= 0 && to > from, 'the --adapters description has a sim: part before its hci: part');
  return help.slice(from, to);
}

/** The README's `sim:` row of the adapter spec table. */
function readmeSimRow(): string {
  const row = README.split('\n').find((l) => l.startsWith('| `sim:` |'));
  assert.ok(row !== undefined, 'README has a sim: row in its adapter table');
  return row;
}

describe('sim: parameters as documented', () => {
  it('parseSimSpec accepts every parameter of SIM_SPEC_PARAMETERS (none is "unknown")', () => {
    for (const name of SIM_SPEC_PARAMETERS) {
      try {
        parseSimSpec(`sim:?${name}=%3F`);
      } catch (e) {
        assert.ok(isBledfuError(e), String(e));
        assert.doesNotMatch(e.message, /unknown parameter/, name);
      }
    }
    assert.throws(() => parseSimSpec('sim:?colour=blue'), (e: unknown) => isBledfuError(e) && e.remedy === `known parameters: ${SIM_SPEC_PARAMETERS.join(', ')}`);
  });

  it('bledfud --help names every sim: parameter, and no other', () => {
    assert.deepEqual(parametersIn(helpSimText()), sorted(SIM_SPEC_PARAMETERS));
  });

  it('the README sim: row names every parameter, and no other', () => {
    assert.deepEqual(parametersIn(readmeSimRow()), sorted(SIM_SPEC_PARAMETERS));
  });

  it('--help and the README list the key names the simulator knows', () => {
    const keys = sorted(Object.keys(SIM_PUBLIC_KEYS));
    const help = helpSimText();
    const inHelp = /key= the public key the bootloaders trust: ([^;]+);/.exec(help)?.[1] ?? '';
    assert.deepEqual(sorted(keys.filter((k) => inHelp.includes(k))), keys, `--help: ${inHelp}`);
    const inReadme = /`key=([^`]+)`/.exec(readmeSimRow())?.[1] ?? '';
    assert.deepEqual(sorted(inReadme.split('\\|')), keys);
  });

  it('speed= takes what the docs say: any number > 0, or max/inf', () => {
    for (const [text, speed] of [
      ['1', 1],
      ['0.5', 0.5],
      ['10', 10],
      ['max', Number.POSITIVE_INFINITY],
      ['inf', Number.POSITIVE_INFINITY],
    ] as const) {
      assert.equal(parseSimSpec(`sim:?speed=${text}`).speed, speed, text);
    }
    for (const bad of ['0', '-1', 'fast']) assert.throws(() => parseSimSpec(`sim:?speed=${bad}`), bad);
  });
});

describe('README quick start: the Debian packages of the full test suite', () => {
  it('are exactly the ones .ci/run installs', () => {
    const packagesOf = (text: string, where: string): string[] => {
      const m = /apt[-_]get install[^\n]*--no-install-recommends \\\n((?:[^\n]*\\\n)*[^\n]*)/.exec(text);
      assert.ok(m?.[1] !== undefined, `no apt-get install command in ${where}`);
      return sorted(
        m[1]
          .replace(/>\/dev\/null/g, '')
          .split(/[\s\\]+/)
          .filter((w) => /^[a-z0-9][a-z0-9.+-]+$/.test(w)),
      );
    };
    const ci = packagesOf(CI_RUN, '.ci/run');
    assert.ok(ci.includes('bluez-test-tools') && ci.includes('protobuf-compiler-grpc'), ci.join(' '));
    assert.deepEqual(packagesOf(README, 'README.md'), ci);
  });
});
