/**
 * Nordic's variant of the Bluetooth three-wire UART (H5) packet: a 4-byte header, the payload and,
 * with the data-integrity bit, a CRC. The header checksum is two's complement (all four header
 * bytes sum to 0 mod 256) and the CRC is CCITT-FALSE little-endian — both differ from the
 * Bluetooth specification, so no generic H5 code applies. Also the link-control messages that
 * bring the link up (SYNC/CONFIG and their responses) and the packets the link itself sends.
 */
import { toHex } from '../../common/bytes.js';
import { BledfuError } from '../../common/errors.js';
import { crc16 } from '../../common/crc16.js';
import { slipEncode } from './slip.js';

export const H5_PACKET_TYPE = {
  ack: 0,
  /** Host → device at open: the device reboots (UART build) or soft-resets (USB build). */
  reset: 5,
  /** Every serialization packet travels as a reliable vendor packet with CRC. */
  vendor: 14,
  linkControl: 15,
} as const satisfies Record<string, number>;

export const H5_HEADER_LENGTH = 4;
export const H5_MAX_PAYLOAD = 0xfff;

export interface H5Packet {
  /** Sequence number of this reliable packet, 0..7. */
  readonly seq: number;
  /** Next sequence number expected from the peer, 0..7. */
  readonly ack: number;
  /** A CRC16 follows the payload. */
  readonly dataIntegrity: boolean;
  /** The peer must acknowledge this packet. */
  readonly reliable: boolean;
  /** 4-bit packet type (H5_PACKET_TYPE). */
  readonly packetType: number;
  readonly payload: Uint8Array;
}

/** What the header says, as read off the wire (checksum included for diagnostics). */
export interface H5Header {
  readonly seq: number;
  readonly ack: number;
  readonly dataIntegrity: boolean;
  readonly reliable: boolean;
  readonly packetType: number;
  readonly payloadLength: number;
  readonly headerChecksum: number;
}

function h5Malformed(message: string, bytes: Uint8Array): BledfuError {
  return new BledfuError('MALFORMED_PACKET', `H5 packet ${message}`, {
    layer: 'nrf',
    remedy: 'line noise or a wrong baud rate; the link retransmits on its own, check the cable if it persists',
    facts: { context: { packet: toHex(bytes.subarray(0, 32)) } },
  });
}

function checkField(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new BledfuError('INVALID_ARGUMENT', `H5 ${name} ${value} is outside 0..${max}`, { layer: 'nrf' });
  }
}

export function encodeH5(packet: H5Packet): Uint8Array {
  checkField('seq', packet.seq, 7);
  checkField('ack', packet.ack, 7);
  checkField('packet type', packet.packetType, 15);
  checkField('payload length', packet.payload.length, H5_MAX_PAYLOAD);
  const length = packet.payload.length;
  const out = new Uint8Array(H5_HEADER_LENGTH + length + (packet.dataIntegrity ? 2 : 0));
  out[0] = packet.seq | (packet.ack << 3) | (packet.dataIntegrity ? 0x40 : 0) | (packet.reliable ? 0x80 : 0);
  out[1] = packet.packetType | ((length & 0x0f) << 4);
  out[2] = length >>> 4;
  out[3] = (0x100 - ((out[0] + out[1] + out[2]) & 0xff)) & 0xff;
  out.set(packet.payload, H5_HEADER_LENGTH);
  if (packet.dataIntegrity) {
    const crc = crc16(out.subarray(0, H5_HEADER_LENGTH + length));
    out[H5_HEADER_LENGTH + length] = crc & 0xff;
    out[H5_HEADER_LENGTH + length + 1] = crc >>> 8;
  }
  return out;
}

/** Reads the header only; checks its checksum but not the packet length. */
export function decodeH5Header(bytes: Uint8Array): H5Header {
  if (bytes.length < H5_HEADER_LENGTH) throw h5Malformed(`too short for a header (${bytes.length} bytes)`, bytes);
  const b0 = bytes[0] as number;
  const b1 = bytes[1] as number;
  const b2 = bytes[2] as number;
  const b3 = bytes[3] as number;
  if (((b0 + b1 + b2 + b3) & 0xff) !== 0) throw h5Malformed('header checksum mismatch', bytes);
  return {
    seq: b0 & 0x07,
    ack: (b0 >>> 3) & 0x07,
    dataIntegrity: (b0 & 0x40) !== 0,
    reliable: (b0 & 0x80) !== 0,
    packetType: b1 & 0x0f,
    payloadLength: (b1 >>> 4) | (b2 << 4),
    headerChecksum: b3,
  };
}

/** A whole packet: header checksum, exact length and (if flagged) CRC must all be right. */
export function decodeH5(bytes: Uint8Array): H5Packet {
  const h = decodeH5Header(bytes);
  const expected = H5_HEADER_LENGTH + h.payloadLength + (h.dataIntegrity ? 2 : 0);
  if (bytes.length !== expected) {
    throw h5Malformed(`length mismatch: header announces ${expected} bytes, ${bytes.length} received`, bytes);
  }
  const end = H5_HEADER_LENGTH + h.payloadLength;
  if (h.dataIntegrity) {
    const received = (bytes[end] as number) | ((bytes[end + 1] as number) << 8);
    if (crc16(bytes.subarray(0, end)) !== received) throw h5Malformed('CRC mismatch', bytes);
  }
  return {
    seq: h.seq,
    ack: h.ack,
    dataIntegrity: h.dataIntegrity,
    reliable: h.reliable,
    packetType: h.packetType,
    payload: bytes.slice(H5_HEADER_LENGTH, end),
  };
}

/** The packet as SLIP frame, ready for the serial port. */
export function h5Frame(packet: H5Packet): Uint8Array {
  return slipEncode(encodeH5(packet));
}

// ---- link control ----

/**
 * Configuration field both sides must send: sliding window 1, no out-of-frame flow control,
 * CRC data integrity, version 0. The device rejects CONFIG messages carrying anything else.
 */
export const H5_CONFIG_FIELD = 0x11;

export type LinkControlKind = 'sync' | 'syncResponse' | 'config' | 'configResponse' | 'wakeup' | 'woken' | 'sleep';

const LINK_CONTROL_CODES = {
  sync: [0x01, 0x7e],
  syncResponse: [0x02, 0x7d],
  config: [0x03, 0xfc],
  configResponse: [0x04, 0x7b],
  wakeup: [0x05, 0xfa],
  woken: [0x06, 0xf9],
  sleep: [0x07, 0x78],
} as const satisfies Record<LinkControlKind, readonly [number, number]>;

const CARRIES_CONFIG: ReadonlySet<LinkControlKind> = new Set(['config', 'configResponse']);

export interface LinkControlMessage {
  readonly kind: LinkControlKind;
  /** The configuration field of CONFIG / CONFIG RESPONSE; absent for the others. */
  readonly config?: number;
}

export function encodeLinkControl(kind: LinkControlKind, config = H5_CONFIG_FIELD): Uint8Array {
  const code = LINK_CONTROL_CODES[kind];
  return new Uint8Array(CARRIES_CONFIG.has(kind) ? [...code, config] : code);
}

/** Parses a link-control payload; undefined when it is none of the known messages. */
export function decodeLinkControl(payload: Uint8Array): LinkControlMessage | undefined {
  for (const [kind, [a, b]] of Object.entries(LINK_CONTROL_CODES) as [LinkControlKind, readonly [number, number]][]) {
    if (payload[0] !== a || payload[1] !== b) continue;
    if (CARRIES_CONFIG.has(kind)) return payload.length === 3 ? { kind, config: payload[2] as number } : undefined;
    return payload.length === 2 ? { kind } : undefined;
  }
  return undefined;
}

/** Link-control, reset and ACK packets: unreliable, no CRC, seq 0. */
function unreliable(packetType: number, payload: Uint8Array, ack = 0): H5Packet {
  return { seq: 0, ack, dataIntegrity: false, reliable: false, packetType, payload };
}

export function linkControlPacket(kind: LinkControlKind): H5Packet {
  return unreliable(H5_PACKET_TYPE.linkControl, encodeLinkControl(kind));
}

export function resetPacket(): H5Packet {
  return unreliable(H5_PACKET_TYPE.reset, new Uint8Array(0));
}

/** A pure acknowledgement: `ack` is the next sequence number expected from the peer. */
export function ackPacket(ack: number): H5Packet {
  return unreliable(H5_PACKET_TYPE.ack, new Uint8Array(0), ack);
}

/** A serialization packet as the firmware demands it: reliable, with CRC. */
export function vendorPacket(seq: number, ack: number, payload: Uint8Array): H5Packet {
  return { seq, ack, dataIntegrity: true, reliable: true, packetType: H5_PACKET_TYPE.vendor, payload };
}
