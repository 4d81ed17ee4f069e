/**
 * SoftDevice events the device pushes: `evt_id u16`, then `conn_handle u16` (GATTC events add
 * `gatt_status u16, error_handle u16`), then the body. Decoding is strict like Nordic's: unknown
 * ids are NRF_ERROR_NOT_FOUND, a byte too few or too many is NRF_ERROR_INVALID_LENGTH, both raised
 * as MALFORMED_PACKET (the caller skips the event but must still have acknowledged it on the link).
 */
import { toHex } from '../../../common/bytes.js';
import {
  decodeExactly,
  encodeWith,
  list16,
  merge,
  serializationMalformed,
  struct,
  u16,
  u16Bytes,
  u8,
  type Codec,
} from './codec.js';
import { EVENTS, EVENT_KINDS, type ApiVersion, type EventKind } from './constants.js';
import {
  connParams,
  dataLengthParams,
  gapAddr,
  gattcChar,
  gattcDesc,
  gattcService,
  phys,
  type ConnParams,
  type DataLengthParams,
  type GapAddr,
  type GattcChar,
  type GattcDesc,
  type GattcService,
  type Phys,
} from './structs.js';
import { apiTable, type AdvReportV5, type AdvReportV6, type ApiTable, type ConnectedV6Fields, type GapTimeoutFields } from './versions.js';

interface ConnEvent {
  readonly connHandle: number;
}

/** GATTC events report procedure errors here, not in the command response. */
interface GattcEvent extends ConnEvent {
  /** 0 success, 0x0100 + ATT error code otherwise (0x010A attribute not found ends discovery). */
  readonly gattStatus: number;
  readonly errorHandle: number;
}

export type NrfEvent =
  /** Answer with sd_ble_user_mem_reply(conn, NULL). */
  | ({ readonly kind: 'userMemRequest'; readonly type: number } & ConnEvent)
  | ({
      readonly kind: 'gapConnected';
      readonly peerAddr: GapAddr;
      /** 1 peripheral, 2 central. */
      readonly role: number;
      readonly connParams: ConnParams;
    } & ConnEvent &
      Partial<ConnectedV6Fields>)
  | ({ readonly kind: 'gapDisconnected'; readonly reason: number } & ConnEvent)
  | ({ readonly kind: 'gapConnParamUpdate'; readonly connParams: ConnParams } & ConnEvent)
  | ({ readonly kind: 'gapTimeout' } & ConnEvent & GapTimeoutFields)
  | ({ readonly kind: 'gapAdvReport' } & AdvReportV5)
  | ({ readonly kind: 'gapAdvReport' } & AdvReportV6)
  /** Answer with sd_ble_gap_conn_param_update (params to accept, NULL to reject). */
  | ({ readonly kind: 'gapConnParamUpdateRequest'; readonly connParams: ConnParams } & ConnEvent)
  /** Answer with sd_ble_gap_phy_update. */
  | ({ readonly kind: 'gapPhyUpdateRequest'; readonly peerPreferredPhys: Phys } & ConnEvent)
  | ({ readonly kind: 'gapPhyUpdate'; readonly status: number; readonly txPhy: number; readonly rxPhy: number } & ConnEvent)
  /** Answer with sd_ble_gap_data_length_update(conn, NULL, NULL). */
  | ({ readonly kind: 'gapDataLengthUpdateRequest'; readonly peerParams: DataLengthParams } & ConnEvent)
  | ({ readonly kind: 'gapDataLengthUpdate'; readonly effectiveParams: DataLengthParams } & ConnEvent)
  | ({ readonly kind: 'gattcPrimSrvcDiscRsp'; readonly services: readonly GattcService[] } & GattcEvent)
  | ({ readonly kind: 'gattcCharDiscRsp'; readonly chars: readonly GattcChar[] } & GattcEvent)
  | ({ readonly kind: 'gattcDescDiscRsp'; readonly descs: readonly GattcDesc[] } & GattcEvent)
  | ({ readonly kind: 'gattcReadRsp'; readonly handle: number; readonly offset: number; readonly data: Uint8Array } & GattcEvent)
  | ({
      readonly kind: 'gattcWriteRsp';
      readonly handle: number;
      readonly writeOp: number;
      readonly offset: number;
      readonly data: Uint8Array;
    } & GattcEvent)
  /** `type` 1 notification, 2 indication (confirm with sd_ble_gattc_hv_confirm). */
  | ({ readonly kind: 'gattcHvx'; readonly handle: number; readonly type: number; readonly data: Uint8Array } & GattcEvent)
  | ({ readonly kind: 'gattcExchangeMtuRsp'; readonly serverRxMtu: number } & GattcEvent)
  /** ATT timeout: no further GATT procedure is possible on the link. */
  | ({ readonly kind: 'gattcTimeout'; readonly src: number } & GattcEvent)
  /** `count` queued write commands went out: that many write credits come back. */
  | ({ readonly kind: 'gattcWriteCmdTxComplete'; readonly count: number } & GattcEvent)
  /** Answer with sd_ble_gatts_sys_attr_set(conn, NULL, 0). */
  | ({ readonly kind: 'gattsSysAttrMissing'; readonly hint: number } & ConnEvent)
  /** Answer with sd_ble_gatts_exchange_mtu_reply. */
  | ({ readonly kind: 'gattsExchangeMtuRequest'; readonly clientRxMtu: number } & ConnEvent)
  | ({ readonly kind: 'gattsHvnTxComplete'; readonly count: number } & ConnEvent);

export type EventOf<K extends EventKind> = Extract<NrfEvent, { kind: K }>;
type Body<K extends EventKind> = Omit<EventOf<K>, 'kind'>;

const conn = struct<ConnEvent>({ connHandle: u16 });
const gattc = struct<GattcEvent>({ connHandle: u16, gattStatus: u16, errorHandle: u16 });

function connStruct<T extends object>(fields: { readonly [K in keyof T]: Codec<T[K]> }): Codec<ConnEvent & T> {
  return merge(conn, struct<T>(fields));
}
function gattcStruct<T extends object>(fields: { readonly [K in keyof T]: Codec<T[K]> }): Codec<GattcEvent & T> {
  return merge(gattc, struct<T>(fields));
}

function bodyCodecs(t: ApiTable): { readonly [K in EventKind]: Codec<Body<K>> } {
  return {
    userMemRequest: connStruct({ type: u8 }),
    gapConnected: merge(
      conn,
      struct<{ peerAddr: GapAddr; role: number; connParams: ConnParams }>({ peerAddr: gapAddr, role: u8, connParams }),
      t.connectedFields,
    ),
    gapDisconnected: connStruct({ reason: u8 }),
    gapConnParamUpdate: connStruct({ connParams }),
    gapTimeout: merge(conn, t.gapTimeout),
    gapAdvReport: t.advReport,
    gapConnParamUpdateRequest: connStruct({ connParams }),
    gapPhyUpdateRequest: connStruct({ peerPreferredPhys: phys }),
    gapPhyUpdate: connStruct({ status: u8, txPhy: u8, rxPhy: u8 }),
    gapDataLengthUpdateRequest: connStruct({ peerParams: dataLengthParams }),
    gapDataLengthUpdate: connStruct({ effectiveParams: dataLengthParams }),
    gattcPrimSrvcDiscRsp: gattcStruct({ services: list16(gattcService) }),
    gattcCharDiscRsp: gattcStruct({ chars: list16(gattcChar) }),
    gattcDescDiscRsp: gattcStruct({ descs: list16(gattcDesc) }),
    gattcReadRsp: gattcStruct({ handle: u16, offset: u16, data: u16Bytes }),
    gattcWriteRsp: gattcStruct({ handle: u16, writeOp: u8, offset: u16, data: u16Bytes }),
    gattcHvx: gattcStruct({ handle: u16, type: u8, data: u16Bytes }),
    gattcExchangeMtuRsp: gattcStruct({ serverRxMtu: u16 }),
    gattcTimeout: gattcStruct({ src: u8 }),
    gattcWriteCmdTxComplete: gattcStruct({ count: u8 }),
    gattsSysAttrMissing: connStruct({ hint: u8 }),
    gattsExchangeMtuRequest: connStruct({ clientRxMtu: u16 }),
    gattsHvnTxComplete: connStruct({ count: u8 }),
  } as { readonly [K in EventKind]: Codec<Body<K>> };
}

interface EventCodecs {
  readonly bodies: Readonly<Record<EventKind, Codec<Omit<NrfEvent, 'kind'>>>>;
}

const KIND_BY_ID: ReadonlyMap<number, EventKind> = new Map(EVENT_KINDS.map((k) => [EVENTS[k].id, k]));

function buildCodecs(api: ApiVersion): EventCodecs {
  return { bodies: bodyCodecs(apiTable(api)) as unknown as EventCodecs['bodies'] };
}

const CODECS: Readonly<Record<ApiVersion, EventCodecs>> = { 5: buildCodecs(5), 6: buildCodecs(6) };

/** The event id of codec bytes, or undefined when there are not even two bytes. */
export function eventId(bytes: Uint8Array): number | undefined {
  return bytes.length < 2 ? undefined : (bytes[0] as number) | ((bytes[1] as number) << 8);
}

export function decodeEvent(api: ApiVersion, bytes: Uint8Array): NrfEvent {
  const id = eventId(bytes);
  const kind = id === undefined ? undefined : KIND_BY_ID.get(id);
  if (kind === undefined) {
    throw serializationMalformed(
      id === undefined ? 'event shorter than its id' : `no decoder for event id 0x${id.toString(16)}`,
      id === undefined ? 'NRF_ERROR_INVALID_LENGTH' : 'NRF_ERROR_NOT_FOUND',
      { event: toHex(bytes.subarray(0, 32)) },
    );
  }
  const name = EVENTS[kind].name;
  const body = decodeExactly(CODECS[api].bodies[kind], bytes.subarray(2), name, 'NRF_ERROR_INVALID_LENGTH', { event: name });
  return { kind, ...body } as NrfEvent;
}

export function encodeEvent(api: ApiVersion, event: NrfEvent): Uint8Array {
  const { kind, ...body } = event;
  return encodeWith(merge(struct<{ evtId: number }>({ evtId: u16 }), CODECS[api].bodies[kind]), { evtId: EVENTS[kind].id, ...body });
}
