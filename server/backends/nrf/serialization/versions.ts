/**
 * Everything that differs between SoftDevice API v5 (S132 5.1.0) and v6 (S132/S140 6.1.x), in one
 * table per version; commands.ts, responses.ts and events.ts look layouts up here and are
 * otherwise version-free. The differences (spec §3.10):
 *
 *  1. GATTC/GATTS opcodes shift (v6 enlarged the GAP SVC range).
 *  2. ble_gap_scan_params_t: other flags, channel mask and PHYs in v6; timeout in seconds (v5)
 *     vs 10 ms units (v6).
 *  3. v6 scanning needs a host report buffer (passed to scan start, echoed by ADV_REPORT and the
 *     scan TIMEOUT), and the ADV_REPORT layout is new.
 *  4. v6 CONNECTED adds the advertising set handle and two data buffers.
 *  5. BLE_GAP_CFG_ROLE_COUNT has two more bytes in v6.
 *  6. 0x3004/0x3005 mean different errors.
 *
 * Typing rule: where a whole structure differs its value carries an `api` tag (ScanParams,
 * AdvReport); where v6 only adds fields they are optional, present exactly in v6 values.
 */
import { ByteReader, ByteWriter } from '../../../common/bytes.js';
import {
  bitfield,
  bits,
  bool8,
  constant,
  fixedBytes,
  flag,
  i8,
  len16Data,
  len8Data,
  lowBits16,
  merge,
  present,
  required,
  struct,
  u16,
  u32,
  u8,
  unencodable,
  cond,
  type Codec,
} from './codec.js';
import { GAP_TIMEOUT_SRC, NRF_RESULT_NAMES, type ApiVersion, type CommandKind } from './constants.js';
import { dataRef, gapAddr, type DataRef, type GapAddr } from './structs.js';

// ---- opcodes ----

const COMMON_OPCODES = {
  enable: 0x60,
  uuidVsAdd: 0x62,
  versionGet: 0x65,
  userMemReply: 0x66,
  cfgSet: 0x69,
  gapAddrGet: 0x6d,
  gapConnParamUpdate: 0x75,
  gapDisconnect: 0x76,
  gapScanStart: 0x8a,
  gapScanStop: 0x8b,
  gapConnect: 0x8c,
  gapConnectCancel: 0x8d,
  gapPhyUpdate: 0x8f,
  gapDataLengthUpdate: 0x90,
} as const;

const OPCODES: Readonly<Record<ApiVersion, Readonly<Record<CommandKind, number>>>> = {
  5: {
    ...COMMON_OPCODES,
    gattcPrimaryServicesDiscover: 0x94,
    gattcCharacteristicsDiscover: 0x96,
    gattcDescriptorsDiscover: 0x97,
    gattcRead: 0x9a,
    gattcWrite: 0x9c,
    gattcHvConfirm: 0x9d,
    gattcExchangeMtuRequest: 0x9e,
    gattsSysAttrSet: 0xa9,
    gattsExchangeMtuReply: 0xad,
  },
  6: {
    ...COMMON_OPCODES,
    gattcPrimaryServicesDiscover: 0x9b,
    gattcCharacteristicsDiscover: 0x9d,
    gattcDescriptorsDiscover: 0x9e,
    gattcRead: 0xa1,
    gattcWrite: 0xa3,
    gattcHvConfirm: 0xa4,
    gattcExchangeMtuRequest: 0xa5,
    gattsSysAttrSet: 0xb1,
    gattsExchangeMtuReply: 0xb5,
  },
};

// ---- scan parameters ----

/** v5 ble_gap_scan_params_t (interval/window in 0.625 ms units). */
export interface ScanParamsV5 {
  readonly api: 5;
  readonly active: boolean;
  readonly useWhitelist: boolean;
  readonly advDirReport: boolean;
  readonly interval: number;
  readonly window: number;
  /** Seconds; 0 = none. */
  readonly timeout: number;
}

/** v6 ble_gap_scan_params_t (interval/window in 0.625 ms units). */
export interface ScanParamsV6 {
  readonly api: 6;
  readonly extended: boolean;
  readonly reportIncompleteEvts: boolean;
  readonly active: boolean;
  /** 0 accept all, 1 whitelist, 2/3 directed variants. */
  readonly filterPolicy: number;
  /** 1 = 1M, 4 = Coded, 0 = automatic (1M). */
  readonly scanPhys: number;
  /** 5 bytes, 40-bit mask of channels NOT to use (37..39 = bits 5..7 of the last byte). */
  readonly channelMask: Uint8Array;
  readonly interval: number;
  readonly window: number;
  /** 10 ms units; 0 = none. */
  readonly timeout: number;
}

export type ScanParams = ScanParamsV5 | ScanParamsV6;

const scanParamsV5 = merge(
  struct<{ api: 5 }>({ api: constant(5, 'scan parameters of API v6 given to the API v5 codec') }),
  bitfield<Pick<ScanParamsV5, 'active' | 'useWhitelist' | 'advDirReport'>>(8, {
    active: flag(0),
    useWhitelist: flag(1),
    advDirReport: flag(2),
  }),
  struct<Pick<ScanParamsV5, 'interval' | 'window' | 'timeout'>>({ interval: u16, window: u16, timeout: u16 }),
);

const scanParamsV6 = merge(
  struct<{ api: 6 }>({ api: constant(6, 'scan parameters of API v5 given to the API v6 codec') }),
  bitfield<Pick<ScanParamsV6, 'extended' | 'reportIncompleteEvts' | 'active' | 'filterPolicy'>>(8, {
    extended: flag(0),
    reportIncompleteEvts: flag(1),
    active: flag(2),
    filterPolicy: bits(3, 2),
  }),
  struct<Pick<ScanParamsV6, 'scanPhys' | 'channelMask' | 'interval' | 'window' | 'timeout'>>({
    scanPhys: u8,
    channelMask: present(fixedBytes(5), 'scan channel mask'),
    interval: u16,
    window: u16,
    timeout: u16,
  }),
);

// ---- advertising reports ----

interface AdvReportCommon {
  readonly connHandle: number;
  readonly peerAddr: GapAddr;
  readonly directAddr: GapAddr;
  /** dBm. */
  readonly rssi: number;
}

/** v5 ble_gap_evt_adv_report_t. */
export interface AdvReportV5 extends AdvReportCommon {
  readonly api: 5;
  readonly scanRsp: boolean;
  /** 0 ADV_IND, 1 ADV_DIRECT_IND, 2 ADV_SCAN_IND, 3 ADV_NONCONN_IND. */
  readonly type: number;
  readonly data: Uint8Array;
}

/** v6 ble_gap_adv_report_type_t. */
export interface AdvReportType {
  readonly connectable: boolean;
  readonly scannable: boolean;
  readonly directed: boolean;
  readonly scanResponse: boolean;
  readonly extendedPdu: boolean;
  /** 0 complete, 1 incomplete (more data follows), 2 truncated, 3 missed. */
  readonly status: number;
  readonly reserved: number;
}

/** v6 ble_gap_evt_adv_report_t. After it the scanner pauses until scan start(NULL, buffer). */
export interface AdvReportV6 extends AdvReportCommon {
  readonly api: 6;
  readonly type: AdvReportType;
  readonly primaryPhy: number;
  /** 0xFF = not set. */
  readonly secondaryPhy: number;
  /** dBm; 127 = not available. */
  readonly txPower: number;
  readonly chIndex: number;
  /** 0xFF = not available. */
  readonly setId: number;
  /** 12 bits. */
  readonly dataId: number;
  /** The host report buffer the device filled (the id given to scan start). */
  readonly bufferId: number;
  readonly data: Uint8Array;
  readonly auxPointer: { readonly auxOffset: number; readonly auxPhy: number };
}

export type AdvReport = AdvReportV5 | AdvReportV6;

const advReportV5 = merge(
  struct<Pick<AdvReportV5, 'api' | 'connHandle' | 'peerAddr' | 'directAddr' | 'rssi'>>({
    api: constant(5, 'an API v6 advertising report given to the API v5 codec'),
    connHandle: u16,
    peerAddr: gapAddr,
    directAddr: gapAddr,
    rssi: i8,
  }),
  bitfield<Pick<AdvReportV5, 'scanRsp' | 'type'>>(8, { scanRsp: flag(0), type: bits(1, 2) }),
  struct<Pick<AdvReportV5, 'data'>>({ data: required(len8Data, 'advertising data') }),
);

const advReportV6 = struct<AdvReportV6>({
  api: constant(6, 'an API v5 advertising report given to the API v6 codec'),
  connHandle: u16,
  type: bitfield<AdvReportType>(16, {
    connectable: flag(0),
    scannable: flag(1),
    directed: flag(2),
    scanResponse: flag(3),
    extendedPdu: flag(4),
    status: bits(5, 2),
    reserved: bits(7, 9),
  }),
  peerAddr: gapAddr,
  directAddr: gapAddr,
  primaryPhy: u8,
  secondaryPhy: u8,
  txPower: i8,
  rssi: i8,
  chIndex: u8,
  setId: u8,
  // Nordic's decoder keeps only the low 12 bits.
  dataId: lowBits16(12),
  bufferId: u32,
  data: required(len16Data, 'advertising data'),
  auxPointer: struct<{ auxOffset: number; auxPhy: number }>({ auxOffset: u16, auxPhy: u8 }),
});

// ---- fields only v6 has ----

/** v6 CONNECTED extras; a central sees handle 0xFF (not set) and empty buffers. */
export interface ConnectedV6Fields {
  readonly advHandle: number;
  readonly advData: DataRef;
  readonly scanRspData: DataRef;
}

/** v6 BLE_GAP_CFG_ROLE_COUNT extras. */
export interface RoleCountV6Fields {
  readonly advSetCount: number;
  readonly qosChannelSurveyRoleAvailable: boolean;
}

/** The v6 scan start's report buffer: where the device may put advertising data. */
export interface ScanStartV6Fields {
  readonly reportBuffer: DataRef | null;
}

/** A codec for fields v6 adds: v5 writes nothing and refuses them, v6 requires all of them. */
function v6Only<T extends object>(codec: Codec<T>, keys: readonly (keyof T & string)[], what: string): Record<ApiVersion, Codec<Partial<T>>> {
  return {
    5: {
      write: (_w, v) => {
        const extra = keys.filter((k) => v[k] !== undefined);
        if (extra.length > 0) throw unencodable(`${what}: ${extra.join(', ')} exist only in API v6`);
      },
      read: () => ({}),
    },
    6: {
      write: (w, v) => {
        const missing = keys.filter((k) => v[k] === undefined);
        if (missing.length > 0) throw unencodable(`${what}: API v6 needs ${missing.join(', ')}`);
        codec.write(w, v as T);
      },
      read: (r) => codec.read(r),
    },
  };
}

const connectedFields = v6Only(
  struct<ConnectedV6Fields>({ advHandle: u8, advData: dataRef, scanRspData: dataRef }),
  ['advHandle', 'advData', 'scanRspData'],
  'BLE_GAP_EVT_CONNECTED',
);

const roleCountFields = v6Only(
  struct<RoleCountV6Fields>({ advSetCount: u8, qosChannelSurveyRoleAvailable: bool8 }),
  ['advSetCount', 'qosChannelSurveyRoleAvailable'],
  'BLE_GAP_CFG_ROLE_COUNT',
);

const scanStartFields = v6Only(struct<ScanStartV6Fields>({ reportBuffer: cond(dataRef) }), ['reportBuffer'], 'sd_ble_gap_scan_start');

/** BLE_GAP_EVT_TIMEOUT body: v6 hands the report buffer back when a scan times out. */
export interface GapTimeoutFields {
  readonly src: number;
  /** v6 and src = scan only. */
  readonly releasedBuffer?: DataRef;
}

function gapTimeout(api: ApiVersion): Codec<GapTimeoutFields> {
  const carriesBuffer = (src: number): boolean => api === 6 && src === GAP_TIMEOUT_SRC.scan;
  return {
    write: (w: ByteWriter, v: GapTimeoutFields) => {
      u8.write(w, v.src);
      if (carriesBuffer(v.src) !== (v.releasedBuffer !== undefined)) {
        throw unencodable(`BLE_GAP_EVT_TIMEOUT: API v${api} src ${v.src} ${carriesBuffer(v.src) ? 'needs' : 'has no'} releasedBuffer`);
      }
      if (v.releasedBuffer !== undefined) dataRef.write(w, v.releasedBuffer);
    },
    read: (r: ByteReader) => {
      const src = u8.read(r);
      return carriesBuffer(src) ? { src, releasedBuffer: dataRef.read(r) } : { src };
    },
  };
}

// ---- the table ----

export interface ApiTable {
  readonly api: ApiVersion;
  readonly opcodes: Readonly<Record<CommandKind, number>>;
  readonly scanParams: Codec<ScanParams>;
  readonly scanStartFields: Codec<Partial<ScanStartV6Fields>>;
  readonly roleCountFields: Codec<Partial<RoleCountV6Fields>>;
  readonly connectedFields: Codec<Partial<ConnectedV6Fields>>;
  readonly gapTimeout: Codec<GapTimeoutFields>;
  readonly advReport: Codec<AdvReport>;
  /** Result code names where v6 differs from v5. */
  readonly resultNames: Readonly<Record<number, string>>;
}

/** Accepts only values tagged with this API version, so a v5 value never meets a v6 layout. */
function forApi<T extends { readonly api: ApiVersion }, U extends { readonly api: ApiVersion }>(
  api: U['api'],
  codec: Codec<U>,
  what: string,
): Codec<T> {
  return {
    write: (w, v) => {
      if (v.api !== api) throw unencodable(`${what} for API v${v.api} given to the API v${api} codec`);
      codec.write(w, v as unknown as U);
    },
    read: (r) => codec.read(r) as unknown as T,
  };
}

const TABLES: Readonly<Record<ApiVersion, ApiTable>> = {
  5: {
    api: 5,
    opcodes: OPCODES[5],
    scanParams: forApi<ScanParams, ScanParamsV5>(5, scanParamsV5, 'scan parameters'),
    scanStartFields: scanStartFields[5],
    roleCountFields: roleCountFields[5],
    connectedFields: connectedFields[5],
    gapTimeout: gapTimeout(5),
    advReport: forApi<AdvReport, AdvReportV5>(5, advReportV5, 'advertising report'),
    resultNames: { ...NRF_RESULT_NAMES, 0x3004: 'BLE_ERROR_INVALID_ROLE' },
  },
  6: {
    api: 6,
    opcodes: OPCODES[6],
    scanParams: forApi<ScanParams, ScanParamsV6>(6, scanParamsV6, 'scan parameters'),
    scanStartFields: scanStartFields[6],
    roleCountFields: roleCountFields[6],
    connectedFields: connectedFields[6],
    gapTimeout: gapTimeout(6),
    advReport: forApi<AdvReport, AdvReportV6>(6, advReportV6, 'advertising report'),
    resultNames: {
      ...NRF_RESULT_NAMES,
      0x3004: 'BLE_ERROR_INVALID_ADV_HANDLE',
      0x3005: 'BLE_ERROR_INVALID_ROLE',
      0x3006: 'BLE_ERROR_BLOCKED_BY_OTHER_LINKS',
    },
  },
};

export function apiTable(api: ApiVersion): ApiTable {
  return TABLES[api];
}

/** "NRF_ERROR_BUSY (17)", "BLE_ERROR_INVALID_CONN_HANDLE (0x3002)"; unknown codes by number. */
export function nrfResultName(api: ApiVersion, result: number): string {
  const name = TABLES[api].resultNames[result] ?? 'unknown result';
  return `${name} (${result < 0x100 ? String(result) : `0x${result.toString(16)}`})`;
}
