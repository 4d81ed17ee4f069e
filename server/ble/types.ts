/**
 * The backend contract. Everything above (DFU engines, jobs, RPC) sees Bluetooth LE only through
 * these interfaces; every backend (our HCI host stack, the Nordic connectivity firmware, …)
 * implements them. All waits take an AbortSignal; a lost link aborts `Connection.closed` with a
 * LINK_LOST BledfuError (facts.hciStatus = the disconnect reason) and fails everything pending.
 */
import type { DeviceAddress } from './address.js';
import type { Uuid } from './uuid.js';

export interface ManufacturerData {
  readonly companyId: number;
  readonly data: Uint8Array;
}

export interface Advertisement {
  readonly address: DeviceAddress;
  readonly rssi: number;
  readonly name?: string;
  readonly serviceUuids: readonly Uuid[];
  readonly manufacturerData: readonly ManufacturerData[];
  readonly connectable: boolean;
  /** Advertising data, with the scan response appended when one was received. */
  readonly data: Uint8Array;
  /** Milliseconds since the epoch. */
  readonly receivedAt: number;
}

export interface ScanParams {
  /** Send scan requests (to get scan responses). */
  readonly active: boolean;
  /** Ends the scan; the iterator then finishes normally. */
  readonly signal: AbortSignal;
}

export interface ConnectParams {
  readonly signal?: AbortSignal;
  /** Give up connecting after this long (CONNECT_FAILED). Default 10 000 ms. */
  readonly timeoutMs?: number;
  /** ATT MTU to ask for once connected. Default 247. */
  readonly mtu?: number;
  /**
   * When every link of the adapter is in use, wait (within `timeoutMs`) for one to go down instead
   * of failing ADAPTER_BUSY at once. Jobs wait: a link from a finished step may still be going down.
   */
  readonly waitForFreeLink?: boolean;
}

export interface ConnectionParameters {
  readonly intervalUs: number;
  readonly latency: number;
  readonly supervisionTimeoutMs: number;
}

/** Characteristic property bits (Core Vol 3, Part G, 3.3.1.1). */
export const CharProps = {
  broadcast: 0x01,
  read: 0x02,
  writeWithoutResponse: 0x04,
  write: 0x08,
  notify: 0x10,
  indicate: 0x20,
  authenticatedSignedWrites: 0x40,
  extendedProperties: 0x80,
} as const;

export interface GattCharacteristic {
  readonly uuid: Uuid;
  /** Handle of the characteristic declaration. */
  readonly handle: number;
  readonly valueHandle: number;
  /** CharProps bit mask. */
  readonly properties: number;
  /** Client Characteristic Configuration descriptor, when there is one. */
  readonly cccdHandle?: number;
}

export interface GattService {
  readonly uuid: Uuid;
  readonly startHandle: number;
  readonly endHandle: number;
  /** Empty also for a service left unexplored (DiscoveryOptions.characteristicsOf). */
  readonly characteristics: readonly GattCharacteristic[];
}

/**
 * What a discovery explores. Every primary service is always listed (UUID and handle range: one or
 * two ATT transactions on a typical device); finding characteristics and their CCCDs costs a few
 * transactions per service, each two connection events, so a caller that needs only some services
 * names them and the others come back without characteristics. A DFU connection needs the DFU
 * service alone: on the SDK bootloader that skips Generic Access and Generic Attribute.
 */
export interface DiscoveryOptions {
  /** Only these services' characteristics are discovered (UUIDs as in `UUIDS`). Omitted: all. */
  readonly characteristicsOf?: readonly Uuid[];
}

/** Values the peer sends by notification or indication, in order. */
export interface Subscription extends AsyncIterable<Uint8Array> {
  /** The next value; rejects with LINK_LOST if the link drops, or the abort reason. */
  receive(signal?: AbortSignal): Promise<Uint8Array>;
  /** Stops delivery here (the CCCD is left as it is: the peer may be gone). */
  close(): void;
}

export interface Connection {
  readonly address: DeviceAddress;
  /** Negotiated ATT MTU. */
  readonly mtu: number;
  readonly parameters: ConnectionParameters;
  /** Aborts when the link goes down; `reason` is a LINK_LOST BledfuError. */
  readonly closed: AbortSignal;
  discoverServices(signal?: AbortSignal, options?: DiscoveryOptions): Promise<readonly GattService[]>;
  read(valueHandle: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** ATT Write Request: resolves on the Write Response, rejects with ATT_ERROR naming the code. */
  write(valueHandle: number, value: Uint8Array, signal?: AbortSignal): Promise<void>;
  /**
   * ATT Write Command. Resolves once the stack has accepted it for transmission: callers are
   * flow-controlled by the controller's buffers, so awaiting each call never overruns anything.
   */
  writeWithoutResponse(valueHandle: number, value: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** Writes the CCCD (notify 0x0001 / indicate 0x0002) and delivers the values. */
  subscribe(characteristic: GattCharacteristic, mode: 'notify' | 'indicate', signal?: AbortSignal): Promise<Subscription>;
  /** Terminates the link (no-op when already down). Resolves when it is down. */
  disconnect(): Promise<void>;
}

export type AdapterKind = 'simulated' | 'hci-uart' | 'nordic-connectivity';
export type AdapterState = 'opening' | 'ready' | 'failed' | 'closed';

export type AddressSource = 'public' | 'controller-static' | 'generated';

export interface AdapterInfo {
  readonly id: string;
  readonly kind: AdapterKind;
  readonly spec: string;
  readonly state: AdapterState;
  readonly address?: DeviceAddress;
  /**
   * Where `address` (the one the adapter scans and connects as) came from: the controller's public
   * address, its own static random address (Zephyr vendor command, or the SoftDevice's), or a static
   * random address bledfu made and keeps for this dongle in the data directory.
   */
  readonly addressSource?: AddressSource;
  /** Controller identity in words (HCI version, manufacturer, firmware). */
  readonly identity: string;
  readonly activeConnections: number;
  readonly maxConnections: number;
  readonly error?: import('../common/errors.js').BledfuError;
  /** Controller quirks found and worked around since the adapter opened, one sentence each. */
  readonly workarounds?: readonly string[];
}

export interface HciCaptureOptions {
  /** Largest file to record, in bytes; traffic past it is not recorded (`truncated`). */
  readonly maxBytes: number;
}

/**
 * A recording, in memory, of an adapter's HCI traffic as a btsnoop file (HCI UART / H4
 * datalink): every link and scan on the adapter, not one connection's traffic only.
 */
export interface HciCapture {
  /** Bytes of the file recorded so far. */
  readonly size: number;
  /** The size limit was reached: nothing after that point was recorded. */
  readonly truncated: boolean;
  /** False once stopped (by stop(), the size limit, or the adapter closing). */
  readonly recording: boolean;
  /** The file so far, in order. The pieces stay valid and unchanged while recording goes on. */
  chunks(): readonly Uint8Array[];
  stop(): void;
}

/**
 * How the links on one dongle shared the controller's ACL data buffers (host-stack backends:
 * server/host/hci/aclBuffers.ts explains the policy).
 */
/** One link's use of the shared buffers since the scheduler was configured. */
export interface AclLinkAccounting {
  readonly handle: number;
  /** ACL fragments (one buffer each) handed to the controller. */
  readonly packetsSent: number;
  /** Times a fragment had to queue for a buffer. */
  readonly waits: number;
  /** Most buffers the link held at once. */
  readonly maxInFlight: number;
  /**
   * Times a buffer went to another link that then held more than its fair share while this
   * link was waiting. The scheduler exists to keep this at 0. (Buffers a link took while no one
   * else wanted any are not counted: a controller buffer cannot be taken back.)
   */
  readonly unfairWaits: number;
}

export interface AclBufferAccounting {
  /** Buffers the controller announced. */
  readonly total: number;
  /** Free right now. */
  readonly available: number;
  readonly links: readonly AclLinkAccounting[];
}

export interface Adapter {
  readonly id: string;
  info(): AdapterInfo;
  /** Advertisements as they arrive (duplicates included; filtering is the caller's). */
  scan(params: ScanParams): AsyncIterable<Advertisement>;
  connect(address: DeviceAddress, params?: ConnectParams): Promise<Connection>;
  /**
   * For simulated adapters: the modelled radio clock in milliseconds, so jobs can report the air
   * time a DFU would take on real hardware. Undefined on real dongles.
   */
  modelledTimeMs?(): number;
  /**
   * Aborts when the adapter stopped working for good (transport closed = dongle unplugged,
   * controller hardware error) or was closed; reason an ADAPTER_UNAVAILABLE BledfuError. Every
   * link, scan and pending call has failed by then. A supervised adapter (the registry's) never
   * fails for good: it reopens its dongle, so its signal aborts only on close().
   */
  readonly failed: AbortSignal;
  /**
   * Starts recording the adapter's HCI traffic from now on, headed by the exchange that set the
   * controller up. Undefined, or returning undefined, where the backend has no HCI to record.
   */
  captureHci?(options: HciCaptureOptions): HciCapture | undefined;
  /**
   * How the links have shared the controller's ACL buffers since the dongle was opened.
   * Undefined where the backend does not schedule them itself (the nrf backend's SoftDevice does).
   */
  aclBufferAccounting?(): AclBufferAccounting | undefined;
  close(): Promise<void>;
}
