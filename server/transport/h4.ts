/**
 * H4 (UART) framing: one packet-type octet, then the HCI packet itself. The parser is a
 * resumable state machine so it can be fed whatever chunking the serial port delivers, and it
 * serves both directions (a host receives events and ACL, a controller receives commands and ACL).
 * H4 has no resynchronisation: an unknown type octet means the stream is lost.
 */
import { BledfuError } from '../common/errors.js';

export const H4_TYPES = {
  command: 0x01,
  acl: 0x02,
  sco: 0x03,
  event: 0x04,
  iso: 0x05,
} as const satisfies Record<string, number>;

export type H4PacketType = keyof typeof H4_TYPES;

export interface H4Packet {
  readonly type: H4PacketType;
  /** The HCI packet after the type octet: header and body. */
  readonly bytes: Uint8Array;
}

/** Where the body length sits in each header (Core Vol 4, Part E, 5.4). */
interface HeaderLayout {
  readonly headerLength: number;
  readonly bodyLength: (header: Uint8Array) => number;
}

const u8At = (h: Uint8Array, i: number): number => h[i] ?? 0;

const LAYOUTS = {
  command: { headerLength: 3, bodyLength: (h) => u8At(h, 2) },
  acl: { headerLength: 4, bodyLength: (h) => u8At(h, 2) | (u8At(h, 3) << 8) },
  sco: { headerLength: 3, bodyLength: (h) => u8At(h, 2) },
  event: { headerLength: 2, bodyLength: (h) => u8At(h, 1) },
  // The top two bits of the ISO length field are reserved.
  iso: { headerLength: 4, bodyLength: (h) => (u8At(h, 2) | (u8At(h, 3) << 8)) & 0x3fff },
} as const satisfies Record<H4PacketType, HeaderLayout>;

const TYPE_BY_OCTET: ReadonlyMap<number, H4PacketType> = new Map(
  (Object.entries(H4_TYPES) as [H4PacketType, number][]).map(([name, octet]) => [octet, name]),
);

export function encodeH4(packet: H4Packet): Uint8Array {
  const out = new Uint8Array(1 + packet.bytes.length);
  out[0] = H4_TYPES[packet.type];
  out.set(packet.bytes, 1);
  return out;
}

type ParserState =
  | { readonly kind: 'NEED_TYPE' }
  | { readonly kind: 'NEED_HEADER'; readonly type: H4PacketType; readonly buffer: Uint8Array; filled: number }
  | { readonly kind: 'NEED_BODY'; readonly type: H4PacketType; readonly buffer: Uint8Array; filled: number };

export class H4Parser {
  #state: ParserState = { kind: 'NEED_TYPE' };

  /** True when no partial packet is buffered. */
  get idle(): boolean {
    return this.#state.kind === 'NEED_TYPE';
  }

  /** Consumes a chunk and returns every packet it completed, in order. */
  feed(chunk: Uint8Array): H4Packet[] {
    const out: H4Packet[] = [];
    let at = 0;
    while (at < chunk.length) {
      const state = this.#state;
      switch (state.kind) {
        case 'NEED_TYPE': {
          const octet = chunk[at++] as number;
          const type = TYPE_BY_OCTET.get(octet);
          if (type === undefined) {
            throw new BledfuError('MALFORMED_PACKET', `unknown H4 packet type 0x${octet.toString(16).padStart(2, '0')}`, {
              layer: 'transport',
              remedy: 'check that the dongle runs HCI UART firmware at the configured baud rate',
            });
          }
          this.#state = { kind: 'NEED_HEADER', type, buffer: new Uint8Array(LAYOUTS[type].headerLength), filled: 0 };
          break;
        }
        case 'NEED_HEADER':
        case 'NEED_BODY': {
          const n = Math.min(state.buffer.length - state.filled, chunk.length - at);
          state.buffer.set(chunk.subarray(at, at + n), state.filled);
          state.filled += n;
          at += n;
          if (state.filled === state.buffer.length) this.#advance(state, out);
          break;
        }
        default: {
          const never: never = state;
          throw new Error(`unreachable ${String(never)}`);
        }
      }
    }
    return out;
  }

  #advance(state: Exclude<ParserState, { kind: 'NEED_TYPE' }>, out: H4Packet[]): void {
    if (state.kind === 'NEED_HEADER') {
      const bodyLength = LAYOUTS[state.type].bodyLength(state.buffer);
      const buffer = new Uint8Array(state.buffer.length + bodyLength);
      buffer.set(state.buffer);
      // A header announcing an empty body completes the packet without another byte arriving.
      if (bodyLength === 0) {
        out.push({ type: state.type, bytes: buffer });
        this.#state = { kind: 'NEED_TYPE' };
        return;
      }
      this.#state = { kind: 'NEED_BODY', type: state.type, buffer, filled: state.buffer.length };
      return;
    }
    out.push({ type: state.type, bytes: state.buffer });
    this.#state = { kind: 'NEED_TYPE' };
  }
}

/** Whole H4 packets from a byte stream; an unknown type octet ends it with MALFORMED_PACKET. */
export async function* readH4Packets(source: AsyncIterable<Uint8Array>): AsyncGenerator<H4Packet> {
  const parser = new H4Parser();
  for await (const chunk of source) {
    for (const packet of parser.feed(chunk)) yield packet;
  }
}
