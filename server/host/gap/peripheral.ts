/**
 * GAP peripheral role over HCI: one controller advertising as one device (legacy advertising),
 * accepting the connections centrals make to it, carrying L2CAP frames over ACL both ways,
 * answering the link layer's connection parameter requests, and terminating links.
 *
 * What to advertise is stated, not commanded: setAdvertising() takes the wanted advertising (or
 * none) and the controller is brought there with as few commands as it takes. Changes run one
 * after another, so a burst of changes never interleaves on the controller.
 */
import { addressFromBytes, addressToBytes, type DeviceAddress } from '../../ble/address.js';
import type { ConnectionParameters } from '../../ble/types.js';
import { bytesEqual } from '../../common/bytes.js';
import { BledfuError, hasCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import {
  ADVERTISING_CHANNELS_ALL,
  ADVERTISING_TYPES,
  EVENT_MASK_BITS,
  LE_EVENT_MASK_BITS,
  maskOf,
  OWN_ADDRESS_TYPES,
} from '../hci/commands.js';
import type { HciHost } from '../hci/controller.js';
import { HCI_STATUS, hciStatusName } from '../hci/errors.js';
import { CONNECTION_ROLE, type HciEvent } from '../hci/events.js';
import { answerConnectionParameterRequest } from './parameterRequests.js';
import { decodeL2capFrame, encodeL2capFrame } from '../l2cap/frames.js';

export interface PeripheralAdvertising {
  /** Public: the controller's own address; random: set with LE Set Random Address first. */
  readonly address: DeviceAddress;
  readonly intervalMs: number;
  /** AD structures, at most 31 octets. */
  readonly data: Uint8Array;
  readonly scanResponse: Uint8Array;
  readonly connectable: boolean;
}

/** One link as the peripheral host sees it. */
export interface PeripheralConnection {
  readonly handle: number;
  readonly peerAddress: DeviceAddress;
  readonly parameters: ConnectionParameters;
  /** Aborts with LINK_LOST when the link is down. */
  readonly closed: AbortSignal;
  /** Sends one L2CAP PDU; resolves once its last fragment went to the controller. */
  sendL2cap(cid: number, payload: Uint8Array): Promise<void>;
  /** HCI Disconnect with this reason; resolves once the controller reports the link down. */
  disconnect(reason: number): Promise<void>;
}

/** What the owner of the role does with a link. */
export interface PeripheralConnectionHandler {
  onL2cap(cid: number, payload: Uint8Array): void;
  onParametersChanged(): void;
  /**
   * The link is down. `reason` is what the controller reported, except that a link this host
   * terminated reports Connection Terminated By Local Host (0x16), as controllers do towards
   * the host that asked (some emulators echo the reason sent instead).
   */
  onDisconnected(reason: number): void;
}

export interface GapPeripheralOptions {
  readonly logger: Logger;
  /** Runs as the Connection Complete is handled, before any data of the link is delivered. */
  readonly onConnection: (connection: PeripheralConnection) => PeripheralConnectionHandler;
}

interface AppliedAdvertising {
  readonly params: PeripheralAdvertising;
  enabled: boolean;
}

interface LinkRecord {
  readonly connection: PeripheralConnection;
  handler: PeripheralConnectionHandler | undefined;
  parameters: ConnectionParameters;
  readonly down: AbortController;
  terminatedHere: boolean;
}

const msToAdvertisingUnits = (ms: number): number => Math.min(0x4000, Math.max(0x0020, Math.round(ms / 0.625)));

function parametersOf(interval: number, latency: number, timeout: number): ConnectionParameters {
  return { intervalUs: interval * 1250, latency, supervisionTimeoutMs: timeout * 10 };
}

function sameAdvertising(a: PeripheralAdvertising, b: PeripheralAdvertising): boolean {
  return (
    a.address.value === b.address.value &&
    a.address.type === b.address.type &&
    a.intervalMs === b.intervalMs &&
    a.connectable === b.connectable &&
    bytesEqual(a.data, b.data) &&
    bytesEqual(a.scanResponse, b.scanResponse)
  );
}

export class GapPeripheral {
  readonly #hci: HciHost;
  readonly #log: Logger;
  readonly #options: GapPeripheralOptions;
  readonly #links = new Map<number, LinkRecord>();
  #address: DeviceAddress | undefined;
  #randomAddress: string | undefined;
  #applied: AppliedAdvertising | undefined;
  #wanted: PeripheralAdvertising | undefined;
  #changes: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(hci: HciHost, options: GapPeripheralOptions) {
    this.#hci = hci;
    this.#log = options.logger;
    this.#options = options;
    hci.onEvent((e) => this.#onEvent(e));
    hci.onAclFrame((handle, frame) => this.#onAcl(handle, frame));
    hci.failed.addEventListener('abort', () => this.#failAll(hci.failed.reason as BledfuError), { once: true });
  }

  /** The controller's public address (after open()). */
  get address(): DeviceAddress | undefined {
    return this.#address;
  }

  get connections(): readonly PeripheralConnection[] {
    return [...this.#links.values()].map((r) => r.connection);
  }

  /** Reset, event masks, ACL buffers, identity. */
  async open(): Promise<void> {
    const hci = this.#hci;
    hci.start();
    await hci.send('reset', {});
    this.#address = { value: (await hci.send('readBdAddr', {})).address, type: 'public' };
    await hci.send('setEventMask', { mask: maskOf([EVENT_MASK_BITS.disconnectionComplete, EVENT_MASK_BITS.hardwareError, EVENT_MASK_BITS.leMeta]) });
    await hci.send('leSetEventMask', {
      mask: maskOf([
        LE_EVENT_MASK_BITS.connectionComplete,
        LE_EVENT_MASK_BITS.connectionUpdateComplete,
        LE_EVENT_MASK_BITS.remoteConnectionParameterRequest,
        LE_EVENT_MASK_BITS.dataLengthChange,
        LE_EVENT_MASK_BITS.phyUpdateComplete,
      ]),
    });
    await hci.readAclBuffers();
    // Reset kept whatever a previous user left configured: start from "not advertising".
    this.#applied = undefined;
    this.#randomAddress = undefined;
  }

  /**
   * Advertise this (undefined: stop). Resolves once the controller does what was wanted at the
   * time this change ran; a later call supersedes it. A failure is returned to every caller
   * whose change it was, and the next call tries again from what the controller acknowledged.
   */
  setAdvertising(wanted: PeripheralAdvertising | undefined): Promise<void> {
    this.#wanted = wanted;
    const change = this.#changes.then(() => this.#reconcile());
    this.#changes = change.catch(() => undefined);
    return change;
  }

  async #reconcile(): Promise<void> {
    if (this.#closed || this.#hci.failed.aborted) return;
    const wanted = this.#wanted;
    const applied = this.#applied;
    if (wanted === undefined) {
      if (applied?.enabled === true) {
        await this.#disable();
      }
      return;
    }
    if (applied !== undefined && applied.enabled && sameAdvertising(applied.params, wanted)) return;
    if (applied?.enabled === true) await this.#disable();
    const hci = this.#hci;
    if (wanted.address.type === 'random' && this.#randomAddress !== wanted.address.value) {
      await hci.send('leSetRandomAddress', { address: wanted.address.value });
      this.#randomAddress = wanted.address.value;
    }
    if (applied === undefined || !sameAdvertising(applied.params, wanted)) {
      const interval = msToAdvertisingUnits(wanted.intervalMs);
      await hci.send('leSetAdvertisingParameters', {
        advertisingIntervalMin: interval,
        advertisingIntervalMax: interval,
        advertisingType: wanted.connectable ? ADVERTISING_TYPES.advInd : wanted.scanResponse.length > 0 ? ADVERTISING_TYPES.advScanInd : ADVERTISING_TYPES.advNonconnInd,
        ownAddressType: wanted.address.type === 'random' ? OWN_ADDRESS_TYPES.random : OWN_ADDRESS_TYPES.public,
        peerAddressType: 0,
        peerAddress: '00:00:00:00:00:00',
        channelMap: ADVERTISING_CHANNELS_ALL,
        filterPolicy: 0,
      });
      await hci.send('leSetAdvertisingData', { data: wanted.data });
      await hci.send('leSetScanResponseData', { data: wanted.scanResponse });
      this.#applied = { params: wanted, enabled: false };
    }
    await hci.send('leSetAdvertisingEnable', { enable: 1 });
    this.#applied = { params: wanted, enabled: true };
  }

  async #disable(): Promise<void> {
    try {
      await this.#hci.send('leSetAdvertisingEnable', { enable: 0 });
    } catch (e) {
      // Command Disallowed: it already stopped (a connection ended it just now).
      if (!(hasCode(e, 'HCI_ERROR') && e.facts.hciStatus === HCI_STATUS.commandDisallowed)) throw e;
    }
    if (this.#applied !== undefined) this.#applied.enabled = false;
  }

  /** Stops advertising and terminates every link (best effort), then closes the HCI host. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#wanted = undefined;
    await this.setAdvertising(undefined).catch(() => undefined);
    this.#closed = true;
    await Promise.all(
      [...this.#links.values()].map((r) => r.connection.disconnect(HCI_STATUS.remoteUserTerminated).catch(() => undefined)),
    );
    await this.#hci.close();
  }

  #onEvent(event: HciEvent): void {
    switch (event.kind) {
      case 'leConnectionComplete':
      case 'leEnhancedConnectionComplete':
        if (event.role !== CONNECTION_ROLE.peripheral) {
          this.#log.warn({ handle: event.handle }, 'connection as central on a peripheral-only controller; ignored');
          return;
        }
        // Connectable advertising ends with the connection, whatever its outcome.
        if (this.#applied !== undefined) this.#applied.enabled = false;
        if (event.status === 0) this.#linkUp(event);
        return;
      case 'disconnectionComplete': {
        const record = this.#links.get(event.handle);
        if (event.status === 0 && record !== undefined) this.#linkDown(record, event.reason);
        return;
      }
      case 'leRemoteConnectionParameterRequest':
        answerConnectionParameterRequest(this.#hci, event, this.#log);
        return;
      case 'leConnectionUpdateComplete': {
        const record = this.#links.get(event.handle);
        if (record === undefined || event.status !== 0) return;
        record.parameters = parametersOf(event.connInterval, event.connLatency, event.supervisionTimeout);
        record.handler?.onParametersChanged();
        return;
      }
      case 'leDataLengthChange':
      case 'lePhyUpdateComplete':
        this.#links.get(event.handle)?.handler?.onParametersChanged();
        return;
      default:
        return;
    }
  }

  #linkUp(event: Extract<HciEvent, { kind: 'leConnectionComplete' | 'leEnhancedConnectionComplete' }>): void {
    const down = new AbortController();
    const peerAddress = addressFromBytes(addressToBytes({ value: event.peerAddress, type: 'public' }), (event.peerAddressType & 1) === 0 ? 'public' : 'random');
    const handle = event.handle;
    const record: LinkRecord = {
      connection: {
        handle,
        peerAddress,
        get parameters() {
          return record.parameters;
        },
        closed: down.signal,
        sendL2cap: (cid, payload) => {
          if (down.signal.aborted) return Promise.reject(down.signal.reason);
          return this.#hci.sendAcl(handle, encodeL2capFrame({ cid, payload }));
        },
        disconnect: (reason) => this.#disconnect(record, reason),
      },
      handler: undefined,
      parameters: parametersOf(event.connInterval, event.connLatency, event.supervisionTimeout),
      down,
      terminatedHere: false,
    };
    this.#links.set(handle, record);
    this.#log.debug({ handle, peer: peerAddress.value }, 'peripheral: connected');
    record.handler = this.#options.onConnection(record.connection);
  }

  async #disconnect(record: LinkRecord, reason: number): Promise<void> {
    if (record.down.signal.aborted) return;
    const down = new Promise<void>((resolve) => record.down.signal.addEventListener('abort', () => resolve(), { once: true }));
    record.terminatedHere = true;
    try {
      await this.#hci.send('disconnect', { handle: record.connection.handle, reason });
    } catch (e) {
      if (!(hasCode(e, 'HCI_ERROR') && e.facts.hciStatus === HCI_STATUS.unknownConnectionIdentifier)) throw e;
      // The controller no longer has the link. Its Disconnection Complete may be on its way, or
      // may never come (emulators drop a link silently when the peer controller goes away).
      this.#linkDown(record, HCI_STATUS.connectionTimeout);
    }
    await down;
  }

  #linkDown(record: LinkRecord, reason: number): void {
    const handle = record.connection.handle;
    if (this.#links.get(handle) !== record) return;
    this.#links.delete(handle);
    record.down.abort(
      new BledfuError('LINK_LOST', `link to ${record.connection.peerAddress.value} down: ${hciStatusName(reason)}`, {
        layer: 'hci',
        facts: { hciStatus: reason },
      }),
    );
    const handler = record.handler;
    record.handler = undefined;
    handler?.onDisconnected(record.terminatedHere ? HCI_STATUS.localHostTerminated : reason);
  }

  #onAcl(handle: number, frame: Uint8Array): void {
    const record = this.#links.get(handle);
    if (record?.handler === undefined) return;
    let decoded;
    try {
      decoded = decodeL2capFrame(frame);
    } catch (e) {
      this.#log.debug({ err: e, handle }, 'malformed L2CAP frame dropped');
      return;
    }
    record.handler.onL2cap(decoded.cid, decoded.payload);
  }

  #failAll(error: BledfuError): void {
    for (const [handle, record] of [...this.#links]) {
      this.#links.delete(handle);
      record.down.abort(error);
      const handler = record.handler;
      record.handler = undefined;
      handler?.onDisconnected(HCI_STATUS.connectionTimeout);
    }
  }
}
