/**
 * SoftDevice calls the host sends (serialization "commands"): `opcode u8` then the arguments in C
 * argument order. Encoding is what the backend sends; decoding exists for the simulated dongle and
 * for tests, and is as strict as the firmware (every byte consumed).
 */
import { toHex } from '../../../common/bytes.js';
import { isBledfuError } from '../../../common/errors.js';
import {
  cond,
  decodeExactly,
  encodeWith,
  fixedBytes,
  len16Data,
  merge,
  outPointer,
  present,
  serializationMalformed,
  struct,
  u16,
  u32,
  u8,
  unencodable,
  type Codec,
} from './codec.js';
import { CFG_ID, COMMAND_KINDS, SD_FUNCTIONS, type ApiVersion, type CommandKind, type ConfigKind } from './constants.js';
import {
  bleUuid,
  connParams,
  dataLengthParams,
  gapAddr,
  handleRange,
  phys,
  type BleUuid,
  type ConnParams,
  type DataLengthParams,
  type DataRef,
  type GapAddr,
  type HandleRange,
  type Phys,
  type WriteParams,
} from './structs.js';
import { apiTable, type ApiTable, type RoleCountV6Fields, type ScanParams } from './versions.js';

// ---- configuration (sd_ble_cfg_set) ----

export type NrfConfig =
  /** BLE_CONN_CFG_GAP: links with this tag, radio time per connection event (1.25 ms units). */
  | { readonly id: 'connGap'; readonly connCfgTag: number; readonly connCount: number; readonly eventLength: number }
  /** BLE_CONN_CFG_GATTC: write commands the SoftDevice queues per link. */
  | { readonly id: 'connGattc'; readonly connCfgTag: number; readonly writeCmdTxQueueSize: number }
  /** BLE_CONN_CFG_GATTS: notifications the SoftDevice queues per link. */
  | { readonly id: 'connGatts'; readonly connCfgTag: number; readonly hvnTxQueueSize: number }
  /** BLE_CONN_CFG_GATT: the largest ATT MTU links with this tag may negotiate. */
  | { readonly id: 'connGatt'; readonly connCfgTag: number; readonly attMtu: number }
  /** BLE_COMMON_CFG_VS_UUID: how many vendor UUID bases can be registered. */
  | { readonly id: 'commonVsUuid'; readonly vsUuidCount: number }
  /** BLE_GAP_CFG_ROLE_COUNT; the v6 fields are required in v6 and refused in v5. */
  | ({
      readonly id: 'gapRoleCount';
      readonly periphRoleCount: number;
      readonly centralRoleCount: number;
      readonly centralSecCount: number;
    } & Partial<RoleCountV6Fields>);

type ConfigOf<K extends ConfigKind> = Extract<NrfConfig, { id: K }>;
type ConfigBody<K extends ConfigKind> = Omit<ConfigOf<K>, 'id'>;

function configBodies(t: ApiTable): { readonly [K in ConfigKind]: Codec<ConfigBody<K>> } {
  return {
    connGap: struct<ConfigBody<'connGap'>>({ connCfgTag: u8, connCount: u8, eventLength: u16 }),
    connGattc: struct<ConfigBody<'connGattc'>>({ connCfgTag: u8, writeCmdTxQueueSize: u8 }),
    connGatts: struct<ConfigBody<'connGatts'>>({ connCfgTag: u8, hvnTxQueueSize: u8 }),
    connGatt: struct<ConfigBody<'connGatt'>>({ connCfgTag: u8, attMtu: u16 }),
    commonVsUuid: struct<ConfigBody<'commonVsUuid'>>({ vsUuidCount: u8 }),
    gapRoleCount: merge(
      struct<{ periphRoleCount: number; centralRoleCount: number; centralSecCount: number }>({
        periphRoleCount: u8,
        centralRoleCount: u8,
        centralSecCount: u8,
      }),
      t.roleCountFields,
    ),
  };
}

const CONFIG_KIND_BY_ID: ReadonlyMap<number, ConfigKind> = new Map(
  (Object.entries(CFG_ID) as [ConfigKind, number][]).map(([kind, id]) => [id, kind]),
);

/** `cfg_id u32`, presence `01`, then the body (the conn_cfg_tag leads connection configs). */
function configCodec(t: ApiTable): Codec<NrfConfig> {
  const bodies = configBodies(t) as unknown as Readonly<Record<ConfigKind, Codec<Omit<NrfConfig, 'id'>>>>;
  return {
    write: (w, cfg) => {
      w.u32le(CFG_ID[cfg.id]);
      w.u8(1);
      const { id: _id, ...body } = cfg;
      bodies[cfg.id].write(w, body);
    },
    read: (r) => {
      const cfgId = u32.read(r);
      const kind = CONFIG_KIND_BY_ID.get(cfgId);
      if (kind === undefined) throw serializationMalformed(`sd_ble_cfg_set: config id 0x${cfgId.toString(16)} not supported`, 'NRF_ERROR_INVALID_DATA');
      if (r.u8() !== 1) throw serializationMalformed('sd_ble_cfg_set: configuration pointer is NULL', 'NRF_ERROR_INVALID_DATA');
      return { id: kind, ...bodies[kind].read(r) } as NrfConfig;
    },
  };
}

// ---- commands ----

export type NrfCommand =
  | { readonly kind: 'enable' }
  | { readonly kind: 'cfgSet'; readonly config: NrfConfig }
  /** Registers a vendor UUID base; the response says which uuid type (≥ 2) it got. */
  | { readonly kind: 'uuidVsAdd'; readonly base: Uint8Array }
  | { readonly kind: 'versionGet' }
  | { readonly kind: 'gapAddrGet' }
  /**
   * `params` null in v6 = continue scanning after an ADV_REPORT. `reportBuffer` exists only in v6
   * (required there): the host buffer the next report goes into.
   */
  | { readonly kind: 'gapScanStart'; readonly params: ScanParams | null; readonly reportBuffer?: DataRef | null }
  | { readonly kind: 'gapScanStop' }
  /** `peerAddr` null = connect to whitelisted devices. */
  | {
      readonly kind: 'gapConnect';
      readonly peerAddr: GapAddr | null;
      readonly scanParams: ScanParams;
      readonly connParams: ConnParams;
      readonly connCfgTag: number;
    }
  | { readonly kind: 'gapConnectCancel' }
  | { readonly kind: 'gapDisconnect'; readonly connHandle: number; readonly hciStatusCode: number }
  /** `connParams` null rejects a peripheral's update request. */
  | { readonly kind: 'gapConnParamUpdate'; readonly connHandle: number; readonly connParams: ConnParams | null }
  /** `params` null = automatic; `wantLimitation` asks the response to say what could not be granted. */
  | {
      readonly kind: 'gapDataLengthUpdate';
      readonly connHandle: number;
      readonly params: DataLengthParams | null;
      readonly wantLimitation: boolean;
    }
  | { readonly kind: 'gapPhyUpdate'; readonly connHandle: number; readonly phys: Phys }
  /** `uuid` null = all primary services. */
  | { readonly kind: 'gattcPrimaryServicesDiscover'; readonly connHandle: number; readonly startHandle: number; readonly uuid: BleUuid | null }
  | { readonly kind: 'gattcCharacteristicsDiscover'; readonly connHandle: number; readonly range: HandleRange }
  | { readonly kind: 'gattcDescriptorsDiscover'; readonly connHandle: number; readonly range: HandleRange }
  | { readonly kind: 'gattcRead'; readonly connHandle: number; readonly handle: number; readonly offset: number }
  | { readonly kind: 'gattcWrite'; readonly connHandle: number; readonly params: WriteParams }
  | { readonly kind: 'gattcHvConfirm'; readonly connHandle: number; readonly handle: number }
  | { readonly kind: 'gattcExchangeMtuRequest'; readonly connHandle: number; readonly clientRxMtu: number }
  /** `sysAttrData` null + flags 0 = initialise the peer's system attributes to defaults. */
  | { readonly kind: 'gattsSysAttrSet'; readonly connHandle: number; readonly sysAttrData: Uint8Array | null; readonly flags: number }
  | { readonly kind: 'gattsExchangeMtuReply'; readonly connHandle: number; readonly serverRxMtu: number }
  /** Always with a NULL block: the only form pc-ble-driver supports. */
  | { readonly kind: 'userMemReply'; readonly connHandle: number };

export type CommandOf<K extends CommandKind> = Extract<NrfCommand, { kind: K }>;
type Args<K extends CommandKind> = Omit<CommandOf<K>, 'kind'>;

type Empty = Record<never, never>;

/** A presence byte that must be `01`: output pointers the host always supplies. */
const alwaysOut: Codec<Empty> = {
  write: (w) => outPointer.write(w, true),
  read: (r) => {
    if (!outPointer.read(r)) throw serializationMalformed('output pointer is NULL', 'NRF_ERROR_INVALID_DATA');
    return {};
  },
};

const none = struct<Empty>({});

/** A NULL pointer, the only value the field may take. */
const nullOnly: Codec<Empty> = {
  write: (w) => w.u8(0),
  read: (r) => {
    if (r.u8() !== 0) throw serializationMalformed('only a NULL memory block is supported', 'NRF_ERROR_INVALID_DATA');
    return {};
  },
};

const writeParams = struct<WriteParams>({ writeOp: u8, flags: u8, handle: u16, offset: u16, value: len16Data });

function argCodecs(t: ApiTable): { readonly [K in CommandKind]: Codec<Args<K>> } {
  return {
    enable: none,
    cfgSet: struct<Args<'cfgSet'>>({ config: configCodec(t) }),
    uuidVsAdd: merge(struct<Args<'uuidVsAdd'>>({ base: present(fixedBytes(16), '128-bit UUID base') }), alwaysOut),
    versionGet: alwaysOut,
    gapAddrGet: alwaysOut,
    gapScanStart: merge(struct<{ params: ScanParams | null }>({ params: cond(t.scanParams) }), t.scanStartFields),
    gapScanStop: none,
    gapConnect: struct<Args<'gapConnect'>>({
      peerAddr: cond(gapAddr),
      scanParams: present(t.scanParams, 'scan parameters'),
      connParams: present(connParams, 'connection parameters'),
      connCfgTag: u8,
    }),
    gapConnectCancel: none,
    gapDisconnect: struct<Args<'gapDisconnect'>>({ connHandle: u16, hciStatusCode: u8 }),
    gapConnParamUpdate: struct<Args<'gapConnParamUpdate'>>({ connHandle: u16, connParams: cond(connParams) }),
    gapDataLengthUpdate: struct<Args<'gapDataLengthUpdate'>>({
      connHandle: u16,
      params: cond(dataLengthParams),
      wantLimitation: outPointer,
    }),
    gapPhyUpdate: struct<Args<'gapPhyUpdate'>>({ connHandle: u16, phys: present(phys, 'PHYs') }),
    gattcPrimaryServicesDiscover: struct<Args<'gattcPrimaryServicesDiscover'>>({
      connHandle: u16,
      startHandle: u16,
      uuid: cond(bleUuid),
    }),
    gattcCharacteristicsDiscover: struct<Args<'gattcCharacteristicsDiscover'>>({
      connHandle: u16,
      range: present(handleRange, 'handle range'),
    }),
    gattcDescriptorsDiscover: struct<Args<'gattcDescriptorsDiscover'>>({
      connHandle: u16,
      range: present(handleRange, 'handle range'),
    }),
    gattcRead: struct<Args<'gattcRead'>>({ connHandle: u16, handle: u16, offset: u16 }),
    gattcWrite: struct<Args<'gattcWrite'>>({ connHandle: u16, params: present(writeParams, 'write parameters') }),
    gattcHvConfirm: struct<Args<'gattcHvConfirm'>>({ connHandle: u16, handle: u16 }),
    gattcExchangeMtuRequest: struct<Args<'gattcExchangeMtuRequest'>>({ connHandle: u16, clientRxMtu: u16 }),
    gattsSysAttrSet: struct<Args<'gattsSysAttrSet'>>({ connHandle: u16, sysAttrData: len16Data, flags: u32 }),
    gattsExchangeMtuReply: struct<Args<'gattsExchangeMtuReply'>>({ connHandle: u16, serverRxMtu: u16 }),
    userMemReply: merge(struct<Args<'userMemReply'>>({ connHandle: u16 }), nullOnly),
  };
}

interface CommandCodecs {
  readonly args: Readonly<Record<CommandKind, Codec<Omit<NrfCommand, 'kind'>>>>;
  readonly kindByOpcode: ReadonlyMap<number, CommandKind>;
  readonly table: ApiTable;
}

function buildCodecs(api: ApiVersion): CommandCodecs {
  const table = apiTable(api);
  return {
    args: argCodecs(table) as unknown as Readonly<Record<CommandKind, Codec<Omit<NrfCommand, 'kind'>>>>,
    kindByOpcode: new Map(COMMAND_KINDS.map((k) => [table.opcodes[k], k])),
    table,
  };
}

const CODECS: Readonly<Record<ApiVersion, CommandCodecs>> = { 5: buildCodecs(5), 6: buildCodecs(6) };

export function commandOpcode(api: ApiVersion, kind: CommandKind): number {
  return CODECS[api].table.opcodes[kind];
}

/** Which call an opcode stands for in this API version (undefined: not one we serialize). */
export function commandKindForOpcode(api: ApiVersion, opcode: number): CommandKind | undefined {
  return CODECS[api].kindByOpcode.get(opcode);
}

/** Opcode and arguments (the codec bytes, without the serialization packet type). */
export function encodeCommand(api: ApiVersion, command: NrfCommand): Uint8Array {
  const { kind, ...args } = command;
  const codecs = CODECS[api];
  try {
    return encodeWith(
      merge(struct<{ opcode: number }>({ opcode: u8 }), codecs.args[kind]),
      { opcode: codecs.table.opcodes[kind], ...args },
    );
  } catch (e) {
    if (isBledfuError(e) && e.code === 'INVALID_ARGUMENT') {
      throw unencodable(`${SD_FUNCTIONS[kind]} (API v${api}): ${e.message}`);
    }
    throw e;
  }
}

export function decodeCommand(api: ApiVersion, bytes: Uint8Array): NrfCommand {
  const codecs = CODECS[api];
  const opcode = bytes[0];
  const kind = opcode === undefined ? undefined : codecs.kindByOpcode.get(opcode);
  if (kind === undefined) {
    throw serializationMalformed(`no API v${api} command with opcode ${opcode === undefined ? '(none)' : `0x${opcode.toString(16)}`}`, 'NRF_ERROR_NOT_SUPPORTED', {
      packet: toHex(bytes.subarray(0, 32)),
    });
  }
  const args = decodeExactly(codecs.args[kind], bytes.subarray(1), `${SD_FUNCTIONS[kind]} command`, 'NRF_ERROR_INVALID_LENGTH', {
    command: SD_FUNCTIONS[kind],
  });
  return { kind, ...args } as NrfCommand;
}
