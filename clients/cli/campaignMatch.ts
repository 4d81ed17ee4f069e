/**
 * `campaign start --match key=value` (repeatable) and `--addresses-file` as a CampaignFilter.
 * Checked here so a typo is a usage error naming the flag, before anything is uploaded; the
 * server checks the same bounds again (campaign.proto).
 */
import type { CampaignFilter } from '../ts/index.js';
import { UsageError } from './context.js';

/** The keys `--match` takes, as the README's synopsis lists them. */
export const MATCH_KEYS = ['name', 'name-prefix', 'service', 'mfr', 'min-rssi', 'address'] as const;
type MatchKey = (typeof MATCH_KEYS)[number];

/** Limits of campaign.proto's CampaignFilter. */
const MAX_NAME_BYTES = 248;
const MAX_MFR_PREFIX_BYTES = 27;
export const MAX_ADDRESSES = 1024;

const ADDRESS = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/;
const UUID16 = /^[0-9A-Fa-f]{4}$/;
const UUID128 = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

export type MatchFilter = Pick<CampaignFilter, 'name' | 'namePrefix' | 'serviceUuid' | 'manufacturerDataPrefix' | 'addresses'> & {
  manufacturerId?: number;
  minRssi?: number;
};

const EXAMPLE = "e.g. --match 'name-prefix=SENSOR-'";

function bad(text: string, why: string, remedy: string): UsageError {
  return new UsageError(`--match "${text}": ${why}`, remedy);
}

function checkName(text: string, key: string, value: string): string {
  if (value === '') throw bad(text, `${key} is empty`, `give the advertised name, ${EXAMPLE}`);
  if (Buffer.byteLength(value) > MAX_NAME_BYTES) throw bad(text, `${key} is longer than ${MAX_NAME_BYTES} bytes`, 'an advertised name is at most 248 bytes');
  return value;
}

export function checkAddress(value: string, where: string): string {
  if (!ADDRESS.test(value)) throw new UsageError(`${where}: "${value}" is not a device address`, 'write it as AA:BB:CC:DD:EE:FF (six hex pairs)');
  return value.toUpperCase();
}

/** "0x0059", "89" → 89; "0x0059:0102ab" adds the data prefix. */
function parseManufacturer(text: string, value: string): { id: number; prefix: Buffer } {
  const [idText = '', prefixText, ...rest] = value.split(':');
  const remedy = 'write mfr=<company id>[:<hex data prefix>], e.g. mfr=0x0059 or mfr=0x0059:0201';
  if (rest.length > 0) throw bad(text, 'mfr has more than one ":"', remedy);
  const id = /^0x[0-9A-Fa-f]{1,4}$/.test(idText) ? Number.parseInt(idText.slice(2), 16) : /^\d{1,5}$/.test(idText) ? Number(idText) : NaN;
  if (!Number.isInteger(id) || id > 0xffff) throw bad(text, `mfr company id "${idText}" is not a number from 0 to 65535 (0xFFFF)`, remedy);
  if (prefixText === undefined) return { id, prefix: Buffer.alloc(0) };
  if (!/^(?:[0-9A-Fa-f]{2})+$/.test(prefixText)) throw bad(text, `mfr data prefix "${prefixText}" is not whole bytes of hex`, remedy);
  const prefix = Buffer.from(prefixText, 'hex');
  if (prefix.length > MAX_MFR_PREFIX_BYTES) throw bad(text, `mfr data prefix is longer than ${MAX_MFR_PREFIX_BYTES} bytes`, 'manufacturer data in an advertisement is at most 27 bytes');
  return { id, prefix };
}

/** The filter the `--match` flags give; each key at most once, except `address` (a list). */
export function parseMatches(matches: readonly string[] | undefined): MatchFilter {
  const filter: MatchFilter = { name: '', namePrefix: '', serviceUuid: '', manufacturerDataPrefix: Buffer.alloc(0), addresses: [] };
  const seen = new Set<MatchKey>();
  for (const text of matches ?? []) {
    const at = text.indexOf('=');
    const key = text.slice(0, Math.max(0, at)).trim();
    const value = text.slice(at + 1);
    if (at <= 0) throw bad(text, 'not key=value', `use one of the keys ${MATCH_KEYS.join(', ')}, ${EXAMPLE}`);
    if (!(MATCH_KEYS as readonly string[]).includes(key)) throw bad(text, `unknown key "${key}"`, `use one of ${MATCH_KEYS.join(', ')}`);
    const k = key as MatchKey;
    if (k !== 'address' && seen.has(k)) throw bad(text, `${k} is given twice`, 'give each key once (every --match must hold: they are ANDed)');
    seen.add(k);
    switch (k) {
      case 'name':
        filter.name = checkName(text, k, value);
        break;
      case 'name-prefix':
        filter.namePrefix = checkName(text, k, value);
        break;
      case 'service':
        if (!UUID16.test(value) && !UUID128.test(value)) {
          throw bad(text, `service "${value}" is not a service UUID`, 'give a 16-bit UUID as 4 hex digits (FE59) or a 128-bit one as 8-4-4-4-12 hex digits');
        }
        filter.serviceUuid = value.toUpperCase();
        break;
      case 'mfr': {
        const { id, prefix } = parseManufacturer(text, value);
        filter.manufacturerId = id;
        filter.manufacturerDataPrefix = prefix;
        break;
      }
      case 'min-rssi': {
        const n = Number(value);
        if (value.trim() === '' || !Number.isInteger(n) || n < -127 || n > 20) throw bad(text, `min-rssi "${value}" is not a whole number of dBm from -127 to 20`, 'e.g. min-rssi=-70');
        filter.minRssi = n;
        break;
      }
      case 'address':
        filter.addresses.push(checkAddress(value, `--match "${text}"`));
        break;
    }
  }
  return filter;
}

/**
 * An addresses file: one address per line; blank lines and `#` comments (whole-line or after
 * the address) are ignored. `file` names it in errors.
 */
export function parseAddressesFile(file: string, text: string): string[] {
  const addresses: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const value = (line.split('#')[0] ?? '').trim();
    if (value !== '') addresses.push(checkAddress(value, `${file} line ${i + 1}`));
  });
  return addresses;
}

/** The --match filter with the file's addresses; refuses a filter that would match every device. */
export function campaignFilter(matches: MatchFilter, fileAddresses: readonly string[]): MatchFilter {
  const addresses = [...new Set([...matches.addresses, ...fileAddresses])];
  if (addresses.length > MAX_ADDRESSES) throw new UsageError(`${addresses.length} addresses given; a campaign takes at most ${MAX_ADDRESSES}`, 'split the list over several campaigns');
  const filter = { ...matches, addresses };
  const empty =
    filter.name === '' &&
    filter.namePrefix === '' &&
    filter.serviceUuid === '' &&
    filter.manufacturerId === undefined &&
    filter.minRssi === undefined &&
    addresses.length === 0;
  if (empty) {
    throw new UsageError('a campaign needs a filter: it would update every device in range', `give at least one --match (${MATCH_KEYS.join(', ')}) or --addresses-file, ${EXAMPLE}`);
  }
  return filter;
}
