/**
 * Throughput of a transfer from cumulative byte counts. The current rate uses a short sliding
 * window so the ETA reacts to a slowdown (a worse connection interval after a resume) without
 * jumping on every packet; the average covers everything since the first report.
 */

export interface RateSample {
  /** Milliseconds, from the injected clock. */
  readonly at: number;
  /** Cumulative bytes confirmed. */
  readonly bytes: number;
}

export interface Rates {
  readonly current: number;
  readonly average: number;
  readonly etaMs: number | undefined;
}

export class RateMeter {
  readonly #windowMs: number;
  readonly #samples: RateSample[] = [];
  #first: RateSample | undefined;

  constructor(windowMs = 3_000) {
    this.#windowMs = windowMs;
  }

  /** Records a cumulative count and returns the rates, with the ETA to `totalBytes`. */
  update(at: number, bytes: number, totalBytes: number): Rates {
    const last = this.#samples[this.#samples.length - 1];
    // A resume can restart from fewer bytes than last reported (the device discarded an
    // unfinished object); counting that as negative throughput would poison both rates.
    if (last !== undefined && bytes < last.bytes) {
      this.#samples.length = 0;
      this.#first = undefined;
    }
    const sample = { at, bytes };
    this.#first ??= sample;
    this.#samples.push(sample);
    while (this.#samples.length > 2 && at - (this.#samples[1] as RateSample).at >= this.#windowMs) this.#samples.shift();

    const oldest = this.#samples[0] as RateSample;
    const current = perSecond(bytes - oldest.bytes, at - oldest.at);
    const average = perSecond(bytes - this.#first.bytes, at - this.#first.at);
    const rate = current > 0 ? current : average;
    const remaining = Math.max(0, totalBytes - bytes);
    const etaMs = remaining === 0 ? 0 : rate > 0 ? (remaining / rate) * 1000 : undefined;
    return { current, average, etaMs };
  }
}

function perSecond(bytes: number, ms: number): number {
  return ms > 0 ? (bytes * 1000) / ms : 0;
}
