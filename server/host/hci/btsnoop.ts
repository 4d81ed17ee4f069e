/**
 * The btsnoop capture format (what Wireshark opens and BlueZ's `btmon -r` decodes), with the
 * HCI UART (H4) datalink: every record holds one H4 packet, type octet included. Layout as the
 * btsnoop specification and BlueZ's src/shared/btsnoop.c define it, all fields big-endian:
 *
 *   file header, 16 octets: "btsnoop\0", version 1 (u32), datalink type (u32)
 *   record header, 24 octets: original length (u32), included length (u32), flags (u32),
 *     cumulative drops (u32), timestamp (64 bits, microseconds since 0000-01-01)
 *   flags bit 0: 0 = sent host → controller, 1 = received; bit 1: 1 = command or event, 0 = data
 */
import type { Clock } from '../../common/clock.js';
import { H4_TYPES, type H4Packet } from '../../transport/h4.js';

export const BTSNOOP_HEADER_LENGTH = 16;
export const BTSNOOP_RECORD_HEADER_LENGTH = 24;
export const BTSNOOP_VERSION = 1;
/** Datalink type "HCI UART (H4)". */
export const BTSNOOP_DATALINK_H4 = 1002;
/**
 * Microseconds from the format's epoch to the Unix epoch, the value BlueZ and Wireshark use
 * (BlueZ writes it as 2000-01-01 plus 0x00E03AB44A676000).
 */
export const BTSNOOP_UNIX_EPOCH_US = 0x00dcddb30f2f8000n;

const IDENTIFICATION = [0x62, 0x74, 0x73, 0x6e, 0x6f, 0x6f, 0x70, 0x00]; // "btsnoop\0"
const FLAG_RECEIVED = 0x01;
const FLAG_COMMAND_OR_EVENT = 0x02;

export type HciDirection = 'sent' | 'received';

/** One H4 packet as it crossed the host/controller boundary. */
export interface HciTrafficPacket {
  readonly direction: HciDirection;
  readonly packet: H4Packet;
  /** When it crossed, in microseconds since the Unix epoch. */
  readonly timestampUs: number;
}

/**
 * Microseconds since the Unix epoch on `clock`. A virtual clock's modelled time is as fine as it
 * gets; the real clock's milliseconds are refined with the high-resolution timer, as captures of
 * a real controller need packet spacing finer than a millisecond.
 */
export function clockUs(clock: Clock): number {
  return Math.round((clock.kind === 'real' ? performance.timeOrigin + performance.now() : clock.now()) * 1000);
}

export function encodeBtsnoopHeader(): Uint8Array {
  const out = new Uint8Array(BTSNOOP_HEADER_LENGTH);
  out.set(IDENTIFICATION, 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, BTSNOOP_VERSION);
  view.setUint32(12, BTSNOOP_DATALINK_H4);
  return out;
}

export function btsnoopFlags(direction: HciDirection, type: H4Packet['type']): number {
  return (direction === 'received' ? FLAG_RECEIVED : 0) | (type === 'command' || type === 'event' ? FLAG_COMMAND_OR_EVENT : 0);
}

/** One record: header, then the H4 packet (type octet and HCI packet). `drops` counts packets lost so far. */
export function encodeBtsnoopRecord(traffic: HciTrafficPacket, drops = 0): Uint8Array {
  const { packet } = traffic;
  const length = 1 + packet.bytes.length;
  const out = new Uint8Array(BTSNOOP_RECORD_HEADER_LENGTH + length);
  const view = new DataView(out.buffer);
  view.setUint32(0, length);
  view.setUint32(4, length);
  view.setUint32(8, btsnoopFlags(traffic.direction, packet.type));
  view.setUint32(12, drops);
  view.setBigUint64(16, BigInt(Math.round(traffic.timestampUs)) + BTSNOOP_UNIX_EPOCH_US);
  out[BTSNOOP_RECORD_HEADER_LENGTH] = H4_TYPES[packet.type];
  out.set(packet.bytes, BTSNOOP_RECORD_HEADER_LENGTH + 1);
  return out;
}
