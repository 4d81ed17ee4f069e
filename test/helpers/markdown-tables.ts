/** Reading the tables of the project's docs, for tests that keep a doc and the code in step. */

/**
 * The body rows (cells, trimmed) of every table in `markdown` whose header row starts with the
 * cell `firstHeader`; the separator row is skipped, a non-table line ends a table.
 */
export function tableRows(markdown: string, firstHeader: string): string[][] {
  const rows: string[][] = [];
  let inTable = false;
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (cells[0] === firstHeader) {
      inTable = true;
      continue;
    }
    if (inTable && !cells.every((c) => /^-+$/.test(c))) rows.push(cells);
  }
  return rows;
}
