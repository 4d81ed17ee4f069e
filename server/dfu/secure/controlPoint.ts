/**
 * Secure DFU control point codec (spec §2), both directions and pure: the host encodes requests
 * and decodes responses, the simulated bootloader decodes requests and encodes responses.
 * Layouts are byte-exact to spec §2.1/§2.2; all integers little-endian.
 */
import { ByteReader, ByteWriter, toHex } from '../../common/bytes.js';
import { BledfuError } from '../../common/errors.js';

export const OPCODE = {
  PROTOCOL_VERSION: 0x00,
  CREATE: 0x01,
  SET_PRN: 0x02,
  CALC_CHECKSUM: 0x03,
  EXECUTE: 0x04,
  SELECT: 0x06,
  /** Serial transports only. */
  MTU_GET: 0x07,
  /** Serial transports only; over BLE data goes to the DFU Packet characteristic. */
  OBJECT_WRITE: 0x08,
  /** Serial transports only. */
  PING: 0x09,
  /** Serial transports only. */
  HARDWARE_VERSION: 0x0a,
  /** Serial transports only. */
  FIRMWARE_VERSION: 0x0b,
  ABORT: 0x0c,
  RESPONSE: 0x60,
} as const satisfies Record<string, number>;

export const OBJECT_TYPE = { COMMAND: 0x01, DATA: 0x02 } as const satisfies Record<string, number>;

export function opcodeName(op: number): string {
  const hit = (Object.keys(OPCODE) as (keyof typeof OPCODE)[]).find((k) => OPCODE[k] === op);
  return hit ?? `OPCODE_0x${op.toString(16).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Requests (host → target)

export type ControlPointRequest =
  | { readonly op: 'create'; readonly objectType: number; readonly size: number }
  | { readonly op: 'setPrn'; readonly interval: number }
  | { readonly op: 'calcChecksum' }
  | { readonly op: 'execute' }
  | { readonly op: 'select'; readonly objectType: number }
  | { readonly op: 'abort' }
  | { readonly op: 'protocolVersion' }
  | { readonly op: 'mtuGet' }
  | { readonly op: 'ping'; readonly id: number }
  | { readonly op: 'hardwareVersion' }
  | { readonly op: 'firmwareVersion'; readonly image: number }
  /** Any other opcode (including 0x08 object write, never valid over BLE); the target answers 0x02. */
  | { readonly op: 'other'; readonly opcode: number; readonly payload: Uint8Array };

export type RequestOp = ControlPointRequest['op'];

const REQUEST_OPCODES = {
  create: OPCODE.CREATE,
  setPrn: OPCODE.SET_PRN,
  calcChecksum: OPCODE.CALC_CHECKSUM,
  execute: OPCODE.EXECUTE,
  select: OPCODE.SELECT,
  abort: OPCODE.ABORT,
  protocolVersion: OPCODE.PROTOCOL_VERSION,
  mtuGet: OPCODE.MTU_GET,
  ping: OPCODE.PING,
  hardwareVersion: OPCODE.HARDWARE_VERSION,
  firmwareVersion: OPCODE.FIRMWARE_VERSION,
} as const satisfies Record<Exclude<RequestOp, 'other'>, number>;

export function requestOpcode(req: ControlPointRequest): number {
  return req.op === 'other' ? req.opcode : REQUEST_OPCODES[req.op];
}

function assertNever(x: never): never {
  throw new BledfuError('INTERNAL', `unhandled variant ${JSON.stringify(x)}`, { layer: 'dfu' });
}

/** Exactly the lengths of spec §2.1 (SDK 12–14 reject anything else). */
export function encodeRequest(req: ControlPointRequest): Uint8Array {
  const w = new ByteWriter(8).u8(requestOpcode(req));
  switch (req.op) {
    case 'create':
      return w.u8(req.objectType).u32le(req.size).finish();
    case 'setPrn':
      return w.u16le(req.interval).finish();
    case 'select':
      return w.u8(req.objectType).finish();
    case 'ping':
      return w.u8(req.id).finish();
    case 'firmwareVersion':
      return w.u8(req.image).finish();
    case 'other':
      return w.bytes(req.payload).finish();
    case 'calcChecksum':
    case 'execute':
    case 'abort':
    case 'protocolVersion':
    case 'mtuGet':
    case 'hardwareVersion':
      return w.finish();
    default:
      return assertNever(req);
  }
}

/**
 * Decodes what a host wrote to the CP. Extra trailing bytes are ignored (SDK 15+ behaviour);
 * a request too short for its opcode throws MALFORMED_PACKET (a target answers 0x03).
 */
export function decodeRequest(bytes: Uint8Array): ControlPointRequest {
  const r = new ByteReader(bytes, 'dfu', 'DFU control point request');
  const opcode = r.u8();
  switch (opcode) {
    case OPCODE.CREATE:
      return { op: 'create', objectType: r.u8(), size: r.u32le() };
    case OPCODE.SET_PRN:
      return { op: 'setPrn', interval: r.u16le() };
    case OPCODE.CALC_CHECKSUM:
      return { op: 'calcChecksum' };
    case OPCODE.EXECUTE:
      return { op: 'execute' };
    case OPCODE.SELECT:
      return { op: 'select', objectType: r.u8() };
    case OPCODE.ABORT:
      return { op: 'abort' };
    case OPCODE.PROTOCOL_VERSION:
      return { op: 'protocolVersion' };
    case OPCODE.MTU_GET:
      return { op: 'mtuGet' };
    case OPCODE.PING:
      return { op: 'ping', id: r.u8() };
    case OPCODE.HARDWARE_VERSION:
      return { op: 'hardwareVersion' };
    case OPCODE.FIRMWARE_VERSION:
      return { op: 'firmwareVersion', image: r.u8() };
    default:
      return { op: 'other', opcode, payload: r.rest().slice() };
  }
}

// ---------------------------------------------------------------------------------------------
// Result codes (spec §2.3) and extended errors (spec §2.4)

export interface CodeInfo {
  readonly name: string;
  readonly message: string;
  readonly remedy?: string;
}

export const RESULT = {
  INVALID: 0x00,
  SUCCESS: 0x01,
  OP_CODE_NOT_SUPPORTED: 0x02,
  INVALID_PARAMETER: 0x03,
  INSUFFICIENT_RESOURCES: 0x04,
  INVALID_OBJECT: 0x05,
  INVALID_SIGNATURE: 0x06,
  UNSUPPORTED_TYPE: 0x07,
  OPERATION_NOT_PERMITTED: 0x08,
  OPERATION_FAILED: 0x0a,
  EXT_ERROR: 0x0b,
} as const satisfies Record<string, number>;

export const RESULT_INFO = {
  [RESULT.INVALID]: { name: 'INVALID', message: 'invalid opcode' },
  [RESULT.SUCCESS]: { name: 'SUCCESS', message: 'success' },
  [RESULT.OP_CODE_NOT_SUPPORTED]: {
    name: 'OP_CODE_NOT_SUPPORTED',
    message: 'the bootloader does not support this request',
    remedy: 'the bootloader is older or reduced; this client only needs Create/PRN/CRC/Execute/Select, so report it',
  },
  [RESULT.INVALID_PARAMETER]: {
    name: 'INVALID_PARAMETER',
    message: 'invalid parameter (bad request length, object size 0 or not page-aligned, or more data than announced)',
    remedy: 'retry; if it persists, lower the MTU (data may have been corrupted) or report it',
  },
  [RESULT.INSUFFICIENT_RESOURCES]: {
    name: 'INSUFFICIENT_RESOURCES',
    message: 'the object or image does not fit (object larger than max size, or image larger than the free flash)',
    remedy:
      'check the image size: a .bin built from a hex merged with bootloader settings is far too large; for a big application the bootloader may need single-bank mode',
  },
  [RESULT.INVALID_OBJECT]: {
    name: 'INVALID_OBJECT',
    message: 'the object was rejected (init packet undecodable, signature does not verify, or the image failed post-validation)',
    remedy:
      'most often the package is signed with a key this bootloader does not trust: sign it with the private key matching the bootloader (nrfutil pkg generate --key-file)',
  },
  [RESULT.INVALID_SIGNATURE]: {
    name: 'INVALID_SIGNATURE',
    message: 'invalid signature',
    remedy: 'sign the package with the key this bootloader trusts (nrfutil pkg generate --key-file)',
  },
  [RESULT.UNSUPPORTED_TYPE]: {
    name: 'UNSUPPORTED_TYPE',
    message: 'unsupported object type',
    remedy: 'this is a client bug: only object types 1 (command) and 2 (data) exist',
  },
  [RESULT.OPERATION_NOT_PERMITTED]: {
    name: 'OPERATION_NOT_PERMITTED',
    message: 'operation not permitted in the current state (object incomplete, no valid init packet, or image larger than announced)',
    remedy: 'retry the update from the start (use --no-resume if this repeats)',
  },
  [RESULT.OPERATION_FAILED]: {
    name: 'OPERATION_FAILED',
    message: 'operation failed (on SDK 12 bootloaders: the init packet was rejected — version, hw or SoftDevice mismatch)',
    remedy: 'check that the package matches the device (hw_version, sd_req, fw_version)',
  },
  [RESULT.EXT_ERROR]: { name: 'EXT_ERROR', message: 'extended error' },
} as const satisfies Record<number, CodeInfo>;

export const EXT_ERROR = {
  NO_ERROR: 0x00,
  INVALID_ERROR_CODE: 0x01,
  WRONG_COMMAND_FORMAT: 0x02,
  UNKNOWN_COMMAND: 0x03,
  INIT_COMMAND_INVALID: 0x04,
  FW_VERSION_FAILURE: 0x05,
  HW_VERSION_FAILURE: 0x06,
  SD_VERSION_FAILURE: 0x07,
  SIGNATURE_MISSING: 0x08,
  WRONG_HASH_TYPE: 0x09,
  HASH_FAILED: 0x0a,
  WRONG_SIGNATURE_TYPE: 0x0b,
  VERIFICATION_FAILED: 0x0c,
  INSUFFICIENT_SPACE: 0x0d,
} as const satisfies Record<string, number>;

export const EXT_ERROR_INFO = {
  [EXT_ERROR.NO_ERROR]: { name: 'NO_ERROR', message: 'extended error without a code (bootloader bug)' },
  [EXT_ERROR.INVALID_ERROR_CODE]: { name: 'INVALID_ERROR_CODE', message: 'invalid extended error code (bootloader bug)' },
  [EXT_ERROR.WRONG_COMMAND_FORMAT]: { name: 'WRONG_COMMAND_FORMAT', message: 'wrong command format' },
  [EXT_ERROR.UNKNOWN_COMMAND]: {
    name: 'UNKNOWN_COMMAND',
    message: 'unknown command (SDK 13–14 bootloaders say this for every unsigned init packet)',
    remedy: 'the bootloader requires a signed package; sign it with nrfutil pkg generate --key-file',
  },
  [EXT_ERROR.INIT_COMMAND_INVALID]: {
    name: 'INIT_COMMAND_INVALID',
    message: 'the init packet is invalid: unsupported FwType or a required field (size, hw_version, fw_version) is missing',
    remedy: 'regenerate the package with nrfutil pkg generate, giving --hw-version and --application-version (or --bootloader-version)',
  },
  [EXT_ERROR.FW_VERSION_FAILURE]: {
    name: 'FW_VERSION_FAILURE',
    message: 'firmware version too low (downgrade protection; bootloader versions must be strictly higher)',
    remedy: 'build the package with a higher version (nrfutil pkg generate --application-version / --bootloader-version)',
  },
  [EXT_ERROR.HW_VERSION_FAILURE]: {
    name: 'HW_VERSION_FAILURE',
    message: 'hardware version does not match the device',
    remedy: 'build the package with the device hardware version (nrfutil pkg generate --hw-version, 52 for nRF52)',
  },
  [EXT_ERROR.SD_VERSION_FAILURE]: {
    name: 'SD_VERSION_FAILURE',
    message: 'none of the required SoftDevice versions (sd_req) is the one installed on the device',
    remedy: 'add the FWID of the SoftDevice on the device to the package (nrfutil pkg generate --sd-req), or update the SoftDevice first',
  },
  [EXT_ERROR.SIGNATURE_MISSING]: {
    name: 'SIGNATURE_MISSING',
    message: 'the init packet is not signed but the bootloader requires a signature',
    remedy: 'the bootloader requires a signed package; sign it with nrfutil pkg generate --key-file',
  },
  [EXT_ERROR.WRONG_HASH_TYPE]: {
    name: 'WRONG_HASH_TYPE',
    message: 'the init packet hash type is not SHA-256',
    remedy: 'regenerate the package with nrfutil pkg generate (it always uses SHA-256)',
  },
  [EXT_ERROR.HASH_FAILED]: { name: 'HASH_FAILED', message: 'the bootloader could not compute the hash' },
  [EXT_ERROR.WRONG_SIGNATURE_TYPE]: {
    name: 'WRONG_SIGNATURE_TYPE',
    message: 'the signature type is not ECDSA P-256/SHA-256',
    remedy: 'sign the package with an ECDSA P-256 key (nrfutil keys generate)',
  },
  [EXT_ERROR.VERIFICATION_FAILED]: {
    name: 'VERIFICATION_FAILED',
    message: 'the SHA-256 of the received image does not match the init packet',
    remedy: 'the .bin and .dat do not belong together or data was corrupted in transit; regenerate the package and retry',
  },
  [EXT_ERROR.INSUFFICIENT_SPACE]: {
    name: 'INSUFFICIENT_SPACE',
    message: 'not enough space for the image',
    remedy: 'the image is too large for this device/bootloader layout',
  },
} as const satisfies Record<number, CodeInfo>;

export function resultInfo(code: number): CodeInfo {
  return (RESULT_INFO as Record<number, CodeInfo>)[code] ?? { name: `RESULT_0x${code.toString(16).padStart(2, '0')}`, message: `unknown result code 0x${code.toString(16)}` };
}

export function extendedErrorInfo(code: number): CodeInfo {
  return (
    (EXT_ERROR_INFO as Record<number, CodeInfo>)[code] ?? {
      name: `EXT_0x${code.toString(16).padStart(2, '0')}`,
      message: `unknown extended error 0x${code.toString(16)}`,
    }
  );
}

// ---------------------------------------------------------------------------------------------
// Responses (target → host, notifications on the CP)

export type ControlPointResponse =
  /** Select success: 15 bytes. */
  | { readonly kind: 'select'; readonly maxSize: number; readonly offset: number; readonly crc: number }
  /** CRC success (also what a PRN looks like): 11 bytes. */
  | { readonly kind: 'checksum'; readonly offset: number; readonly crc: number }
  /** Success without payload for any other request: 3 bytes. */
  | { readonly kind: 'success'; readonly request: number }
  /** Failure with a result code other than SUCCESS/EXT_ERROR: 3 bytes. */
  | { readonly kind: 'error'; readonly request: number; readonly result: number }
  /** Result 0x0B with the extended code: 4 bytes. */
  | { readonly kind: 'extendedError'; readonly request: number; readonly extended: number };

export function encodeResponse(res: ControlPointResponse): Uint8Array {
  const w = new ByteWriter(16).u8(OPCODE.RESPONSE);
  switch (res.kind) {
    case 'select':
      return w.u8(OPCODE.SELECT).u8(RESULT.SUCCESS).u32le(res.maxSize).u32le(res.offset).u32le(res.crc).finish();
    case 'checksum':
      return w.u8(OPCODE.CALC_CHECKSUM).u8(RESULT.SUCCESS).u32le(res.offset).u32le(res.crc).finish();
    case 'success':
      return w.u8(res.request).u8(RESULT.SUCCESS).finish();
    case 'error':
      return w.u8(res.request).u8(res.result).finish();
    case 'extendedError':
      return w.u8(res.request).u8(RESULT.EXT_ERROR).u8(res.extended).finish();
    default:
      return assertNever(res);
  }
}

/**
 * Decodes a CP notification. Throws DFU_PROTOCOL_ERROR when it is not a response or is too short
 * for what it claims to be; payloads of success responses to other opcodes are ignored.
 */
export function decodeResponse(bytes: Uint8Array): ControlPointResponse {
  if (bytes.length < 3 || bytes[0] !== OPCODE.RESPONSE) {
    throw new BledfuError('DFU_PROTOCOL_ERROR', `not a DFU control point response: ${toHex(bytes, ' ')}`, {
      layer: 'dfu',
      facts: { context: { notification: toHex(bytes) } },
    });
  }
  const r = new ByteReader(bytes, 'dfu', 'DFU control point response');
  r.skip(1);
  const request = r.u8();
  const result = r.u8();
  try {
    if (result === RESULT.EXT_ERROR) {
      return { kind: 'extendedError', request, extended: r.remaining > 0 ? r.u8() : EXT_ERROR.NO_ERROR };
    }
    if (result !== RESULT.SUCCESS) return { kind: 'error', request, result };
    if (request === OPCODE.SELECT) return { kind: 'select', maxSize: r.u32le(), offset: r.u32le(), crc: r.u32le() };
    if (request === OPCODE.CALC_CHECKSUM) return { kind: 'checksum', offset: r.u32le(), crc: r.u32le() };
    return { kind: 'success', request };
  } catch (cause) {
    throw new BledfuError('DFU_PROTOCOL_ERROR', `truncated DFU response to ${opcodeName(request)}: ${toHex(bytes, ' ')}`, {
      layer: 'dfu',
      cause,
      facts: { context: { notification: toHex(bytes) } },
    });
  }
}

/** The opcode a response answers. */
export function responseRequest(res: ControlPointResponse): number {
  switch (res.kind) {
    case 'select':
      return OPCODE.SELECT;
    case 'checksum':
      return OPCODE.CALC_CHECKSUM;
    case 'success':
    case 'error':
    case 'extendedError':
      return res.request;
    default:
      return assertNever(res);
  }
}

/** Human description of a failed response: names, message and remedy of the (extended) code. */
export function describeFailure(res: ControlPointResponse): { readonly result: CodeInfo & { readonly code: number }; readonly extended?: CodeInfo & { readonly code: number } } | undefined {
  switch (res.kind) {
    case 'error':
      return { result: { ...resultInfo(res.result), code: res.result } };
    case 'extendedError':
      return {
        result: { ...resultInfo(RESULT.EXT_ERROR), code: RESULT.EXT_ERROR },
        extended: { ...extendedErrorInfo(res.extended), code: res.extended },
      };
    case 'select':
    case 'checksum':
    case 'success':
      return undefined;
    default:
      return assertNever(res);
  }
}
