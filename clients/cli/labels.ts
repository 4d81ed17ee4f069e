/** Job labels on the command line (`--label k=v`, repeatable) and in the CLI's text output. */
import { UsageError } from './context.js';

/**
 * `["serial=SN-1", "work_order=WO-7"]` → `{ serial: "SN-1", work_order: "WO-7" }`. Split at the
 * first `=`, so a value may hold `=`; the server checks the bounds (keys of A-Z a-z 0-9 _ . -).
 */
export function parseLabels(flag: string, pairs: readonly string[] | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`${flag} "${pair}" is not key=value`, `write ${flag} serial=SN-0042 (repeat ${flag} for each label)`);
    const key = pair.slice(0, at);
    if (Object.hasOwn(labels, key)) throw new UsageError(`${flag} ${key} is given twice`, 'give each label key once');
    labels[key] = pair.slice(at + 1);
  }
  return labels;
}

/** `serial=SN-1 work_order="WO 7"`: sorted by key; a value that is empty or holds a space, `"` or `=` is JSON-quoted. */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((key) => {
      const value = labels[key] as string;
      return `${key}=${value === '' || /[\s"=]/.test(value) ? JSON.stringify(value) : value}`;
    })
    .join(' ');
}
