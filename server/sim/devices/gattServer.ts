/**
 * An ATT server over a GATT attribute database (Core Vol 3, Parts F and G), the part of a
 * SoftDevice a simulated nRF5 firmware needs: MTU exchange, service/characteristic/descriptor
 * discovery, reads, writes, CCCDs, notifications and indications with confirmation. The database
 * is built once per firmware image; each link gets its own server (MTU, CCCD values, pending
 * indication), as CCCDs of unbonded peers are per connection.
 */
import { CharProps } from '../../ble/types.js';
import { normalizeUuid, uuidToBytes, type Uuid } from '../../ble/uuid.js';
import { bytesEqual, ByteWriter } from '../../common/bytes.js';
import { ATT_ERROR } from '../../host/att/errors.js';
import { ATT_DEFAULT_MTU, decodeAttPdu, encodeAttPdu, isAttCommand, type AttPdu } from '../../host/att/pdu.js';

const TYPE = {
  primaryService: '2800',
  characteristic: '2803',
  cccd: '2902',
} as const satisfies Record<string, Uuid>;

export interface WriteContext {
  readonly kind: 'request' | 'command';
  /** This link's CCCD value of the characteristic (0 when it has none). */
  readonly cccd: number;
  readonly server: GattServer;
}

export interface CharacteristicDef {
  readonly uuid: Uuid;
  /** CharProps bit mask; a CCCD is added when notify or indicate is set. */
  readonly properties: number;
  readonly read?: () => Uint8Array;
  /** Returns an ATT error code to refuse the write, or undefined. */
  readonly write?: (value: Uint8Array, ctx: WriteContext) => number | undefined;
  readonly maxLength?: number;
}

export interface ServiceDef {
  readonly uuid: Uuid;
  readonly characteristics: readonly CharacteristicDef[];
}

interface Attribute {
  readonly handle: number;
  readonly type: Uuid;
  /** Group end for service declarations. */
  endHandle: number;
  readonly read: (server: GattServer) => Uint8Array | number;
  readonly write: ((value: Uint8Array, kind: 'request' | 'command', server: GattServer) => number | undefined) | undefined;
}

/** Handles of one characteristic as laid out in the database. */
export interface CharacteristicHandles {
  readonly declaration: number;
  readonly value: number;
  readonly cccd: number | undefined;
}

export class GattDatabase {
  readonly #attributes: Attribute[] = [];
  readonly #byUuid = new Map<Uuid, CharacteristicHandles>();

  constructor(services: readonly ServiceDef[]) {
    for (const service of services) this.#addService(service);
  }

  get attributes(): readonly Attribute[] {
    return this.#attributes;
  }

  /** Handles of the first characteristic with this UUID. */
  handlesOf(uuid: Uuid): CharacteristicHandles | undefined {
    return this.#byUuid.get(normalizeUuid(uuid));
  }

  attribute(handle: number): Attribute | undefined {
    return this.#attributes[handle - 1];
  }

  #add(type: Uuid, read: Attribute['read'], write?: Attribute['write']): Attribute {
    const a: Attribute = { handle: this.#attributes.length + 1, type, endHandle: 0, read, write };
    this.#attributes.push(a);
    return a;
  }

  #addService(service: ServiceDef): void {
    const uuidBytes = uuidToBytes(service.uuid);
    const decl = this.#add(TYPE.primaryService, () => uuidBytes);
    for (const c of service.characteristics) {
      const handles = { declaration: this.#attributes.length + 1, value: this.#attributes.length + 2 };
      const props = c.properties;
      const declValue = new ByteWriter(19).u8(props).u16le(handles.value).bytes(uuidToBytes(c.uuid)).finish();
      this.#add(TYPE.characteristic, () => declValue);
      const readable = (props & CharProps.read) !== 0;
      const uuid = normalizeUuid(c.uuid);
      const hasCccd = (props & (CharProps.notify | CharProps.indicate)) !== 0;
      const cccdHandle = hasCccd ? handles.value + 1 : undefined;
      this.#add(
        uuid,
        () => (readable && c.read !== undefined ? c.read() : ATT_ERROR.readNotPermitted),
        (value, kind, server) => {
          const allowed = kind === 'request' ? (props & CharProps.write) !== 0 : (props & CharProps.writeWithoutResponse) !== 0;
          if (!allowed || c.write === undefined) return ATT_ERROR.writeNotPermitted;
          if (c.maxLength !== undefined && value.length > c.maxLength) return ATT_ERROR.invalidAttributeValueLength;
          return c.write(value, { kind, cccd: cccdHandle === undefined ? 0 : server.cccd(cccdHandle), server });
        },
      );
      if (cccdHandle !== undefined) {
        this.#add(
          TYPE.cccd,
          (server) => new ByteWriter(2).u16le(server.cccd(cccdHandle)).finish(),
          (value, _kind, server) => {
            if (value.length !== 2) return ATT_ERROR.invalidAttributeValueLength;
            server.setCccd(cccdHandle, (value[0] as number) | ((value[1] as number) << 8));
            return undefined;
          },
        );
      }
      if (!this.#byUuid.has(uuid)) this.#byUuid.set(uuid, { ...handles, cccd: cccdHandle });
    }
    decl.endHandle = this.#attributes.length;
  }
}

/** The server's answer to Exchange MTU: its own receive MTU given the client's. */
export type MtuPolicy = (clientMtu: number) => number;

export interface GattServerOptions {
  readonly database: GattDatabase;
  readonly mtuPolicy: MtuPolicy;
  /** Sends one ATT PDU on the link (CID 4). */
  readonly send: (pdu: Uint8Array, onSent?: () => void) => void;
}

interface PendingIndication {
  readonly handle: number;
  readonly value: Uint8Array;
  readonly onConfirmed: (() => void) | undefined;
}

export class GattServer {
  readonly database: GattDatabase;
  readonly #policy: MtuPolicy;
  readonly #send: (pdu: Uint8Array, onSent?: () => void) => void;
  #mtu = ATT_DEFAULT_MTU;
  readonly #cccds = new Map<number, number>();
  readonly #indications: PendingIndication[] = [];
  #indicationInFlight = false;

  constructor(options: GattServerOptions) {
    this.database = options.database;
    this.#policy = options.mtuPolicy;
    this.#send = options.send;
  }

  get mtu(): number {
    return this.#mtu;
  }

  cccd(handle: number): number {
    return this.#cccds.get(handle) ?? 0;
  }

  setCccd(handle: number, value: number): void {
    this.#cccds.set(handle, value);
  }

  /** Sends a notification if the peer enabled them; returns whether it was sent. */
  notify(valueHandle: number, value: Uint8Array, onSent?: () => void): boolean {
    const cccd = this.#cccdFor(valueHandle);
    if ((cccd & 0x0001) === 0) return false;
    this.#send(encodeAttPdu({ op: 'handleValueNtf', handle: valueHandle, value: value.subarray(0, this.#mtu - 3) }), onSent);
    return true;
  }

  /** Queues an indication (one in flight at a time, as ATT requires); false if not enabled. */
  indicate(valueHandle: number, value: Uint8Array, onConfirmed?: () => void): boolean {
    const cccd = this.#cccdFor(valueHandle);
    if ((cccd & 0x0002) === 0) return false;
    this.#indications.push({ handle: valueHandle, value: value.subarray(0, this.#mtu - 3), onConfirmed });
    this.#pumpIndications();
    return true;
  }

  #cccdFor(valueHandle: number): number {
    const next = this.database.attribute(valueHandle + 1);
    return next?.type === TYPE.cccd ? this.cccd(valueHandle + 1) : 0;
  }

  #pumpIndications(): void {
    if (this.#indicationInFlight) return;
    const next = this.#indications[0];
    if (next === undefined) return;
    this.#indicationInFlight = true;
    this.#send(encodeAttPdu({ op: 'handleValueInd', handle: next.handle, value: next.value }));
  }

  /** One ATT PDU from the client. */
  receive(bytes: Uint8Array): void {
    let pdu: AttPdu;
    try {
      pdu = decodeAttPdu(bytes);
    } catch {
      const opcode = bytes[0] ?? 0;
      if (!isAttCommand(opcode)) this.#error(opcode, 0, ATT_ERROR.invalidPdu);
      return;
    }
    this.#handle(pdu, bytes[0] ?? 0);
  }

  #reply(pdu: AttPdu): void {
    this.#send(encodeAttPdu(pdu));
  }

  #error(requestOpcode: number, handle: number, errorCode: number): void {
    this.#reply({ op: 'errorRsp', requestOpcode, handle, errorCode });
  }

  #range(opcode: number, start: number, end: number): boolean {
    if (start === 0 || start > end) {
      this.#error(opcode, start, ATT_ERROR.invalidHandle);
      return false;
    }
    return true;
  }

  #handle(pdu: AttPdu, opcode: number): void {
    const attrs = this.database.attributes;
    switch (pdu.op) {
      case 'exchangeMtuReq': {
        const serverMtu = this.#policy(pdu.mtu);
        this.#mtu = Math.max(ATT_DEFAULT_MTU, Math.min(pdu.mtu, serverMtu));
        this.#reply({ op: 'exchangeMtuRsp', mtu: serverMtu });
        return;
      }
      case 'readByGroupTypeReq': {
        if (!this.#range(opcode, pdu.startHandle, pdu.endHandle)) return;
        if (pdu.type !== TYPE.primaryService) {
          this.#error(opcode, pdu.startHandle, ATT_ERROR.unsupportedGroupType);
          return;
        }
        const found = attrs.filter((a) => a.type === TYPE.primaryService && a.handle >= pdu.startHandle && a.handle <= pdu.endHandle);
        const entries = this.#sameLength(
          found.map((a) => ({ handle: a.handle, endGroupHandle: a.endHandle, value: a.read(this) as Uint8Array })),
          4,
        );
        if (entries.length === 0) this.#error(opcode, pdu.startHandle, ATT_ERROR.attributeNotFound);
        else this.#reply({ op: 'readByGroupTypeRsp', entries });
        return;
      }
      case 'findByTypeValueReq': {
        if (!this.#range(opcode, pdu.startHandle, pdu.endHandle)) return;
        const entries = attrs
          .filter((a) => a.type === pdu.type && a.handle >= pdu.startHandle && a.handle <= pdu.endHandle)
          .filter((a) => {
            const v = a.read(this);
            return typeof v !== 'number' && bytesEqual(v, pdu.value);
          })
          .map((a) => ({ foundHandle: a.handle, groupEndHandle: a.type === TYPE.primaryService ? a.endHandle : a.handle }))
          .slice(0, Math.floor((this.#mtu - 1) / 4));
        if (entries.length === 0) this.#error(opcode, pdu.startHandle, ATT_ERROR.attributeNotFound);
        else this.#reply({ op: 'findByTypeValueRsp', entries });
        return;
      }
      case 'readByTypeReq': {
        if (!this.#range(opcode, pdu.startHandle, pdu.endHandle)) return;
        const matching = attrs.filter((a) => a.type === pdu.type && a.handle >= pdu.startHandle && a.handle <= pdu.endHandle);
        const first = matching[0];
        if (first === undefined) {
          this.#error(opcode, pdu.startHandle, ATT_ERROR.attributeNotFound);
          return;
        }
        const firstValue = first.read(this);
        if (typeof firstValue === 'number') {
          this.#error(opcode, first.handle, firstValue);
          return;
        }
        const values: { handle: number; value: Uint8Array }[] = [];
        for (const a of matching) {
          const v = a.read(this);
          if (typeof v === 'number') break;
          values.push({ handle: a.handle, value: v.subarray(0, Math.min(253, this.#mtu - 4)) });
        }
        this.#reply({ op: 'readByTypeRsp', entries: this.#sameLength(values, 2) });
        return;
      }
      case 'findInformationReq': {
        if (!this.#range(opcode, pdu.startHandle, pdu.endHandle)) return;
        const inRange = attrs.filter((a) => a.handle >= pdu.startHandle && a.handle <= pdu.endHandle);
        const first = inRange[0];
        if (first === undefined) {
          this.#error(opcode, pdu.startHandle, ATT_ERROR.attributeNotFound);
          return;
        }
        const size = uuidToBytes(first.type).length;
        const entries: { handle: number; uuid: Uuid }[] = [];
        for (const a of inRange) {
          if (uuidToBytes(a.type).length !== size) break;
          if (2 + (entries.length + 1) * (2 + size) > this.#mtu) break;
          entries.push({ handle: a.handle, uuid: a.type });
        }
        this.#reply({ op: 'findInformationRsp', entries });
        return;
      }
      case 'readReq':
      case 'readBlobReq': {
        const a = this.database.attribute(pdu.handle);
        if (a === undefined) {
          this.#error(opcode, pdu.handle, ATT_ERROR.invalidHandle);
          return;
        }
        const v = a.read(this);
        if (typeof v === 'number') {
          this.#error(opcode, pdu.handle, v);
          return;
        }
        const offset = pdu.op === 'readBlobReq' ? pdu.offset : 0;
        if (offset > v.length) {
          this.#error(opcode, pdu.handle, ATT_ERROR.invalidOffset);
          return;
        }
        const value = v.slice(offset, offset + this.#mtu - 1);
        this.#reply(pdu.op === 'readReq' ? { op: 'readRsp', value } : { op: 'readBlobRsp', value });
        return;
      }
      case 'writeReq':
      case 'writeCmd': {
        const kind = pdu.op === 'writeReq' ? 'request' : 'command';
        const a = this.database.attribute(pdu.handle);
        const result = a === undefined ? ATT_ERROR.invalidHandle : a.write === undefined ? ATT_ERROR.writeNotPermitted : a.write(pdu.value, kind, this);
        if (kind === 'command') return; // commands never get an answer, even an error
        if (result === undefined) this.#reply({ op: 'writeRsp' });
        else this.#error(opcode, pdu.handle, result);
        return;
      }
      case 'handleValueCfm': {
        if (!this.#indicationInFlight) return;
        this.#indicationInFlight = false;
        const done = this.#indications.shift();
        done?.onConfirmed?.();
        this.#pumpIndications();
        return;
      }
      case 'errorRsp':
      case 'exchangeMtuRsp':
      case 'findInformationRsp':
      case 'findByTypeValueRsp':
      case 'readByTypeRsp':
      case 'readRsp':
      case 'readBlobRsp':
      case 'readByGroupTypeRsp':
      case 'writeRsp':
      case 'handleValueNtf':
      case 'handleValueInd':
        // A client sent a server-side PDU: not a request we serve.
        if (!isAttCommand(opcode)) this.#error(opcode, 0, ATT_ERROR.requestNotSupported);
        return;
      case 'unknown':
        if (!isAttCommand(pdu.opcode)) this.#error(pdu.opcode, 0, ATT_ERROR.requestNotSupported);
        return;
      default: {
        const never: never = pdu;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  /** Entries of a list response: all the same length as the first, as many as fit in the MTU. */
  #sameLength<T extends { value: Uint8Array }>(entries: T[], overhead: number): T[] {
    const first = entries[0];
    if (first === undefined) return [];
    const length = overhead + first.value.length;
    const out: T[] = [];
    for (const e of entries) {
      if (e.value.length !== first.value.length) break;
      if (2 + (out.length + 1) * length > this.#mtu) break;
      out.push(e);
    }
    return out;
  }
}
