/**
 * The three HCI packet shapes a BLE host exchanges with its controller (Core Vol 4, Part E, 5.4),
 * without the H4 type octet. Decoders insist the length field matches the bytes exactly, because
 * a mismatch means the framing below is broken and everything after would be garbage.
 */
import { ByteReader, ByteWriter } from '../../common/bytes.js';
import { hciMalformed } from './errors.js';

export interface HciCommandPacket {
  /** OGF << 10 | OCF. */
  readonly opcode: number;
  readonly params: Uint8Array;
}

export interface HciEventPacket {
  readonly code: number;
  readonly params: Uint8Array;
}

/** Packet Boundary flag values (Core Vol 4, Part E, 5.4.2). */
export const ACL_PB = {
  /** Host to controller, first fragment of an L2CAP PDU. */
  firstNonFlushable: 0b00,
  continuing: 0b01,
  /** Controller to host, first fragment of an L2CAP PDU. */
  firstFlushable: 0b10,
  /** BR/EDR only; never used on LE links. */
  complete: 0b11,
} as const satisfies Record<string, number>;

export type AclPacketBoundary = (typeof ACL_PB)[keyof typeof ACL_PB];

export interface HciAclPacket {
  /** 12-bit connection handle. */
  readonly handle: number;
  readonly pb: AclPacketBoundary;
  /** Broadcast flag; always 0 on LE. */
  readonly bc: number;
  readonly data: Uint8Array;
}

export const HCI_COMMAND_HEADER_LENGTH = 3;
export const HCI_EVENT_HEADER_LENGTH = 2;
export const HCI_ACL_HEADER_LENGTH = 4;

export function hciOpcode(ogf: number, ocf: number): number {
  return ((ogf & 0x3f) << 10) | (ocf & 0x3ff);
}
export function hciOgf(opcode: number): number {
  return opcode >>> 10;
}
export function hciOcf(opcode: number): number {
  return opcode & 0x3ff;
}

function checkLength(what: string, declared: number, actual: number): void {
  if (declared !== actual) {
    throw hciMalformed(`${what}: length field says ${declared} byte(s), ${actual} present`);
  }
}

export function encodeCommandPacket(packet: HciCommandPacket): Uint8Array {
  if (packet.params.length > 0xff) throw hciMalformed(`command parameters too long (${packet.params.length})`);
  return new ByteWriter(HCI_COMMAND_HEADER_LENGTH + packet.params.length)
    .u16le(packet.opcode)
    .u8(packet.params.length)
    .bytes(packet.params)
    .finish();
}

export function decodeCommandPacket(bytes: Uint8Array): HciCommandPacket {
  const r = new ByteReader(bytes, 'hci', 'HCI command');
  const opcode = r.u16le();
  const length = r.u8();
  checkLength('HCI command', length, r.remaining);
  return { opcode, params: r.rest() };
}

export function encodeEventPacket(packet: HciEventPacket): Uint8Array {
  if (packet.params.length > 0xff) throw hciMalformed(`event parameters too long (${packet.params.length})`);
  return new ByteWriter(HCI_EVENT_HEADER_LENGTH + packet.params.length)
    .u8(packet.code)
    .u8(packet.params.length)
    .bytes(packet.params)
    .finish();
}

export function decodeEventPacket(bytes: Uint8Array): HciEventPacket {
  const r = new ByteReader(bytes, 'hci', 'HCI event');
  const code = r.u8();
  const length = r.u8();
  checkLength('HCI event', length, r.remaining);
  return { code, params: r.rest() };
}

export function encodeAclPacket(packet: HciAclPacket): Uint8Array {
  if (packet.data.length > 0xffff) throw hciMalformed(`ACL data too long (${packet.data.length})`);
  const header = (packet.handle & 0x0fff) | ((packet.pb & 0b11) << 12) | ((packet.bc & 0b11) << 14);
  return new ByteWriter(HCI_ACL_HEADER_LENGTH + packet.data.length)
    .u16le(header)
    .u16le(packet.data.length)
    .bytes(packet.data)
    .finish();
}

export function decodeAclPacket(bytes: Uint8Array): HciAclPacket {
  const r = new ByteReader(bytes, 'hci', 'HCI ACL packet');
  const header = r.u16le();
  const length = r.u16le();
  checkLength('HCI ACL packet', length, r.remaining);
  return {
    handle: header & 0x0fff,
    pb: ((header >>> 12) & 0b11) as AclPacketBoundary,
    bc: (header >>> 14) & 0b11,
    data: r.rest(),
  };
}
