/**
 * GATT client procedures over one ATT bearer (Core Vol 3, Part G, 4): primary service discovery,
 * characteristic and descriptor discovery, reads (long ones by Read Blob), writes, and
 * subscriptions through the Client Characteristic Configuration descriptor.
 */
import { CharProps, type DiscoveryOptions, type GattCharacteristic, type GattService, type Subscription } from '../../ble/types.js';
import { exploring } from '../../ble/gattDiscovery.js';
import { uuidFromBytes, UUIDS } from '../../ble/uuid.js';
import { ByteReader, concatBytes } from '../../common/bytes.js';
import { BledfuError, hasCode } from '../../common/errors.js';
import type { AttBearer, ValueKind } from '../att/bearer.js';
import { ATT_ERROR } from '../att/errors.js';
import { Subscriptions } from './subscriptions.js';

const PRIMARY_SERVICE = '2800';
const CHARACTERISTIC = '2803';
const LAST_HANDLE = 0xffff;

function isNotFound(e: unknown): boolean {
  return hasCode(e, 'ATT_ERROR') && e.facts.attError === ATT_ERROR.attributeNotFound;
}

export class GattClient {
  readonly #bearer: AttBearer;
  readonly #subscriptions = new Subscriptions();
  #failure: BledfuError | undefined;

  constructor(bearer: AttBearer) {
    this.#bearer = bearer;
    bearer.onValue((handle, value, kind) => this.#onValue(handle, value, kind));
  }

  async discoverServices(signal?: AbortSignal, options?: DiscoveryOptions): Promise<GattService[]> {
    const ranges: { uuid: string; startHandle: number; endHandle: number }[] = [];
    for (let start = 1; start <= LAST_HANDLE; ) {
      let entries;
      try {
        ({ entries } = await this.#bearer.request(
          { op: 'readByGroupTypeReq', startHandle: start, endHandle: LAST_HANDLE, type: PRIMARY_SERVICE },
          signal,
        ));
      } catch (e) {
        if (isNotFound(e)) break;
        throw e;
      }
      let last = start;
      for (const e of entries) {
        ranges.push({ uuid: uuidFromBytes(e.value), startHandle: e.handle, endHandle: e.endGroupHandle });
        last = Math.max(last, e.endGroupHandle);
      }
      // Guard against a server answering with a range that does not move forward.
      if (last < start) break;
      start = last + 1;
    }
    const explore = exploring(options);
    const services: GattService[] = [];
    for (const range of ranges) {
      services.push({ ...range, characteristics: explore(range.uuid) ? await this.#discoverCharacteristics(range.startHandle, range.endHandle, signal) : [] });
    }
    return services;
  }

  async #discoverCharacteristics(startHandle: number, endHandle: number, signal?: AbortSignal): Promise<GattCharacteristic[]> {
    const found: { handle: number; properties: number; valueHandle: number; uuid: string }[] = [];
    for (let start = startHandle; start <= endHandle; ) {
      let entries;
      try {
        ({ entries } = await this.#bearer.request({ op: 'readByTypeReq', startHandle: start, endHandle, type: CHARACTERISTIC }, signal));
      } catch (e) {
        if (isNotFound(e)) break;
        throw e;
      }
      let last = start;
      for (const e of entries) {
        const r = new ByteReader(e.value, 'gatt', 'characteristic declaration');
        const properties = r.u8();
        const valueHandle = r.u16le();
        found.push({ handle: e.handle, properties, valueHandle, uuid: uuidFromBytes(r.rest()) });
        last = Math.max(last, e.handle);
      }
      if (last < start) break;
      start = last + 1;
    }
    const out: GattCharacteristic[] = [];
    for (let i = 0; i < found.length; i++) {
      const c = found[i] as (typeof found)[number];
      const next = found[i + 1];
      const descriptorsEnd = next === undefined ? endHandle : next.handle - 1;
      let cccdHandle: number | undefined;
      if ((c.properties & (CharProps.notify | CharProps.indicate)) !== 0 && c.valueHandle < descriptorsEnd) {
        cccdHandle = await this.#findCccd(c.valueHandle + 1, descriptorsEnd, signal);
      }
      out.push({ ...c, ...(cccdHandle === undefined ? {} : { cccdHandle }) });
    }
    return out;
  }

  async #findCccd(startHandle: number, endHandle: number, signal?: AbortSignal): Promise<number | undefined> {
    for (let start = startHandle; start <= endHandle; ) {
      let entries;
      try {
        ({ entries } = await this.#bearer.request({ op: 'findInformationReq', startHandle: start, endHandle }, signal));
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
      const cccd = entries.find((e) => e.uuid === UUIDS.cccd);
      if (cccd !== undefined) return cccd.handle;
      const last = Math.max(...entries.map((e) => e.handle));
      if (last < start) return undefined;
      start = last + 1;
    }
    return undefined;
  }

  /** Reads the whole value, continuing with Read Blob while responses come back full. */
  async read(handle: number, signal?: AbortSignal): Promise<Uint8Array> {
    const first = await this.#bearer.request({ op: 'readReq', handle }, signal);
    const parts = [first.value];
    let total = first.value.length;
    let last = first.value.length;
    while (last === this.#bearer.mtu - 1) {
      let value: Uint8Array;
      try {
        ({ value } = await this.#bearer.request({ op: 'readBlobReq', handle, offset: total }, signal));
      } catch (e) {
        // A value exactly MTU-1 long is not a long attribute.
        if (hasCode(e, 'ATT_ERROR') && (e.facts.attError === ATT_ERROR.attributeNotLong || e.facts.attError === ATT_ERROR.invalidOffset)) break;
        throw e;
      }
      parts.push(value);
      total += value.length;
      last = value.length;
    }
    return concatBytes(parts);
  }

  #checkLength(value: Uint8Array, what: string): void {
    const max = this.#bearer.mtu - 3;
    if (value.length > max) {
      throw new BledfuError('INVALID_ARGUMENT', `${what} of ${value.length} bytes exceeds ATT MTU ${this.#bearer.mtu} - 3`, {
        layer: 'gatt',
      });
    }
  }

  async write(handle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    this.#checkLength(value, 'write');
    await this.#bearer.request({ op: 'writeReq', handle, value }, signal);
  }

  async writeWithoutResponse(handle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    this.#checkLength(value, 'write without response');
    await this.#bearer.writeCommand(handle, value, signal);
  }

  async subscribe(characteristic: GattCharacteristic, mode: 'notify' | 'indicate', signal?: AbortSignal): Promise<Subscription> {
    if (this.#failure !== undefined) throw this.#failure;
    return this.#subscriptions.subscribe(characteristic, mode, (cccd, value) => this.write(cccd, value, signal));
  }

  /** Link gone: every subscription fails with `error` once drained. */
  fail(error: BledfuError): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    this.#subscriptions.fail(error);
  }

  #onValue(handle: number, value: Uint8Array, _kind: ValueKind): void {
    this.#subscriptions.deliver(handle, value);
  }
}
