/**
 * All byte-level reading and writing goes through these two classes so that bounds checks and
 * endianness live in one place. A short read throws MALFORMED_PACKET naming the layer and offset.
 */
import { BledfuError, type ErrorLayer } from './errors.js';

export class ByteReader {
  #offset = 0;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #layer: ErrorLayer;
  readonly #what: string;

  constructor(bytes: Uint8Array, layer: ErrorLayer, what = 'packet') {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#layer = layer;
    this.#what = what;
  }

  get offset(): number {
    return this.#offset;
  }
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  #need(n: number): number {
    if (n < 0 || this.#offset + n > this.#bytes.length) {
      throw new BledfuError(
        'MALFORMED_PACKET',
        `${this.#what} too short: needed ${n} byte(s) at offset ${this.#offset}, ${this.remaining} left`,
        { layer: this.#layer },
      );
    }
    const at = this.#offset;
    this.#offset += n;
    return at;
  }

  u8(): number {
    return this.#view.getUint8(this.#need(1));
  }
  i8(): number {
    return this.#view.getInt8(this.#need(1));
  }
  u16le(): number {
    return this.#view.getUint16(this.#need(2), true);
  }
  u16be(): number {
    return this.#view.getUint16(this.#need(2), false);
  }
  u24le(): number {
    const at = this.#need(3);
    return this.#view.getUint16(at, true) | (this.#view.getUint8(at + 2) << 16);
  }
  u32le(): number {
    return this.#view.getUint32(this.#need(4), true);
  }
  u32be(): number {
    return this.#view.getUint32(this.#need(4), false);
  }
  u64le(): bigint {
    return this.#view.getBigUint64(this.#need(8), true);
  }
  /** A view (not a copy) of the next n bytes. */
  bytes(n: number): Uint8Array {
    const at = this.#need(n);
    return this.#bytes.subarray(at, at + n);
  }
  /** A view of everything not read yet. */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }
  skip(n: number): void {
    this.#need(n);
  }
}

export class ByteWriter {
  #buf: Uint8Array;
  #view: DataView;
  #length = 0;

  constructor(initialCapacity = 64) {
    this.#buf = new Uint8Array(initialCapacity);
    this.#view = new DataView(this.#buf.buffer);
  }

  get length(): number {
    return this.#length;
  }

  #grow(n: number): number {
    const need = this.#length + n;
    if (need > this.#buf.length) {
      const next = new Uint8Array(Math.max(need, this.#buf.length * 2));
      next.set(this.#buf.subarray(0, this.#length));
      this.#buf = next;
      this.#view = new DataView(next.buffer);
    }
    const at = this.#length;
    this.#length = need;
    return at;
  }

  u8(v: number): this {
    const at = this.#grow(1);
    this.#view.setUint8(at, v);
    return this;
  }
  i8(v: number): this {
    const at = this.#grow(1);
    this.#view.setInt8(at, v);
    return this;
  }
  u16le(v: number): this {
    const at = this.#grow(2);
    this.#view.setUint16(at, v, true);
    return this;
  }
  u16be(v: number): this {
    const at = this.#grow(2);
    this.#view.setUint16(at, v, false);
    return this;
  }
  u24le(v: number): this {
    const at = this.#grow(3);
    this.#view.setUint16(at, v & 0xffff, true);
    this.#view.setUint8(at + 2, (v >>> 16) & 0xff);
    return this;
  }
  u32le(v: number): this {
    const at = this.#grow(4);
    this.#view.setUint32(at, v >>> 0, true);
    return this;
  }
  u32be(v: number): this {
    const at = this.#grow(4);
    this.#view.setUint32(at, v >>> 0, false);
    return this;
  }
  u64le(v: bigint): this {
    const at = this.#grow(8);
    this.#view.setBigUint64(at, v, true);
    return this;
  }
  bytes(b: Uint8Array): this {
    const at = this.#grow(b.length);
    this.#buf.set(b, at);
    return this;
  }
  /** The written bytes (a copy, so the writer can be reused or dropped). */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#length);
  }
}

export function toHex(bytes: Uint8Array, separator = ''): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(separator);
}

/** Parses hex, ignoring whitespace, ':' and '-' separators. */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/[\s:-]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) {
    throw new BledfuError('INVALID_ARGUMENT', `not a hex string: ${hex.slice(0, 40)}`, { layer: 'rpc' });
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
