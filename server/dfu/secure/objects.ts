/**
 * The arithmetic of Secure DFU objects, kept pure so it can be tested exhaustively: splitting an
 * image into objects and packets, deciding where to resume from what Select reports (spec §3.2,
 * §3.3), and checking PRN/CRC reports against what was sent.
 */
import { crc32 } from '../../common/crc32.js';

/** DP payload per write: ATT MTU minus the 3-byte ATT header. */
export function packetSizeForMtu(mtu: number): number {
  return Math.max(20, mtu - 3);
}

export interface ObjectSpan {
  readonly index: number;
  /** Offset of the object's first byte in the image. */
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
}

/** All objects but the last are exactly maxSize (page-aligned), as the bootloader requires. */
export function objectSpans(imageSize: number, maxSize: number): readonly ObjectSpan[] {
  const out: ObjectSpan[] = [];
  for (let start = 0, index = 0; start < imageSize; start += maxSize, index++) {
    out.push({ index, start, end: Math.min(imageSize, start + maxSize) });
  }
  return out;
}

/** The object containing byte `offset` (an offset on a boundary belongs to the next object). */
export function objectAt(offset: number, imageSize: number, maxSize: number): ObjectSpan {
  const index = Math.floor(offset / maxSize);
  const start = index * maxSize;
  return { index, start, end: Math.min(imageSize, start + maxSize) };
}

/** Consecutive packets of at most packetSize bytes covering data[from, to). */
export function* packets(data: Uint8Array, from: number, to: number, packetSize: number): Generator<{ readonly start: number; readonly bytes: Uint8Array }> {
  for (let at = from; at < to; at += packetSize) {
    yield { start: at, bytes: data.subarray(at, Math.min(to, at + packetSize)) };
  }
}

/**
 * The PRN interval at which a full object's last packet is the N-th since its Create, which
 * restarts the device's count (spec §2.5): the notification then carries the object's offset and
 * CRC, the answer a CRC request would get, one round trip earlier.
 */
export function objectEndPrn(maxSize: number, packetSize: number): number {
  return Math.min(0xffff, Math.ceil(maxSize / packetSize));
}

export interface ObjectInfo {
  readonly maxSize: number;
  readonly offset: number;
  readonly crc: number;
}

export type CommandPlan =
  /** Create the command object and send the whole init packet. */
  | { readonly action: 'create' }
  /** The target holds a matching prefix: send dat[offset:] without Create, then CRC and Execute. */
  | { readonly action: 'continue'; readonly offset: number }
  /** The same init packet is already complete on the target: Execute only. */
  | { readonly action: 'execute' };

/** Spec §3.2 step 2. */
export function planCommand(dat: Uint8Array, info: ObjectInfo, resume: boolean): CommandPlan {
  if (!resume || info.offset === 0 || info.offset > dat.length) return { action: 'create' };
  if (crc32(dat.subarray(0, info.offset)) !== info.crc) return { action: 'create' };
  return info.offset === dat.length ? { action: 'execute' } : { action: 'continue', offset: info.offset };
}

export type DataPlan =
  /** Start (or restart) creating objects at `from`, an object boundary. */
  | { readonly action: 'create'; readonly from: number }
  /** The object [start,end) is partly on the target up to `offset`: send the rest without Create. */
  | { readonly action: 'continue'; readonly offset: number; readonly object: ObjectSpan }
  /**
   * The target holds exactly `offset` bytes on a boundary (or the whole image): the last object
   * may not be executed yet. Execute, treating success or 0x08 as executed, then go on at `offset`.
   */
  | { readonly action: 'execute'; readonly offset: number };

/** Spec §3.3 step 3. */
export function planData(bin: Uint8Array, info: ObjectInfo, resume: boolean): DataPlan {
  const { maxSize, offset } = info;
  if (!resume || offset === 0) return { action: 'create', from: 0 };
  if (offset > bin.length) return { action: 'create', from: 0 };
  const matches = crc32(bin.subarray(0, offset)) === info.crc;
  const onBoundary = offset % maxSize === 0 || offset === bin.length;
  if (matches) {
    if (onBoundary) return { action: 'execute', offset };
    return { action: 'continue', offset, object: objectAt(offset, bin.length, maxSize) };
  }
  // Roll back to the start of the current object, or one whole object when exactly on a boundary.
  const back = offset % maxSize === 0 ? offset - maxSize : offset - (offset % maxSize);
  return { action: 'create', from: Math.max(0, back) };
}

/**
 * CRC32 of bin[0:offset] for any offset, cheap at offsets already passed while sending: PRNs and
 * CRC answers are validated against the offset they report, not a local counter (spec §3.6).
 */
export class PrefixCrc {
  readonly #data: Uint8Array;
  readonly #known = new Map<number, number>([[0, 0]]);
  #highest = 0;

  constructor(data: Uint8Array) {
    this.#data = data;
  }

  /** Records the CRC of data[0:offset]; call as packets are sent so later lookups are O(1). */
  advanceTo(offset: number): number {
    const known = this.#known.get(offset);
    if (known !== undefined) return known;
    const base = offset >= this.#highest ? this.#highest : 0;
    const baseCrc = this.#known.get(base) as number;
    const crc = crc32(this.#data.subarray(base, offset), baseCrc);
    this.#known.set(offset, crc);
    if (offset > this.#highest) this.#highest = offset;
    return crc;
  }

  at(offset: number): number {
    return this.advanceTo(offset);
  }
}

export type ChecksumVerdict =
  | { readonly ok: true }
  /** Fewer bytes arrived than were sent but those that did are right: continue from `offset`. */
  | { readonly ok: false; readonly reason: 'short'; readonly offset: number }
  | { readonly ok: false; readonly reason: 'mismatch'; readonly detail: string };

/** Judges a CRC/PRN report (offset, crc) against `expectedOffset` bytes sent. */
export function judgeChecksum(prefix: PrefixCrc, report: { readonly offset: number; readonly crc: number }, expectedOffset: number, minOffset = 0): ChecksumVerdict {
  const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
  if (report.offset === expectedOffset && report.crc === prefix.at(expectedOffset)) return { ok: true };
  if (report.offset < expectedOffset && report.offset >= minOffset && report.crc === prefix.at(report.offset)) {
    return { ok: false, reason: 'short', offset: report.offset };
  }
  const want = report.offset <= expectedOffset ? prefix.at(Math.min(report.offset, expectedOffset)) : undefined;
  return {
    ok: false,
    reason: 'mismatch',
    detail:
      `device reports offset ${report.offset} crc ${hex(report.crc)}, expected offset ${expectedOffset} crc ${hex(prefix.at(expectedOffset))}` +
      (want !== undefined && report.offset !== expectedOffset ? ` (crc of the first ${report.offset} bytes would be ${hex(want)})` : ''),
  };
}
