/**
 * Serialization packets: what one H5 vendor packet carries. The first byte says what follows
 * (command, response, event, reset command); the rest is the codec bytes of commands.ts,
 * responses.ts and events.ts.
 */
import { toHex } from '../../../common/bytes.js';
import { serializationMalformed } from './codec.js';
import { encodeCommand, type NrfCommand } from './commands.js';
import { RESET_MODE, SER_PACKET_TYPE, type ApiVersion } from './constants.js';

export type SerPacketKind = keyof typeof SER_PACKET_TYPE;

const KIND_BY_BYTE: ReadonlyMap<number, SerPacketKind> = new Map(
  (Object.entries(SER_PACKET_TYPE) as [SerPacketKind, number][]).map(([kind, byte]) => [byte, kind]),
);

export interface SerPacket {
  readonly kind: SerPacketKind;
  /** The codec bytes after the type byte. */
  readonly body: Uint8Array;
}

export function encodeSerPacket(packet: SerPacket): Uint8Array {
  const out = new Uint8Array(1 + packet.body.length);
  out[0] = SER_PACKET_TYPE[packet.kind];
  out.set(packet.body, 1);
  return out;
}

export function decodeSerPacket(payload: Uint8Array): SerPacket {
  const kind = payload[0] === undefined ? undefined : KIND_BY_BYTE.get(payload[0]);
  if (kind === undefined) {
    throw serializationMalformed(
      payload.length === 0 ? 'empty serialization packet' : `unknown serialization packet type 0x${(payload[0] as number).toString(16)}`,
      'NRF_ERROR_INVALID_DATA',
      { packet: toHex(payload.subarray(0, 32)) },
    );
  }
  return { kind, body: payload.slice(1) };
}

/** The H5 payload for a command. */
export function commandPacket(api: ApiVersion, command: NrfCommand): Uint8Array {
  return encodeSerPacket({ kind: 'command', body: encodeCommand(api, command) });
}

/**
 * sd_rpc_conn_reset: `system` reboots the chip (the dongle drops off USB for a moment), `soft`
 * restarts the SoftDevice and transport only. No response; the device re-syncs the H5 link.
 */
export function resetCommandPacket(mode: keyof typeof RESET_MODE): Uint8Array {
  return encodeSerPacket({ kind: 'resetCommand', body: new Uint8Array([RESET_MODE[mode]]) });
}
