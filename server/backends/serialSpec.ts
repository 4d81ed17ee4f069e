/**
 * The `nrf:` and `auto:` adapter specs (the `hci:` one lives with its backend, hci/serial.ts):
 *   nrf:<port>[?baud=1000000&api=auto|5|6&rtscts=off&max=N]      Nordic connectivity firmware
 *   auto:<port>[?baud=…&rtscts=on|off&api=…&max=N&capture=<file>]  probe, then hci: or nrf:
 * Ports are written as for hci: (/dev/ttyACM0, ttyACM0, by-id/<name>). Pure, so the server checks
 * specs at startup without loading the serial port library.
 */
import { BledfuError } from '../common/errors.js';
import type { ApiVersion } from './nrf/serialization/constants.js';

export interface NrfSerialSpec {
  readonly path: string;
  readonly baudRate: number;
  readonly rtscts: boolean;
  /** The SoftDevice API the firmware must speak; undefined = auto. */
  readonly api?: ApiVersion;
  readonly maxConnections?: number;
}

export interface AutoSerialSpec {
  readonly path: string;
  readonly baudRate: number;
  /** Undefined: each backend's default (HCI on, nrf off). */
  readonly rtscts?: boolean;
  readonly api?: ApiVersion;
  readonly maxConnections?: number;
  /** btsnoop file, when the port turns out to be an HCI controller. */
  readonly capture?: string;
}

/** Every 4.1.x connectivity build runs at 1 Mbaud (spec §1.2). */
export const NRF_BAUD = 1_000_000;
const BY_ID_DIR = '/dev/serial/by-id/';
const ON = new Set(['on', 'true', '1', 'yes']);
const OFF = new Set(['off', 'false', '0', 'no']);

type Scheme = 'nrf' | 'auto';

const PARAMS: Readonly<Record<Scheme, readonly string[]>> = {
  nrf: ['baud', 'api', 'rtscts', 'max'],
  auto: ['baud', 'api', 'rtscts', 'max', 'capture'],
};

const EXAMPLES: Readonly<Record<Scheme, string>> = {
  nrf: 'nrf:/dev/ttyACM0 or nrf:by-id/<name>, optionally with ?baud=1000000&api=auto|5|6&rtscts=off&max=<connections>',
  auto: 'auto:/dev/ttyACM0 or auto:by-id/<name>, optionally with ?baud=1000000&rtscts=on|off&api=auto|5|6&max=<connections>&capture=<file.btsnoop>',
};

function invalid(scheme: Scheme, spec: string, why: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', `bad adapter spec "${spec}": ${why}`, { layer: 'backend', remedy: `write it as ${EXAMPLES[scheme]}` });
}

interface Parsed {
  path: string;
  baudRate: number;
  rtscts?: boolean;
  api?: ApiVersion;
  maxConnections?: number;
  capture?: string;
}

function parse(scheme: Scheme, spec: string): Parsed {
  const match = new RegExp(`^${scheme}:(.*)$`, 'is').exec(spec.trim());
  if (match === null) throw invalid(scheme, spec, `it does not start with ${scheme}:`);
  const body = match[1] as string;
  const q = body.indexOf('?');
  const where = decodeURIComponent(q < 0 ? body : body.slice(0, q)).trim();
  if (where === '') throw invalid(scheme, spec, 'no serial port given');
  const out: Parsed = {
    path: where.startsWith('by-id/') ? BY_ID_DIR + where.slice('by-id/'.length) : where.startsWith('/') ? where : `/dev/${where}`,
    baudRate: NRF_BAUD,
  };
  const positive = (name: string, text: string): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value <= 0) throw invalid(scheme, spec, `${name} must be a positive integer, got "${text}"`);
    return value;
  };
  for (const [key, value] of new URLSearchParams(q < 0 ? '' : body.slice(q + 1))) {
    if (!PARAMS[scheme].includes(key)) throw invalid(scheme, spec, `unknown parameter "${key}" (known: ${PARAMS[scheme].join(', ')})`);
    switch (key) {
      case 'baud':
        out.baudRate = positive('baud', value);
        break;
      case 'api':
        if (value === '5' || value === '6') out.api = Number(value) as ApiVersion;
        else if (value.toLowerCase() !== 'auto') throw invalid(scheme, spec, `api must be auto, 5 or 6 (SoftDevice API v5: S132 5.1.0; v6: S132/S140 6.1.x), got "${value}"`);
        break;
      case 'rtscts': {
        const v = value.toLowerCase();
        if (!ON.has(v) && !OFF.has(v)) throw invalid(scheme, spec, `rtscts must be on or off, got "${value}"`);
        out.rtscts = ON.has(v);
        break;
      }
      case 'max':
        out.maxConnections = positive('max', value);
        break;
      case 'capture':
        if (value === '') throw invalid(scheme, spec, 'capture needs a file name');
        out.capture = value;
        break;
    }
  }
  return out;
}

/** "nrf:/dev/ttyACM0?api=6". Flow control is off unless asked (spec §1.2: the USB CDC port ignores it). */
export function parseNrfSpec(spec: string): NrfSerialSpec {
  const p = parse('nrf', spec);
  return {
    path: p.path,
    baudRate: p.baudRate,
    rtscts: p.rtscts ?? false,
    ...(p.api === undefined ? {} : { api: p.api }),
    ...(p.maxConnections === undefined ? {} : { maxConnections: p.maxConnections }),
  };
}

export function parseAutoSpec(spec: string): AutoSerialSpec {
  return parse('auto', spec);
}
