/**
 * Declarative field codecs: a parameter layout is written once as a struct of fields and both
 * directions come from it, so encode and decode cannot disagree about order or width.
 */
import { addressFromBytes, addressToBytes } from '../../ble/address.js';
import type { ByteReader, ByteWriter } from '../../common/bytes.js';
import { hciMalformed } from './errors.js';

export interface Codec<T> {
  // Method syntax on purpose: it keeps Codec<number> assignable to Codec<unknown> in tables.
  encode(w: ByteWriter, value: T): void;
  decode(r: ByteReader): T;
}

export type CodecValue<C> = C extends Codec<infer T> ? T : never;

export const u8: Codec<number> = { encode: (w, v) => void w.u8(v), decode: (r) => r.u8() };
export const i8: Codec<number> = { encode: (w, v) => void w.i8(v), decode: (r) => r.i8() };
export const u16: Codec<number> = { encode: (w, v) => void w.u16le(v), decode: (r) => r.u16le() };
export const u64: Codec<bigint> = { encode: (w, v) => void w.u64le(v), decode: (r) => r.u64le() };

export function fixedBytes(length: number): Codec<Uint8Array> {
  return {
    encode: (w, v) => {
      if (v.length !== length) throw hciMalformed(`expected ${length} byte(s), got ${v.length}`);
      w.bytes(v);
    },
    decode: (r) => r.bytes(length).slice(),
  };
}

/** BD_ADDR as users write it ("AA:BB:CC:DD:EE:FF"); travels least significant octet first. */
export const bdAddr: Codec<string> = {
  encode: (w, v) => void w.bytes(addressToBytes({ value: v, type: 'public' })),
  decode: (r) => addressFromBytes(r.bytes(6), 'public').value,
};

type StructValue<S> = { readonly [K in keyof S]: CodecValue<S[K]> };

/** Fields encoded in declaration order. */
export function struct<S extends Record<string, Codec<unknown>>>(fields: S): Codec<StructValue<S>> {
  const entries = Object.entries(fields);
  return {
    encode: (w, value) => {
      const record = value as Readonly<Record<string, unknown>>;
      for (const [key, codec] of entries) codec.encode(w, record[key]);
    },
    decode: (r) => {
      const out: Record<string, unknown> = {};
      for (const [key, codec] of entries) out[key] = codec.decode(r);
      return out as StructValue<S>;
    },
  };
}

export const empty = struct({});
