/**
 * UUIDs in one normal form: Bluetooth SIG 16-bit UUIDs as 4 upper-case hex digits ("FE59"),
 * everything else as the canonical upper-case 128-bit string.
 */
import { BledfuError } from '../common/errors.js';
import { quoteInput } from '../common/quote.js';

export type Uuid = string;

const BASE_SUFFIX = '-0000-1000-8000-00805F9B34FB';

export function normalizeUuid(text: string): Uuid {
  const t = text.trim().toUpperCase().replace(/^0X/, '');
  if (/^[0-9A-F]{4}$/.test(t)) return t;
  if (/^[0-9A-F]{8}$/.test(t)) return normalizeUuid(`${t}${BASE_SUFFIX}`);
  const compact = t.replace(/-/g, '');
  if (!/^[0-9A-F]{32}$/.test(compact)) {
    throw new BledfuError('INVALID_ARGUMENT', `not a UUID: ${quoteInput(text)}`, { layer: 'ble' });
  }
  const full = `${compact.slice(0, 8)}-${compact.slice(8, 12)}-${compact.slice(12, 16)}-${compact.slice(16, 20)}-${compact.slice(20)}`;
  if (full.startsWith('0000') && full.endsWith(BASE_SUFFIX)) return full.slice(4, 8);
  return full;
}

/** From the little-endian bytes used in ATT and advertising data (2, 4 or 16 bytes). */
export function uuidFromBytes(bytes: Uint8Array): Uuid {
  if (bytes.length !== 2 && bytes.length !== 4 && bytes.length !== 16) {
    throw new BledfuError('MALFORMED_PACKET', `UUID of ${bytes.length} bytes`, { layer: 'att' });
  }
  const hex = Array.from(bytes)
    .reverse()
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
  return normalizeUuid(hex);
}

/** Little-endian bytes: 2 for a SIG 16-bit UUID, else 16. */
export function uuidToBytes(uuid: Uuid): Uint8Array {
  const n = normalizeUuid(uuid);
  const hex = n.length === 4 ? n : n.replace(/-/g, '');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[out.length - 1 - i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Well-known UUIDs bledfu uses. */
export const UUIDS = {
  secureDfuService: 'FE59',
  dfuControlPoint: '8EC90001-F315-4F60-9FB8-838830DAEA50',
  dfuPacket: '8EC90002-F315-4F60-9FB8-838830DAEA50',
  buttonlessWithoutBonds: '8EC90003-F315-4F60-9FB8-838830DAEA50',
  buttonlessWithBonds: '8EC90004-F315-4F60-9FB8-838830DAEA50',
  experimentalButtonless: '8E400001-F315-4F60-9FB8-838830DAEA50',
  legacyDfuService: '00001530-1212-EFDE-1523-785FEABCD123',
  legacyDfuControlPoint: '00001531-1212-EFDE-1523-785FEABCD123',
  legacyDfuPacket: '00001532-1212-EFDE-1523-785FEABCD123',
  legacyDfuRevision: '00001534-1212-EFDE-1523-785FEABCD123',
  deviceInformationService: '180A',
  firmwareRevision: '2A26',
  manufacturerName: '2A29',
  modelNumber: '2A24',
  serialNumber: '2A25',
  hardwareRevision: '2A27',
  softwareRevision: '2A28',
  genericAccessService: '1800',
  genericAttributeService: '1801',
  serviceChanged: '2A05',
  deviceName: '2A00',
  cccd: '2902',
} as const satisfies Record<string, Uuid>;
