/**
 * The station's only source of randomness: a small seeded PRNG (sfc32, seeded through splitmix32),
 * so a day is decided by its seed alone and a failing seed can be replayed exactly. Independent
 * streams are forked by name ("population", "faults", …): adding a draw to one part of the plan
 * does not shift what another part draws.
 */

/** splitmix32: spreads a 32-bit state into well-mixed words (seeding only). */
function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a of a label, to derive a stream's seed from its name. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class Rng {
  readonly seed: number;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`a station seed is an integer, got ${seed}`);
    this.seed = seed;
    // Both halves of a seed up to 2^53 count.
    const mix = splitmix32((seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) >>> 0, 0x9e3779b1));
    this.#a = mix();
    this.#b = mix();
    this.#c = mix();
    this.#d = mix();
    for (let i = 0; i < 12; i++) this.#u32();
  }

  /** An independent stream named `label`, derived from this seed (not from this stream's state). */
  fork(label: string): Rng {
    return new Rng((Math.floor(this.seed / 2 ** 32) % 2 ** 20) * 2 ** 32 + ((this.seed ^ hashLabel(label)) >>> 0));
  }

  #u32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.#u32() / 2 ** 32;
  }

  /** Uniform integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number {
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && hi >= lo)) throw new RangeError(`bad integer range [${lo}, ${hi}]`);
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Uniform in [lo, hi). */
  between(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError('pick from an empty list');
    return xs[this.int(0, xs.length - 1)] as T;
  }

  /** One of the entries, with probability proportional to its weight (weights ≥ 0, not all 0). */
  weighted<T>(entries: readonly (readonly [T, number])[]): T {
    const total = entries.reduce((sum, [, w]) => sum + Math.max(0, w), 0);
    if (!(total > 0)) throw new RangeError('weighted pick with no positive weight');
    let x = this.next() * total;
    for (const [value, w] of entries) {
      if (w <= 0) continue;
      if (x < w) return value;
      x -= w;
    }
    // Rounding at the very end of the range.
    return (entries.findLast(([, w]) => w > 0) as readonly [T, number])[0];
  }
}
