/**
 * ATT PDUs (Core Vol 3, Part F, 3.4) as a discriminated union on `op`, with one encoder and one
 * decoder driven by the opcode table. Both the client bearer and the simulator's server use them.
 * UUIDs are in bledfu's normal form (ble/uuid.ts); on the wire 2 or 16 bytes, little-endian.
 */
import { uuidFromBytes, uuidToBytes, type Uuid } from '../../ble/uuid.js';
import { ByteReader, ByteWriter } from '../../common/bytes.js';
import { attMalformed } from './errors.js';

export const ATT_OPCODES = {
  errorRsp: 0x01,
  exchangeMtuReq: 0x02,
  exchangeMtuRsp: 0x03,
  findInformationReq: 0x04,
  findInformationRsp: 0x05,
  findByTypeValueReq: 0x06,
  findByTypeValueRsp: 0x07,
  readByTypeReq: 0x08,
  readByTypeRsp: 0x09,
  readReq: 0x0a,
  readRsp: 0x0b,
  readBlobReq: 0x0c,
  readBlobRsp: 0x0d,
  readByGroupTypeReq: 0x10,
  readByGroupTypeRsp: 0x11,
  writeReq: 0x12,
  writeRsp: 0x13,
  handleValueNtf: 0x1b,
  handleValueInd: 0x1d,
  handleValueCfm: 0x1e,
  writeCmd: 0x52,
} as const satisfies Record<string, number>;

export type AttOpName = keyof typeof ATT_OPCODES;

/** Spec names, for error messages ("ATT Write Request on handle 0x0010 failed: …"). */
export const ATT_OP_LABELS = {
  errorRsp: 'ATT Error Response',
  exchangeMtuReq: 'ATT Exchange MTU Request',
  exchangeMtuRsp: 'ATT Exchange MTU Response',
  findInformationReq: 'ATT Find Information Request',
  findInformationRsp: 'ATT Find Information Response',
  findByTypeValueReq: 'ATT Find By Type Value Request',
  findByTypeValueRsp: 'ATT Find By Type Value Response',
  readByTypeReq: 'ATT Read By Type Request',
  readByTypeRsp: 'ATT Read By Type Response',
  readReq: 'ATT Read Request',
  readRsp: 'ATT Read Response',
  readBlobReq: 'ATT Read Blob Request',
  readBlobRsp: 'ATT Read Blob Response',
  readByGroupTypeReq: 'ATT Read By Group Type Request',
  readByGroupTypeRsp: 'ATT Read By Group Type Response',
  writeReq: 'ATT Write Request',
  writeRsp: 'ATT Write Response',
  handleValueNtf: 'ATT Handle Value Notification',
  handleValueInd: 'ATT Handle Value Indication',
  handleValueCfm: 'ATT Handle Value Confirmation',
  writeCmd: 'ATT Write Command',
} as const satisfies Record<AttOpName, string>;

/** Request opcode → the response opcode that answers it. */
export const ATT_RESPONSE_FOR = {
  exchangeMtuReq: 'exchangeMtuRsp',
  findInformationReq: 'findInformationRsp',
  findByTypeValueReq: 'findByTypeValueRsp',
  readByTypeReq: 'readByTypeRsp',
  readReq: 'readRsp',
  readBlobReq: 'readBlobRsp',
  readByGroupTypeReq: 'readByGroupTypeRsp',
  writeReq: 'writeRsp',
} as const satisfies Partial<Record<AttOpName, AttOpName>>;

export type AttRequestName = keyof typeof ATT_RESPONSE_FOR;

export const ATT_DEFAULT_MTU = 23;
export const ATT_MAX_MTU = 517;

export interface HandleUuid {
  readonly handle: number;
  readonly uuid: Uuid;
}
export interface HandleRange {
  readonly foundHandle: number;
  readonly groupEndHandle: number;
}
export interface HandleValue {
  readonly handle: number;
  readonly value: Uint8Array;
}
export interface GroupValue {
  readonly handle: number;
  readonly endGroupHandle: number;
  readonly value: Uint8Array;
}

export type AttPdu =
  | { readonly op: 'errorRsp'; readonly requestOpcode: number; readonly handle: number; readonly errorCode: number }
  | { readonly op: 'exchangeMtuReq'; readonly mtu: number }
  | { readonly op: 'exchangeMtuRsp'; readonly mtu: number }
  | { readonly op: 'findInformationReq'; readonly startHandle: number; readonly endHandle: number }
  | { readonly op: 'findInformationRsp'; readonly entries: readonly HandleUuid[] }
  | {
      readonly op: 'findByTypeValueReq';
      readonly startHandle: number;
      readonly endHandle: number;
      /** Always a 16-bit UUID on the wire. */
      readonly type: Uuid;
      readonly value: Uint8Array;
    }
  | { readonly op: 'findByTypeValueRsp'; readonly entries: readonly HandleRange[] }
  | { readonly op: 'readByTypeReq'; readonly startHandle: number; readonly endHandle: number; readonly type: Uuid }
  | { readonly op: 'readByTypeRsp'; readonly entries: readonly HandleValue[] }
  | { readonly op: 'readReq'; readonly handle: number }
  | { readonly op: 'readRsp'; readonly value: Uint8Array }
  | { readonly op: 'readBlobReq'; readonly handle: number; readonly offset: number }
  | { readonly op: 'readBlobRsp'; readonly value: Uint8Array }
  | { readonly op: 'readByGroupTypeReq'; readonly startHandle: number; readonly endHandle: number; readonly type: Uuid }
  | { readonly op: 'readByGroupTypeRsp'; readonly entries: readonly GroupValue[] }
  | { readonly op: 'writeReq'; readonly handle: number; readonly value: Uint8Array }
  | { readonly op: 'writeRsp' }
  | { readonly op: 'writeCmd'; readonly handle: number; readonly value: Uint8Array }
  | { readonly op: 'handleValueNtf'; readonly handle: number; readonly value: Uint8Array }
  | { readonly op: 'handleValueInd'; readonly handle: number; readonly value: Uint8Array }
  | { readonly op: 'handleValueCfm' }
  /** A well-formed PDU with an opcode we do not model; a server answers Request Not Supported. */
  | { readonly op: 'unknown'; readonly opcode: number; readonly params: Uint8Array };

export type AttPduOf<K extends AttPdu['op']> = Extract<AttPdu, { op: K }>;

const OP_BY_CODE: ReadonlyMap<number, AttOpName> = new Map(
  (Object.keys(ATT_OPCODES) as AttOpName[]).map((op) => [ATT_OPCODES[op], op]),
);

export function attOpLabel(opcode: number): string {
  const op = OP_BY_CODE.get(opcode);
  return op === undefined ? `ATT opcode 0x${opcode.toString(16).padStart(2, '0')}` : ATT_OP_LABELS[op];
}

/** Commands (bit 6 of the opcode) never get a response, not even an Error Response. */
export function isAttCommand(opcode: number): boolean {
  return (opcode & 0x40) !== 0;
}

function uuidOnWire(r: ByteReader, what: string): Uuid {
  const n = r.remaining;
  if (n !== 2 && n !== 16) throw attMalformed(`${what}: UUID of ${n} bytes`);
  return uuidFromBytes(r.bytes(n));
}

function entryLength(entries: readonly { value: Uint8Array }[], overhead: number, what: string): number {
  const first = entries[0];
  if (first === undefined) throw attMalformed(`${what} with no entries`);
  const length = overhead + first.value.length;
  if (length > 0xff) throw attMalformed(`${what}: entry of ${length} bytes`);
  for (const e of entries) {
    if (e.value.length !== first.value.length) throw attMalformed(`${what}: entries of different lengths`);
  }
  return length;
}

function decodeEntries<T>(r: ByteReader, entryLen: number, minLen: number, what: string, read: (e: ByteReader) => T): T[] {
  if (entryLen < minLen) throw attMalformed(`${what}: entry length ${entryLen}`);
  if (r.remaining === 0 || r.remaining % entryLen !== 0) {
    throw attMalformed(`${what}: ${r.remaining} byte(s) is not a whole number of ${entryLen}-byte entries`);
  }
  const out: T[] = [];
  while (r.remaining > 0) out.push(read(new ByteReader(r.bytes(entryLen), 'att', what)));
  return out;
}

export function decodeAttPdu(bytes: Uint8Array): AttPdu {
  const r = new ByteReader(bytes, 'att', 'ATT PDU');
  const opcode = r.u8();
  const op = OP_BY_CODE.get(opcode);
  if (op === undefined) return { op: 'unknown', opcode, params: r.rest().slice() };
  const label = ATT_OP_LABELS[op];
  switch (op) {
    case 'errorRsp':
      return { op, requestOpcode: r.u8(), handle: r.u16le(), errorCode: r.u8() };
    case 'exchangeMtuReq':
    case 'exchangeMtuRsp':
      return { op, mtu: r.u16le() };
    case 'findInformationReq':
    case 'readByTypeReq':
    case 'readByGroupTypeReq': {
      const startHandle = r.u16le();
      const endHandle = r.u16le();
      if (op === 'findInformationReq') return { op, startHandle, endHandle };
      return { op, startHandle, endHandle, type: uuidOnWire(r, label) };
    }
    case 'findInformationRsp': {
      const format = r.u8();
      const uuidLength = format === 1 ? 2 : format === 2 ? 16 : 0;
      if (uuidLength === 0) throw attMalformed(`${label}: format ${format}`);
      const entries = decodeEntries(r, 2 + uuidLength, 4, label, (e) => ({
        handle: e.u16le(),
        uuid: uuidFromBytes(e.bytes(uuidLength)),
      }));
      return { op, entries };
    }
    case 'findByTypeValueReq': {
      const startHandle = r.u16le();
      const endHandle = r.u16le();
      const type = uuidFromBytes(r.bytes(2));
      return { op, startHandle, endHandle, type, value: r.rest().slice() };
    }
    case 'findByTypeValueRsp':
      return {
        op,
        entries: decodeEntries(r, 4, 4, label, (e) => ({ foundHandle: e.u16le(), groupEndHandle: e.u16le() })),
      };
    case 'readByTypeRsp': {
      const length = r.u8();
      const entries = decodeEntries(r, length, 2, label, (e) => ({ handle: e.u16le(), value: e.rest().slice() }));
      return { op, entries };
    }
    case 'readByGroupTypeRsp': {
      const length = r.u8();
      const entries = decodeEntries(r, length, 4, label, (e) => ({
        handle: e.u16le(),
        endGroupHandle: e.u16le(),
        value: e.rest().slice(),
      }));
      return { op, entries };
    }
    case 'readReq':
      return { op, handle: r.u16le() };
    case 'readBlobReq':
      return { op, handle: r.u16le(), offset: r.u16le() };
    case 'readRsp':
    case 'readBlobRsp':
      return { op, value: r.rest().slice() };
    case 'writeReq':
    case 'writeCmd':
    case 'handleValueNtf':
    case 'handleValueInd':
      return { op, handle: r.u16le(), value: r.rest().slice() };
    case 'writeRsp':
    case 'handleValueCfm':
      return { op };
    default: {
      const never: never = op;
      throw new Error(`unreachable ${String(never)}`);
    }
  }
}

export function encodeAttPdu(pdu: AttPdu): Uint8Array {
  if (pdu.op === 'unknown') return new ByteWriter(1 + pdu.params.length).u8(pdu.opcode).bytes(pdu.params).finish();
  const w = new ByteWriter(32).u8(ATT_OPCODES[pdu.op]);
  const label = ATT_OP_LABELS[pdu.op];
  switch (pdu.op) {
    case 'errorRsp':
      w.u8(pdu.requestOpcode).u16le(pdu.handle).u8(pdu.errorCode);
      break;
    case 'exchangeMtuReq':
    case 'exchangeMtuRsp':
      w.u16le(pdu.mtu);
      break;
    case 'findInformationReq':
      w.u16le(pdu.startHandle).u16le(pdu.endHandle);
      break;
    case 'readByTypeReq':
    case 'readByGroupTypeReq':
      w.u16le(pdu.startHandle).u16le(pdu.endHandle).bytes(uuidToBytes(pdu.type));
      break;
    case 'findInformationRsp': {
      const sizes = pdu.entries.map((e) => uuidToBytes(e.uuid));
      const first = sizes[0];
      if (first === undefined) throw attMalformed(`${label} with no entries`);
      if (sizes.some((s) => s.length !== first.length)) throw attMalformed(`${label}: mixed UUID sizes`);
      w.u8(first.length === 2 ? 1 : 2);
      pdu.entries.forEach((e, i) => w.u16le(e.handle).bytes(sizes[i] as Uint8Array));
      break;
    }
    case 'findByTypeValueReq': {
      const type = uuidToBytes(pdu.type);
      if (type.length !== 2) throw attMalformed(`${label}: type must be a 16-bit UUID`);
      w.u16le(pdu.startHandle).u16le(pdu.endHandle).bytes(type).bytes(pdu.value);
      break;
    }
    case 'findByTypeValueRsp':
      for (const e of pdu.entries) w.u16le(e.foundHandle).u16le(e.groupEndHandle);
      break;
    case 'readByTypeRsp':
      w.u8(entryLength(pdu.entries, 2, label));
      for (const e of pdu.entries) w.u16le(e.handle).bytes(e.value);
      break;
    case 'readByGroupTypeRsp':
      w.u8(entryLength(pdu.entries, 4, label));
      for (const e of pdu.entries) w.u16le(e.handle).u16le(e.endGroupHandle).bytes(e.value);
      break;
    case 'readReq':
      w.u16le(pdu.handle);
      break;
    case 'readBlobReq':
      w.u16le(pdu.handle).u16le(pdu.offset);
      break;
    case 'readRsp':
    case 'readBlobRsp':
      w.bytes(pdu.value);
      break;
    case 'writeReq':
    case 'writeCmd':
    case 'handleValueNtf':
    case 'handleValueInd':
      w.u16le(pdu.handle).bytes(pdu.value);
      break;
    case 'writeRsp':
    case 'handleValueCfm':
      break;
    default: {
      const never: never = pdu;
      throw new Error(`unreachable ${String(never)}`);
    }
  }
  return w.finish();
}
