/**
 * What is on the other end of a serial port, judged from the bytes it sent back after we sent it
 * an HCI Reset (01 03 0c 00). Pure: the caller records the bytes, this names the firmware so the
 * error can say what to do (use nrf: for Nordic connectivity firmware, flash hci_uart, fix baud).
 */

export type PortReply =
  /** An H4 event: an HCI controller is there (whatever failed, it was not the protocol). */
  | { readonly kind: 'hci' }
  /** SLIP frames carrying Nordic's three-wire (H5) link packets: connectivity firmware. */
  | { readonly kind: 'nordic-connectivity'; readonly packet: string }
  /** Printable lines: a shell, a console log or an AT command firmware. */
  | { readonly kind: 'text'; readonly firstLine: string }
  | { readonly kind: 'silent' }
  | { readonly kind: 'unknown'; readonly hex: string };

export const HCI_RESET_H4 = Uint8Array.of(0x01, 0x03, 0x0c, 0x00);

const SLIP_END = 0xc0;
const SLIP_ESC = 0xdb;
/** H4 event codes a controller may send first: Command Complete/Status, Hardware Error, LE Meta, vendor. */
const FIRST_EVENT_CODES = new Set([0x0e, 0x0f, 0x10, 0x3e, 0xff]);
const HEX_SHOWN = 16;
const LINE_SHOWN = 80;

/** Nordic's H5 link-control packets (shared/spec/nrf-connectivity.md §2.2), by payload. */
const H5_LINK_CONTROL: readonly (readonly [string, readonly number[]])[] = [
  ['SYNC', [0x01, 0x7e]],
  ['SYNC RESPONSE', [0x02, 0x7d]],
  ['CONFIG', [0x03, 0xfc]],
  ['CONFIG RESPONSE', [0x04, 0x7b]],
];
const H5_TYPES: Readonly<Record<number, string>> = { 0: 'ACK', 5: 'RESET', 14: 'vendor packet', 15: 'link control' };

function hex(bytes: Uint8Array): string {
  return [...bytes.subarray(0, HEX_SHOWN)].map((b) => b.toString(16).padStart(2, '0')).join(' ') + (bytes.length > HEX_SHOWN ? ' …' : '');
}

/** SLIP-unescapes the frames between C0 delimiters; frames with a bad escape are dropped. */
function slipFrames(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let current: number[] | undefined;
  let escaped = false;
  let broken = false;
  for (const b of bytes) {
    if (b === SLIP_END) {
      if (current !== undefined && current.length > 0 && !broken && !escaped) frames.push(Uint8Array.from(current));
      current = [];
      escaped = false;
      broken = false;
      continue;
    }
    if (current === undefined) continue; // bytes before the first delimiter are noise
    if (escaped) {
      if (b === 0xdc) current.push(SLIP_END);
      else if (b === 0xdd) current.push(SLIP_ESC);
      else broken = true;
      escaped = false;
    } else if (b === SLIP_ESC) {
      escaped = true;
    } else {
      current.push(b);
    }
  }
  return frames;
}

/** Names the H5 packet in a frame, or undefined when its header checksum is wrong (not H5). */
function h5Packet(frame: Uint8Array): string | undefined {
  if (frame.length < 4) return undefined;
  const [b0, b1, b2, b3] = frame as unknown as [number, number, number, number];
  // Nordic's header checksum: the four header octets sum to 0 mod 256 (spec §2.2).
  if (((b0 + b1 + b2 + b3) & 0xff) !== 0) return undefined;
  const length = (b1 >> 4) | (b2 << 4);
  const integrity = (b0 & 0x40) !== 0;
  if (frame.length !== 4 + length + (integrity ? 2 : 0)) return undefined;
  const type = b1 & 0x0f;
  if (type === 15) {
    const payload = [...frame.subarray(4, 6)];
    const named = H5_LINK_CONTROL.find(([, p]) => p[0] === payload[0] && p[1] === payload[1]);
    if (named !== undefined) return named[0];
  }
  return H5_TYPES[type] ?? `type ${type}`;
}

function stripAnsi(text: string): string {
  // Shells colour their prompt (Zephyr's "uart:~$ " is green).
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

function printableShare(bytes: Uint8Array): number {
  let printable = 0;
  for (const b of bytes) if ((b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x0d || b === 0x09 || b === 0x1b) printable++;
  return printable / bytes.length;
}

export function classifyPortReply(bytes: Uint8Array): PortReply {
  if (bytes.length === 0) return { kind: 'silent' };
  if (bytes[0] === 0x04 && (bytes.length < 2 || FIRST_EVENT_CODES.has(bytes[1] as number))) return { kind: 'hci' };
  if (bytes.includes(SLIP_END)) {
    for (const frame of slipFrames(bytes)) {
      const packet = h5Packet(frame);
      if (packet !== undefined) return { kind: 'nordic-connectivity', packet };
    }
  }
  if (bytes.length >= 2 && printableShare(bytes) >= 0.9) {
    const text = stripAnsi(new TextDecoder('latin1').decode(bytes));
    const firstLine = text
      .split(/\r?\n|\r/)
      .map((l) => l.trim())
      .find((l) => l !== '');
    if (firstLine !== undefined) return { kind: 'text', firstLine: firstLine.slice(0, LINE_SHOWN) };
  }
  return { kind: 'unknown', hex: hex(bytes) };
}

/**
 * True once more bytes would not change the verdict: an H4 event, a whole H5 frame, a whole line
 * of text, or plenty of bytes.
 */
export function replyIsConclusive(bytes: Uint8Array): boolean {
  if (bytes.length >= 64) return true;
  const reply = classifyPortReply(bytes);
  if (reply.kind === 'hci' || reply.kind === 'nordic-connectivity') return true;
  return reply.kind === 'text' && (bytes.includes(0x0a) || bytes.includes(0x0d));
}

/** A sentence for the error message: what the port answered. */
export function describePortReply(reply: PortReply): string {
  switch (reply.kind) {
    case 'hci':
      return 'it answered with HCI events';
    case 'nordic-connectivity':
      return `it answered with SLIP-framed H5 packets (${reply.packet}), which is what Nordic's connectivity firmware speaks`;
    case 'text':
      return `it answered with text: "${reply.firstLine}"`;
    case 'silent':
      return 'it answered nothing';
    case 'unknown':
      return `it answered bytes that are no known protocol: ${reply.hex}`;
    default: {
      const never: never = reply;
      return String(never);
    }
  }
}

/**
 * Which backend to open after an HCI Reset probe (`auto:`): an HCI controller answers it; Nordic's
 * connectivity firmware ignores it (no SLIP delimiter) unless it is re-syncing, and a board that
 * says nothing may still be connectivity firmware waiting for our SYNC, so silence means "try
 * nrf:". Text and unknown bytes are neither: undefined.
 */
export function backendForReply(reply: PortReply): 'hci' | 'nrf' | undefined {
  switch (reply.kind) {
    case 'hci':
      return 'hci';
    case 'nordic-connectivity':
    case 'silent':
      return 'nrf';
    case 'text':
    case 'unknown':
      return undefined;
    default: {
      const never: never = reply;
      return never;
    }
  }
}
