/**
 * L2CAP on LE: the basic frame (Core Vol 3, Part A, 3.1), the fixed channels, and the LE
 * signaling commands a central must handle (Part A, 4). Also the one SMP PDU we ever send.
 */
import { ByteReader, ByteWriter } from '../../common/bytes.js';
import { BledfuError } from '../../common/errors.js';

export const L2CAP_CID = {
  att: 0x0004,
  leSignaling: 0x0005,
  smp: 0x0006,
} as const satisfies Record<string, number>;

export const L2CAP_HEADER_LENGTH = 4;

export interface L2capFrame {
  readonly cid: number;
  readonly payload: Uint8Array;
}

export function encodeL2capFrame(frame: L2capFrame): Uint8Array {
  return new ByteWriter(L2CAP_HEADER_LENGTH + frame.payload.length)
    .u16le(frame.payload.length)
    .u16le(frame.cid)
    .bytes(frame.payload)
    .finish();
}

export function decodeL2capFrame(bytes: Uint8Array): L2capFrame {
  const r = new ByteReader(bytes, 'l2cap', 'L2CAP frame');
  const length = r.u16le();
  const cid = r.u16le();
  if (length !== r.remaining) {
    throw new BledfuError('MALFORMED_PACKET', `L2CAP frame: length says ${length}, ${r.remaining} present`, {
      layer: 'l2cap',
    });
  }
  return { cid, payload: r.rest() };
}

/** Total frame length announced by a first ACL fragment, or undefined if it is too short to say. */
export function l2capFrameLength(firstFragment: Uint8Array): number | undefined {
  if (firstFragment.length < 2) return undefined;
  return L2CAP_HEADER_LENGTH + ((firstFragment[0] ?? 0) | ((firstFragment[1] ?? 0) << 8));
}

export const SIGNALING_CODES = {
  commandReject: 0x01,
  disconnectionRequest: 0x06,
  disconnectionResponse: 0x07,
  connectionParameterUpdateRequest: 0x12,
  connectionParameterUpdateResponse: 0x13,
  leCreditBasedConnectionRequest: 0x14,
  leCreditBasedConnectionResponse: 0x15,
  flowControlCredit: 0x16,
} as const satisfies Record<string, number>;

export const COMMAND_REJECT_REASONS = {
  commandNotUnderstood: 0x0000,
  signalingMtuExceeded: 0x0001,
  invalidCid: 0x0002,
} as const satisfies Record<string, number>;

export const CONNECTION_PARAMETER_UPDATE_RESULT = {
  accepted: 0x0000,
  rejected: 0x0001,
} as const satisfies Record<string, number>;

export type SignalingCommand =
  | { readonly kind: 'commandReject'; readonly identifier: number; readonly reason: number; readonly data: Uint8Array }
  | {
      readonly kind: 'connectionParameterUpdateRequest';
      readonly identifier: number;
      /** Units of 1.25 ms. */
      readonly intervalMin: number;
      readonly intervalMax: number;
      readonly latency: number;
      /** Units of 10 ms. */
      readonly timeout: number;
    }
  | { readonly kind: 'connectionParameterUpdateResponse'; readonly identifier: number; readonly result: number }
  | { readonly kind: 'unknown'; readonly code: number; readonly identifier: number; readonly data: Uint8Array };

function signalingMalformed(message: string): BledfuError {
  return new BledfuError('MALFORMED_PACKET', message, { layer: 'l2cap' });
}

/** One command per C-frame on LE (Part A, 4). */
export function decodeSignalingCommand(payload: Uint8Array): SignalingCommand {
  const r = new ByteReader(payload, 'l2cap', 'L2CAP signaling command');
  const code = r.u8();
  const identifier = r.u8();
  const length = r.u16le();
  if (length > r.remaining) throw signalingMalformed(`signaling command 0x${code.toString(16)}: length ${length} exceeds frame`);
  const d = new ByteReader(r.bytes(length), 'l2cap', 'L2CAP signaling data');
  switch (code) {
    case SIGNALING_CODES.commandReject:
      return { kind: 'commandReject', identifier, reason: d.u16le(), data: d.rest().slice() };
    case SIGNALING_CODES.connectionParameterUpdateRequest:
      return {
        kind: 'connectionParameterUpdateRequest',
        identifier,
        intervalMin: d.u16le(),
        intervalMax: d.u16le(),
        latency: d.u16le(),
        timeout: d.u16le(),
      };
    case SIGNALING_CODES.connectionParameterUpdateResponse:
      return { kind: 'connectionParameterUpdateResponse', identifier, result: d.u16le() };
    default:
      return { kind: 'unknown', code, identifier, data: d.rest().slice() };
  }
}

export function encodeSignalingCommand(command: SignalingCommand): Uint8Array {
  const data = new ByteWriter(16);
  let code: number;
  switch (command.kind) {
    case 'commandReject':
      code = SIGNALING_CODES.commandReject;
      data.u16le(command.reason).bytes(command.data);
      break;
    case 'connectionParameterUpdateRequest':
      code = SIGNALING_CODES.connectionParameterUpdateRequest;
      data.u16le(command.intervalMin).u16le(command.intervalMax).u16le(command.latency).u16le(command.timeout);
      break;
    case 'connectionParameterUpdateResponse':
      code = SIGNALING_CODES.connectionParameterUpdateResponse;
      data.u16le(command.result);
      break;
    case 'unknown':
      code = command.code;
      data.bytes(command.data);
      break;
    default: {
      const never: never = command;
      throw new Error(`unreachable ${String(never)}`);
    }
  }
  const body = data.finish();
  return new ByteWriter(4 + body.length).u8(code).u8(command.identifier).u16le(body.length).bytes(body).finish();
}

/** SMP (Core Vol 3, Part H, 3.3): we never pair, so the only PDU we send is Pairing Failed. */
export const SMP_CODES = {
  pairingRequest: 0x01,
  pairingResponse: 0x02,
  pairingFailed: 0x05,
  securityRequest: 0x0b,
} as const satisfies Record<string, number>;

export const SMP_REASON_PAIRING_NOT_SUPPORTED = 0x05;

export function encodeSmpPairingFailed(reason: number): Uint8Array {
  return Uint8Array.of(SMP_CODES.pairingFailed, reason);
}
