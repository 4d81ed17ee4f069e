/**
 * Client input quoted for a message, a log line or an audit record: at most a short prefix,
 * escaped. A client controls these strings; echoed whole, a 56 MiB name filled the audit log and
 * made the gRPC trailer carrying the error unsendable (the call hung), and control characters or
 * quotes in it could forge the shape of a log line.
 */

/** Characters of client input a message shows; the rest is replaced by "…". */
export const QUOTE_PREFIX_CHARS = 64;

/** C1 controls, line and paragraph separators, bidirectional overrides and isolates. */
const INVISIBLE = /[\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` as a JSON string literal (quotes, backslashes and control characters escaped), cut to its
 * first `max` characters (code points: a surrogate pair is never split) with "…" after the quote
 * when something was cut. Reads only the prefix, so a huge input costs nothing.
 */
export function quoteInput(text: string, max = QUOTE_PREFIX_CHARS): string {
  let prefix = '';
  let count = 0;
  for (const ch of text.length > max * 2 ? text.slice(0, max * 2) : text) {
    if (count === max) break;
    prefix += ch;
    count += 1;
  }
  const cut = prefix.length < text.length;
  // JSON.stringify leaves C1 controls, line/paragraph separators and bidirectional overrides as
  // they are; escaped too, the result reads the same in a terminal, a log viewer or a browser.
  const escaped = JSON.stringify(prefix).replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return cut ? `${escaped}…` : escaped;
}
