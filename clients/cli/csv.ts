/**
 * CSV as RFC 4180 writes it: a field holding a comma, a double quote, CR or LF is put in double
 * quotes with its quotes doubled. Lines end in LF.
 *
 * A line report is opened in spreadsheets, and some of its cells hold what devices and clients
 * chose (a Device Information serial, labels, names): a cell that starts with = + - @ (or a tab
 * or CR) is read there as a formula, which can fetch URLs or run commands (CSV injection). Such a
 * cell gets a leading apostrophe, as OWASP recommends, so it stays text; plain numbers ("-3",
 * "+1.5") are left as they are, since they are no formula.
 */
export function csvField(value: string): string {
  const text = FORMULA_START.test(value) && !PLAIN_NUMBER.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(fields: readonly string[]): string {
  return fields.map(csvField).join(',');
}

const FORMULA_START = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[+-]?\d+(\.\d+)?$/;
