/**
 * One connection as the simulated SoftDevice runs it: the ATT client procedures behind the
 * sd_ble_gattc_* calls (one at a time, completion as a GATTC event, errors in gatt_status), the
 * write-command queue and its TX_COMPLETE events, the little a central's own GATT server must
 * answer, L2CAP signaling (the peer's connection parameter requests) and the link-layer
 * procedures (parameter, data length and PHY updates). Results are the SoftDevice's NRF codes.
 */
import type { DeviceAddress } from '../ble/address.js';
import { uuidToBytes } from '../ble/uuid.js';
import { ATT_ERROR } from '../host/att/errors.js';
import { ATT_DEFAULT_MTU, decodeAttPdu, encodeAttPdu, isAttCommand, type AttPdu } from '../host/att/pdu.js';
import {
  CONNECTION_PARAMETER_UPDATE_RESULT,
  COMMAND_REJECT_REASONS,
  decodeL2capFrame,
  decodeSignalingCommand,
  encodeL2capFrame,
  encodeSignalingCommand,
  encodeSmpPairingFailed,
  L2CAP_CID,
  l2capFrameLength,
  SMP_CODES,
  SMP_REASON_PAIRING_NOT_SUPPORTED,
} from '../host/l2cap/frames.js';
import { GATT_HVX, GATT_STATUS, GATT_WRITE_OP, NRF_ERROR, NRF_SUCCESS } from '../backends/nrf/serialization/constants.js';
import type { NrfEvent } from '../backends/nrf/serialization/events.js';
import type {
  BleUuid,
  ConnParams,
  DataLengthLimitation,
  DataLengthParams,
  GattcChar,
  GattcService,
  HandleRange,
  Phys,
  WriteParams,
} from '../backends/nrf/serialization/structs.js';
import type { AirLink } from '../sim/air.js';
import type { SimScheduler, TimerHandle } from '../sim/scheduler.js';
import { ATT_MTU_MAX, eventLengthFor, octetsFor, type ConnTagConfig } from './sdConfig.js';

/** The ATT transaction timeout (Core Vol 3, Part F, 3.3.3). */
export const ATT_TIMEOUT_MS = 30_000;
const NRF_ERROR_DATA_SIZE = 12;
const NRF_ERROR_TIMEOUT = 13;
const HCI_REMOTE_USER_TERMINATED = 0x13;
const HCI_CONN_INTERVAL_UNACCEPTABLE = 0x3b;

export interface SdLinkContext {
  readonly scheduler: SimScheduler;
  emit(event: NrfEvent): void;
  /** ble_uuid_t of UUID bytes as they came over ATT (vendor bases registered with uuid_vs_add). */
  uuidOf(bytes: Uint8Array): BleUuid;
  /** The ATT bytes of a ble_uuid_t, undefined when its type is unknown. */
  uuidBytes(uuid: BleUuid): Uint8Array | undefined;
}

type Procedure =
  | { readonly kind: 'primary'; readonly uuid: BleUuid | null }
  | { readonly kind: 'chars' }
  | { readonly kind: 'descs' }
  | { readonly kind: 'read'; readonly handle: number; readonly offset: number }
  | { readonly kind: 'write'; readonly handle: number; readonly value: Uint8Array }
  | { readonly kind: 'mtu'; readonly clientRxMtu: number };

export function validConnParams(p: ConnParams): boolean {
  const { minConnInterval: min, maxConnInterval: max, slaveLatency: latency, connSupTimeout: timeout } = p;
  if (min < 6 || max > 3200 || min > max) return false;
  if (latency > 499 || timeout < 10 || timeout > 3200) return false;
  // The supervision timeout must outlast (1 + latency) × interval × 2 (Core Vol 6, Part B, 4.5.2).
  return timeout * 10 > (1 + latency) * max * 1.25 * 2;
}

export class SdLink {
  readonly connHandle: number;
  readonly air: AirLink;
  readonly peer: DeviceAddress;
  readonly #ctx: SdLinkContext;
  readonly #tag: ConnTagConfig;
  #mtu = ATT_DEFAULT_MTU;
  #mtuExchanged = false;
  #procedure: Procedure | undefined;
  #attTimer: TimerHandle | undefined;
  #timedOut = false;
  #writeCmdsQueued = 0;
  #txCompleted = 0;
  #txFlushQueued = false;
  readonly #indications: number[] = [];
  #peerMtuRequest: number | undefined;
  #peerParamRequest: { readonly identifier: number } | undefined;
  #updating = false;
  #dataLengthPending: TimerHandle | boolean = false;
  #phyPending = false;
  #disconnecting = false;
  #open = true;
  #rx: { readonly buffer: Uint8Array; filled: number } | undefined;

  constructor(ctx: SdLinkContext, connHandle: number, air: AirLink, tag: ConnTagConfig) {
    this.#ctx = ctx;
    this.connHandle = connHandle;
    this.air = air;
    this.peer = air.peripheralAddress;
    this.#tag = tag;
  }

  get mtu(): number {
    return this.#mtu;
  }

  get disconnecting(): boolean {
    return this.#disconnecting;
  }

  // --- events from the air ------------------------------------------------------------------

  /** One LL payload from the peer (`start`: first fragment of an L2CAP PDU). */
  data(fragment: Uint8Array, start: boolean): void {
    if (start) {
      const length = l2capFrameLength(fragment);
      if (length === undefined) return;
      this.#rx = { buffer: new Uint8Array(length), filled: 0 };
    }
    const rx = this.#rx;
    if (rx === undefined) return;
    const n = Math.min(fragment.length, rx.buffer.length - rx.filled);
    rx.buffer.set(fragment.subarray(0, n), rx.filled);
    rx.filled += n;
    if (rx.filled < rx.buffer.length) return;
    this.#rx = undefined;
    let frame;
    try {
      frame = decodeL2capFrame(rx.buffer);
    } catch {
      return;
    }
    if (frame.cid === L2CAP_CID.att) this.#att(frame.payload);
    else if (frame.cid === L2CAP_CID.leSignaling) this.#signaling(frame.payload);
    else if (frame.cid === L2CAP_CID.smp) this.#smp(frame.payload);
  }

  parametersUpdated(): void {
    this.#updating = false;
    const p = this.air.parameters();
    const interval = Math.round(p.intervalMs / 1.25);
    this.#emitConn({
      kind: 'gapConnParamUpdate',
      connParams: { minConnInterval: interval, maxConnInterval: interval, slaveLatency: p.latency, connSupTimeout: Math.round(p.supervisionTimeoutMs / 10) },
    });
  }

  dataLengthChanged(): void {
    if (typeof this.#dataLengthPending === 'object') this.#dataLengthPending.cancel();
    this.#dataLengthPending = false;
    this.#emitDataLength();
  }

  phyUpdated(): void {
    this.#phyPending = false;
    const phy = this.air.phy === '2M' ? 2 : 1;
    this.#emitConn({ kind: 'gapPhyUpdate', status: 0, txPhy: phy, rxPhy: phy });
  }

  /** The link is gone: nothing more is reported for it. */
  closed(): void {
    this.#open = false;
    this.#attTimer?.cancel();
    if (typeof this.#dataLengthPending === 'object') this.#dataLengthPending.cancel();
  }

  // --- GAP calls ----------------------------------------------------------------------------

  disconnect(reason: number): number {
    if (reason !== HCI_REMOTE_USER_TERMINATED && reason !== HCI_CONN_INTERVAL_UNACCEPTABLE) return NRF_ERROR.invalidParam;
    if (this.#disconnecting) return NRF_ERROR.invalidState;
    this.#disconnecting = true;
    this.air.terminate(reason);
    return NRF_SUCCESS;
  }

  connParamUpdate(params: ConnParams | null): number {
    const request = this.#peerParamRequest;
    if (params !== null && !validConnParams(params)) return NRF_ERROR.invalidParam;
    if (params !== null && this.#updating) return NRF_ERROR.busy;
    if (request !== undefined) {
      this.#peerParamRequest = undefined;
      this.#signal({
        kind: 'connectionParameterUpdateResponse',
        identifier: request.identifier,
        result: params === null ? CONNECTION_PARAMETER_UPDATE_RESULT.rejected : CONNECTION_PARAMETER_UPDATE_RESULT.accepted,
      });
      if (params === null) return NRF_SUCCESS;
    } else if (params === null) {
      return NRF_ERROR.invalidParam;
    }
    this.#updating = true;
    this.air.updateParameters({
      intervalMs: params.minConnInterval * 1.25,
      latency: params.slaveLatency,
      supervisionTimeoutMs: params.connSupTimeout * 10,
    });
    return NRF_SUCCESS;
  }

  dataLengthUpdate(params: DataLengthParams | null, wantLimitation: boolean): { result: number; limitation: DataLengthLimitation | null } {
    const fail = (result: number): { result: number; limitation: null } => ({ result, limitation: null });
    const tx = params?.maxTxOctets ?? 0;
    const rx = params?.maxRxOctets ?? 0;
    for (const octets of [tx, rx]) if (octets !== 0 && (octets < 27 || octets > 251)) return fail(NRF_ERROR.invalidParam);
    if (this.#dataLengthPending !== false) return fail(NRF_ERROR.busy);
    const fits = octetsFor(this.#tag.eventLength);
    const wanted = Math.max(tx === 0 ? fits : tx, rx === 0 ? 27 : rx);
    if (eventLengthFor(wanted) > this.#tag.eventLength) return fail(NRF_ERROR.resources);
    const target = tx === 0 ? fits : tx;
    const before = this.air.centralTxOctets;
    this.air.requestDataLength(target);
    this.#dataLengthPending = true;
    if (target === before) {
      // Nothing changes on the air, so no LL event would report it; the procedure still completes.
      const interval = this.air.parameters().intervalMs;
      this.#dataLengthPending = this.#ctx.scheduler.after(2 * interval, () => this.dataLengthChanged(), 'simnrf: data length unchanged');
    }
    return { result: NRF_SUCCESS, limitation: wantLimitation ? { txPayloadLimitedOctets: 0, rxPayloadLimitedOctets: 0, txRxTimeLimitedUs: 0 } : null };
  }

  phyUpdate(phys: Phys): number {
    const valid = (m: number): boolean => (m & ~0x07) === 0;
    if (!valid(phys.txPhys) || !valid(phys.rxPhys)) return NRF_ERROR.invalidParam;
    if (this.#phyPending) return NRF_ERROR.busy;
    this.#phyPending = true;
    // 0 = automatic: the SoftDevice picks the fastest PHY both sides support.
    const auto = (m: number): number => (m === 0 ? 0x03 : m);
    this.air.requestPhy(auto(phys.txPhys), auto(phys.rxPhys));
    return NRF_SUCCESS;
  }

  // --- GATT client calls ----------------------------------------------------------------------

  #startCheck(): number {
    if (this.#timedOut) return NRF_ERROR_TIMEOUT;
    if (this.#procedure !== undefined) return NRF_ERROR.busy;
    return NRF_SUCCESS;
  }

  primaryServicesDiscover(startHandle: number, uuid: BleUuid | null): number {
    const check = this.#startCheck();
    if (check !== NRF_SUCCESS) return check;
    if (startHandle === 0) return NRF_ERROR.invalidParam;
    if (uuid === null) {
      return this.#request({ kind: 'primary', uuid }, { op: 'readByGroupTypeReq', startHandle, endHandle: 0xffff, type: '2800' });
    }
    const bytes = this.#ctx.uuidBytes(uuid);
    if (bytes === undefined) return NRF_ERROR.invalidParam;
    return this.#request({ kind: 'primary', uuid }, { op: 'findByTypeValueReq', startHandle, endHandle: 0xffff, type: '2800', value: bytes });
  }

  characteristicsDiscover(range: HandleRange): number {
    const check = this.#startCheck();
    if (check !== NRF_SUCCESS) return check;
    if (range.startHandle === 0 || range.startHandle > range.endHandle) return NRF_ERROR.invalidParam;
    return this.#request({ kind: 'chars' }, { op: 'readByTypeReq', startHandle: range.startHandle, endHandle: range.endHandle, type: '2803' });
  }

  descriptorsDiscover(range: HandleRange): number {
    const check = this.#startCheck();
    if (check !== NRF_SUCCESS) return check;
    if (range.startHandle === 0 || range.startHandle > range.endHandle) return NRF_ERROR.invalidParam;
    return this.#request({ kind: 'descs' }, { op: 'findInformationReq', startHandle: range.startHandle, endHandle: range.endHandle });
  }

  read(handle: number, offset: number): number {
    const check = this.#startCheck();
    if (check !== NRF_SUCCESS) return check;
    if (handle === 0) return NRF_ERROR.invalidParam;
    const pdu: AttPdu = offset === 0 ? { op: 'readReq', handle } : { op: 'readBlobReq', handle, offset };
    return this.#request({ kind: 'read', handle, offset }, pdu);
  }

  write(params: WriteParams): number {
    if (this.#timedOut) return NRF_ERROR_TIMEOUT;
    const value = params.value ?? new Uint8Array(0);
    if (params.writeOp !== GATT_WRITE_OP.writeReq && params.writeOp !== GATT_WRITE_OP.writeCmd) {
      // Signed writes need a bond and queued writes are not modelled by this simulator.
      return NRF_ERROR.notSupported;
    }
    if (params.handle === 0 || params.offset !== 0 || params.flags !== 0) return NRF_ERROR.invalidParam;
    if (value.length > this.#mtu - 3) return NRF_ERROR_DATA_SIZE;
    if (params.writeOp === GATT_WRITE_OP.writeCmd) {
      if (this.#writeCmdsQueued >= this.#tag.writeCmdTxQueueSize) return NRF_ERROR.resources;
      this.#writeCmdsQueued++;
      this.#send({ op: 'writeCmd', handle: params.handle, value }, () => this.#writeCmdSent());
      return NRF_SUCCESS;
    }
    if (this.#procedure !== undefined) return NRF_ERROR.busy;
    return this.#request({ kind: 'write', handle: params.handle, value }, { op: 'writeReq', handle: params.handle, value });
  }

  hvConfirm(handle: number): number {
    if (this.#timedOut) return NRF_ERROR_TIMEOUT;
    const pending = this.#indications[0];
    if (pending === undefined) return NRF_ERROR.invalidState;
    if (pending !== handle) return NRF_ERROR.invalidParam;
    this.#indications.shift();
    this.#send({ op: 'handleValueCfm' });
    return NRF_SUCCESS;
  }

  exchangeMtu(clientRxMtu: number): number {
    const check = this.#startCheck();
    if (check !== NRF_SUCCESS) return check;
    if (clientRxMtu < ATT_DEFAULT_MTU || clientRxMtu > this.#tag.attMtu) return NRF_ERROR.invalidParam;
    if (this.#mtuExchanged) return NRF_ERROR.invalidState;
    this.#mtuExchanged = true;
    return this.#request({ kind: 'mtu', clientRxMtu }, { op: 'exchangeMtuReq', mtu: clientRxMtu });
  }

  // --- answers to the peer (GATT server side, memory requests) ---------------------------------

  gattsExchangeMtuReply(serverRxMtu: number): number {
    const clientMtu = this.#peerMtuRequest;
    if (clientMtu === undefined) return NRF_ERROR.invalidState;
    if (serverRxMtu < ATT_DEFAULT_MTU || serverRxMtu > Math.min(this.#tag.attMtu, ATT_MTU_MAX)) return NRF_ERROR.invalidParam;
    this.#peerMtuRequest = undefined;
    this.#mtu = Math.max(ATT_DEFAULT_MTU, Math.min(clientMtu, serverRxMtu));
    this.#send({ op: 'exchangeMtuRsp', mtu: serverRxMtu });
    return NRF_SUCCESS;
  }

  // --- internals ----------------------------------------------------------------------------------

  #request(procedure: Procedure, pdu: AttPdu): number {
    this.#procedure = procedure;
    this.#send(pdu);
    this.#attTimer = this.#ctx.scheduler.after(ATT_TIMEOUT_MS, () => this.#attTimeout(), 'simnrf: ATT timeout');
    return NRF_SUCCESS;
  }

  #attTimeout(): void {
    if (!this.#open || this.#procedure === undefined) return;
    this.#procedure = undefined;
    this.#timedOut = true;
    this.#emitGattc({ kind: 'gattcTimeout', src: 0 }, GATT_STATUS.success, 0);
  }

  #send(pdu: AttPdu, onAcked?: () => void): void {
    this.air.sendFromCentral(encodeL2capFrame({ cid: L2CAP_CID.att, payload: encodeAttPdu(pdu) }), true, onAcked ?? (() => undefined));
  }

  #signal(command: Parameters<typeof encodeSignalingCommand>[0]): void {
    this.air.sendFromCentral(encodeL2capFrame({ cid: L2CAP_CID.leSignaling, payload: encodeSignalingCommand(command) }), true, () => undefined);
  }

  #writeCmdSent(): void {
    if (!this.#open) return;
    this.#writeCmdsQueued--;
    this.#txCompleted++;
    if (this.#txFlushQueued) return;
    this.#txFlushQueued = true;
    // One TX_COMPLETE per connection event, counting every write command that went out in it.
    queueMicrotask(() => {
      this.#txFlushQueued = false;
      const count = this.#txCompleted;
      this.#txCompleted = 0;
      if (count > 0 && this.#open) this.#emitGattc({ kind: 'gattcWriteCmdTxComplete', count }, GATT_STATUS.success, 0);
    });
  }

  #att(bytes: Uint8Array): void {
    let pdu: AttPdu;
    try {
      pdu = decodeAttPdu(bytes);
    } catch {
      return;
    }
    switch (pdu.op) {
      case 'handleValueNtf':
        this.#emitGattc({ kind: 'gattcHvx', handle: pdu.handle, type: GATT_HVX.notification, data: pdu.value }, GATT_STATUS.success, 0);
        return;
      case 'handleValueInd':
        this.#indications.push(pdu.handle);
        this.#emitGattc({ kind: 'gattcHvx', handle: pdu.handle, type: GATT_HVX.indication, data: pdu.value }, GATT_STATUS.success, 0);
        return;
      case 'exchangeMtuReq':
        this.#peerMtuRequest = pdu.mtu;
        this.#emitConn({ kind: 'gattsExchangeMtuRequest', clientRxMtu: pdu.mtu });
        return;
      case 'readByGroupTypeReq':
      case 'readByTypeReq':
      case 'findInformationReq':
      case 'findByTypeValueReq':
        // The central's own server: nothing a DFU peer would look for.
        this.#send({ op: 'errorRsp', requestOpcode: bytes[0] as number, handle: pdu.startHandle, errorCode: ATT_ERROR.attributeNotFound });
        return;
      case 'readReq':
      case 'readBlobReq':
      case 'writeReq':
        this.#send({ op: 'errorRsp', requestOpcode: bytes[0] as number, handle: pdu.handle, errorCode: ATT_ERROR.invalidHandle });
        return;
      case 'unknown':
        if (!isAttCommand(pdu.opcode)) this.#send({ op: 'errorRsp', requestOpcode: pdu.opcode, handle: 0, errorCode: ATT_ERROR.requestNotSupported });
        return;
      default:
        this.#response(pdu);
    }
  }

  /** A PDU that may answer the running procedure. */
  #response(pdu: AttPdu): void {
    const p = this.#procedure;
    if (p === undefined) return;
    const expected = { primary: p.kind === 'primary' && p.uuid !== null ? 'findByTypeValueRsp' : 'readByGroupTypeRsp', chars: 'readByTypeRsp', descs: 'findInformationRsp', read: 'readRsp', write: 'writeRsp', mtu: 'exchangeMtuRsp' }[p.kind];
    const isReadBlob = p.kind === 'read' && p.offset > 0 && pdu.op === 'readBlobRsp';
    if (pdu.op !== 'errorRsp' && pdu.op !== expected && !isReadBlob) return;
    this.#procedure = undefined;
    this.#attTimer?.cancel();
    const error = pdu.op === 'errorRsp' ? { status: GATT_STATUS.attErrBase + pdu.errorCode, handle: pdu.handle } : undefined;
    const status = error?.status ?? GATT_STATUS.success;
    const errorHandle = error?.handle ?? 0;
    switch (p.kind) {
      case 'primary': {
        let services: GattcService[] = [];
        if (pdu.op === 'readByGroupTypeRsp') {
          services = pdu.entries.map((e) => ({ uuid: this.#ctx.uuidOf(e.value), startHandle: e.handle, endHandle: e.endGroupHandle }));
        } else if (pdu.op === 'findByTypeValueRsp' && p.uuid !== null) {
          const uuid = p.uuid;
          services = pdu.entries.map((e) => ({ uuid, startHandle: e.foundHandle, endHandle: e.groupEndHandle }));
        }
        this.#emitGattc({ kind: 'gattcPrimSrvcDiscRsp', services }, status, errorHandle);
        return;
      }
      case 'chars': {
        const chars: GattcChar[] = [];
        if (pdu.op === 'readByTypeRsp') {
          for (const e of pdu.entries) {
            if (e.value.length !== 5 && e.value.length !== 19) continue;
            const props = e.value[0] as number;
            chars.push({
              uuid: this.#ctx.uuidOf(e.value.subarray(3)),
              props: {
                broadcast: (props & 0x01) !== 0,
                read: (props & 0x02) !== 0,
                writeWoResp: (props & 0x04) !== 0,
                write: (props & 0x08) !== 0,
                notify: (props & 0x10) !== 0,
                indicate: (props & 0x20) !== 0,
                authSignedWr: (props & 0x40) !== 0,
              },
              extProps: (props & 0x80) !== 0,
              handleDecl: e.handle,
              handleValue: (e.value[1] as number) | ((e.value[2] as number) << 8),
            });
          }
        }
        this.#emitGattc({ kind: 'gattcCharDiscRsp', chars }, status, errorHandle);
        return;
      }
      case 'descs': {
        const descs = pdu.op === 'findInformationRsp' ? pdu.entries.map((e) => ({ handle: e.handle, uuid: this.#ctx.uuidOf(uuidToBytes(e.uuid)) })) : [];
        this.#emitGattc({ kind: 'gattcDescDiscRsp', descs }, status, errorHandle);
        return;
      }
      case 'read': {
        const data = pdu.op === 'readRsp' || pdu.op === 'readBlobRsp' ? pdu.value : new Uint8Array(0);
        this.#emitGattc({ kind: 'gattcReadRsp', handle: p.handle, offset: p.offset, data }, status, errorHandle);
        return;
      }
      case 'write':
        this.#emitGattc(
          { kind: 'gattcWriteRsp', handle: p.handle, writeOp: GATT_WRITE_OP.writeReq, offset: 0, data: error === undefined ? p.value : new Uint8Array(0) },
          status,
          errorHandle,
        );
        return;
      case 'mtu': {
        const serverRxMtu = pdu.op === 'exchangeMtuRsp' ? pdu.mtu : ATT_DEFAULT_MTU;
        this.#mtu = Math.max(ATT_DEFAULT_MTU, Math.min(p.clientRxMtu, serverRxMtu));
        this.#emitGattc({ kind: 'gattcExchangeMtuRsp', serverRxMtu }, status, errorHandle);
        return;
      }
      default: {
        const never: never = p;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  #signaling(payload: Uint8Array): void {
    let command;
    try {
      command = decodeSignalingCommand(payload);
    } catch {
      return;
    }
    switch (command.kind) {
      case 'connectionParameterUpdateRequest': {
        const params: ConnParams = {
          minConnInterval: command.intervalMin,
          maxConnInterval: command.intervalMax,
          slaveLatency: command.latency,
          connSupTimeout: command.timeout,
        };
        if (!validConnParams(params)) {
          this.#signal({ kind: 'connectionParameterUpdateResponse', identifier: command.identifier, result: CONNECTION_PARAMETER_UPDATE_RESULT.rejected });
          return;
        }
        this.#peerParamRequest = { identifier: command.identifier };
        this.#emitConn({ kind: 'gapConnParamUpdateRequest', connParams: params });
        return;
      }
      case 'connectionParameterUpdateResponse':
      case 'commandReject':
        return;
      case 'unknown':
        this.#signal({ kind: 'commandReject', identifier: command.identifier, reason: COMMAND_REJECT_REASONS.commandNotUnderstood, data: new Uint8Array(0) });
        return;
      default: {
        const never: never = command;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  #smp(payload: Uint8Array): void {
    // Security is not modelled: the SoftDevice would ask the application (SEC_PARAMS_REQUEST).
    if (payload[0] === SMP_CODES.pairingRequest || payload[0] === SMP_CODES.securityRequest) {
      this.air.sendFromCentral(
        encodeL2capFrame({ cid: L2CAP_CID.smp, payload: encodeSmpPairingFailed(SMP_REASON_PAIRING_NOT_SUPPORTED) }),
        true,
        () => undefined,
      );
    }
  }

  #emitDataLength(): void {
    const time = (octets: number): number => (octets + 14) * 8;
    const tx = this.air.centralTxOctets;
    const rx = this.air.centralRxOctets;
    this.#emitConn({ kind: 'gapDataLengthUpdate', effectiveParams: { maxTxOctets: tx, maxRxOctets: rx, maxTxTimeUs: time(tx), maxRxTimeUs: time(rx) } });
  }

  #emitConn(event: DistributiveOmit<Extract<NrfEvent, { connHandle: number }>, 'connHandle'>): void {
    if (!this.#open) return;
    this.#ctx.emit({ ...event, connHandle: this.connHandle } as NrfEvent);
  }

  #emitGattc(event: DistributiveOmit<Extract<NrfEvent, { gattStatus: number }>, 'connHandle' | 'gattStatus' | 'errorHandle'>, gattStatus: number, errorHandle: number): void {
    if (!this.#open) return;
    this.#ctx.emit({ ...event, connHandle: this.connHandle, gattStatus, errorHandle } as NrfEvent);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

