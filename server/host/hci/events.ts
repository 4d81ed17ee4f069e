/**
 * HCI events as a discriminated union (Core Vol 4, Part E, 7.7), decoded from and encoded to
 * event packets. A well-framed event we do not model decodes to `unknown` rather than throwing:
 * controllers send vendor and informational events a host is free to ignore.
 */
import { ByteReader, ByteWriter } from '../../common/bytes.js';
import { bdAddr, struct, u16, u8, type Codec, type CodecValue } from './codec.js';
import type { HciEventPacket } from './packets.js';

export const HCI_EVENT_CODES = {
  disconnectionComplete: 0x05,
  commandComplete: 0x0e,
  commandStatus: 0x0f,
  hardwareError: 0x10,
  numberOfCompletedPackets: 0x13,
  leMeta: 0x3e,
} as const satisfies Record<string, number>;

export const LE_SUBEVENT_CODES = {
  connectionComplete: 0x01,
  advertisingReport: 0x02,
  connectionUpdateComplete: 0x03,
  remoteConnectionParameterRequest: 0x06,
  dataLengthChange: 0x07,
  enhancedConnectionComplete: 0x0a,
  phyUpdateComplete: 0x0c,
} as const satisfies Record<string, number>;

/** Advertising report event types (legacy advertising). */
export const ADV_EVENT_TYPES = {
  advInd: 0x00,
  advDirectInd: 0x01,
  advScanInd: 0x02,
  advNonconnInd: 0x03,
  scanRsp: 0x04,
} as const satisfies Record<string, number>;

export const CONNECTION_ROLE = { central: 0x00, peripheral: 0x01 } as const satisfies Record<string, number>;

const disconnectionComplete = struct({ status: u8, handle: u16, reason: u8 });
const commandStatus = struct({ status: u8, numHciCommandPackets: u8, opcode: u16 });
const hardwareError = struct({ hardwareCode: u8 });
const connectionComplete = struct({
  status: u8,
  handle: u16,
  role: u8,
  peerAddressType: u8,
  peerAddress: bdAddr,
  connInterval: u16,
  connLatency: u16,
  supervisionTimeout: u16,
  centralClockAccuracy: u8,
});
const enhancedConnectionComplete = struct({
  status: u8,
  handle: u16,
  role: u8,
  peerAddressType: u8,
  peerAddress: bdAddr,
  localResolvablePrivateAddress: bdAddr,
  peerResolvablePrivateAddress: bdAddr,
  connInterval: u16,
  connLatency: u16,
  supervisionTimeout: u16,
  centralClockAccuracy: u8,
});
const connectionUpdateComplete = struct({
  status: u8,
  handle: u16,
  connInterval: u16,
  connLatency: u16,
  supervisionTimeout: u16,
});
const remoteConnectionParameterRequest = struct({
  handle: u16,
  intervalMin: u16,
  intervalMax: u16,
  maxLatency: u16,
  timeout: u16,
});
const dataLengthChange = struct({ handle: u16, maxTxOctets: u16, maxTxTime: u16, maxRxOctets: u16, maxRxTime: u16 });
const phyUpdateComplete = struct({ status: u8, handle: u16, txPhy: u8, rxPhy: u8 });

export interface AdvertisingReport {
  readonly eventType: number;
  readonly addressType: number;
  readonly address: string;
  readonly data: Uint8Array;
  /** dBm; 127 means not available. */
  readonly rssi: number;
}

export interface CompletedPackets {
  readonly handle: number;
  readonly count: number;
}

type Fields<C> = CodecValue<C>;

export type HciEvent =
  | ({ readonly kind: 'disconnectionComplete' } & Fields<typeof disconnectionComplete>)
  | {
      readonly kind: 'commandComplete';
      readonly numHciCommandPackets: number;
      readonly opcode: number;
      /** Status octet first; decode with commands.ts decodeReturnParameters. */
      readonly returnParameters: Uint8Array;
    }
  | ({ readonly kind: 'commandStatus' } & Fields<typeof commandStatus>)
  | ({ readonly kind: 'hardwareError' } & Fields<typeof hardwareError>)
  | { readonly kind: 'numberOfCompletedPackets'; readonly entries: readonly CompletedPackets[] }
  | ({ readonly kind: 'leConnectionComplete' } & Fields<typeof connectionComplete>)
  | ({ readonly kind: 'leEnhancedConnectionComplete' } & Fields<typeof enhancedConnectionComplete>)
  | { readonly kind: 'leAdvertisingReport'; readonly reports: readonly AdvertisingReport[] }
  | ({ readonly kind: 'leConnectionUpdateComplete' } & Fields<typeof connectionUpdateComplete>)
  | ({ readonly kind: 'leRemoteConnectionParameterRequest' } & Fields<typeof remoteConnectionParameterRequest>)
  | ({ readonly kind: 'leDataLengthChange' } & Fields<typeof dataLengthChange>)
  | ({ readonly kind: 'lePhyUpdateComplete' } & Fields<typeof phyUpdateComplete>)
  | {
      readonly kind: 'unknown';
      readonly code: number;
      /** Set for LE Meta events with a subevent we do not model; params then follow the subevent octet. */
      readonly subevent?: number;
      readonly params: Uint8Array;
    };

export type HciEventKind = HciEvent['kind'];

function read<T>(codec: Codec<T>, r: ByteReader): T {
  return codec.decode(r);
}

function decodeAdvertisingReports(r: ByteReader): AdvertisingReport[] {
  const count = r.u8();
  const reports: AdvertisingReport[] = [];
  // Reports are laid out one after another (as controllers send them), each with its own length.
  for (let i = 0; i < count; i++) {
    const eventType = r.u8();
    const addressType = r.u8();
    const address = bdAddr.decode(r);
    const length = r.u8();
    const data = r.bytes(length).slice();
    const rssi = r.i8();
    reports.push({ eventType, addressType, address, data, rssi });
  }
  return reports;
}

function decodeLeMeta(r: ByteReader): HciEvent {
  const subevent = r.u8();
  switch (subevent) {
    case LE_SUBEVENT_CODES.connectionComplete:
      return { kind: 'leConnectionComplete', ...read(connectionComplete, r) };
    case LE_SUBEVENT_CODES.enhancedConnectionComplete:
      return { kind: 'leEnhancedConnectionComplete', ...read(enhancedConnectionComplete, r) };
    case LE_SUBEVENT_CODES.advertisingReport:
      return { kind: 'leAdvertisingReport', reports: decodeAdvertisingReports(r) };
    case LE_SUBEVENT_CODES.connectionUpdateComplete:
      return { kind: 'leConnectionUpdateComplete', ...read(connectionUpdateComplete, r) };
    case LE_SUBEVENT_CODES.remoteConnectionParameterRequest:
      return { kind: 'leRemoteConnectionParameterRequest', ...read(remoteConnectionParameterRequest, r) };
    case LE_SUBEVENT_CODES.dataLengthChange:
      return { kind: 'leDataLengthChange', ...read(dataLengthChange, r) };
    case LE_SUBEVENT_CODES.phyUpdateComplete:
      return { kind: 'lePhyUpdateComplete', ...read(phyUpdateComplete, r) };
    default:
      return { kind: 'unknown', code: HCI_EVENT_CODES.leMeta, subevent, params: r.rest().slice() };
  }
}

/** Throws MALFORMED_PACKET only when a modelled event is too short. */
export function decodeEvent(packet: HciEventPacket): HciEvent {
  const r = new ByteReader(packet.params, 'hci', `HCI event 0x${packet.code.toString(16).padStart(2, '0')}`);
  switch (packet.code) {
    case HCI_EVENT_CODES.disconnectionComplete:
      return { kind: 'disconnectionComplete', ...read(disconnectionComplete, r) };
    case HCI_EVENT_CODES.commandComplete: {
      const numHciCommandPackets = r.u8();
      const opcode = r.u16le();
      return { kind: 'commandComplete', numHciCommandPackets, opcode, returnParameters: r.rest().slice() };
    }
    case HCI_EVENT_CODES.commandStatus:
      return { kind: 'commandStatus', ...read(commandStatus, r) };
    case HCI_EVENT_CODES.hardwareError:
      return { kind: 'hardwareError', ...read(hardwareError, r) };
    case HCI_EVENT_CODES.numberOfCompletedPackets: {
      const n = r.u8();
      const entries: CompletedPackets[] = [];
      // Handle and count interleaved per entry, as every controller sends them.
      for (let i = 0; i < n; i++) entries.push({ handle: r.u16le() & 0x0fff, count: r.u16le() });
      return { kind: 'numberOfCompletedPackets', entries };
    }
    case HCI_EVENT_CODES.leMeta:
      return decodeLeMeta(r);
    default:
      return { kind: 'unknown', code: packet.code, params: packet.params };
  }
}

function withoutKind<T extends { kind: string }>(event: T): Omit<T, 'kind'> {
  const { kind: _kind, ...rest } = event;
  return rest;
}

function leMeta(subevent: number, write: (w: ByteWriter) => void): HciEventPacket {
  const w = new ByteWriter(32).u8(subevent);
  write(w);
  return { code: HCI_EVENT_CODES.leMeta, params: w.finish() };
}

function simple<T>(code: number, codec: Codec<T>, value: T): HciEventPacket {
  const w = new ByteWriter(16);
  codec.encode(w, value);
  return { code, params: w.finish() };
}

export function encodeEvent(event: HciEvent): HciEventPacket {
  switch (event.kind) {
    case 'disconnectionComplete':
      return simple(HCI_EVENT_CODES.disconnectionComplete, disconnectionComplete, withoutKind(event));
    case 'commandComplete':
      return {
        code: HCI_EVENT_CODES.commandComplete,
        params: new ByteWriter(3 + event.returnParameters.length)
          .u8(event.numHciCommandPackets)
          .u16le(event.opcode)
          .bytes(event.returnParameters)
          .finish(),
      };
    case 'commandStatus':
      return simple(HCI_EVENT_CODES.commandStatus, commandStatus, withoutKind(event));
    case 'hardwareError':
      return simple(HCI_EVENT_CODES.hardwareError, hardwareError, withoutKind(event));
    case 'numberOfCompletedPackets': {
      const w = new ByteWriter(1 + 4 * event.entries.length).u8(event.entries.length);
      for (const e of event.entries) w.u16le(e.handle).u16le(e.count);
      return { code: HCI_EVENT_CODES.numberOfCompletedPackets, params: w.finish() };
    }
    case 'leConnectionComplete':
      return leMeta(LE_SUBEVENT_CODES.connectionComplete, (w) => connectionComplete.encode(w, withoutKind(event)));
    case 'leEnhancedConnectionComplete':
      return leMeta(LE_SUBEVENT_CODES.enhancedConnectionComplete, (w) =>
        enhancedConnectionComplete.encode(w, withoutKind(event)),
      );
    case 'leAdvertisingReport':
      return leMeta(LE_SUBEVENT_CODES.advertisingReport, (w) => {
        w.u8(event.reports.length);
        for (const report of event.reports) {
          w.u8(report.eventType).u8(report.addressType);
          bdAddr.encode(w, report.address);
          w.u8(report.data.length).bytes(report.data).i8(report.rssi);
        }
      });
    case 'leConnectionUpdateComplete':
      return leMeta(LE_SUBEVENT_CODES.connectionUpdateComplete, (w) =>
        connectionUpdateComplete.encode(w, withoutKind(event)),
      );
    case 'leRemoteConnectionParameterRequest':
      return leMeta(LE_SUBEVENT_CODES.remoteConnectionParameterRequest, (w) =>
        remoteConnectionParameterRequest.encode(w, withoutKind(event)),
      );
    case 'leDataLengthChange':
      return leMeta(LE_SUBEVENT_CODES.dataLengthChange, (w) => dataLengthChange.encode(w, withoutKind(event)));
    case 'lePhyUpdateComplete':
      return leMeta(LE_SUBEVENT_CODES.phyUpdateComplete, (w) => phyUpdateComplete.encode(w, withoutKind(event)));
    case 'unknown':
      if (event.subevent !== undefined) return leMeta(event.subevent, (w) => w.bytes(event.params));
      return { code: event.code, params: event.params };
    default: {
      const never: never = event;
      throw new Error(`unreachable ${String(never)}`);
    }
  }
}

