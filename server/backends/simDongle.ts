/**
 * Which dongle a `sim:` adapter puts on the simulated air: the virtual HCI controller (default) or
 * a simulated Nordic connectivity-firmware dongle (`dongle=nrf`, `api=5|6`), which the nrf backend
 * then drives byte for byte exactly as it drives a real one. The rest of the spec is the world's.
 */
import { BledfuError } from '../common/errors.js';
import type { ApiVersion } from './nrf/serialization/constants.js';

export interface SimDongleSpec {
  readonly dongle: 'hci' | 'nrf';
  /** The simulated connectivity firmware's SoftDevice API (nrf only); default 6. */
  readonly api: ApiVersion;
  /** The spec without the dongle parameters, for parseSimSpec. */
  readonly simSpec: string;
}

function bad(spec: string, why: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', `simulator spec "${spec}": ${why}`, {
    layer: 'sim',
    remedy: 'write e.g. "sim:?dongle=nrf&api=6" (dongle=hci|nrf, api=5|6 for dongle=nrf)',
  });
}

export function parseSimDongle(spec: string): SimDongleSpec {
  const q = spec.indexOf('?');
  if (q < 0) return { dongle: 'hci', api: 6, simSpec: spec };
  const params = new URLSearchParams(spec.slice(q + 1));
  const dongle = params.get('dongle') ?? 'hci';
  const api = params.get('api');
  if (dongle !== 'hci' && dongle !== 'nrf') throw bad(spec, `dongle must be hci or nrf, got "${dongle}"`);
  if (api !== null && api !== '5' && api !== '6') throw bad(spec, `api must be 5 or 6, got "${api}"`);
  if (api !== null && dongle !== 'nrf') throw bad(spec, 'api= applies to dongle=nrf only');
  params.delete('dongle');
  params.delete('api');
  const rest = params.toString();
  return { dongle, api: api === '5' ? 5 : 6, simSpec: `${spec.slice(0, q)}${rest === '' ? '' : `?${rest}`}` };
}
