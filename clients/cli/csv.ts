/**
 * CSV as RFC 4180 writes it: a field holding a comma, a double quote, CR or LF is put in double
 * quotes with its quotes doubled; every other field is written as it is. Lines end in LF.
 */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvLine(fields: readonly string[]): string {
  return fields.map(csvField).join(',');
}
