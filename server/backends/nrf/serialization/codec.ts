/**
 * Building blocks for the SoftDevice serialization: every field codec both writes and reads, so a
 * message layout is declared once and encoding and decoding cannot drift apart (the simulated
 * dongle decodes what the backend encodes with the same declarations). The layout rules are
 * Nordic's ble_serialization.c: little-endian integers, a presence byte before every pointer
 * ("cond" field), `u16 length + presence + bytes` for variable arrays, bitfields packed by hand.
 */
import { ByteReader, ByteWriter } from '../../../common/bytes.js';
import { BledfuError, isBledfuError } from '../../../common/errors.js';

export interface Codec<T> {
  write(w: ByteWriter, value: T): void;
  read(r: ByteReader): T;
}

/**
 * Nordic decoder errors, reported as `facts.context.nrfError` of our MALFORMED_PACKET errors so a
 * log line says which check failed in the terms of Nordic's own decoders.
 */
export type NrfDecodeError =
  | 'NRF_ERROR_NOT_FOUND'
  | 'NRF_ERROR_NOT_SUPPORTED'
  | 'NRF_ERROR_INVALID_LENGTH'
  | 'NRF_ERROR_INVALID_DATA'
  | 'NRF_ERROR_DATA_SIZE';

export function serializationMalformed(
  message: string,
  nrfError: NrfDecodeError,
  context: Readonly<Record<string, string>> = {},
): BledfuError {
  return new BledfuError('MALFORMED_PACKET', message, {
    layer: 'nrf',
    remedy: 'the connectivity firmware sent something this SoftDevice API codec does not expect; check that the firmware API version (v5/v6) matches',
    facts: { context: { ...context, nrfError } },
  });
}

/** A value that cannot be encoded: a bug in the caller, never sent half-encoded to the device. */
export function unencodable(message: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', message, { layer: 'nrf' });
}

function integer(
  name: string,
  min: number,
  max: number,
  put: (w: ByteWriter, v: number) => unknown,
  get: (r: ByteReader) => number,
): Codec<number> {
  return {
    write: (w, v) => {
      if (!Number.isInteger(v) || v < min || v > max) throw unencodable(`${String(v)} does not fit in ${name}`);
      put(w, v);
    },
    read: get,
  };
}

export const u8 = integer('u8', 0, 0xff, (w, v) => w.u8(v), (r) => r.u8());
export const i8 = integer('i8', -0x80, 0x7f, (w, v) => w.i8(v), (r) => r.i8());
export const u16 = integer('u16', 0, 0xffff, (w, v) => w.u16le(v), (r) => r.u16le());
export const u32 = integer('u32', 0, 0xffffffff, (w, v) => w.u32le(v), (r) => r.u32le());

/** A byte that is a C bool: exactly 0 or 1. */
export const bool8: Codec<boolean> = {
  write: (w, v) => w.u8(v ? 1 : 0),
  read: (r) => {
    const b = r.u8();
    if (b > 1) throw serializationMalformed(`boolean byte ${b} is neither 0 nor 1`, 'NRF_ERROR_INVALID_DATA');
    return b === 1;
  },
};

/** A byte whose bit 0 is a flag (a 1-bit C bitfield serialized alone); other bits are ignored. */
export const bit0: Codec<boolean> = {
  write: (w, v) => w.u8(v ? 1 : 0),
  read: (r) => (r.u8() & 1) === 1,
};

/** A u16 of which only the low `n` bits count: decoding drops the rest, encoding refuses them. */
export function lowBits16(n: number): Codec<number> {
  const mask = 2 ** n - 1;
  return {
    write: (w, v) => {
      if (!Number.isInteger(v) || v < 0 || v > mask) throw unencodable(`${String(v)} does not fit in ${n} bits`);
      w.u16le(v);
    },
    read: (r) => r.u16le() & mask,
  };
}

/** Nothing on the wire; stands for a fixed value (e.g. the API version tag of a layout). */
export function constant<const V extends string | number>(value: V, what: string): Codec<V> {
  return {
    write: (_w, v) => {
      if (v !== value) throw unencodable(`${what}: ${String(v)} given where this codec needs ${String(value)}`);
    },
    read: () => value,
  };
}

const ABSENT = 0;
const PRESENT = 1;

function readPresence(r: ByteReader): boolean {
  const b = r.u8();
  if (b !== ABSENT && b !== PRESENT) {
    throw serializationMalformed(`presence byte ${b} at offset ${r.offset - 1} is neither 0 nor 1`, 'NRF_ERROR_INVALID_DATA');
  }
  return b === PRESENT;
}

/** A pointer argument: `00` for NULL, or `01` and the value. */
export function cond<T>(inner: Codec<T>): Codec<T | null> {
  return {
    write: (w, v) => {
      if (v === null) {
        w.u8(ABSENT);
      } else {
        w.u8(PRESENT);
        inner.write(w, v);
      }
    },
    read: (r) => (readPresence(r) ? inner.read(r) : null),
  };
}

/** A pointer the caller always passes (`01` and the value); NULL on the wire is malformed. */
export function present<T>(inner: Codec<T>, what: string): Codec<T> {
  return required(cond(inner), what);
}

/** An output pointer: the host sends only the presence byte so the device knows storage exists. */
export const outPointer: Codec<boolean> = {
  write: (w, v) => w.u8(v ? PRESENT : ABSENT),
  read: readPresence,
};

/** Rejects null on both sides (a field the firmware always fills). */
export function required<T>(inner: Codec<T | null>, what: string): Codec<T> {
  return {
    write: (w, v) => inner.write(w, v),
    read: (r) => {
      const v = inner.read(r);
      if (v === null) throw serializationMalformed(`${what} is absent`, 'NRF_ERROR_INVALID_DATA');
      return v;
    },
  };
}

export function fixedBytes(n: number): Codec<Uint8Array> {
  return {
    write: (w, v) => {
      if (v.length !== n) throw unencodable(`${v.length} byte(s) given for a ${n}-byte field`);
      w.bytes(v);
    },
    read: (r) => r.bytes(n).slice(),
  };
}

function lengthAndCondData(length: Codec<number>): Codec<Uint8Array | null> {
  return {
    write: (w, v) => {
      length.write(w, v?.length ?? 0);
      if (v === null) {
        w.u8(ABSENT);
      } else {
        w.u8(PRESENT);
        w.bytes(v);
      }
    },
    read: (r) => {
      const n = length.read(r);
      if (readPresence(r)) return r.bytes(n).slice();
      if (n !== 0) throw serializationMalformed(`absent data announces ${n} byte(s)`, 'NRF_ERROR_INVALID_DATA');
      return null;
    },
  };
}

/** `u16 length`, presence, bytes (`len16data`); NULL is `00 00 00`. */
export const len16Data = lengthAndCondData(u16);
/** `u8 length`, presence, bytes (`len8data`). */
export const len8Data = lengthAndCondData(u8);

/** `u16 length` then the bytes, no presence byte: the arrays inside events. */
export const u16Bytes: Codec<Uint8Array> = {
  write: (w, v) => {
    u16.write(w, v.length);
    w.bytes(v);
  },
  read: (r) => r.bytes(r.u16le()).slice(),
};

/** `u16 count` then that many items. */
export function list16<T>(item: Codec<T>): Codec<readonly T[]> {
  return {
    write: (w, items) => {
      u16.write(w, items.length);
      for (const it of items) item.write(w, it);
    },
    read: (r) => {
      const n = r.u16le();
      const out: T[] = [];
      for (let i = 0; i < n; i++) out.push(item.read(r));
      return out;
    },
  };
}

/** Fields in declaration order. An encoding error names the field it came from. */
export function struct<T extends object>(fields: { readonly [K in keyof T]: Codec<T[K]> }): Codec<T> {
  const entries = Object.entries(fields) as [keyof T & string, Codec<unknown>][];
  return {
    write: (w, value) => {
      for (const [key, codec] of entries) {
        try {
          codec.write(w, value[key]);
        } catch (e) {
          if (isBledfuError(e) && e.code === 'INVALID_ARGUMENT') throw unencodable(`${key}: ${e.message}`);
          throw e;
        }
      }
    },
    read: (r) => {
      const out: Record<string, unknown> = {};
      for (const [key, codec] of entries) out[key] = codec.read(r);
      return out as T;
    },
  };
}

/** Several codecs over one flat object, one after the other (struct parts, bitfield bytes). */
export function merge<A extends object, B extends object>(a: Codec<A>, b: Codec<B>): Codec<A & B>;
export function merge<A extends object, B extends object, C extends object>(a: Codec<A>, b: Codec<B>, c: Codec<C>): Codec<A & B & C>;
export function merge<A extends object, B extends object, C extends object, D extends object>(
  a: Codec<A>,
  b: Codec<B>,
  c: Codec<C>,
  d: Codec<D>,
): Codec<A & B & C & D>;
export function merge(...parts: Codec<object>[]): Codec<object> {
  return {
    write: (w, value) => {
      for (const p of parts) p.write(w, value);
    },
    read: (r) => Object.assign({}, ...parts.map((p) => p.read(r))) as object,
  };
}

/** A field of a packed bitfield: `width` bits starting at bit `at` (bit 0 = least significant). */
export interface Bits<T> {
  readonly at: number;
  readonly width: number;
  readonly toNumber: (v: T) => number;
  readonly fromNumber: (n: number) => T;
}

export function flag(at: number): Bits<boolean> {
  return { at, width: 1, toNumber: (v) => (v ? 1 : 0), fromNumber: (n) => n === 1 };
}

export function bits(at: number, width: number): Bits<number> {
  return { at, width, toNumber: (v) => v, fromNumber: (n) => n };
}

/** A little-endian 8- or 16-bit integer holding named bitfields; bits nobody names are ignored. */
export function bitfield<T extends object>(size: 8 | 16, fields: { readonly [K in keyof T]: Bits<T[K]> }): Codec<T> {
  const entries = Object.entries(fields) as [keyof T & string, Bits<unknown>][];
  const word = size === 8 ? u8 : u16;
  return {
    write: (w, value) => {
      let packed = 0;
      for (const [key, f] of entries) {
        const n = f.toNumber(value[key]);
        if (!Number.isInteger(n) || n < 0 || n >= 2 ** f.width) throw unencodable(`${key}: ${String(n)} does not fit in ${f.width} bit(s)`);
        packed |= n << f.at;
      }
      word.write(w, packed);
    },
    read: (r) => {
      const packed = word.read(r);
      const out: Record<string, unknown> = {};
      for (const [key, f] of entries) out[key] = f.fromNumber((packed >>> f.at) & (2 ** f.width - 1));
      return out as T;
    },
  };
}

/** Encodes one value with a codec into fresh bytes. */
export function encodeWith<T>(codec: Codec<T>, value: T): Uint8Array {
  const w = new ByteWriter();
  codec.write(w, value);
  return w.finish();
}

/**
 * Decodes bytes that must be consumed exactly, as Nordic's decoders insist. Running short or
 * leaving bytes over both raise MALFORMED_PACKET with `tooShortOrLong` as the Nordic error.
 */
export function decodeExactly<T>(
  codec: Codec<T>,
  bytes: Uint8Array,
  what: string,
  tooShortOrLong: NrfDecodeError,
  context: Readonly<Record<string, string>> = {},
): T {
  const r = new ByteReader(bytes, 'nrf', what);
  let value: T;
  try {
    value = codec.read(r);
  } catch (e) {
    if (isBledfuError(e) && e.code === 'MALFORMED_PACKET') {
      const nrfError = (e.facts.context?.['nrfError'] as NrfDecodeError | undefined) ?? tooShortOrLong;
      throw serializationMalformed(e.message, nrfError, { ...context, ...e.facts.context, nrfError });
    }
    throw e;
  }
  if (r.remaining !== 0) {
    throw serializationMalformed(`${what}: ${r.remaining} byte(s) left over after the last field`, tooShortOrLong, context);
  }
  return value;
}
