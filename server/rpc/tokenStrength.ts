/**
 * Whether a bearer token is strong enough to guard a firmware-flashing service: not a published
 * placeholder, and not something a person typed. A token is checked when the tokens file is read,
 * so a weak one stops the server at startup instead of protecting it badly.
 */

/**
 * The least a token's estimated entropy may be. Random tokens of 128 bits (`openssl rand -hex 16`,
 * `openssl rand -base64 16`, a UUIDv4) score 80 or more here.
 */
export const MIN_TOKEN_BITS = 72;
/** Shorter tokens are refused whatever their content (they were refused before the entropy check). */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Words that mark a token as a placeholder from an example file or a document (`REPLACE-WITH-…`,
 * `CHANGE-ME`, `<token>`, …). A random token contains one of them with negligible probability.
 */
const PLACEHOLDER_MARKS: readonly RegExp[] = [
  /replace/i,
  /change[-_ ]?me/i,
  /placeholder/i,
  /example/i,
  /your[-_ ]?token/i,
  /token[-_ ]?here/i,
  /secret/i,
  /passw[o0]rd/i,
  /dummy/i,
  /sample/i,
  /todo/i,
  /fixme/i,
  /[<>{}]/,
  /x{4,}/i,
];

/**
 * A conservative estimate of the bits of entropy in `token`: characters that merely continue a
 * run (the third and later of "aaaa", "0123", "fedc") or repeat an earlier part ("abcabc") count
 * for nothing, and each remaining character counts for the Shannon entropy of the token's own
 * character distribution, never more than its character classes allow. It underestimates random
 * tokens a little; it cannot know dictionary words, so it catches placeholders, repeats and runs,
 * not every password a person could choose.
 */
export function estimateTokenBits(token: string): number {
  const chars = [...token];
  let effective = 0;
  const code = (i: number): number => chars[i]?.codePointAt(0) ?? 0;
  const seen = new Set<string>();
  for (let i = 0; i < chars.length; i++) {
    // The third and later characters of a run that repeats or counts ("aaa", "123", "fed").
    const step = code(i) - code(i - 1);
    const run = i >= 2 && Math.abs(step) <= 1 && step === code(i - 1) - code(i - 2);
    // A character that ends three already seen together repeats an earlier part ("abcabc").
    const trigram = i >= 2 ? chars.slice(i - 2, i + 1).join('') : undefined;
    const repeated = trigram !== undefined && seen.has(trigram);
    if (trigram !== undefined) seen.add(trigram);
    if (!run && !repeated) effective++;
  }
  const counts = new Map<string, number>();
  for (const ch of chars) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let shannon = 0;
  for (const n of counts.values()) {
    const p = n / chars.length;
    shannon -= p * Math.log2(p);
  }
  const pool =
    (/[a-z]/.test(token) ? 26 : 0) + (/[A-Z]/.test(token) ? 26 : 0) + (/[0-9]/.test(token) ? 10 : 0) + (/[^a-zA-Z0-9]/.test(token) ? 33 : 0);
  const perChar = Math.min(shannon, pool === 0 ? 0 : Math.log2(pool));
  return Math.floor(effective * perChar);
}

/** Why `token` must not be used, or undefined when it is fine. */
export function tokenWeakness(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH) return `token shorter than ${MIN_TOKEN_LENGTH} characters`;
  if (PLACEHOLDER_MARKS.some((m) => m.test(token))) return 'token is a placeholder from an example, not a secret';
  const bits = estimateTokenBits(token);
  if (bits < MIN_TOKEN_BITS) return `token is too predictable (about ${bits} bits of entropy, at least ${MIN_TOKEN_BITS} needed)`;
  return undefined;
}
