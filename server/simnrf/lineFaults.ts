/**
 * What the virtual serial line does to frames: loses some, corrupts some, puts garbage before
 * some. Decisions come from a seeded generator, so a failing run can be repeated with its seed.
 * Corruption always produces a frame the receiver can tell is bad (a flipped CRC or header
 * checksum bit), never a different valid frame — a real line's CRC misses are not what we test.
 */
import { BledfuError } from '../common/errors.js';
import { seededRandom } from '../common/clock.js';
import type { H5LineFaults, LineDirection } from './types.js';

export type FrameDirection = Exclude<LineDirection, 'both'>;

export interface FrameFate {
  readonly lose: boolean;
  readonly corrupt: boolean;
  /** Bytes to put on the line before the frame. */
  readonly garbage: Uint8Array | undefined;
}

const DEFAULT_GARBAGE_BYTES = 8;
const KEEP: FrameFate = { lose: false, corrupt: false, garbage: undefined };

function checkRate(name: string, rate: number | undefined): void {
  if (rate === undefined) return;
  if (!(rate >= 0 && rate <= 1)) {
    throw new BledfuError('INVALID_ARGUMENT', `line fault ${name} must be between 0 and 1, got ${rate}`, { layer: 'sim' });
  }
}

export function validateLineFaults(f: H5LineFaults): H5LineFaults {
  checkRate('lossRate', f.lossRate);
  checkRate('corruptRate', f.corruptRate);
  checkRate('garbageRate', f.garbageRate);
  for (const [name, v] of [
    ['garbageBytes', f.garbageBytes],
    ['resetAfterPackets', f.resetAfterPackets],
  ] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) {
      throw new BledfuError('INVALID_ARGUMENT', `line fault ${name} must be a whole number ≥ 0, got ${v}`, { layer: 'sim' });
    }
  }
  return { ...f };
}

export class LineFaultState {
  #faults: H5LineFaults = {};
  #random: () => number = seededRandom(1);

  get faults(): H5LineFaults {
    return this.#faults;
  }

  set(faults: H5LineFaults): void {
    this.#faults = validateLineFaults(faults);
    this.#random = seededRandom(faults.seed ?? 1);
  }

  #applies(direction: FrameDirection): boolean {
    const d = this.#faults.direction ?? 'both';
    return d === 'both' || d === direction;
  }

  fate(direction: FrameDirection): FrameFate {
    if (!this.#applies(direction)) return KEEP;
    const f = this.#faults;
    const roll = (rate: number | undefined): boolean => rate !== undefined && rate > 0 && this.#random() < rate;
    const garbage = roll(f.garbageRate) ? this.randomBytes(f.garbageBytes ?? DEFAULT_GARBAGE_BYTES) : undefined;
    const lose = roll(f.lossRate);
    const corrupt = !lose && roll(f.corruptRate);
    return lose || corrupt || garbage !== undefined ? { lose, corrupt, garbage } : KEEP;
  }

  randomBytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.#random() * 256);
    return out;
  }
}

/**
 * A copy of an unescaped H5 packet that no receiver accepts: with a CRC, one CRC bit flipped;
 * without, one bit of the header checksum (anything shorter than a header: its last byte).
 */
export function corruptPacket(packet: Uint8Array): Uint8Array {
  const out = packet.slice();
  const b0 = out[0] ?? 0;
  const index = out.length >= 6 && (b0 & 0x40) !== 0 ? out.length - 1 : out.length >= 4 ? 3 : out.length - 1;
  if (index >= 0) out[index] = (out[index] as number) ^ 0x01;
  return out;
}
