/**
 * Advertising and scan response data: a sequence of AD structures (Core Vol 3, Part C, 11 and
 * the Core Specification Supplement, Part A). Devices in the field send malformed data; the parser
 * keeps every structure that came before the damage instead of discarding the whole report.
 */
import { ByteReader, ByteWriter } from '../common/bytes.js';
import { BledfuError } from '../common/errors.js';
import type { DeviceAddress } from './address.js';
import type { Advertisement, ManufacturerData } from './types.js';
import { uuidFromBytes, uuidToBytes, type Uuid } from './uuid.js';

export const AD_TYPES = {
  flags: 0x01,
  incompleteUuid16: 0x02,
  completeUuid16: 0x03,
  incompleteUuid32: 0x04,
  completeUuid32: 0x05,
  incompleteUuid128: 0x06,
  completeUuid128: 0x07,
  shortenedLocalName: 0x08,
  completeLocalName: 0x09,
  txPowerLevel: 0x0a,
  serviceData16: 0x16,
  manufacturerSpecificData: 0xff,
} as const satisfies Record<string, number>;

export const AD_FLAGS = {
  leLimitedDiscoverable: 0x01,
  leGeneralDiscoverable: 0x02,
  brEdrNotSupported: 0x04,
} as const satisfies Record<string, number>;

export interface AdStructure {
  readonly type: number;
  readonly data: Uint8Array;
}

export interface AdvertisingFields {
  readonly flags?: number;
  /** The complete local name, else the shortened one. */
  readonly name?: string;
  readonly nameIsShortened?: boolean;
  readonly serviceUuids: readonly Uuid[];
  readonly manufacturerData: readonly ManufacturerData[];
  readonly txPower?: number;
  /** Every well-formed structure, in order, including types not interpreted above. */
  readonly structures: readonly AdStructure[];
  /** True when the data ended in a structure whose length ran past the end (or was otherwise bad). */
  readonly truncated: boolean;
}

/** Splits into AD structures; stops (keeping what came before) at a length that overruns. */
export function splitAdStructures(data: Uint8Array): { structures: AdStructure[]; truncated: boolean } {
  const structures: AdStructure[] = [];
  let at = 0;
  while (at < data.length) {
    const length = data[at] ?? 0;
    // A zero length is padding (significant part ended), as controllers send 31 bytes regardless.
    if (length === 0) break;
    if (at + 1 + length > data.length) return { structures, truncated: true };
    structures.push({ type: data[at + 1] ?? 0, data: data.subarray(at + 2, at + 1 + length) });
    at += 1 + length;
  }
  return { structures, truncated: false };
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

function uuidList(data: Uint8Array, size: 2 | 4 | 16): Uuid[] | undefined {
  if (data.length % size !== 0) return undefined;
  const out: Uuid[] = [];
  for (let i = 0; i < data.length; i += size) out.push(uuidFromBytes(data.subarray(i, i + size)));
  return out;
}

export function parseAdvertisingData(data: Uint8Array): AdvertisingFields {
  const { structures, truncated } = splitAdStructures(data);
  let flags: number | undefined;
  let completeName: string | undefined;
  let shortName: string | undefined;
  let txPower: number | undefined;
  let bad = truncated;
  const serviceUuids: Uuid[] = [];
  const manufacturerData: ManufacturerData[] = [];
  const addUuids = (list: Uuid[] | undefined): void => {
    if (list === undefined) {
      bad = true;
      return;
    }
    for (const u of list) if (!serviceUuids.includes(u)) serviceUuids.push(u);
  };
  for (const s of structures) {
    switch (s.type) {
      case AD_TYPES.flags:
        if (s.data.length >= 1) flags = s.data[0];
        break;
      case AD_TYPES.incompleteUuid16:
      case AD_TYPES.completeUuid16:
        addUuids(uuidList(s.data, 2));
        break;
      case AD_TYPES.incompleteUuid32:
      case AD_TYPES.completeUuid32:
        addUuids(uuidList(s.data, 4));
        break;
      case AD_TYPES.incompleteUuid128:
      case AD_TYPES.completeUuid128:
        addUuids(uuidList(s.data, 16));
        break;
      case AD_TYPES.shortenedLocalName:
        shortName = utf8.decode(s.data);
        break;
      case AD_TYPES.completeLocalName:
        completeName = utf8.decode(s.data);
        break;
      case AD_TYPES.txPowerLevel:
        if (s.data.length === 1) txPower = new ByteReader(s.data, 'ble').i8();
        else bad = true;
        break;
      case AD_TYPES.manufacturerSpecificData:
        if (s.data.length >= 2) {
          const r = new ByteReader(s.data, 'ble');
          manufacturerData.push({ companyId: r.u16le(), data: r.rest().slice() });
        } else bad = true;
        break;
      default:
        break;
    }
  }
  const name = completeName ?? shortName;
  return {
    ...(flags === undefined ? {} : { flags }),
    ...(name === undefined ? {} : { name, nameIsShortened: completeName === undefined }),
    serviceUuids,
    manufacturerData,
    ...(txPower === undefined ? {} : { txPower }),
    structures,
    truncated: bad,
  };
}

export function encodeAdStructures(structures: readonly AdStructure[]): Uint8Array {
  const w = new ByteWriter(31);
  for (const s of structures) {
    if (s.data.length > 254) {
      throw new BledfuError('INVALID_ARGUMENT', `AD structure 0x${s.type.toString(16)} too long`, { layer: 'ble' });
    }
    w.u8(s.data.length + 1).u8(s.type).bytes(s.data);
  }
  return w.finish();
}

export interface AdvertisingContent {
  readonly flags?: number;
  readonly name?: string;
  readonly shortenedName?: boolean;
  readonly serviceUuids?: readonly Uuid[];
  readonly manufacturerData?: readonly ManufacturerData[];
  readonly txPower?: number;
}

/**
 * Builds AD structures in the customary order: flags, UUIDs (complete lists, one per size),
 * TX power, name, manufacturer data. Does not enforce the 31-byte legacy limit: callers choose
 * what goes into the advertisement and what into the scan response.
 */
export function buildAdvertisingData(content: AdvertisingContent): Uint8Array {
  const structures: AdStructure[] = [];
  if (content.flags !== undefined) structures.push({ type: AD_TYPES.flags, data: Uint8Array.of(content.flags) });
  const uuids = (content.serviceUuids ?? []).map(uuidToBytes);
  const short = uuids.filter((u) => u.length === 2);
  const long = uuids.filter((u) => u.length === 16);
  const concat = (parts: Uint8Array[]): Uint8Array => {
    const w = new ByteWriter();
    for (const p of parts) w.bytes(p);
    return w.finish();
  };
  if (short.length > 0) structures.push({ type: AD_TYPES.completeUuid16, data: concat(short) });
  if (long.length > 0) structures.push({ type: AD_TYPES.completeUuid128, data: concat(long) });
  if (content.txPower !== undefined) {
    structures.push({ type: AD_TYPES.txPowerLevel, data: new ByteWriter(1).i8(content.txPower).finish() });
  }
  if (content.name !== undefined) {
    structures.push({
      type: content.shortenedName === true ? AD_TYPES.shortenedLocalName : AD_TYPES.completeLocalName,
      data: new TextEncoder().encode(content.name),
    });
  }
  for (const m of content.manufacturerData ?? []) {
    structures.push({
      type: AD_TYPES.manufacturerSpecificData,
      data: new ByteWriter(2 + m.data.length).u16le(m.companyId).bytes(m.data).finish(),
    });
  }
  return encodeAdStructures(structures);
}

/** What a scanner reports of one advertising (or joined scan response) PDU, decoded. */
export function toAdvertisement(
  address: DeviceAddress,
  rssi: number,
  joined: { readonly data: Uint8Array; readonly connectable: boolean },
  /** When it was received, on the server's clock (epoch ms). */
  receivedAt: number,
): Advertisement {
  const fields = parseAdvertisingData(joined.data);
  return {
    address,
    rssi,
    ...(fields.name === undefined ? {} : { name: fields.name }),
    serviceUuids: fields.serviceUuids,
    manufacturerData: fields.manufacturerData,
    connectable: joined.connectable,
    data: joined.data,
    receivedAt,
  };
}

/** Advertisers whose last advertising PDU is kept for joining scan responses. */
const MAX_REMEMBERED_ADVERTISERS = 4096;

/**
 * Joins each scan response to the advertising data its advertiser sent before it: scanners
 * report the two separately, and a device's name is often only in one of them. A scan response
 * only follows scannable advertising, so whether the device is connectable is what that
 * advertising said. Memory is bounded: the least recently heard advertiser is forgotten first.
 */
export class ScanResponseJoiner {
  readonly #last = new Map<string, { readonly data: Uint8Array; readonly connectable: boolean }>();

  /** `key` identifies the advertiser (address and address type). */
  join(
    key: string,
    report: { readonly data: Uint8Array; readonly scanResponse: boolean; readonly connectable: boolean },
  ): { readonly data: Uint8Array; readonly connectable: boolean } {
    if (report.scanResponse) {
      const adv = this.#last.get(key);
      if (adv === undefined) return { data: report.data, connectable: false };
      const data = new Uint8Array(adv.data.length + report.data.length);
      data.set(adv.data);
      data.set(report.data, adv.data.length);
      return { data, connectable: adv.connectable };
    }
    // Re-insert so the Map's order stays least-recently-heard first.
    this.#last.delete(key);
    this.#last.set(key, { data: report.data, connectable: report.connectable });
    if (this.#last.size > MAX_REMEMBERED_ADVERTISERS) {
      const oldest = this.#last.keys().next();
      if (oldest.done !== true) this.#last.delete(oldest.value);
    }
    return { data: report.data, connectable: report.connectable };
  }

  clear(): void {
    this.#last.clear();
  }
}
