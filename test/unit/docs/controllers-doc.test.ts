/**
 * docs/controllers.md stays usable and honest: it names every controller family, every fact in
 * its tables says whether it is verified (and against what) or assumed, its links resolve, and
 * its "bledfu today" statements about the address and supported-commands quirks still match the
 * code they describe (so a change that lands one of those quirks must update the doc).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { tableRows } from '../../helpers/markdown-tables.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const DOC = 'docs/controllers.md';

/** GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces to -. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6}\s+(.+)$/gm)) anchors.add(slug(m[1] as string));
  return anchors;
}

describe('docs/controllers.md', () => {
  const doc = read(DOC);

  it('has a section for each controller family bledfu knows', () => {
    const headings = [...doc.matchAll(/^##\s+(.+)$/gm)].map((m) => m[1] as string);
    for (const family of [/Zephyr `hci_uart`/, /Nordic connectivity firmware 4\.1/, /BlueZ btvirt/, /generic USB-serial HCI/i]) {
      assert.ok(
        headings.some((h) => family.test(h)),
        `no section for ${family} among ${JSON.stringify(headings)}`,
      );
    }
  });

  it('names the three quirks of issue 13 with what bledfu does today', () => {
    const quirks = doc.slice(doc.indexOf('## The three quirks'), doc.indexOf('## Summary by family'));
    assert.match(quirks, /\| quirk \| seen on \| bledfu today/);
    for (const quirk of [/No public address/, /advertised but not answered/, /Few, small ACL buffers/]) assert.match(quirks, quirk);
  });

  it('gives every fact a status, and every verified fact a source', () => {
    const rows = tableRows(doc, 'fact');
    assert.ok(rows.length >= 20, `only ${rows.length} fact rows found`);
    for (const [fact, status] of rows) {
      assert.ok(status !== undefined && status !== '', `no status for: ${fact}`);
      assert.match(status, /^(verified|assumed|bledfu|not known)/, `status of "${fact}" is neither verified, assumed, bledfu nor not known: ${status}`);
      // A verified fact names the file it was read in.
      if (status.startsWith('verified')) assert.match(status, /`[^`]+`/, `verified without a source: ${fact}`);
    }
  });

  it('links only to files and headings that exist, and the README links to it', () => {
    const readme = read('README.md');
    assert.match(readme, /\]\(docs\/controllers\.md\)/, 'README does not link docs/controllers.md');
    for (const m of doc.matchAll(/\]\(([^)]+)\)/g)) {
      const [target = '', anchor] = (m[1] as string).split('#');
      if (/^[a-z]+:/.test(target)) continue;
      const file = target === '' ? DOC : join('docs', target);
      assert.ok(existsSync(join(ROOT, file)), `${DOC} links to a missing file: ${m[1]}`);
      if (anchor !== undefined) assert.ok(anchorsOf(read(file)).has(anchor), `${DOC} links to a missing heading: ${m[1]}`);
    }
  });

  it('says what the code does about the address and the supported commands', () => {
    // When one of these quirks is handled, the row in "The three quirks of issue 13" must say so.
    const centralInitiatesPublic = /ownAddressType: 0,/.test(read('server/host/gap/central.ts'));
    assert.equal(
      doc.includes('own address type *public* (`ownAddressType: 0` in `central.ts`)'),
      centralInitiatesPublic,
      `${DOC}: the "No public address" row no longer matches server/host/gap/central.ts; update it`,
    );
    const readsSupportedCommands = read('server/backends/hci/adapter.ts').includes("'readLocalSupportedCommands'");
    assert.equal(
      doc.includes('Does not read Read Local Supported Commands.'),
      !readsSupportedCommands,
      `${DOC}: the "advertised but not answered" row no longer matches server/backends/hci/adapter.ts; update it`,
    );
  });
});
