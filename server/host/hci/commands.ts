/**
 * The HCI commands bledfu sends (and the simulator answers): opcode, how the controller
 * acknowledges it, and the layouts of its parameters and return parameters (Core Vol 4, Part E, 7).
 * Return parameters here exclude the leading Status octet, which every Command Complete carries
 * and which is handled once, in encode/decodeReturnParameters.
 */
import { ByteReader, ByteWriter } from '../../common/bytes.js';
import { bdAddr, type Codec, type CodecValue, empty, fixedBytes, struct, u16, u64, u8 } from './codec.js';
import { hciMalformed } from './errors.js';
import type { HciCommandPacket } from './packets.js';

/** 'complete': answered by Command Complete; 'status': Command Status, then an event later. */
export type CommandCompletion = 'complete' | 'status';

interface CommandSpec {
  readonly opcode: number;
  readonly name: string;
  readonly completion: CommandCompletion;
  readonly params: Codec<unknown>;
  readonly returns: Codec<unknown>;
}

const connectionParams = {
  connIntervalMin: u16,
  connIntervalMax: u16,
  maxLatency: u16,
  supervisionTimeout: u16,
  minCeLength: u16,
  maxCeLength: u16,
} as const;

const handleOnly = struct({ handle: u16 });

/** Legacy advertising and scan response data: a length octet, then always 31 octets, zero-padded. */
const ADVERTISING_DATA_OCTETS = 31;
const advertisingData: Codec<Uint8Array> = {
  encode: (w, v) => {
    if (v.length > ADVERTISING_DATA_OCTETS) throw hciMalformed(`advertising data is ${v.length} octets, at most ${ADVERTISING_DATA_OCTETS} fit`);
    const padded = new Uint8Array(ADVERTISING_DATA_OCTETS);
    padded.set(v);
    w.u8(v.length).bytes(padded);
  },
  decode: (r) => {
    const length = r.u8();
    const padded = r.bytes(ADVERTISING_DATA_OCTETS);
    if (length > ADVERTISING_DATA_OCTETS) throw hciMalformed(`advertising data length ${length} exceeds ${ADVERTISING_DATA_OCTETS}`);
    return padded.slice(0, length);
  },
};

/**
 * Zephyr's vendor "Read Static Addresses" return: a count, then per address its BD_ADDR (6 octets,
 * least significant first) and its identity root IR (16 octets). Zephyr include/bluetooth/hci_vs.h:
 * BT_HCI_OP_VS_READ_STATIC_ADDRS, struct bt_hci_rp_vs_read_static_addrs / bt_hci_vs_static_addr.
 */
export interface ZephyrStaticAddress {
  readonly address: string;
  readonly ir: Uint8Array;
}
const ZEPHYR_IR_OCTETS = 16;
const zephyrStaticAddresses: Codec<readonly ZephyrStaticAddress[]> = {
  encode: (w, v) => {
    w.u8(v.length);
    for (const a of v) {
      bdAddr.encode(w, a.address);
      fixedBytes(ZEPHYR_IR_OCTETS).encode(w, a.ir);
    }
  },
  decode: (r) => {
    const n = r.u8();
    const out: ZephyrStaticAddress[] = [];
    for (let i = 0; i < n; i++) out.push({ address: bdAddr.decode(r), ir: fixedBytes(ZEPHYR_IR_OCTETS).decode(r) });
    return out;
  },
};

export const HCI_COMMANDS = {
  disconnect: {
    opcode: 0x0406,
    name: 'HCI_Disconnect',
    completion: 'status',
    params: struct({ handle: u16, reason: u8 }),
    returns: empty,
  },
  setEventMask: {
    opcode: 0x0c01,
    name: 'HCI_Set_Event_Mask',
    completion: 'complete',
    params: struct({ mask: u64 }),
    returns: empty,
  },
  reset: { opcode: 0x0c03, name: 'HCI_Reset', completion: 'complete', params: empty, returns: empty },
  readLocalVersionInformation: {
    opcode: 0x1001,
    name: 'HCI_Read_Local_Version_Information',
    completion: 'complete',
    params: empty,
    returns: struct({ hciVersion: u8, hciSubversion: u16, lmpVersion: u8, companyId: u16, lmpSubversion: u16 }),
  },
  /** Zephyr vendor command (OGF 0x3F, OCF 0x0009): only sent to a controller identified as Zephyr. */
  zephyrReadStaticAddresses: {
    opcode: 0xfc09,
    name: 'HCI_Zephyr_Read_Static_Addresses',
    completion: 'complete',
    params: empty,
    returns: struct({ addresses: zephyrStaticAddresses }),
  },
  readLocalSupportedCommands: {
    opcode: 0x1002,
    name: 'HCI_Read_Local_Supported_Commands',
    completion: 'complete',
    params: empty,
    returns: struct({ supportedCommands: fixedBytes(64) }),
  },
  readLocalSupportedFeatures: {
    opcode: 0x1003,
    name: 'HCI_Read_Local_Supported_Features',
    completion: 'complete',
    params: empty,
    returns: struct({ lmpFeatures: u64 }),
  },
  readBufferSize: {
    opcode: 0x1005,
    name: 'HCI_Read_Buffer_Size',
    completion: 'complete',
    params: empty,
    returns: struct({
      aclDataPacketLength: u16,
      syncDataPacketLength: u8,
      totalNumAclDataPackets: u16,
      totalNumSyncDataPackets: u16,
    }),
  },
  readBdAddr: {
    opcode: 0x1009,
    name: 'HCI_Read_BD_ADDR',
    completion: 'complete',
    params: empty,
    returns: struct({ address: bdAddr }),
  },
  leSetEventMask: {
    opcode: 0x2001,
    name: 'HCI_LE_Set_Event_Mask',
    completion: 'complete',
    params: struct({ mask: u64 }),
    returns: empty,
  },
  leReadBufferSize: {
    opcode: 0x2002,
    name: 'HCI_LE_Read_Buffer_Size',
    completion: 'complete',
    params: empty,
    returns: struct({ leAclDataPacketLength: u16, totalNumLeAclDataPackets: u8 }),
  },
  leReadLocalSupportedFeatures: {
    opcode: 0x2003,
    name: 'HCI_LE_Read_Local_Supported_Features',
    completion: 'complete',
    params: empty,
    returns: struct({ leFeatures: u64 }),
  },
  leSetRandomAddress: {
    opcode: 0x2005,
    name: 'HCI_LE_Set_Random_Address',
    completion: 'complete',
    params: struct({ address: bdAddr }),
    returns: empty,
  },
  leSetAdvertisingParameters: {
    opcode: 0x2006,
    name: 'HCI_LE_Set_Advertising_Parameters',
    completion: 'complete',
    params: struct({
      advertisingIntervalMin: u16,
      advertisingIntervalMax: u16,
      advertisingType: u8,
      ownAddressType: u8,
      peerAddressType: u8,
      peerAddress: bdAddr,
      channelMap: u8,
      filterPolicy: u8,
    }),
    returns: empty,
  },
  leSetAdvertisingData: {
    opcode: 0x2008,
    name: 'HCI_LE_Set_Advertising_Data',
    completion: 'complete',
    params: struct({ data: advertisingData }),
    returns: empty,
  },
  leSetScanResponseData: {
    opcode: 0x2009,
    name: 'HCI_LE_Set_Scan_Response_Data',
    completion: 'complete',
    params: struct({ data: advertisingData }),
    returns: empty,
  },
  leSetAdvertisingEnable: {
    opcode: 0x200a,
    name: 'HCI_LE_Set_Advertising_Enable',
    completion: 'complete',
    params: struct({ enable: u8 }),
    returns: empty,
  },
  leSetScanParameters: {
    opcode: 0x200b,
    name: 'HCI_LE_Set_Scan_Parameters',
    completion: 'complete',
    params: struct({ scanType: u8, scanInterval: u16, scanWindow: u16, ownAddressType: u8, filterPolicy: u8 }),
    returns: empty,
  },
  leSetScanEnable: {
    opcode: 0x200c,
    name: 'HCI_LE_Set_Scan_Enable',
    completion: 'complete',
    params: struct({ enable: u8, filterDuplicates: u8 }),
    returns: empty,
  },
  leCreateConnection: {
    opcode: 0x200d,
    name: 'HCI_LE_Create_Connection',
    completion: 'status',
    params: struct({
      scanInterval: u16,
      scanWindow: u16,
      initiatorFilterPolicy: u8,
      peerAddressType: u8,
      peerAddress: bdAddr,
      ownAddressType: u8,
      ...connectionParams,
    }),
    returns: empty,
  },
  leCreateConnectionCancel: {
    opcode: 0x200e,
    name: 'HCI_LE_Create_Connection_Cancel',
    completion: 'complete',
    params: empty,
    returns: empty,
  },
  leConnectionUpdate: {
    opcode: 0x2013,
    name: 'HCI_LE_Connection_Update',
    completion: 'status',
    params: struct({ handle: u16, ...connectionParams }),
    returns: empty,
  },
  leRemoteConnectionParameterRequestReply: {
    opcode: 0x2020,
    name: 'HCI_LE_Remote_Connection_Parameter_Request_Reply',
    completion: 'complete',
    params: struct({ handle: u16, ...connectionParams }),
    // Spec: Connection_Handle follows the status; BlueZ's btvirt sends the status alone. The
    // handle is the one we sent, so nothing is lost by not reading it.
    returns: empty,
  },
  leRemoteConnectionParameterRequestNegativeReply: {
    opcode: 0x2021,
    name: 'HCI_LE_Remote_Connection_Parameter_Request_Negative_Reply',
    completion: 'complete',
    params: struct({ handle: u16, reason: u8 }),
    // Spec: Connection_Handle follows the status; BlueZ's btvirt sends the status alone. The
    // handle is the one we sent, so nothing is lost by not reading it.
    returns: empty,
  },
  leSetDataLength: {
    opcode: 0x2022,
    name: 'HCI_LE_Set_Data_Length',
    completion: 'complete',
    params: struct({ handle: u16, txOctets: u16, txTime: u16 }),
    returns: handleOnly,
  },
  leReadSuggestedDefaultDataLength: {
    opcode: 0x2023,
    name: 'HCI_LE_Read_Suggested_Default_Data_Length',
    completion: 'complete',
    params: empty,
    returns: struct({ suggestedMaxTxOctets: u16, suggestedMaxTxTime: u16 }),
  },
  leWriteSuggestedDefaultDataLength: {
    opcode: 0x2024,
    name: 'HCI_LE_Write_Suggested_Default_Data_Length',
    completion: 'complete',
    params: struct({ suggestedMaxTxOctets: u16, suggestedMaxTxTime: u16 }),
    returns: empty,
  },
  leSetDefaultPhy: {
    opcode: 0x2031,
    name: 'HCI_LE_Set_Default_PHY',
    completion: 'complete',
    params: struct({ allPhys: u8, txPhys: u8, rxPhys: u8 }),
    returns: empty,
  },
  leSetPhy: {
    opcode: 0x2032,
    name: 'HCI_LE_Set_PHY',
    completion: 'status',
    params: struct({ handle: u16, allPhys: u8, txPhys: u8, rxPhys: u8, phyOptions: u16 }),
    returns: empty,
  },
} as const satisfies Record<string, CommandSpec>;

export type HciCommandName = keyof typeof HCI_COMMANDS;
export type CommandParams<K extends HciCommandName> = CodecValue<(typeof HCI_COMMANDS)[K]['params']>;
export type CommandReturn<K extends HciCommandName> = CodecValue<(typeof HCI_COMMANDS)[K]['returns']>;

/** A command the simulator received, narrowed by name; `unknown` for opcodes not in the table. */
export type DecodedCommand =
  | { readonly [K in HciCommandName]: { readonly name: K; readonly opcode: number; readonly params: CommandParams<K> } }[HciCommandName]
  | { readonly name: 'unknown'; readonly opcode: number; readonly params: Uint8Array };

const NAME_BY_OPCODE: ReadonlyMap<number, HciCommandName> = new Map(
  (Object.keys(HCI_COMMANDS) as HciCommandName[]).map((name) => [HCI_COMMANDS[name].opcode, name]),
);

/** The spec's name for an opcode, for logs and error messages. */
export function describeOpcode(opcode: number): string {
  const name = NAME_BY_OPCODE.get(opcode);
  return name === undefined ? `HCI command 0x${opcode.toString(16).padStart(4, '0')}` : HCI_COMMANDS[name].name;
}

function specOf(name: HciCommandName): CommandSpec {
  return HCI_COMMANDS[name];
}

function readAll<T>(codec: Codec<T>, bytes: Uint8Array, what: string): T {
  const r = new ByteReader(bytes, 'hci', what);
  const value = codec.decode(r);
  // Trailing octets are tolerated: later spec versions append fields to some layouts.
  return value;
}

export function encodeCommand<K extends HciCommandName>(name: K, params: CommandParams<K>): HciCommandPacket {
  const spec = specOf(name);
  const w = new ByteWriter(32);
  spec.params.encode(w, params);
  return { opcode: spec.opcode, params: w.finish() };
}

export function decodeCommandParams<K extends HciCommandName>(name: K, params: Uint8Array): CommandParams<K> {
  const spec = specOf(name);
  return readAll(spec.params, params, `${spec.name} parameters`) as CommandParams<K>;
}

export function decodeCommand(packet: HciCommandPacket): DecodedCommand {
  const name = NAME_BY_OPCODE.get(packet.opcode);
  if (name === undefined) return { name: 'unknown', opcode: packet.opcode, params: packet.params };
  return { name, opcode: packet.opcode, params: decodeCommandParams(name, packet.params) } as DecodedCommand;
}

/** Status octet, then (on success) the command's return parameters. */
export function encodeReturnParameters<K extends HciCommandName>(
  name: K,
  status: number,
  value?: CommandReturn<K>,
): Uint8Array {
  const w = new ByteWriter(16).u8(status);
  if (value !== undefined) specOf(name).returns.encode(w, value);
  return w.finish();
}

export interface DecodedReturn<T> {
  readonly status: number;
  /** Present only when status is 0: controllers may omit the rest on failure. */
  readonly value: T | undefined;
}

export function decodeReturnParameters<K extends HciCommandName>(
  name: K,
  bytes: Uint8Array,
): DecodedReturn<CommandReturn<K>> {
  const spec = specOf(name);
  const r = new ByteReader(bytes, 'hci', `${spec.name} return parameters`);
  const status = r.u8();
  if (status !== 0) return { status, value: undefined };
  return { status, value: spec.returns.decode(r) as CommandReturn<K> };
}

/** Event Mask bits (Set Event Mask); Command Complete/Status and Number Of Completed Packets are always on. */
export const EVENT_MASK_BITS = {
  disconnectionComplete: 4,
  encryptionChange: 7,
  readRemoteVersionInformationComplete: 11,
  hardwareError: 15,
  dataBufferOverflow: 25,
  encryptionKeyRefreshComplete: 47,
  leMeta: 61,
} as const satisfies Record<string, number>;

/** LE Event Mask bits (LE Set Event Mask). */
export const LE_EVENT_MASK_BITS = {
  connectionComplete: 0,
  advertisingReport: 1,
  connectionUpdateComplete: 2,
  readRemoteFeaturesComplete: 3,
  longTermKeyRequest: 4,
  remoteConnectionParameterRequest: 5,
  dataLengthChange: 6,
  enhancedConnectionComplete: 9,
  phyUpdateComplete: 11,
} as const satisfies Record<string, number>;

/** LE feature bits (LE Read Local Supported Features, Core Vol 6, Part B, 4.6). */
export const LE_FEATURE_BITS = {
  encryption: 0,
  connectionParametersRequest: 1,
  extendedRejectIndication: 2,
  peripheralInitiatedFeaturesExchange: 3,
  ping: 4,
  dataPacketLengthExtension: 5,
  llPrivacy: 6,
  extendedScannerFilterPolicies: 7,
  le2mPhy: 8,
  leCodedPhy: 11,
  extendedAdvertising: 12,
} as const satisfies Record<string, number>;

export function maskOf(bits: readonly number[]): bigint {
  return bits.reduce((mask, bit) => mask | (1n << BigInt(bit)), 0n);
}

export function hasBit(mask: bigint, bit: number): boolean {
  return ((mask >> BigInt(bit)) & 1n) === 1n;
}

/** Advertising_Type of LE Set Advertising Parameters (legacy advertising). */
export const ADVERTISING_TYPES = {
  advInd: 0x00,
  advDirectIndHighDuty: 0x01,
  advScanInd: 0x02,
  advNonconnInd: 0x03,
  advDirectIndLowDuty: 0x04,
} as const satisfies Record<string, number>;

/** Own_Address_Type / Peer_Address_Type codes. */
export const OWN_ADDRESS_TYPES = { public: 0x00, random: 0x01 } as const satisfies Record<string, number>;

/** All three primary advertising channels (37, 38, 39). */
export const ADVERTISING_CHANNELS_ALL = 0x07;

/** PHY bit masks for LE Set PHY / LE Set Default PHY. */
export const PHY_MASK = { le1m: 0x01, le2m: 0x02, leCoded: 0x04 } as const satisfies Record<string, number>;
