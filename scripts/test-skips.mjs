// What a test run skipped, and why. Node's own summary counts skipped tests only: a skipped
// `describe` (how the btvirt, Python and tool-dependent suites step aside on a machine without
// their Debian packages) shows up as nothing at all, so a run that left seven suites out said
// "skipped 1". scripts/run-tests.mjs runs this file as a second reporter, writing one JSON line
// per skipped suite or test, and prints skipSummary() of those lines after Node's summary.

/** Node test reporter: a JSON line {kind, name, reason, file} for each skipped suite or test. */
export default async function* skipReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { skip, name, file, details } = event.data;
    if (skip === undefined || skip === false) continue;
    yield `${JSON.stringify({
      kind: details?.type === 'suite' ? 'suite' : 'test',
      name,
      reason: typeof skip === 'string' && skip !== '' ? skip : '(no reason given)',
      ...(file === undefined ? {} : { file }),
    })}\n`;
  }
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Counts of {kind: 'suite' | 'test'} records as "1 suite and 2 tests". */
function counted(records) {
  const suites = records.filter((r) => r.kind === 'suite').length;
  const tests = records.length - suites;
  return [suites > 0 ? plural(suites, 'suite') : '', tests > 0 ? plural(tests, 'test') : ''].filter((s) => s !== '').join(' and ');
}

/**
 * The lines printed after a run: what was skipped, suites (whose tests never ran, so Node counts
 * none of them) and tests apart, grouped by reason, most frequent first.
 */
export function skipSummary(records) {
  if (records.length === 0) return ['skipped: nothing'];
  const byReason = new Map();
  for (const r of records) byReason.set(r.reason, [...(byReason.get(r.reason) ?? []), r]);
  const lines = [`skipped: ${counted(records)}${records.some((r) => r.kind === 'suite') ? " (a skipped suite's tests are not run, and not counted above)" : ''}; by reason:`];
  for (const [reason, rs] of [...byReason].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))) {
    lines.push(`  ${counted(rs)}: ${reason}`);
  }
  return lines;
}

/** Parses the reporter's output file (JSON lines); lines that do not parse are ignored. */
export function parseSkipRecords(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // A torn last line of an interrupted run: the summary is advisory.
    }
  }
  return out;
}
