/**
 * GATT client procedures on one link through the SoftDevice: discovery, reads, write requests,
 * write commands, MTU exchange, notifications and indications. The SoftDevice runs one client
 * procedure per link at a time (NRF_ERROR_BUSY otherwise), so they take turns here; its answer
 * arrives as a GATTC event, whose gatt_status carries the ATT error. Write commands do not take
 * that turn: they are bounded by the SoftDevice's per-link queue, whose free slots are counted
 * here (taken per accepted write, given back by WRITE_CMD_TX_COMPLETE) so a caller awaiting each
 * write never overruns it.
 */
import { exploring } from '../../ble/gattDiscovery.js';
import { CharProps, type DiscoveryOptions, type GattCharacteristic, type GattService, type Subscription } from '../../ble/types.js';
import { uuidFromBytes, type Uuid } from '../../ble/uuid.js';
import { concatBytes } from '../../common/bytes.js';
import { abortReason, BledfuError, hasCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { linkSignals } from '../../common/signals.js';
import { attError, attTimeout, ATT_ERROR } from '../../host/att/errors.js';
import { Credits } from '../../host/hci/credits.js';
import { Subscriptions } from '../../host/gatt/subscriptions.js';
import { realClock, type Clock, type Timer } from '../../common/clock.js';
import { nrfCallError, type NrfRpc } from './rpc.js';
import { GATT_HVX, GATT_STATUS, GATT_WRITE_OP, NRF_ERROR, NRF_SUCCESS, type ApiVersion, type CommandKind } from './serialization/constants.js';
import type { CommandOf } from './serialization/commands.js';
import type { EventOf, NrfEvent } from './serialization/events.js';
import type { BleUuid, CharProps as SdCharProps, GattcChar } from './serialization/structs.js';

const LAST_HANDLE = 0xffff;
const UUID_TYPE_SIG = 1;
const UUID_TYPE_UNKNOWN = 0;
const CCCD_16 = 0x2902;
/** How long a write command waits for a free queue slot before asking the SoftDevice anyway. */
const SLOT_PROBE_MS = 500;

type GattcEventKind =
  | 'gattcPrimSrvcDiscRsp'
  | 'gattcCharDiscRsp'
  | 'gattcDescDiscRsp'
  | 'gattcReadRsp'
  | 'gattcWriteRsp'
  | 'gattcExchangeMtuRsp';

export type GattcEvent = Extract<NrfEvent, { kind: `gattc${string}` }>;

interface Pending {
  readonly kind: GattcEventKind;
  readonly request: string;
  readonly resolve: (event: NrfEvent) => void;
  readonly reject: (error: BledfuError) => void;
}

export interface NrfGattClientOptions {
  readonly rpc: NrfRpc;
  readonly api: ApiVersion;
  readonly connHandle: number;
  readonly logger: Logger;
  /** Aborts when the link is down; reason LINK_LOST (or the adapter's failure). */
  readonly closed: AbortSignal;
  /** Free slots of the SoftDevice's write command queue on a new link. */
  readonly writeCmdQueue: number;
  /** Registered vendor UUID bases: uuid type → base (16 bytes, least significant first). */
  readonly vendorBases: ReadonlyMap<number, Uint8Array>;
  readonly attTimeoutMs: number;
  readonly clock?: Clock;
  /** ATT allows nothing more on a link after a timeout: the owner drops it. */
  readonly onAttTimeout: () => void;
}

function propertiesOf(props: SdCharProps, extProps: boolean): number {
  return (
    (props.broadcast ? CharProps.broadcast : 0) |
    (props.read ? CharProps.read : 0) |
    (props.writeWoResp ? CharProps.writeWithoutResponse : 0) |
    (props.write ? CharProps.write : 0) |
    (props.notify ? CharProps.notify : 0) |
    (props.indicate ? CharProps.indicate : 0) |
    (props.authSignedWr ? CharProps.authenticatedSignedWrites : 0) |
    (extProps ? CharProps.extendedProperties : 0)
  );
}

export class NrfGattClient {
  readonly #o: NrfGattClientOptions;
  readonly #clock: Clock;
  /** One client procedure at a time on this link. */
  readonly #turn = new Credits(1);
  readonly #writeSlots: Credits;
  readonly #subscriptions = new Subscriptions();
  #pending: Pending | undefined;
  #failure: BledfuError | undefined;
  mtu = 23;

  constructor(options: NrfGattClientOptions) {
    this.#o = options;
    this.#clock = options.clock ?? realClock;
    this.#writeSlots = new Credits(options.writeCmdQueue);
  }

  /** A GATTC event for this link. */
  onEvent(event: GattcEvent): void {
    switch (event.kind) {
      case 'gattcHvx':
        this.#onValue(event);
        return;
      case 'gattcWriteCmdTxComplete':
        this.#writeSlots.release(event.count);
        return;
      case 'gattcTimeout': {
        const pending = this.#pending;
        this.#pending = undefined;
        pending?.reject(attTimeout(pending.request, 30_000));
        this.#o.onAttTimeout();
        return;
      }
      default: {
        const pending = this.#pending;
        if (pending === undefined || pending.kind !== event.kind) {
          this.#o.logger.debug({ event: event.kind }, 'GATTC event for no procedure of ours skipped');
          return;
        }
        this.#pending = undefined;
        pending.resolve(event);
      }
    }
  }

  /** The link is gone: pending procedures, waiting writes and subscriptions fail with `error`. */
  fail(error: BledfuError): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(error);
    this.#turn.fail(error);
    this.#writeSlots.fail(error);
    this.#subscriptions.fail(error);
  }

  async exchangeMtu(clientRxMtu: number, signal?: AbortSignal): Promise<number> {
    const rsp = await this.#procedure(
      'Exchange MTU',
      'gattcExchangeMtuRsp',
      { kind: 'gattcExchangeMtuRequest', connHandle: this.#o.connHandle, clientRxMtu },
      signal,
    );
    this.mtu = Math.max(23, Math.min(clientRxMtu, rsp.serverRxMtu));
    return this.mtu;
  }

  async discoverServices(signal?: AbortSignal, options?: DiscoveryOptions): Promise<GattService[]> {
    const explore = exploring(options);
    const ranges: { uuid: BleUuid; startHandle: number; endHandle: number }[] = [];
    for (let start = 1; start <= LAST_HANDLE; ) {
      const rsp = await this.#procedure(
        'Primary Service Discovery',
        'gattcPrimSrvcDiscRsp',
        { kind: 'gattcPrimaryServicesDiscover', connHandle: this.#o.connHandle, startHandle: start, uuid: null },
        signal,
        true,
      );
      if (rsp === undefined || rsp.services.length === 0) break;
      ranges.push(...rsp.services);
      const last = (rsp.services.at(-1) as (typeof rsp.services)[number]).endHandle;
      if (last === LAST_HANDLE || last < start) break;
      start = last + 1;
    }
    const services: GattService[] = [];
    for (const range of ranges) {
      const uuid = await this.#uuidOf(range.uuid, range.startHandle, 'service', signal);
      services.push({
        uuid,
        startHandle: range.startHandle,
        endHandle: range.endHandle,
        characteristics: explore(uuid) ? await this.#discoverCharacteristics(range.startHandle, range.endHandle, signal) : [],
      });
    }
    return services;
  }

  async #discoverCharacteristics(startHandle: number, endHandle: number, signal?: AbortSignal): Promise<GattCharacteristic[]> {
    const found: GattcChar[] = [];
    for (let start = startHandle; start <= endHandle; ) {
      const rsp = await this.#procedure(
        'Characteristic Discovery',
        'gattcCharDiscRsp',
        { kind: 'gattcCharacteristicsDiscover', connHandle: this.#o.connHandle, range: { startHandle: start, endHandle } },
        signal,
        true,
      );
      if (rsp === undefined || rsp.chars.length === 0) break;
      found.push(...rsp.chars);
      const last = (rsp.chars.at(-1) as GattcChar).handleDecl;
      if (last < start) break;
      start = last + 1;
    }
    const out: GattCharacteristic[] = [];
    for (let i = 0; i < found.length; i++) {
      const c = found[i] as GattcChar;
      const next = found[i + 1];
      const descriptorsEnd = next === undefined ? endHandle : next.handleDecl - 1;
      const properties = propertiesOf(c.props, c.extProps);
      let cccdHandle: number | undefined;
      if ((properties & (CharProps.notify | CharProps.indicate)) !== 0 && c.handleValue < descriptorsEnd) {
        cccdHandle = await this.#findCccd(c.handleValue + 1, descriptorsEnd, signal);
      }
      out.push({
        uuid: await this.#uuidOf(c.uuid, c.handleDecl, 'characteristic', signal),
        handle: c.handleDecl,
        valueHandle: c.handleValue,
        properties,
        ...(cccdHandle === undefined ? {} : { cccdHandle }),
      });
    }
    return out;
  }

  async #findCccd(startHandle: number, endHandle: number, signal?: AbortSignal): Promise<number | undefined> {
    for (let start = startHandle; start <= endHandle; ) {
      const rsp = await this.#procedure(
        'Descriptor Discovery',
        'gattcDescDiscRsp',
        { kind: 'gattcDescriptorsDiscover', connHandle: this.#o.connHandle, range: { startHandle: start, endHandle } },
        signal,
        true,
      );
      if (rsp === undefined || rsp.descs.length === 0) return undefined;
      const cccd = rsp.descs.find((d) => d.uuid.type === UUID_TYPE_SIG && d.uuid.uuid === CCCD_16);
      if (cccd !== undefined) return cccd.handle;
      const last = Math.max(...rsp.descs.map((d) => d.handle));
      if (last < start) return undefined;
      start = last + 1;
    }
    return undefined;
  }

  /**
   * A SoftDevice UUID as text. A 128-bit UUID whose base was not registered comes back as type 0:
   * its declaration (service: the UUID; characteristic: properties, value handle, UUID) says it.
   */
  async #uuidOf(uuid: BleUuid, declaration: number, what: 'service' | 'characteristic', signal?: AbortSignal): Promise<Uuid> {
    if (uuid.type === UUID_TYPE_SIG) return uuidFromBytes(Uint8Array.of(uuid.uuid & 0xff, uuid.uuid >>> 8));
    const base = this.#o.vendorBases.get(uuid.type);
    if (base !== undefined) {
      const full = base.slice();
      full[12] = uuid.uuid & 0xff;
      full[13] = uuid.uuid >>> 8;
      return uuidFromBytes(full);
    }
    if (uuid.type !== UUID_TYPE_UNKNOWN) this.#o.logger.debug({ type: uuid.type }, 'UUID of an unregistered vendor type; reading its declaration');
    const value = await this.read(declaration, signal);
    const bytes = what === 'service' ? value : value.subarray(3);
    return uuidFromBytes(bytes);
  }

  /** Reads the whole value, continuing at an offset while the answers come back full. */
  async read(handle: number, signal?: AbortSignal): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      let data: Uint8Array;
      try {
        ({ data } = await this.#procedure('Read Request', 'gattcReadRsp', { kind: 'gattcRead', connHandle: this.#o.connHandle, handle, offset: total }, signal));
      } catch (e) {
        // A value exactly MTU-1 long is not a long attribute.
        if (total > 0 && hasCode(e, 'ATT_ERROR') && (e.facts.attError === ATT_ERROR.attributeNotLong || e.facts.attError === ATT_ERROR.invalidOffset)) break;
        throw e;
      }
      parts.push(data);
      total += data.length;
      if (data.length < this.mtu - 1 || data.length === 0) break;
    }
    return concatBytes(parts);
  }

  async write(handle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    this.#checkLength(value, 'write');
    await this.#procedure(
      'Write Request',
      'gattcWriteRsp',
      { kind: 'gattcWrite', connHandle: this.#o.connHandle, params: { writeOp: GATT_WRITE_OP.writeReq, flags: 0, handle, offset: 0, value } },
      signal,
    );
  }

  async writeWithoutResponse(handle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    this.#checkLength(value, 'write without response');
    const command: CommandOf<'gattcWrite'> = {
      kind: 'gattcWrite',
      connHandle: this.#o.connHandle,
      params: { writeOp: GATT_WRITE_OP.writeCmd, flags: 0, handle, offset: 0, value },
    };
    for (let attempt = 0; ; attempt++) {
      const slot = await this.#withLink(signal, (s) => this.#freeSlot(s));
      let result: number;
      try {
        ({ result } = await this.#withLink(signal, (s) => this.#o.rpc.call(command, s)));
      } catch (e) {
        // The device took the packet but its answer was lost on the line: the SoftDevice queued
        // the write (a lost write would show in the DFU object's CRC anyway); its TX_COMPLETE
        // gives the slot back.
        if (hasCode(e, 'SERIAL_NO_RESPONSE') && !this.#o.closed.aborted) return;
        if (slot) this.#writeSlots.release();
        throw e;
      }
      if (result === NRF_SUCCESS) return;
      if (result === NRF_ERROR.resources) {
        // Queue full although our count said otherwise: the slot we took is not there. Keep it
        // taken and wait for the next TX_COMPLETE to hand one back. A queue that stays full for
        // the ATT timeout means nothing reaches the peer: the link is as good as lost.
        if (attempt * SLOT_PROBE_MS < this.#o.attTimeoutMs) continue;
        this.#o.onAttTimeout();
        throw attTimeout('Write Command', this.#o.attTimeoutMs);
      }
      if (slot) this.#writeSlots.release();
      throw this.#refused('gattcWrite', result, 'Write Command');
    }
  }

  /**
   * Takes a free slot of the SoftDevice's queue (true), or, after waiting SLOT_PROBE_MS for one,
   * goes ahead without (false): a WRITE_CMD_TX_COMPLETE the device gave up sending on a noisy
   * line would otherwise keep its slots away for good. The SoftDevice answers RESOURCES if the
   * queue really is full.
   */
  async #freeSlot(signal: AbortSignal): Promise<boolean> {
    const probe = new AbortController();
    const timer = this.#clock.setTimer(SLOT_PROBE_MS, () => probe.abort());
    const linked = linkSignals(signal, probe.signal);
    try {
      await this.#writeSlots.acquire(linked.signal);
      return true;
    } catch (e) {
      if (probe.signal.aborted && !signal.aborted) return false;
      throw e;
    } finally {
      timer.cancel();
      linked.dispose();
    }
  }

  async subscribe(characteristic: GattCharacteristic, mode: 'notify' | 'indicate', signal?: AbortSignal): Promise<Subscription> {
    if (this.#failure !== undefined) throw this.#failure;
    return this.#subscriptions.subscribe(characteristic, mode, (cccd, value) => this.write(cccd, value, signal));
  }

  #onValue(event: EventOf<'gattcHvx'>): void {
    if (event.type === GATT_HVX.indication) {
      this.#o.rpc.call({ kind: 'gattcHvConfirm', connHandle: this.#o.connHandle, handle: event.handle }).then(
        (r) => {
          if (r.result !== NRF_SUCCESS) this.#o.logger.debug({ result: r.result }, 'confirming an indication failed');
        },
        (e: unknown) => this.#o.logger.debug({ err: e }, 'confirming an indication failed'),
      );
    }
    this.#subscriptions.deliver(event.handle, event.data);
  }

  #checkLength(value: Uint8Array, what: string): void {
    const max = this.mtu - 3;
    if (value.length > max) {
      throw new BledfuError('INVALID_ARGUMENT', `${what} of ${value.length} bytes exceeds ATT MTU ${this.mtu} - 3`, { layer: 'gatt' });
    }
  }

  #refused(kind: CommandKind, result: number, request: string): BledfuError {
    return nrfCallError(this.#o.api, kind, result, { code: 'ATT_ERROR', layer: 'gatt', what: `${request} refused by the SoftDevice` });
  }

  /** Runs `fn` with the caller's signal joined to the link's loss. */
  async #withLink<T>(signal: AbortSignal | undefined, fn: (s: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#failure !== undefined) throw this.#failure;
    const linked = linkSignals(this.#o.closed, signal);
    try {
      if (linked.signal.aborted) throw abortReason(linked.signal);
      return await fn(linked.signal);
    } finally {
      linked.dispose();
    }
  }

  /**
   * One client procedure: its turn, the command, then the GATTC event that ends it. A non-zero
   * gatt_status is ATT_ERROR, except Attribute Not Found when `notFoundEnds` (discovery's end),
   * which resolves undefined.
   */
  #procedure<K extends GattcEventKind>(
    request: string,
    kind: K,
    command: CommandOf<CommandKind>,
    signal: AbortSignal | undefined,
    notFoundEnds: true,
  ): Promise<EventOf<K> | undefined>;
  #procedure<K extends GattcEventKind>(request: string, kind: K, command: CommandOf<CommandKind>, signal: AbortSignal | undefined): Promise<EventOf<K>>;
  async #procedure<K extends GattcEventKind>(
    request: string,
    kind: K,
    command: CommandOf<CommandKind>,
    signal: AbortSignal | undefined,
    notFoundEnds = false,
  ): Promise<EventOf<K> | undefined> {
    return this.#withLink(signal, async (s) => {
      await this.#turn.acquire(s);
      try {
        const event = await this.#run(request, kind, command, s);
        const status: { readonly gattStatus: number; readonly errorHandle: number } = event as GattcEvent;
        if (status.gattStatus === GATT_STATUS.success) return event;
        const attCode = status.gattStatus - GATT_STATUS.attErrBase;
        if (notFoundEnds && status.gattStatus === GATT_STATUS.attributeNotFound) return undefined;
        if (attCode > 0 && attCode <= 0xff) throw attError(request, status.errorHandle, attCode);
        throw new BledfuError('ATT_ERROR', `${request} failed: GATT status 0x${status.gattStatus.toString(16).padStart(4, '0')}`, {
          layer: 'gatt',
          facts: { context: { gattStatus: String(status.gattStatus) } },
        });
      } finally {
        this.#turn.release();
      }
    });
  }

  /** Sends the command and waits for the event; the ATT timeout bounds the wait. */
  #run<K extends GattcEventKind>(request: string, kind: K, command: CommandOf<CommandKind>, signal: AbortSignal): Promise<EventOf<K>> {
    return new Promise<EventOf<K>>((resolve, reject) => {
      let timer: Timer | undefined;
      const finish = (): void => {
        timer?.cancel();
        signal.removeEventListener('abort', onAbort);
        if (this.#pending === pending) this.#pending = undefined;
      };
      const pending: Pending = {
        kind,
        request,
        resolve: (event) => {
          finish();
          resolve(event as EventOf<K>);
        },
        reject: (error) => {
          finish();
          reject(error);
        },
      };
      const onAbort = (): void => pending.reject(abortReason(signal));
      // Waiting before the command goes out: the event may be dispatched before the response resolves.
      this.#pending = pending;
      signal.addEventListener('abort', onAbort, { once: true });
      const awaitEvent = (): void => {
        timer = this.#clock.setTimer(this.#o.attTimeoutMs, () => {
          pending.reject(attTimeout(request, this.#o.attTimeoutMs));
          this.#o.onAttTimeout();
        });
      };
      this.#o.rpc.call(command, signal).then(
        (r) => {
          if (this.#pending !== pending) return;
          if (r.result !== NRF_SUCCESS) {
            pending.reject(this.#refused(command.kind, r.result, request));
            return;
          }
          awaitEvent();
        },
        (e: unknown) => {
          if (this.#pending !== pending) return;
          // The device took the command but its answer was lost on the line: the procedure runs
          // all the same and its event still comes (or the ATT timeout says it does not).
          if (hasCode(e, 'SERIAL_NO_RESPONSE')) awaitEvent();
          else pending.reject(e as BledfuError);
        },
      );
    });
  }
}
