/**
 * GAP central role over HCI: scanning (advertising reports → Advertisement, scan responses
 * merged when scanning actively), connecting with a timeout and a cancel, the table of links,
 * and disconnecting. Link loss aborts the link's `closed` signal with LINK_LOST naming the reason.
 */
import { parseAdvertisingData } from '../../ble/advertising.js';
import { addressFromBytes, addressToBytes, type DeviceAddress } from '../../ble/address.js';
import type { Advertisement, ConnectionParameters } from '../../ble/types.js';
import { AsyncQueue } from '../../common/asyncQueue.js';
import { abortReason, BledfuError, hasCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { HciHost } from '../hci/controller.js';
import { hciStatusName, HCI_STATUS } from '../hci/errors.js';
import { ADV_EVENT_TYPES, type HciEvent } from '../hci/events.js';
import { realTimers, type Timers } from '../hci/timers.js';
import { isAcceptableConnectionParameters } from '../hci/connectionParameters.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Central defaults: short intervals for DFU throughput, 4 s supervision timeout. */
export const DEFAULT_CONNECTION_REQUEST = {
  scanInterval: 0x0060,
  scanWindow: 0x0060,
  connIntervalMin: 6,
  connIntervalMax: 24,
  maxLatency: 0,
  supervisionTimeout: 400,
} as const;

export interface GapLink {
  readonly handle: number;
  readonly address: DeviceAddress;
  parameters: ConnectionParameters;
  /** Aborts with LINK_LOST when the link goes down. */
  readonly closed: AbortSignal;
}

interface LinkRecord {
  readonly link: GapLink;
  readonly controller: AbortController;
}

type ConnectionCompleteEvent = Extract<HciEvent, { kind: 'leConnectionComplete' | 'leEnhancedConnectionComplete' }>;

export interface GapCentralOptions {
  readonly logger: Logger;
  readonly timers?: Timers;
  /** Called synchronously when a link comes up, before any of its data can arrive. */
  readonly onLinkUp?: (link: GapLink) => void;
  readonly onLinkDown?: (link: GapLink, error: BledfuError) => void;
}

const addressTypeCode = (a: DeviceAddress): number => (a.type === 'public' ? 0 : 1);
// 0/2 are public (identity), 1/3 random (identity).
const addressTypeOf = (code: number): DeviceAddress['type'] => ((code & 1) === 0 ? 'public' : 'random');

function parametersOf(interval: number, latency: number, timeout: number): ConnectionParameters {
  return { intervalUs: interval * 1250, latency, supervisionTimeoutMs: timeout * 10 };
}

export function linkLostError(reason: number): BledfuError {
  return new BledfuError('LINK_LOST', `link lost: ${hciStatusName(reason)}`, {
    layer: 'hci',
    facts: { hciStatus: reason },
  });
}

export class GapCentral {
  readonly #hci: HciHost;
  readonly #log: Logger;
  readonly #timers: Timers;
  readonly #options: GapCentralOptions;
  readonly #links = new Map<number, LinkRecord>();
  #scanQueue: { readonly queue: AsyncQueue<Advertisement>; readonly active: boolean } | undefined;
  readonly #lastAdvertising = new Map<string, Uint8Array>();
  #connecting: ((event: ConnectionCompleteEvent) => void) | undefined;

  constructor(hci: HciHost, options: GapCentralOptions) {
    this.#hci = hci;
    this.#log = options.logger;
    this.#timers = options.timers ?? realTimers;
    this.#options = options;
    hci.onEvent((e) => this.#onEvent(e));
    hci.failed.addEventListener('abort', () => this.#failAll(hci.failed.reason as BledfuError), { once: true });
  }

  get links(): readonly GapLink[] {
    return [...this.#links.values()].map((r) => r.link);
  }

  link(handle: number): GapLink | undefined {
    return this.#links.get(handle)?.link;
  }

  get scanning(): boolean {
    return this.#scanQueue !== undefined;
  }

  /** Scans until `signal` aborts or the consumer stops; scanning is switched off in a finally. */
  async *scan(active: boolean, signal: AbortSignal): AsyncGenerator<Advertisement> {
    if (this.#scanQueue !== undefined) {
      throw new BledfuError('ADAPTER_BUSY', 'a scan is already running on this adapter', { layer: 'ble' });
    }
    const queue = new AsyncQueue<Advertisement>({ capacity: 1024 });
    this.#scanQueue = { queue, active };
    this.#lastAdvertising.clear();
    const onAbort = (): void => queue.end();
    try {
      await this.#hci.send('leSetScanParameters', {
        scanType: active ? 1 : 0,
        scanInterval: 0x0060,
        scanWindow: 0x0030,
        ownAddressType: 0,
        filterPolicy: 0,
      });
      await this.#hci.send('leSetScanEnable', { enable: 1, filterDuplicates: 0 });
      if (signal.aborted) return;
      signal.addEventListener('abort', onAbort, { once: true });
      const failed = this.#hci.failed;
      const onFail = (): void => queue.fail(failed.reason);
      failed.addEventListener('abort', onFail, { once: true });
      try {
        for await (const adv of queue) yield adv;
      } finally {
        failed.removeEventListener('abort', onFail);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.#scanQueue = undefined;
      queue.end();
      if (!this.#hci.failed.aborted) {
        await this.#hci.send('leSetScanEnable', { enable: 0, filterDuplicates: 0 }).catch((e: unknown) => {
          this.#log.warn({ err: e }, 'could not stop scanning');
        });
      }
    }
  }

  /**
   * LE Create Connection; on timeout or abort, LE Create Connection Cancel and CONNECT_FAILED
   * (or the abort reason). The link is in the table (and onLinkUp has run) when this resolves.
   */
  async connect(address: DeviceAddress, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<GapLink> {
    if (this.#connecting !== undefined) {
      throw new BledfuError('ADAPTER_BUSY', 'another connection is being established on this adapter', { layer: 'ble' });
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    let onComplete!: (e: ConnectionCompleteEvent) => void;
    const completed = new Promise<ConnectionCompleteEvent>((resolve) => (onComplete = resolve));
    this.#connecting = onComplete;
    try {
      await this.#hci.send(
        'leCreateConnection',
        {
          ...DEFAULT_CONNECTION_REQUEST,
          initiatorFilterPolicy: 0,
          peerAddressType: addressTypeCode(address),
          peerAddress: address.value,
          ownAddressType: 0,
          minCeLength: 0,
          maxCeLength: 0,
        },
        options.signal,
      );
      const outcome = await this.#race(completed, timeoutMs, options.signal);
      if (outcome.kind === 'complete') return this.#linkFrom(outcome.event, address);
      // Timed out or aborted: cancel; the controller then reports a connection complete anyway
      // (status Unknown Connection Identifier), or a real one if the link won the race.
      await this.#hci.send('leCreateConnectionCancel', {}).catch((e: unknown) => {
        this.#log.debug({ err: e }, 'LE Create Connection Cancel refused');
      });
      const late = await this.#race(completed, 2_000, undefined);
      if (late.kind === 'complete' && late.event.status === 0) {
        this.#log.debug({ handle: late.event.handle }, 'connection completed while cancelling; disconnecting');
        this.#linkFrom(late.event, address);
        await this.disconnect(late.event.handle).catch(() => undefined);
      }
      if (outcome.kind === 'aborted') throw outcome.error;
      throw new BledfuError('CONNECT_FAILED', `could not connect to ${address.value} within ${timeoutMs} ms`, {
        layer: 'ble',
        remedy: 'check that the device is advertising, connectable and in range',
      });
    } finally {
      this.#connecting = undefined;
    }
  }

  #race(
    completed: Promise<ConnectionCompleteEvent>,
    ms: number,
    signal: AbortSignal | undefined,
  ): Promise<{ kind: 'complete'; event: ConnectionCompleteEvent } | { kind: 'timeout' } | { kind: 'aborted'; error: BledfuError }> {
    return new Promise((resolve, reject) => {
      const failed = this.#hci.failed;
      const cleanup = (): void => {
        this.#timers.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        failed.removeEventListener('abort', onFail);
      };
      const timer = this.#timers.setTimeout(() => {
        cleanup();
        resolve({ kind: 'timeout' });
      }, ms);
      const onAbort = (): void => {
        cleanup();
        resolve({ kind: 'aborted', error: abortReason(signal as AbortSignal) });
      };
      const onFail = (): void => {
        cleanup();
        reject(failed.reason);
      };
      if (failed.aborted) return onFail();
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      failed.addEventListener('abort', onFail, { once: true });
      void completed.then((event) => {
        cleanup();
        resolve({ kind: 'complete', event });
      });
    });
  }

  #linkFrom(event: ConnectionCompleteEvent, address: DeviceAddress): GapLink {
    if (event.status !== 0) {
      throw new BledfuError('CONNECT_FAILED', `could not connect to ${address.value}: ${hciStatusName(event.status)}`, {
        layer: 'hci',
        facts: { hciStatus: event.status },
      });
    }
    const existing = this.#links.get(event.handle);
    if (existing !== undefined) return existing.link;
    const controller = new AbortController();
    const link: GapLink = {
      handle: event.handle,
      address: addressFromBytes(addressToBytes({ value: event.peerAddress, type: 'public' }), addressTypeOf(event.peerAddressType)),
      parameters: parametersOf(event.connInterval, event.connLatency, event.supervisionTimeout),
      closed: controller.signal,
    };
    this.#links.set(event.handle, { link, controller });
    this.#options.onLinkUp?.(link);
    return link;
  }

  /** Terminates the link and resolves once the controller reports it down. */
  async disconnect(handle: number, reason: number = HCI_STATUS.remoteUserTerminated): Promise<void> {
    const record = this.#links.get(handle);
    if (record === undefined || record.controller.signal.aborted) return;
    const down = new Promise<void>((resolve) => record.controller.signal.addEventListener('abort', () => resolve(), { once: true }));
    try {
      await this.#hci.send('disconnect', { handle, reason });
    } catch (e) {
      // Unknown Connection Identifier: it is already gone and the event is on its way.
      if (!(hasCode(e, 'HCI_ERROR') && e.facts.hciStatus === HCI_STATUS.unknownConnectionIdentifier)) throw e;
    }
    await down;
  }

  #onEvent(event: HciEvent): void {
    switch (event.kind) {
      case 'leConnectionComplete':
      case 'leEnhancedConnectionComplete':
        if (this.#connecting !== undefined) this.#connecting(event);
        else if (event.status === 0) {
          this.#log.warn({ handle: event.handle }, 'unexpected connection (we never advertise); disconnecting');
          void this.#hci.send('disconnect', { handle: event.handle, reason: HCI_STATUS.remoteUserTerminated }).catch(() => undefined);
        }
        return;
      case 'disconnectionComplete': {
        if (event.status !== 0) return;
        const record = this.#links.get(event.handle);
        if (record === undefined) return;
        this.#links.delete(event.handle);
        const error = linkLostError(event.reason);
        record.controller.abort(error);
        this.#options.onLinkDown?.(record.link, error);
        return;
      }
      case 'leConnectionUpdateComplete': {
        const record = this.#links.get(event.handle);
        if (record !== undefined && event.status === 0) {
          record.link.parameters = parametersOf(event.connInterval, event.connLatency, event.supervisionTimeout);
        }
        return;
      }
      case 'leRemoteConnectionParameterRequest': {
        const p = { intervalMin: event.intervalMin, intervalMax: event.intervalMax, latency: event.maxLatency, timeout: event.timeout };
        const reply = isAcceptableConnectionParameters(p)
          ? this.#hci.send('leRemoteConnectionParameterRequestReply', {
              handle: event.handle,
              connIntervalMin: p.intervalMin,
              connIntervalMax: p.intervalMax,
              maxLatency: p.latency,
              supervisionTimeout: p.timeout,
              minCeLength: 0,
              maxCeLength: 0,
            })
          : this.#hci.send('leRemoteConnectionParameterRequestNegativeReply', {
              handle: event.handle,
              reason: HCI_STATUS.unacceptableConnectionParameters,
            });
        reply.catch((e: unknown) => this.#log.warn({ err: e }, 'could not answer a connection parameter request'));
        return;
      }
      case 'leAdvertisingReport':
        for (const report of event.reports) this.#onReport(report);
        return;
      default:
        return;
    }
  }

  #onReport(report: Extract<HciEvent, { kind: 'leAdvertisingReport' }>['reports'][number]): void {
    const scan = this.#scanQueue;
    if (scan === undefined) return;
    const key = `${report.addressType}/${report.address}`;
    let data = report.data;
    let connectable = report.eventType === ADV_EVENT_TYPES.advInd || report.eventType === ADV_EVENT_TYPES.advDirectInd;
    if (report.eventType === ADV_EVENT_TYPES.scanRsp) {
      // A scan response only follows scannable advertising; append it to what that said.
      const adv = this.#lastAdvertising.get(key);
      if (adv !== undefined) {
        data = new Uint8Array(adv.length + report.data.length);
        data.set(adv);
        data.set(report.data, adv.length);
      }
      connectable = this.#connectableByKey.get(key) ?? false;
    } else {
      this.#lastAdvertising.set(key, report.data);
      this.#connectableByKey.set(key, connectable);
    }
    const fields = parseAdvertisingData(data);
    const advertisement: Advertisement = {
      address: addressFromBytes(addressToBytes({ value: report.address, type: 'public' }), addressTypeOf(report.addressType)),
      rssi: report.rssi,
      ...(fields.name === undefined ? {} : { name: fields.name }),
      serviceUuids: fields.serviceUuids,
      manufacturerData: fields.manufacturerData,
      connectable,
      data,
      receivedAt: Date.now(),
    };
    if (!scan.queue.push(advertisement)) this.#log.debug('scan consumer too slow; advertisement dropped');
  }

  readonly #connectableByKey = new Map<string, boolean>();

  #failAll(error: BledfuError): void {
    for (const [handle, record] of [...this.#links]) {
      this.#links.delete(handle);
      record.controller.abort(error);
      this.#options.onLinkDown?.(record.link, error);
    }
  }
}
