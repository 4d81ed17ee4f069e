/**
 * SLIP framing as Nordic's connectivity firmware uses it: every frame is wrapped in 0xC0 and only
 * 0xC0 and 0xDB are escaped. The decoder is a resumable byte state machine fed whatever chunks the
 * serial port delivers. Unlike pc-ble-driver it treats every 0xC0 as "end the current frame and
 * start a new one", so one lost delimiter costs at most the frame it belonged to; whatever garbage
 * that produces is rejected one layer up by the H5 checksums.
 */

export const SLIP_END = 0xc0;
export const SLIP_ESC = 0xdb;
export const SLIP_ESC_END = 0xdc;
export const SLIP_ESC_ESC = 0xdd;

/**
 * Largest unescaped frame worth collecting: an H5 packet with a 12-bit payload length plus header
 * and CRC. Anything longer is noise (a stream without delimiters), dropped instead of buffered.
 */
export const SLIP_MAX_FRAME = 4 + 0xfff + 2;

export function slipEncode(packet: Uint8Array): Uint8Array {
  let escapes = 0;
  for (const b of packet) if (b === SLIP_END || b === SLIP_ESC) escapes++;
  const out = new Uint8Array(packet.length + escapes + 2);
  let at = 0;
  out[at++] = SLIP_END;
  for (const b of packet) {
    if (b === SLIP_END) {
      out[at++] = SLIP_ESC;
      out[at++] = SLIP_ESC_END;
    } else if (b === SLIP_ESC) {
      out[at++] = SLIP_ESC;
      out[at++] = SLIP_ESC_ESC;
    } else {
      out[at++] = b;
    }
  }
  out[at] = SLIP_END;
  return out;
}

/** Why the decoder threw bytes away; counted so a link can report a noisy line. */
export type SlipDropReason = 'beforeFirstDelimiter' | 'badEscape' | 'tooLong';

export class SlipDecoder {
  readonly #maxFrame: number;
  #buffer: Uint8Array;
  #length = 0;
  /** No 0xC0 seen yet: bytes belong to a frame whose start we missed. */
  #synced = false;
  #escaping = false;
  /** The current frame is already known bad; skip to the next delimiter. */
  #discarding: SlipDropReason | undefined;
  readonly #dropped: Record<SlipDropReason, number> = { beforeFirstDelimiter: 0, badEscape: 0, tooLong: 0 };

  constructor(maxFrame = SLIP_MAX_FRAME) {
    this.#maxFrame = maxFrame;
    this.#buffer = new Uint8Array(Math.min(maxFrame, 256));
  }

  /** How many frames (or leading fragments) were dropped, by reason. */
  get dropped(): Readonly<Record<SlipDropReason, number>> {
    return { ...this.#dropped };
  }

  /** True when no partial frame is buffered. */
  get idle(): boolean {
    return this.#length === 0 && !this.#escaping && this.#discarding === undefined;
  }

  /** Consumes a chunk and returns the unescaped content of every frame it completed, in order. */
  feed(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    for (const b of chunk) {
      if (b === SLIP_END) {
        this.#endFrame(frames);
        continue;
      }
      if (!this.#synced) {
        this.#discarding ??= 'beforeFirstDelimiter';
        continue;
      }
      if (this.#discarding !== undefined) continue;
      if (this.#escaping) {
        this.#escaping = false;
        if (b === SLIP_ESC_END) this.#push(SLIP_END);
        else if (b === SLIP_ESC_ESC) this.#push(SLIP_ESC);
        else this.#discard('badEscape');
      } else if (b === SLIP_ESC) {
        this.#escaping = true;
      } else {
        this.#push(b);
      }
    }
    return frames;
  }

  #endFrame(frames: Uint8Array[]): void {
    if (this.#discarding !== undefined) {
      this.#dropped[this.#discarding]++;
    } else if (this.#escaping) {
      // A frame ending right after the escape byte is the truncated-escape error of the spec.
      this.#dropped.badEscape++;
    } else if (this.#length > 0) {
      frames.push(this.#buffer.slice(0, this.#length));
    }
    this.#synced = true;
    this.#length = 0;
    this.#escaping = false;
    this.#discarding = undefined;
  }

  #discard(reason: SlipDropReason): void {
    this.#discarding = reason;
    this.#length = 0;
  }

  #push(b: number): void {
    if (this.#length === this.#maxFrame) {
      this.#discard('tooLong');
      return;
    }
    if (this.#length === this.#buffer.length) {
      const next = new Uint8Array(Math.min(this.#maxFrame, this.#buffer.length * 2));
      next.set(this.#buffer);
      this.#buffer = next;
    }
    this.#buffer[this.#length++] = b;
  }
}
