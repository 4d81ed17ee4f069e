/**
 * GAP central role over HCI: scanning (advertising reports → Advertisement, scan responses
 * merged when scanning actively), connecting with a timeout and a cancel, the table of links,
 * and disconnecting. Link loss aborts the link's `closed` signal with LINK_LOST naming the reason.
 *
 * One dongle serves several consumers at once (a user's Scan RPC next to DFU jobs looking for
 * their device), so neither scanning nor connecting is exclusive: any number of scan() calls
 * share one controller scan, and connection attempts wait their turn for the controller's single
 * LE Create Connection.
 */
import { ScanResponseJoiner, toAdvertisement } from '../../ble/advertising.js';
import { addressFromBytes, addressToBytes, type DeviceAddress } from '../../ble/address.js';
import type { Advertisement, ConnectionParameters } from '../../ble/types.js';
import { AsyncQueue } from '../../common/asyncQueue.js';
import { BledfuError, hasCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { HciHost } from '../hci/controller.js';
import { hciStatusName, HCI_STATUS, linkLostError } from '../hci/errors.js';
import { ADV_EVENT_TYPES, type HciEvent } from '../hci/events.js';
import { Credits } from '../hci/credits.js';
import { answerConnectionParameterRequest } from './parameterRequests.js';
import { raceWithin, realClock, type Clock } from '../../common/clock.js';

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

/** What the controller was last told to do; 'active' also serves passive consumers. */
type ScanMode = 'off' | 'passive' | 'active';

interface ScanConsumer {
  readonly queue: AsyncQueue<Advertisement>;
  readonly active: boolean;
  /** Reports this consumer missed because it fell behind. */
  dropped: number;
  /**
   * Joined after the controller's scan was last enabled. Controllers that filter duplicates
   * (and BlueZ's emulator) report each advertiser once per scan enable, so such a consumer
   * would never hear the devices already reported: the scan is restarted for it.
   */
  joinedLate: boolean;
}

/** Per consumer: a few seconds of a busy neighbourhood, so only a stalled consumer loses reports. */
const SCAN_QUEUE_CAPACITY = 1024;

interface LinkRecord {
  readonly link: GapLink;
  readonly controller: AbortController;
}

type ConnectionCompleteEvent = Extract<HciEvent, { kind: 'leConnectionComplete' | 'leEnhancedConnectionComplete' }>;

/** The attempt's outcome as the controller reported it; `link` is set when it succeeded. */
interface Completion {
  readonly event: ConnectionCompleteEvent;
  readonly link: GapLink | undefined;
}

export interface GapConnectOptions {
  /** Give up (CONNECT_FAILED) this long after LE Create Connection was sent. */
  readonly timeoutMs?: number;
  /** Leaves the line, or cancels the attempt once it runs. */
  readonly signal?: AbortSignal;
  /** Runs when this attempt's turn comes; throwing refuses the attempt without sending anything. */
  readonly admit?: () => void;
}

export interface GapCentralOptions {
  readonly logger: Logger;
  readonly clock?: Clock;
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

export { linkLostError };

export class GapCentral {
  readonly #hci: HciHost;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #options: GapCentralOptions;
  readonly #links = new Map<number, LinkRecord>();
  readonly #scanConsumers = new Set<ScanConsumer>();
  #scanMode: ScanMode = 'off';
  // Changes to the controller's scan state run one after another, each deciding from the
  // consumers present when it runs; a change never interleaves with another's commands.
  #scanChanges: Promise<void> = Promise.resolve();
  // Last advertising PDU per advertiser, to append its scan response to. Bounded (oldest
  // advertiser forgotten first): a station's shared scan can run for days among many devices.
  readonly #joiner = new ScanResponseJoiner();
  // Controllers run one LE Create Connection at a time; this is the line for it.
  readonly #connectTurn = new Credits(1);
  #connecting: ((completion: Completion) => void) | undefined;
  // Own address type of scans and connections: 0 public, 1 random (the address set with LE Set
  // Random Address, for a controller without a public one). Set before the first scan or connection.
  #ownAddressType: 0 | 1 = 0;

  constructor(hci: HciHost, options: GapCentralOptions) {
    this.#hci = hci;
    this.#log = options.logger;
    this.#clock = options.clock ?? realClock;
    this.#options = options;
    hci.onEvent((e) => this.#onEvent(e));
    hci.failed.addEventListener('abort', () => this.#failAll(hci.failed.reason as BledfuError), { once: true });
  }

  /** Scan and connect as the controller's random address (set by the caller with LE Set Random Address). */
  useRandomAddress(): void {
    this.#ownAddressType = 1;
  }

  get links(): readonly GapLink[] {
    return [...this.#links.values()].map((r) => r.link);
  }

  link(handle: number): GapLink | undefined {
    return this.#links.get(handle)?.link;
  }

  /** True while at least one consumer is scanning. */
  get scanning(): boolean {
    return this.#scanConsumers.size > 0;
  }

  /**
   * Scans until `signal` aborts or the consumer stops. Consumers share one controller scan: the
   * first starts it, the last one leaving stops it, an active consumer joining a passive scan
   * switches it to active, and any other consumer joining a running scan restarts it (disable,
   * enable) so that it hears every advertiser again. Each consumer gets every report in its own
   * bounded queue; the others see the re-reported advertisers twice (duplicates are theirs to filter).
   */
  async *scan(active: boolean, signal: AbortSignal): AsyncGenerator<Advertisement> {
    if (this.#hci.failed.aborted) throw this.#hci.failed.reason;
    if (signal.aborted) return;
    const consumer: ScanConsumer = {
      queue: new AsyncQueue<Advertisement>({ capacity: SCAN_QUEUE_CAPACITY }),
      active,
      dropped: 0,
      joinedLate: true,
    };
    // In the set before the controller is told anything, so no report after the enable is missed.
    this.#scanConsumers.add(consumer);
    const onAbort = (): void => consumer.queue.end();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      // The consumer's abort ends this wait at once, and an aborted scan finishes normally even
      // if the start it asked for then fails. Leaving still queues its stop behind that start,
      // so the controller never sees them interleaved (each command is bounded by its timeout).
      await settledOrAborted(this.#applyScanMode(), signal);
      for await (const adv of consumer.queue) yield adv;
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.#scanConsumers.delete(consumer);
      consumer.queue.end();
      if (consumer.dropped > 0) {
        this.#log.debug({ dropped: consumer.dropped }, 'scan consumer was too slow; it missed some advertisements');
      }
      await this.#applyScanMode().catch((e: unknown) => this.#scanChangeFailed(e));
    }
  }

  /** Queues a change of the controller scan to what the present consumers need. */
  #applyScanMode(): Promise<void> {
    const change = this.#scanChanges.then(() => this.#reconcileScan());
    // The caller sees the failure; the chain itself must go on for the next change.
    this.#scanChanges = change.catch(() => undefined);
    return change;
  }

  /**
   * Brings the controller to the scan the consumers need. `#scanMode` moves only once the
   * controller acknowledged, so after a refused command we still know what it is doing.
   */
  async #reconcileScan(): Promise<void> {
    if (this.#hci.failed.aborted) {
      this.#scanMode = 'off';
      return;
    }
    const consumers = [...this.#scanConsumers];
    const wanted: ScanMode = consumers.length === 0 ? 'off' : consumers.some((c) => c.active) ? 'active' : 'passive';
    const current = this.#scanMode;
    if (wanted === 'off') {
      if (current === 'off') return;
      await this.#hci.send('leSetScanEnable', { enable: 0, filterDuplicates: 0 });
      this.#scanMode = 'off';
      return;
    }
    // Active scanning reports everything a passive one does (plus scan responses); switching
    // back down would only restart the scan, so an active scan stays active until it stops.
    if (current === 'active' || current === wanted) {
      if (consumers.some((c) => c.joinedLate)) await this.#restartScan(current);
      return;
    }
    if (current === 'passive') {
      // Scan parameters may only be set while scanning is off (Core Vol 4, Part E, 7.8.10).
      this.#log.debug('switching the running scan from passive to active');
      await this.#hci.send('leSetScanEnable', { enable: 0, filterDuplicates: 0 });
      this.#scanMode = 'off';
    } else {
      // A fresh scan: responses must not be merged with what an earlier scan heard.
      this.#joiner.clear();
    }
    await this.#hci.send('leSetScanParameters', {
      scanType: wanted === 'active' ? 1 : 0,
      scanInterval: 0x0060,
      scanWindow: 0x0030,
      ownAddressType: this.#ownAddressType,
      filterPolicy: 0,
    });
    await this.#enableScan();
    this.#scanMode = wanted;
  }

  /**
   * Disable + enable with the parameters in force, so the controller reports every advertiser
   * afresh. The scan-response cache stays: the controller re-sends advertising before responses.
   */
  async #restartScan(mode: Exclude<ScanMode, 'off'>): Promise<void> {
    this.#log.debug('restarting the running scan for a consumer that joined it');
    await this.#hci.send('leSetScanEnable', { enable: 0, filterDuplicates: 0 });
    this.#scanMode = 'off';
    await this.#enableScan();
    this.#scanMode = mode;
  }

  /** Every consumer present when the enable goes out hears each advertiser's first report. */
  async #enableScan(): Promise<void> {
    for (const c of this.#scanConsumers) c.joinedLate = false;
    await this.#hci.send('leSetScanEnable', { enable: 1, filterDuplicates: 0 });
  }

  /**
   * A change nobody awaits failed (a stop, or restoring the scan after a consumer's failed
   * upgrade). Consumers left without a controller scan would wait forever: fail them instead.
   */
  #scanChangeFailed(error: unknown): void {
    this.#log.warn({ err: error }, 'could not change scanning');
    if (this.#scanMode !== 'off') return;
    for (const consumer of this.#scanConsumers) consumer.queue.fail(error);
  }

  /**
   * LE Create Connection; on timeout or abort, LE Create Connection Cancel and CONNECT_FAILED
   * (or the abort reason). The link is in the table (and onLinkUp has run) when this resolves.
   *
   * While another attempt is in progress this one waits its turn (`signal` takes it out of the
   * line); `timeoutMs` counts from when it reaches the controller. `admit` runs when the turn
   * comes, before anything is sent: it may throw to refuse (e.g. the connection limit was reached
   * while waiting). A running scan is left running; controllers scan and initiate side by side.
   */
  async connect(address: DeviceAddress, options: GapConnectOptions = {}): Promise<GapLink> {
    if (this.#connectTurn.available === 0) {
      this.#log.debug({ address: address.value }, 'another connection is being established; waiting for it');
    }
    await this.#connectTurn.acquire(options.signal);
    try {
      options.admit?.();
      return await this.#connectNow(address, options);
    } finally {
      this.#connectTurn.release();
    }
  }

  async #connectNow(address: DeviceAddress, options: GapConnectOptions): Promise<GapLink> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    let onComplete!: (c: Completion) => void;
    const completed = new Promise<Completion>((resolve) => (onComplete = resolve));
    this.#connecting = onComplete;
    try {
      await this.#hci.send(
        'leCreateConnection',
        {
          ...DEFAULT_CONNECTION_REQUEST,
          initiatorFilterPolicy: 0,
          peerAddressType: addressTypeCode(address),
          peerAddress: address.value,
          ownAddressType: this.#ownAddressType,
          minCeLength: 0,
          maxCeLength: 0,
        },
        options.signal,
      );
      const outcome = await raceWithin(completed, timeoutMs, { clock: this.#clock, failed: this.#hci.failed, signal: options.signal });
      if (outcome.kind === 'settled') return this.#linkFrom(outcome.value, address);
      // Timed out or aborted: cancel; the controller then reports a connection complete anyway
      // (status Unknown Connection Identifier), or a real one if the link won the race.
      await this.#hci.send('leCreateConnectionCancel', {}).catch((e: unknown) => {
        this.#log.debug({ err: e }, 'LE Create Connection Cancel refused');
      });
      const late = await raceWithin(completed, 2_000, { clock: this.#clock, failed: this.#hci.failed });
      if (late.kind === 'settled' && late.value.link !== undefined) {
        this.#log.debug({ handle: late.value.link.handle }, 'connection completed while cancelling; disconnecting');
        await this.disconnect(late.value.link.handle).catch(() => undefined);
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

  /** The attempt's link, or CONNECT_FAILED naming the controller's status. */
  #linkFrom({ event, link }: Completion, address: DeviceAddress): GapLink {
    if (link !== undefined) return link;
    throw new BledfuError('CONNECT_FAILED', `could not connect to ${address.value}: ${hciStatusName(event.status)}`, {
      layer: 'hci',
      facts: { hciStatus: event.status },
    });
  }

  /**
   * Enters a new link in the table (and runs onLinkUp) as its Connection Complete is handled, so
   * that a Disconnection Complete or data the controller sends right behind it finds the link.
   */
  #linkUp(event: ConnectionCompleteEvent): GapLink {
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
        if (this.#connecting !== undefined) {
          // One LE Create Connection, one Connection Complete: any other is unexpected.
          const complete = this.#connecting;
          this.#connecting = undefined;
          complete({ event, link: event.status === 0 ? this.#linkUp(event) : undefined });
        } else if (event.status === 0) {
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
      case 'leRemoteConnectionParameterRequest':
        answerConnectionParameterRequest(this.#hci, event, this.#log);
        return;
      case 'leAdvertisingReport':
        for (const report of event.reports) this.#onReport(report);
        return;
      default:
        return;
    }
  }

  #onReport(report: Extract<HciEvent, { kind: 'leAdvertisingReport' }>['reports'][number]): void {
    if (this.#scanConsumers.size === 0) return;
    const key = `${report.addressType}/${report.address}`;
    const joined = this.#joiner.join(key, {
      data: report.data,
      scanResponse: report.eventType === ADV_EVENT_TYPES.scanRsp,
      connectable: report.eventType === ADV_EVENT_TYPES.advInd || report.eventType === ADV_EVENT_TYPES.advDirectInd,
    });
    const advertisement = toAdvertisement(
      addressFromBytes(addressToBytes({ value: report.address, type: 'public' }), addressTypeOf(report.addressType)),
      report.rssi,
      joined,
      this.#clock.now(),
    );
    for (const consumer of this.#scanConsumers) {
      // A full queue drops the newest report for this consumer only: the others and the
      // controller never wait for the slowest reader.
      if (consumer.queue.push(advertisement) || consumer.queue.ended) continue;
      consumer.dropped++;
      if (consumer.dropped === 1) this.#log.debug('scan consumer too slow; dropping advertisements for it until it catches up');
    }
  }

  #failAll(error: BledfuError): void {
    this.#scanMode = 'off';
    for (const consumer of this.#scanConsumers) consumer.queue.fail(error);
    this.#connectTurn.fail(error);
    for (const [handle, record] of [...this.#links]) {
      this.#links.delete(handle);
      record.controller.abort(error);
      this.#options.onLinkDown?.(record.link, error);
    }
  }
}

/**
 * Resolves when `work` settles, or as soon as `signal` aborts (then `work` goes on unobserved,
 * its failure swallowed); rejects with `work`'s failure otherwise.
 */
function settledOrAborted(work: Promise<void>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve();
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
