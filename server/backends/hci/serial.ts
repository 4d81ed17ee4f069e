/**
 * `hci:<port>` adapters: a standard HCI controller (Zephyr hci_uart, any H4 UART controller)
 * behind a serial port. When the controller does not come up, the bytes the port sent back tell
 * the user what is there instead (nothing, Nordic connectivity firmware, a shell) and what to do.
 */
import { realClock } from '../../common/clock.js';
import type { Adapter } from '../../ble/types.js';
import { abortReason, BledfuError, hasCode, isBledfuError, type ErrorCode } from '../../common/errors.js';
import { linkSignals } from '../../common/signals.js';
import { listSerialPorts, type SerialPortInfo } from '../../transport/ports.js';
import { RecordingDuplex } from '../../transport/recordingDuplex.js';
import { DEFAULT_SERIAL_SETTINGS, openSerialPort } from '../../transport/serial.js';
import { classifyPortReply, describePortReply, replyIsConclusive, type PortReply } from '../probe.js';
import { createHciAdapter, type HciAdapterOptions } from './adapter.js';

export interface HciSerialSpec {
  readonly path: string;
  readonly baudRate: number;
  readonly rtscts: boolean;
  /** btsnoop file receiving the HCI traffic. */
  readonly capture?: string;
  readonly maxConnections?: number;
}

const BY_ID_DIR = '/dev/serial/by-id/';
const PARAMS = ['baud', 'rtscts', 'capture', 'max'] as const;
const ON = new Set(['on', 'true', '1', 'yes']);
const OFF = new Set(['off', 'false', '0', 'no']);
/** Bytes kept from the start of the port's output for the diagnosis. */
const RECORD_LIMIT = 256;
/** After bring-up failed, how long to keep listening for the rest of a line or frame. */
const DIAGNOSIS_GRACE_MS = 300;

function invalid(spec: string, why: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', `bad adapter spec "${spec}": ${why}`, {
    layer: 'backend',
    remedy: 'write it as hci:/dev/ttyACM0 or hci:by-id/<name>, optionally with ?baud=1000000&rtscts=on|off&capture=<file.btsnoop>&max=<connections>',
  });
}

function positiveInteger(spec: string, name: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value <= 0) throw invalid(spec, `${name} must be a positive integer, got "${text}"`);
  return value;
}

/** "hci:/dev/ttyACM0?baud=1000000&rtscts=on&capture=x.btsnoop&max=4", "hci:by-id/<name>", "hci:ttyACM0". */
export function parseHciSpec(spec: string): HciSerialSpec {
  const match = /^hci:(.*)$/is.exec(spec.trim());
  if (match === null) throw invalid(spec, 'it does not start with hci:');
  const body = match[1] as string;
  const q = body.indexOf('?');
  const where = decodeURIComponent(q < 0 ? body : body.slice(0, q)).trim();
  const query = new URLSearchParams(q < 0 ? '' : body.slice(q + 1));
  if (where === '') throw invalid(spec, 'no serial port given');
  const path = where.startsWith('by-id/') ? BY_ID_DIR + where.slice('by-id/'.length) : where.startsWith('/') ? where : `/dev/${where}`;
  let baudRate: number = DEFAULT_SERIAL_SETTINGS.baudRate;
  let rtscts: boolean = DEFAULT_SERIAL_SETTINGS.rtscts;
  let capture: string | undefined;
  let maxConnections: number | undefined;
  for (const [key, value] of query) {
    switch (key as (typeof PARAMS)[number]) {
      case 'baud':
        baudRate = positiveInteger(spec, 'baud', value);
        break;
      case 'rtscts': {
        const v = value.toLowerCase();
        if (!ON.has(v) && !OFF.has(v)) throw invalid(spec, `rtscts must be on or off, got "${value}"`);
        rtscts = ON.has(v);
        break;
      }
      case 'capture':
        if (value === '') throw invalid(spec, 'capture needs a file name');
        capture = value;
        break;
      case 'max':
        maxConnections = positiveInteger(spec, 'max', value);
        break;
      default:
        throw invalid(spec, `unknown parameter "${key}" (known: ${PARAMS.join(', ')})`);
    }
  }
  return {
    path,
    baudRate,
    rtscts,
    ...(capture === undefined ? {} : { capture }),
    ...(maxConnections === undefined ? {} : { maxConnections }),
  };
}

/** True if `e` or one of its causes carries one of `codes`. */
function causedBy(e: unknown, codes: readonly ErrorCode[]): boolean {
  for (let at: unknown = e, depth = 0; at !== undefined && depth < 8; depth++) {
    if (codes.some((c) => hasCode(at, c))) return true;
    at = at instanceof Error ? at.cause : undefined;
  }
  return false;
}

function settings(serial: HciSerialSpec): string {
  return `${serial.baudRate} baud, RTS/CTS ${serial.rtscts ? 'on' : 'off'}`;
}

function hexOf(bytes: Uint8Array): string {
  return [...bytes.subarray(0, 32)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** The error for a port whose controller did not come up, from what the port answered. */
export function diagnoseHciBringUp(
  serial: HciSerialSpec,
  reply: PortReply,
  recorded: Uint8Array,
  cause: unknown,
  port?: SerialPortInfo,
): BledfuError {
  if (reply.kind === 'hci') return isBledfuError(cause) ? cause : new BledfuError('INTERNAL', String(cause), { layer: 'backend', cause });
  const device = port?.known === undefined ? '' : ` (${port.known.name}: ${port.known.hint})`;
  const heard = describePortReply(reply);
  const facts = { context: { port: serial.path, reply: reply.kind, firstBytes: hexOf(recorded) } };
  if (reply.kind === 'silent') {
    return new BledfuError('SERIAL_NO_RESPONSE', `no HCI controller answered on ${serial.path} (${settings(serial)}): ${heard} to HCI Reset${device}`, {
      layer: 'backend',
      remedy:
        `check that baud=${serial.baudRate} and rtscts=${serial.rtscts ? 'on' : 'off'} match the firmware; ` +
        "check that the board runs an HCI UART firmware such as Zephyr's hci_uart (an nRF52840 Dongle in its bootloader, or a board with another application, stays silent); " +
        `reset or replug the board and retry; if it runs Nordic connectivity firmware, use nrf:${serial.path}`,
      facts,
      cause,
    });
  }
  let firmware: string;
  let remedy: string;
  switch (reply.kind) {
    case 'nordic-connectivity':
      firmware = 'it runs Nordic connectivity firmware (SoftDevice serialization), not HCI';
      remedy = `use nrf:${serial.path} for Nordic connectivity firmware, or flash Zephyr's hci_uart to use it as hci:${serial.path}`;
      break;
    case 'text':
      firmware = 'it runs a shell, console or AT-command firmware, not HCI';
      remedy = `flash Zephyr's hci_uart (HCI over UART) to use it as hci:${serial.path}, or pick the board's other serial port if it has several`;
      break;
    case 'unknown':
      firmware = 'usually a baud rate mismatch or a firmware that does not speak HCI';
      remedy = `check that baud=${serial.baudRate} matches the firmware; otherwise flash Zephyr's hci_uart to use it as hci:${serial.path}`;
      break;
    default: {
      const never: never = reply;
      throw new Error(`unreachable ${String(never)}`);
    }
  }
  return new BledfuError('SERIAL_WRONG_PROTOCOL', `${serial.path} does not speak HCI: ${heard}; ${firmware}${device}`, {
    layer: 'backend',
    remedy,
    facts,
    cause,
  });
}

async function portInfo(path: string): Promise<SerialPortInfo | undefined> {
  const ports = await listSerialPorts().catch(() => []);
  return ports.find((p) => p.path === path || p.byIdPath === path);
}

/**
 * Opens the port, brings the controller up (createHciAdapter, kind 'hci-uart'), and turns an open
 * failure into a diagnosis. Closing the adapter closes the port.
 */
export async function openHciSerialAdapter(
  serial: HciSerialSpec,
  options: Omit<HciAdapterOptions, 'kind'>,
  signal?: AbortSignal,
): Promise<Adapter> {
  const clock = options.clock ?? realClock;
  const port = await openSerialPort({ path: serial.path, baudRate: serial.baudRate, rtscts: serial.rtscts, clock }, signal);
  const tap = new RecordingDuplex(port, RECORD_LIMIT, clock);
  // createHciAdapter takes no signal: closing the port under it ends the bring-up at once.
  const cancel = linkSignals(signal);
  const onCancel = (): void => {
    void port.close();
  };
  cancel.signal.addEventListener('abort', onCancel, { once: true });
  try {
    const adapter = await createHciAdapter(tap, {
      ...(serial.maxConnections === undefined ? {} : { maxConnections: serial.maxConnections }),
      ...(serial.capture === undefined ? {} : { capture: serial.capture }),
      ...options,
      kind: 'hci-uart',
    });
    tap.release();
    return adapter;
  } catch (e) {
    if (signal?.aborted === true) {
      await port.close();
      throw abortReason(signal);
    }
    // Unplugged during bring-up: that is the news, not the protocol.
    if (port.closed.aborted) throw port.closed.reason;
    if (!causedBy(e, ['HCI_TIMEOUT', 'MALFORMED_PACKET'])) {
      await port.close();
      throw e;
    }
    const recorded = await tap.waitForRecording(replyIsConclusive, DIAGNOSIS_GRACE_MS, signal);
    await port.close();
    throw diagnoseHciBringUp(serial, classifyPortReply(recorded), recorded, e, await portInfo(serial.path));
  } finally {
    cancel.signal.removeEventListener('abort', onCancel);
    cancel.dispose();
  }
}
