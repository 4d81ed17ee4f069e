/**
 * clients/cli/README.md documents every `--json` record type the CLI can print, and no other:
 * Output.record only takes a type of RECORD_TYPES (a type check), and this test holds the
 * README's table to that list.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { RECORD_TYPES } from '../../../clients/cli/recordTypes.js';
import { tableRows } from '../../helpers/markdown-tables.js';

const README = readFileSync(new URL('../../../clients/cli/README.md', import.meta.url), 'utf8');

describe('clients/cli/README.md: the --json record types', () => {
  it('has one table row per record type the CLI prints, each with where it comes from and its fields', () => {
    const rows = tableRows(README, 'type');
    const documented = rows.map((r) => (r[0] ?? '').replace(/`/g, ''));
    assert.deepEqual([...documented].sort(), [...RECORD_TYPES].sort());
    assert.equal(new Set(documented).size, documented.length, 'a type documented twice');
    for (const row of rows) {
      assert.equal(row.length, 3, row.join(' | '));
      assert.ok((row[1] ?? '').length > 0 && (row[2] ?? '').length > 0, `incomplete row: ${row.join(' | ')}`);
    }
  });
});
