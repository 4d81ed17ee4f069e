/**
 * How far ahead of the wire a writer may be on a line with a pace of its own (a UART).
 *
 * A write to such a line resolves once no more than LINE_LEAD_MS of earlier bytes still wait to
 * cross, not as soon as the OS or the peer took them: the writer then holds what is not yet on its
 * way and can choose what goes next (hci/linePacer.ts sends small packets before bulk ones). The
 * lead keeps the line from running dry between two writes on a busy host; at 1 Mbaud it is about
 * 200 bytes, less than one full ACL packet.
 */
export const LINE_LEAD_MS = 2;

/** Bits on the wire per byte: 8N1 (start bit, 8 data bits, stop bit). */
export const BITS_PER_BYTE = 10;

/** Where the bytes written so far will have crossed a line of `baud`, on the writer's clock. */
export class LinePace {
  readonly #bytesPerMs: number;
  #freeAt = Number.NEGATIVE_INFINITY;

  constructor(baud: number) {
    this.#bytesPerMs = baud / BITS_PER_BYTE / 1000;
  }

  /** `length` bytes handed to the line at `now`: ms from now until the write may resolve. */
  wrote(length: number, now: number): number {
    this.#freeAt = Math.max(now, this.#freeAt) + length / this.#bytesPerMs;
    return Math.max(0, this.#freeAt - LINE_LEAD_MS - now);
  }
}
