/**
 * SoftDevice structures that are laid out the same in API v5 and v6, as plain values plus their
 * codecs. Values are the raw SoftDevice values (units as the SoftDevice defines them); turning them
 * into bledfu's own types is the backend's job.
 */
import { ByteReader, ByteWriter } from '../../../common/bytes.js';
import { bit0, bitfield, fixedBytes, flag, struct, u16, u32, u8, unencodable, type Codec } from './codec.js';

/** ble_gap_addr_t. */
export interface GapAddr {
  /** The peer's identity address was resolved (only in events). */
  readonly idPeer: boolean;
  /** 0 public, 1 random static, 2 resolvable private, 3 non-resolvable private, 0x7F anonymous (v6). */
  readonly type: number;
  /** 6 bytes, least significant first (wire order; the reverse of "C0:11:22:33:44:55"). */
  readonly address: Uint8Array;
}

export const gapAddr: Codec<GapAddr> = {
  write: (w: ByteWriter, v: GapAddr) => {
    if (!Number.isInteger(v.type) || v.type < 0 || v.type > 0x7f) throw unencodable(`address type ${v.type} does not fit in 7 bits`);
    w.u8((v.idPeer ? 1 : 0) | (v.type << 1));
    fixedBytes(6).write(w, v.address);
  },
  read: (r: ByteReader) => {
    const head = r.u8();
    return { idPeer: (head & 1) === 1, type: head >>> 1, address: r.bytes(6).slice() };
  },
};

/** ble_uuid_t: a 16-bit UUID or alias, with its base (0 unknown, 1 Bluetooth SIG, ≥2 vendor base). */
export interface BleUuid {
  readonly uuid: number;
  readonly type: number;
}
export const bleUuid = struct<BleUuid>({ uuid: u16, type: u8 });

/** ble_gap_conn_params_t: intervals in 1.25 ms units, supervision timeout in 10 ms units. */
export interface ConnParams {
  readonly minConnInterval: number;
  readonly maxConnInterval: number;
  readonly slaveLatency: number;
  readonly connSupTimeout: number;
}
export const connParams = struct<ConnParams>({ minConnInterval: u16, maxConnInterval: u16, slaveLatency: u16, connSupTimeout: u16 });

/** ble_gattc_handle_range_t. */
export interface HandleRange {
  readonly startHandle: number;
  readonly endHandle: number;
}
export const handleRange = struct<HandleRange>({ startHandle: u16, endHandle: u16 });

/** ble_gap_data_length_params_t; 0 = BLE_GAP_DATA_LENGTH_AUTO. */
export interface DataLengthParams {
  readonly maxTxOctets: number;
  readonly maxRxOctets: number;
  readonly maxTxTimeUs: number;
  readonly maxRxTimeUs: number;
}
export const dataLengthParams = struct<DataLengthParams>({ maxTxOctets: u16, maxRxOctets: u16, maxTxTimeUs: u16, maxRxTimeUs: u16 });

/** ble_gap_data_length_limitation_t: what the SoftDevice could not grant. */
export interface DataLengthLimitation {
  readonly txPayloadLimitedOctets: number;
  readonly rxPayloadLimitedOctets: number;
  readonly txRxTimeLimitedUs: number;
}
export const dataLengthLimitation = struct<DataLengthLimitation>({
  txPayloadLimitedOctets: u16,
  rxPayloadLimitedOctets: u16,
  txRxTimeLimitedUs: u16,
});

/** ble_gap_phys_t: bitmasks, 1 = 1M, 2 = 2M, 4 = Coded, 0 = automatic. */
export interface Phys {
  readonly txPhys: number;
  readonly rxPhys: number;
}
export const phys = struct<Phys>({ txPhys: u8, rxPhys: u8 });

/** ble_version_t; `subversionNumber` is the SoftDevice firmware id (0xA5 = S132 5.1.0, 0xB6 = S140 6.1.1). */
export interface BleVersion {
  readonly versionNumber: number;
  readonly companyId: number;
  readonly subversionNumber: number;
}
export const bleVersion = struct<BleVersion>({ versionNumber: u8, companyId: u16, subversionNumber: u16 });

/** ble_gattc_write_params_t. */
export interface WriteParams {
  /** 1 write request, 2 write command, 3 signed write command, 4 prepare write, 5 execute write. */
  readonly writeOp: number;
  /** Execute-write flags; 0 otherwise. */
  readonly flags: number;
  readonly handle: number;
  readonly offset: number;
  readonly value: Uint8Array | null;
}

/**
 * A v6 ble_data_t in its "empty" form: only the host's buffer id and size travel (scan report
 * buffer, CONNECTED adv data, the buffer a scan TIMEOUT hands back). Id 0 = no buffer.
 */
export interface DataRef {
  readonly bufferId: number;
  readonly len: number;
}
export const dataRef = struct<DataRef>({ bufferId: u32, len: u16 });

/** ble_gattc_service_t. */
export interface GattcService {
  readonly uuid: BleUuid;
  readonly startHandle: number;
  readonly endHandle: number;
}
export const gattcService = struct<GattcService>({ uuid: bleUuid, startHandle: u16, endHandle: u16 });

/** ble_gatt_char_props_t. */
export interface CharProps {
  readonly broadcast: boolean;
  readonly read: boolean;
  readonly writeWoResp: boolean;
  readonly write: boolean;
  readonly notify: boolean;
  readonly indicate: boolean;
  readonly authSignedWr: boolean;
}
export const charProps = bitfield<CharProps>(8, {
  broadcast: flag(0),
  read: flag(1),
  writeWoResp: flag(2),
  write: flag(3),
  notify: flag(4),
  indicate: flag(5),
  authSignedWr: flag(6),
});

/** ble_gattc_char_t. */
export interface GattcChar {
  readonly uuid: BleUuid;
  readonly props: CharProps;
  /** An extended-properties descriptor is present. */
  readonly extProps: boolean;
  readonly handleDecl: number;
  readonly handleValue: number;
}
export const gattcChar = struct<GattcChar>({
  uuid: bleUuid,
  props: charProps,
  extProps: bit0,
  handleDecl: u16,
  handleValue: u16,
});

/** ble_gattc_desc_t. */
export interface GattcDesc {
  readonly handle: number;
  readonly uuid: BleUuid;
}
export const gattcDesc = struct<GattcDesc>({ handle: u16, uuid: bleUuid });
