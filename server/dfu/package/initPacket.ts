/**
 * The Secure DFU init packet (`.dat`, dfu-cc.proto, spec §6), decoded by hand on the protobuf
 * wire format. Pure: the host uses it to check a package before connecting, the simulated
 * bootloader uses the same decoder (and the field checks below) on what it receives.
 *
 * proto2 presence matters to the bootloader (has_fw_version etc.), so every scalar is
 * `undefined` when absent and a number (possibly 0) when present.
 */
import { BledfuError } from '../../common/errors.js';
import { toHex } from '../../common/bytes.js';
import { packageInvalid } from '../errors.js';

export const FW_TYPE = {
  APPLICATION: 0,
  SOFTDEVICE: 1,
  BOOTLOADER: 2,
  SOFTDEVICE_BOOTLOADER: 3,
  EXTERNAL_APPLICATION: 4,
} as const satisfies Record<string, number>;
export type FwTypeName = keyof typeof FW_TYPE;

export const HASH_TYPE = { NO_HASH: 0, CRC: 1, SHA128: 2, SHA256: 3, SHA512: 4 } as const satisfies Record<string, number>;
export const VALIDATION_TYPE = {
  NO_VALIDATION: 0,
  VALIDATE_GENERATED_CRC: 1,
  VALIDATE_SHA256: 2,
  VALIDATE_ECDSA_P256_SHA256: 3,
} as const satisfies Record<string, number>;
export const SIGNATURE_TYPE = { ECDSA_P256_SHA256: 0, ED25519: 1 } as const satisfies Record<string, number>;
export const OP_CODE = { RESET: 0, INIT: 1 } as const satisfies Record<string, number>;

export interface InitHash {
  /** HashType value (3 = SHA256). */
  readonly type: number | undefined;
  /** As stored: for SHA-256 the digest byte-reversed (spec §5). */
  readonly bytes: Uint8Array;
}

export interface BootValidation {
  /** ValidationType value. */
  readonly type: number | undefined;
  readonly bytes: Uint8Array;
}

export interface InitCommand {
  readonly fwVersion: number | undefined;
  readonly hwVersion: number | undefined;
  readonly sdReq: readonly number[];
  /** FwType value. */
  readonly type: number | undefined;
  readonly sdSize: number | undefined;
  readonly blSize: number | undefined;
  readonly appSize: number | undefined;
  readonly hash: InitHash | undefined;
  readonly isDebug: boolean | undefined;
  readonly bootValidation: readonly BootValidation[];
}

export interface ByteRange {
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
}

export interface InitPacket {
  /** `signed` = Packet.signed_command, `unsigned` = Packet.command. */
  readonly kind: 'signed' | 'unsigned';
  /** Command.op_code (1 = INIT), undefined when absent. */
  readonly opCode: number | undefined;
  readonly init: InitCommand;
  /** Where the serialized InitCommand lies inside the .dat: exactly the bytes that are signed (spec §6.2). */
  readonly initRange: ByteRange;
  /** SignatureType value; undefined for unsigned packets. */
  readonly signatureType: number | undefined;
  /** 64 bytes r‖s, each half little-endian; undefined for unsigned packets. */
  readonly signature: Uint8Array | undefined;
}

/** A `.dat` whose first byte is not a protobuf tag of Packet field 1 or 2 is a legacy (SDK ≤ 11) init packet. */
export function isLegacyInitPacket(dat: Uint8Array): boolean {
  const first = dat[0];
  return first !== 0x0a && first !== 0x12;
}

export function fwTypeName(type: number | undefined): FwTypeName | `unknown FwType ${string}` {
  const hit = (Object.keys(FW_TYPE) as FwTypeName[]).find((k) => FW_TYPE[k] === type);
  return hit ?? `unknown FwType ${String(type)}`;
}

/** The SHA-256 as usually written (normal byte order), from the reversed form the init packet stores. */
export function hashHexNormalOrder(hash: InitHash): string {
  return toHex(Uint8Array.from(hash.bytes).reverse());
}

/** The bytes of the image the bootloader expects for this FwType (spec §6.3), or undefined when a needed size is missing or zero. */
export function expectedImageSize(init: InitCommand): number | undefined {
  const need = (v: number | undefined): number | undefined => (v === undefined || v === 0 ? undefined : v);
  switch (init.type) {
    case FW_TYPE.APPLICATION:
    case FW_TYPE.EXTERNAL_APPLICATION:
      return need(init.appSize);
    case FW_TYPE.SOFTDEVICE:
      return need(init.sdSize);
    case FW_TYPE.BOOTLOADER:
      return need(init.blSize);
    case FW_TYPE.SOFTDEVICE_BOOTLOADER: {
      const sd = need(init.sdSize);
      const bl = need(init.blSize);
      return sd === undefined || bl === undefined ? undefined : sd + bl;
    }
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire format

const WIRE = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

interface Field {
  readonly number: number;
  readonly wireType: number;
  /** Varint value (low 32 bits, unsigned) for VARINT; undefined otherwise. */
  readonly varint: number | undefined;
  /** Payload range (absolute within the .dat) for LEN fields. */
  readonly start: number;
  readonly end: number;
}

/** Reads fields of one message lying in dat[start, end). Errors name the message being read. */
class WireReader {
  #pos: number;
  readonly #dat: Uint8Array;
  readonly #end: number;
  readonly #what: string;

  constructor(dat: Uint8Array, range: ByteRange, what: string) {
    this.#dat = dat;
    this.#pos = range.start;
    this.#end = range.end;
    this.#what = what;
  }

  get done(): boolean {
    return this.#pos >= this.#end;
  }

  #fail(detail: string): BledfuError {
    return packageInvalid(`init packet is not a valid dfu-cc protobuf: ${this.#what} ${detail} (byte ${this.#pos})`);
  }

  #varint(): number {
    // Only the low 32 bits matter for uint32/enum/bool fields; proto truncates wider values the same way.
    let low = 0;
    for (let i = 0; i < 10; i++) {
      if (this.#pos >= this.#end) throw this.#fail('ends inside a varint');
      const b = this.#dat[this.#pos++] as number;
      if (i < 5) low += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return low % 2 ** 32;
    }
    throw this.#fail('has a varint longer than 10 bytes');
  }

  /** A varint without a key: the elements of a packed repeated field. */
  bareVarint(): number {
    return this.#varint();
  }

  next(): Field {
    const key = this.#varint();
    const number = Math.floor(key / 8);
    const wireType = key & 7;
    if (number === 0) throw this.#fail('has a field number 0');
    switch (wireType) {
      case WIRE.VARINT: {
        const at = this.#pos;
        const v = this.#varint();
        return { number, wireType, varint: v, start: at, end: this.#pos };
      }
      case WIRE.I64:
      case WIRE.I32: {
        const n = wireType === WIRE.I64 ? 8 : 4;
        if (this.#pos + n > this.#end) throw this.#fail(`ends inside a ${n * 8}-bit field ${number}`);
        const at = this.#pos;
        this.#pos += n;
        return { number, wireType, varint: undefined, start: at, end: this.#pos };
      }
      case WIRE.LEN: {
        const len = this.#varint();
        if (this.#pos + len > this.#end) throw this.#fail(`field ${number} claims ${len} bytes but only ${this.#end - this.#pos} remain`);
        const at = this.#pos;
        this.#pos += len;
        return { number, wireType, varint: undefined, start: at, end: this.#pos };
      }
      default:
        throw this.#fail(`field ${number} has unsupported wire type ${wireType}`);
    }
  }

  expect(field: Field, wireType: number, name: string): void {
    if (field.wireType !== wireType) {
      throw packageInvalid(
        `init packet is not a valid dfu-cc protobuf: ${this.#what}.${name} has wire type ${field.wireType}, expected ${wireType}`,
      );
    }
  }
}

function varintOf(r: WireReader, f: Field, name: string): number {
  r.expect(f, WIRE.VARINT, name);
  return f.varint as number;
}

function decodeHash(dat: Uint8Array, range: ByteRange): InitHash {
  const r = new WireReader(dat, range, 'Hash');
  let type: number | undefined;
  let bytes: Uint8Array | undefined;
  while (!r.done) {
    const f = r.next();
    if (f.number === 1) type = varintOf(r, f, 'hash_type');
    else if (f.number === 2) {
      r.expect(f, WIRE.LEN, 'hash');
      bytes = dat.slice(f.start, f.end);
    }
  }
  if (bytes === undefined) throw packageInvalid('init packet: Hash has no hash bytes');
  return { type, bytes };
}

function decodeBootValidation(dat: Uint8Array, range: ByteRange): BootValidation {
  const r = new WireReader(dat, range, 'BootValidation');
  let type: number | undefined;
  let bytes = new Uint8Array(0);
  while (!r.done) {
    const f = r.next();
    if (f.number === 1) type = varintOf(r, f, 'type');
    else if (f.number === 2) {
      r.expect(f, WIRE.LEN, 'bytes');
      bytes = dat.slice(f.start, f.end);
    }
  }
  return { type, bytes };
}

function decodeInitCommand(dat: Uint8Array, range: ByteRange): InitCommand {
  const r = new WireReader(dat, range, 'InitCommand');
  let fwVersion: number | undefined;
  let hwVersion: number | undefined;
  const sdReq: number[] = [];
  let type: number | undefined;
  let sdSize: number | undefined;
  let blSize: number | undefined;
  let appSize: number | undefined;
  let hash: InitHash | undefined;
  let isDebug: boolean | undefined;
  const bootValidation: BootValidation[] = [];
  while (!r.done) {
    const f = r.next();
    switch (f.number) {
      case 1:
        fwVersion = varintOf(r, f, 'fw_version');
        break;
      case 2:
        hwVersion = varintOf(r, f, 'hw_version');
        break;
      case 3:
        // nrfutil writes sd_req packed; proto2 parsers must accept both encodings.
        if (f.wireType === WIRE.LEN) {
          const p = new WireReader(dat, f, 'InitCommand.sd_req');
          while (!p.done) sdReq.push(p.bareVarint());
        } else sdReq.push(varintOf(r, f, 'sd_req'));
        break;
      case 4:
        type = varintOf(r, f, 'type');
        break;
      case 5:
        sdSize = varintOf(r, f, 'sd_size');
        break;
      case 6:
        blSize = varintOf(r, f, 'bl_size');
        break;
      case 7:
        appSize = varintOf(r, f, 'app_size');
        break;
      case 8:
        r.expect(f, WIRE.LEN, 'hash');
        hash = decodeHash(dat, f);
        break;
      case 9:
        isDebug = varintOf(r, f, 'is_debug') !== 0;
        break;
      case 10:
        r.expect(f, WIRE.LEN, 'boot_validation');
        bootValidation.push(decodeBootValidation(dat, f));
        break;
      default:
        break; // unknown fields are skipped, as nanopb in the bootloader does
    }
  }
  return { fwVersion, hwVersion, sdReq, type, sdSize, blSize, appSize, hash, isDebug, bootValidation };
}

interface CommandParts {
  readonly opCode: number | undefined;
  readonly init: { readonly init: InitCommand; readonly range: ByteRange } | undefined;
}

function decodeCommand(dat: Uint8Array, range: ByteRange): CommandParts {
  const r = new WireReader(dat, range, 'Command');
  let opCode: number | undefined;
  let init: CommandParts['init'];
  while (!r.done) {
    const f = r.next();
    if (f.number === 1) opCode = varintOf(r, f, 'op_code');
    else if (f.number === 2) {
      r.expect(f, WIRE.LEN, 'init');
      init = { init: decodeInitCommand(dat, f), range: { start: f.start, end: f.end } };
    }
  }
  return { opCode, init };
}

/**
 * Decodes a `.dat`. Throws PACKAGE_INVALID naming what is wrong (legacy packets, truncation,
 * missing command/init); a simulated bootloader maps that to result 0x05 (INVALID_OBJECT).
 */
export function decodeInitPacket(dat: Uint8Array): InitPacket {
  if (dat.length === 0) throw packageInvalid('init packet is empty');
  if (isLegacyInitPacket(dat)) {
    throw packageInvalid(
      `init packet starts with 0x${(dat[0] as number).toString(16).padStart(2, '0')}: not a Secure DFU init packet (a legacy SDK ≤ 11 .dat?)`,
    );
  }
  const r = new WireReader(dat, { start: 0, end: dat.length }, 'Packet');
  let command: CommandParts | undefined;
  let signedCommand: { command: CommandParts | undefined; signatureType: number | undefined; signature: Uint8Array | undefined } | undefined;
  while (!r.done) {
    const f = r.next();
    if (f.number === 1) {
      r.expect(f, WIRE.LEN, 'command');
      command = decodeCommand(dat, f);
    } else if (f.number === 2) {
      r.expect(f, WIRE.LEN, 'signed_command');
      const s = new WireReader(dat, f, 'SignedCommand');
      let inner: CommandParts | undefined;
      let signatureType: number | undefined;
      let signature: Uint8Array | undefined;
      while (!s.done) {
        const g = s.next();
        if (g.number === 1) {
          s.expect(g, WIRE.LEN, 'command');
          inner = decodeCommand(dat, g);
        } else if (g.number === 2) signatureType = varintOf(s, g, 'signature_type');
        else if (g.number === 3) {
          s.expect(g, WIRE.LEN, 'signature');
          signature = dat.slice(g.start, g.end);
        }
      }
      signedCommand = { command: inner, signatureType, signature };
    }
  }
  if (command !== undefined && signedCommand !== undefined) {
    throw packageInvalid('init packet has both command and signed_command; exactly one is allowed');
  }
  if (signedCommand !== undefined) {
    const c = signedCommand.command;
    if (c === undefined) throw packageInvalid('init packet: signed_command has no command');
    if (c.init === undefined) throw packageInvalid('init packet: command has no init (InitCommand)');
    if (signedCommand.signature === undefined) throw packageInvalid('init packet: signed_command has no signature');
    if (signedCommand.signatureType === undefined) throw packageInvalid('init packet: signed_command has no signature_type');
    return {
      kind: 'signed',
      opCode: c.opCode,
      init: c.init.init,
      initRange: c.init.range,
      signatureType: signedCommand.signatureType,
      signature: signedCommand.signature,
    };
  }
  if (command === undefined) throw packageInvalid('init packet has neither command nor signed_command');
  if (command.init === undefined) throw packageInvalid('init packet: command has no init (InitCommand)');
  return {
    kind: 'unsigned',
    opCode: command.opCode,
    init: command.init.init,
    initRange: command.init.range,
    signatureType: undefined,
    signature: undefined,
  };
}

/** The serialized InitCommand bytes inside `dat`: the message an ECDSA signature covers. */
export function signedMessage(dat: Uint8Array, packet: InitPacket): Uint8Array {
  return dat.subarray(packet.initRange.start, packet.initRange.end);
}

// ---------------------------------------------------------------------------------------------
// Encoder (for tests and the simulator: builds packets with any field present, absent or odd)

export interface InitCommandFields {
  readonly fwVersion?: number;
  readonly hwVersion?: number;
  readonly sdReq?: readonly number[];
  readonly type?: number;
  readonly sdSize?: number;
  readonly blSize?: number;
  readonly appSize?: number;
  /** Stored order (reversed SHA-256 for type 3). */
  readonly hash?: { readonly type: number; readonly bytes: Uint8Array };
  readonly isDebug?: boolean;
  readonly bootValidation?: readonly { readonly type: number; readonly bytes: Uint8Array }[];
}

function pushVarint(out: number[], value: number): void {
  let v = value >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}
function pushVarintField(out: number[], number: number, value: number): void {
  pushVarint(out, number * 8 + WIRE.VARINT);
  pushVarint(out, value);
}
function pushLenField(out: number[], number: number, bytes: Uint8Array | readonly number[]): void {
  pushVarint(out, number * 8 + WIRE.LEN);
  pushVarint(out, bytes.length);
  for (const b of bytes) out.push(b);
}

/** Serializes an InitCommand in nrfutil's field order (1..10, sd_req packed). */
export function encodeInitCommand(f: InitCommandFields): Uint8Array {
  const out: number[] = [];
  if (f.fwVersion !== undefined) pushVarintField(out, 1, f.fwVersion);
  if (f.hwVersion !== undefined) pushVarintField(out, 2, f.hwVersion);
  if (f.sdReq !== undefined) {
    const packed: number[] = [];
    for (const v of f.sdReq) pushVarint(packed, v);
    pushLenField(out, 3, packed);
  }
  if (f.type !== undefined) pushVarintField(out, 4, f.type);
  if (f.sdSize !== undefined) pushVarintField(out, 5, f.sdSize);
  if (f.blSize !== undefined) pushVarintField(out, 6, f.blSize);
  if (f.appSize !== undefined) pushVarintField(out, 7, f.appSize);
  if (f.hash !== undefined) {
    const h: number[] = [];
    pushVarintField(h, 1, f.hash.type);
    pushLenField(h, 2, f.hash.bytes);
    pushLenField(out, 8, h);
  }
  if (f.isDebug !== undefined) pushVarintField(out, 9, f.isDebug ? 1 : 0);
  for (const bv of f.bootValidation ?? []) {
    const b: number[] = [];
    pushVarintField(b, 1, bv.type);
    pushLenField(b, 2, bv.bytes);
    pushLenField(out, 10, b);
  }
  return Uint8Array.from(out);
}

/**
 * Wraps serialized InitCommand bytes into a Packet: unsigned (Packet.command) when `signature`
 * is absent, else Packet.signed_command with the given signature bytes (r‖s little-endian).
 */
export function encodeInitPacket(
  initCommand: Uint8Array,
  signature?: { readonly type: number; readonly bytes: Uint8Array },
): Uint8Array {
  const command: number[] = [];
  pushVarintField(command, 1, OP_CODE.INIT);
  pushLenField(command, 2, initCommand);
  const out: number[] = [];
  if (signature === undefined) {
    pushLenField(out, 1, command);
  } else {
    const signed: number[] = [];
    pushLenField(signed, 1, command);
    pushVarintField(signed, 2, signature.type);
    pushLenField(signed, 3, signature.bytes);
    pushLenField(out, 2, signed);
  }
  return Uint8Array.from(out);
}
