/**
 * The shared radio. It joins centrals (virtual HCI controllers) and peripherals (simulated
 * devices): advertising events at each advertiser's interval, connections with connection events
 * at the negotiated interval, as many packet exchanges per event as fit in the event length at
 * the current PHY and data length, delivery both ways at those events, and supervision timeouts
 * when one side goes quiet. Everything happens at modelled times on the scheduler.
 */
import type { DeviceAddress } from '../ble/address.js';
import { decodeL2capFrame, encodeL2capFrame, l2capFrameLength } from '../host/l2cap/frames.js';
import type { Logger } from '../common/logger.js';
import type { AdvertisingParams, LinkParameters, PeripheralLink, PeripheralLinkHandler, SimPeripheral } from './peripheral.js';
import { CentralRadio, type ConnectionEventRecord, type EventGrant, type RadioLink } from './centralRadio.js';
import { DEFAULT_RADIO, pduAirTimeUs, type Phy, type RadioConfig } from './radio.js';
import type { SimScheduler, TimerHandle } from './scheduler.js';

/** HCI reason codes the air produces (Core Vol 1, Part F). */
export const REASON = {
  unknownConnection: 0x02,
  connectionTimeout: 0x08,
  remoteUserTerminated: 0x13,
  localHostTerminated: 0x16,
} as const satisfies Record<string, number>;

export interface AirAdvertisement {
  readonly kind: 'adv' | 'scanRsp';
  readonly address: DeviceAddress;
  readonly connectable: boolean;
  /** ADV_DIRECT_IND addressed to the central that hears it (only that central does). */
  readonly directed?: true;
  readonly data: Uint8Array;
  readonly rssi: number;
}

/** What a central (a virtual controller) hears from the air. */
export interface CentralNode {
  /** The address the central uses on the air (public or its random address). */
  readonly address: DeviceAddress;
  /**
   * Largest LL payload the central's controller supports (Data Length Extension), both ways.
   * Default: the radio's maximum (251). Zephyr's controller defaults to 27 (BT_CTLR_DATA_LENGTH_MAX).
   */
  readonly maxDataLength?: number | undefined;
  onAdvertisement(adv: AirAdvertisement): void;
}

export interface CentralLinkObserver {
  onConnected(link: AirLink): void;
  /** One LL PDU payload from the peripheral; `start` = first fragment of an L2CAP PDU. */
  onData(link: AirLink, fragment: Uint8Array, start: boolean): void;
  onParametersUpdated(link: AirLink): void;
  onDataLengthChanged(link: AirLink): void;
  onPhyUpdated(link: AirLink): void;
  onDisconnected(link: AirLink, reason: number): void;
}

export type FrameDirection = 'toPeripheral' | 'toCentral';

/** What happens to one L2CAP PDU on its way (fault injection). */
export type FrameFate =
  | { readonly kind: 'deliver' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'corrupt'; readonly bytes: Uint8Array }
  | { readonly kind: 'delay'; readonly ms: number };

export interface AirFaultHooks {
  frameFate(direction: FrameDirection, link: AirLink, cid: number, payload: Uint8Array): FrameFate;
}

export interface ConnectRequest {
  readonly intervalMs: number;
  readonly latency: number;
  readonly supervisionTimeoutMs: number;
}

export interface Initiation {
  cancel(): void;
}

interface TxItem {
  readonly bytes: Uint8Array;
  /** Whether bytes[0] starts an L2CAP PDU (LLID "start"). */
  readonly start: boolean;
  offset: number;
  readonly enqueuedAt: number;
  readonly onSent: (() => void) | undefined;
}

interface PendingUpdate {
  readonly instant: number;
  readonly params: ConnectRequest;
}


export class AirLink implements RadioLink {
  readonly id: number;
  readonly central: CentralNode;
  readonly peripheral: SimPeripheral;
  readonly peripheralAddress: DeviceAddress;
  readonly #air: SimAir;
  readonly #observer: CentralLinkObserver;
  #handler: PeripheralLinkHandler | undefined;
  #state: 'open' | 'closed' = 'open';
  // "Gone" sides have reset or left: they are not told when the link ends. A lost path is
  // different: both sides are still there, nothing crosses, and both see the supervision timeout.
  #peripheralGone = false;
  #centralGone = false;
  #pathLost = false;
  #hostAskedTerminate: number | undefined;
  #peripheralAskedTerminate: number | undefined;
  #intervalMs: number;
  #latency: number;
  #timeoutMs: number;
  #anchor: number;
  #lastEventAt: number;
  #phy: Phy = '1M';
  #c2pOctets: number;
  #p2cOctets: number;
  #pendingDataLength: number | undefined;
  #pendingPhy: { readonly tx: number; readonly rx: number } | undefined;
  #pendingUpdate: PendingUpdate | undefined;
  #eventTimer: TimerHandle | undefined;
  #eventAt = 0;
  #missedEvents = 0;
  #supervisionTimer: TimerHandle | undefined;
  readonly #c2p: TxItem[] = [];
  readonly #p2c: TxItem[] = [];
  #rx: { buffer: Uint8Array; filled: number } | undefined;

  constructor(
    air: SimAir,
    id: number,
    central: CentralNode,
    peripheral: SimPeripheral,
    peripheralAddress: DeviceAddress,
    request: ConnectRequest,
    observer: CentralLinkObserver,
    connectedAt: number,
    firstAnchor: number,
  ) {
    this.#air = air;
    this.id = id;
    this.central = central;
    this.peripheral = peripheral;
    this.peripheralAddress = peripheralAddress;
    this.#observer = observer;
    this.#intervalMs = request.intervalMs;
    this.#latency = request.latency;
    this.#timeoutMs = request.supervisionTimeoutMs;
    // CONNECT_IND, then the transmit window: 1.25 ms + one window later at the earliest, later
    // when the central's other links' slots are in the way (SimAir#connect).
    this.#anchor = firstAnchor;
    this.#lastEventAt = connectedAt;
    this.#c2pOctets = air.radio.defaultDataLength;
    this.#p2cOctets = air.radio.defaultDataLength;
  }

  get open(): boolean {
    return this.#state === 'open';
  }

  parameters(): LinkParameters {
    return {
      intervalMs: this.#intervalMs,
      latency: this.#latency,
      supervisionTimeoutMs: this.#timeoutMs,
      txPhy: this.#phy,
      rxPhy: this.#phy,
      maxTxOctets: this.#p2cOctets,
      maxRxOctets: this.#c2pOctets,
    };
  }

  /** From the central's point of view: its TX is the peripheral's RX. */
  get centralTxOctets(): number {
    return this.#c2pOctets;
  }
  get centralRxOctets(): number {
    return this.#p2cOctets;
  }
  get phy(): Phy {
    return this.#phy;
  }

  // --- what the central's shared radio sees (centralRadio.ts) ---------------------------------

  get scheduledEventAt(): number | undefined {
    return this.#eventTimer?.pending === true ? this.#eventAt : undefined;
  }
  get missedEvents(): number {
    return this.#missedEvents;
  }
  get anchorMs(): number {
    return this.#anchor;
  }
  get intervalMs(): number {
    return this.#intervalMs;
  }

  attach(handler: PeripheralLinkHandler): void {
    this.#handler = handler;
  }

  /** The view handed to the device. */
  peripheralView(): PeripheralLink {
    return {
      peerAddress: this.central.address,
      parameters: () => this.parameters(),
      sendL2cap: (cid, payload, onSent) => this.#peripheralSend(cid, payload, onSent),
      disconnect: (reason) => {
        if (this.#state !== 'open' || this.#silent) return;
        this.#peripheralAskedTerminate = reason;
        this.#wake();
      },
      vanish: () => this.peripheralVanished(),
      lose: () => this.lose(),
    };
  }

  // --- central side -------------------------------------------------------------------------

  /** One host ACL packet's data; `onAcked` runs when all of it went over the air. */
  sendFromCentral(data: Uint8Array, start: boolean, onAcked: () => void): void {
    if (this.#state !== 'open') return;
    this.#c2p.push({ bytes: data, start, offset: 0, enqueuedAt: this.#air.scheduler.nowMs(), onSent: onAcked });
    this.#wake();
  }

  terminate(reason: number): void {
    if (this.#state !== 'open') return;
    this.#hostAskedTerminate = reason;
    this.#wake();
  }

  updateParameters(params: ConnectRequest): void {
    if (this.#state !== 'open') return;
    const now = this.#air.scheduler.nowMs();
    this.#pendingUpdate = { instant: this.#eventCounterAfter(now) + this.#air.radio.updateInstantEvents, params };
    this.#wake();
  }

  requestDataLength(txOctets: number): void {
    if (this.#state !== 'open') return;
    this.#pendingDataLength = txOctets;
    this.#wake();
  }

  requestPhy(txPhys: number, rxPhys: number): void {
    if (this.#state !== 'open') return;
    this.#pendingPhy = { tx: txPhys, rx: rxPhys };
    this.#wake();
  }

  /** The controller was reset or closed: the peripheral only notices by supervision timeout. */
  centralVanished(): void {
    if (this.#state !== 'open' || this.#centralGone) return;
    this.#centralGone = true;
    this.#c2p.length = 0;
    this.#armSupervision();
  }

  peripheralVanished(): void {
    if (this.#state !== 'open' || this.#peripheralGone) return;
    this.#peripheralGone = true;
    // The device forgets the link at once (it reset); only the central waits for the timeout.
    this.#handler = undefined;
    this.#p2c.length = 0;
    this.#armSupervision();
  }

  /** Fault: the radio path breaks; both sides see a supervision timeout. */
  lose(): void {
    if (this.#state !== 'open' || this.#pathLost) return;
    this.#pathLost = true;
    this.#c2p.length = 0;
    this.#p2c.length = 0;
    this.#armSupervision();
  }

  /** Nothing can cross: a side left, or the path is lost. */
  get #silent(): boolean {
    return this.#peripheralGone || this.#centralGone || this.#pathLost;
  }

  // --- internals ------------------------------------------------------------------------------

  #peripheralSend(cid: number, payload: Uint8Array, onSent?: () => void): void {
    if (this.#state !== 'open' || this.#silent) return;
    const send = (bytes: Uint8Array): void => {
      if (this.#state !== 'open' || this.#silent) return;
      this.#p2c.push({ bytes: encodeL2capFrame({ cid, payload: bytes }), start: true, offset: 0, enqueuedAt: this.#air.scheduler.nowMs(), onSent });
      this.#wake();
    };
    const fate = this.#air.faults?.frameFate('toCentral', this, cid, payload) ?? { kind: 'deliver' };
    switch (fate.kind) {
      case 'deliver':
        send(payload);
        return;
      case 'drop':
        onSent?.();
        return;
      case 'corrupt':
        send(fate.bytes);
        return;
      case 'delay':
        this.#air.scheduler.after(fate.ms, () => send(payload), 'fault: delayed frame to central');
        return;
      default: {
        const never: never = fate;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  #eventCounterAfter(t: number): number {
    return Math.max(0, Math.floor((t - this.#anchor) / this.#intervalMs) + 1);
  }

  #hasWork(): boolean {
    return (
      this.#c2p.length > 0 ||
      this.#p2c.length > 0 ||
      this.#hostAskedTerminate !== undefined ||
      this.#peripheralAskedTerminate !== undefined ||
      this.#pendingDataLength !== undefined ||
      this.#pendingPhy !== undefined ||
      this.#pendingUpdate !== undefined
    );
  }

  /** Schedules the next connection event if there is something to exchange. */
  #wake(): void {
    if (this.#state !== 'open' || this.#eventTimer?.pending === true || !this.#hasWork()) return;
    if (this.#silent) return;
    const now = this.#air.scheduler.nowMs();
    let k = this.#eventCounterAfter(now);
    let at = this.#anchor + k * this.#intervalMs;
    // Right after an event, (now − anchor) / interval can round to just below its counter, which
    // would schedule the event that just ran again at the same instant, forever (seen with two
    // links at once). The next event is always strictly after the last one.
    if (at <= this.#lastEventAt) {
      k += 1;
      at = this.#anchor + k * this.#intervalMs;
    }
    this.#eventAt = at;
    this.#eventTimer = this.#air.scheduler.at(at, () => this.#connectionEvent(k, at), `conn event link ${this.id}`);
  }

  #armSupervision(): void {
    if (this.#supervisionTimer?.pending === true) return;
    this.#eventTimer?.cancel();
    const now = this.#air.scheduler.nowMs();
    // Until now the link was healthy, so both sides met at every anchor, also the ones with
    // nothing to send that are not modelled as events: the timeout counts from the latest.
    const lastAnchor = now >= this.#anchor ? this.#anchor + Math.floor((now - this.#anchor) / this.#intervalMs) * this.#intervalMs : this.#lastEventAt;
    const at = Math.max(now, Math.max(this.#lastEventAt, lastAnchor) + this.#timeoutMs);
    this.#supervisionTimer = this.#air.scheduler.at(at, () => this.#supervisionTimeout(), `supervision timeout link ${this.id}`);
  }

  #supervisionTimeout(): void {
    if (this.#state !== 'open') return;
    const centralReason = this.#hostAskedTerminate !== undefined ? REASON.localHostTerminated : REASON.connectionTimeout;
    this.#close(this.#centralGone ? undefined : centralReason, this.#peripheralGone ? undefined : REASON.connectionTimeout);
  }

  #close(centralReason: number | undefined, peripheralReason: number | undefined): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#eventTimer?.cancel();
    this.#supervisionTimer?.cancel();
    this.#c2p.length = 0;
    this.#p2c.length = 0;
    const handler = this.#handler;
    this.#handler = undefined;
    this.#air.linkClosed(this);
    if (peripheralReason !== undefined) handler?.onDisconnected(peripheralReason);
    if (centralReason !== undefined) this.#observer.onDisconnected(this, centralReason);
  }

  #connectionEvent(counter: number, at: number): void {
    if (this.#state !== 'open' || this.#silent) return;
    this.#lastEventAt = at;
    const radio = this.#air.radio;
    let usedUs = 0;

    if (this.#pendingUpdate !== undefined && counter >= this.#pendingUpdate.instant) {
      const p = this.#pendingUpdate.params;
      this.#pendingUpdate = undefined;
      // The new anchor dodges the central's other links as a first anchor does (a transmit
      // window offset); alone on its central, the link keeps the instant as its anchor.
      this.#anchor = this.#air.placeAnchor(this, at, p.intervalMs);
      this.#intervalMs = p.intervalMs;
      this.#latency = p.latency;
      this.#timeoutMs = p.supervisionTimeoutMs;
      this.#observer.onParametersUpdated(this);
      this.#handler?.onParametersChanged();
      if (this.#anchor > at) {
        // Nothing more at the instant: the first event on the new parameters is at the new anchor.
        this.#wake();
        return;
      }
    }

    if (this.#hostAskedTerminate !== undefined) {
      this.#close(REASON.localHostTerminated, this.#hostAskedTerminate);
      return;
    }
    if (this.#peripheralAskedTerminate !== undefined) {
      this.#close(this.#peripheralAskedTerminate, REASON.localHostTerminated);
      return;
    }

    // The central's one radio: free now, and for how long (centralRadio.ts).
    const grant = this.#air.grantEvent(this, at, Math.min(radio.eventLengthMs, this.#intervalMs));
    if (grant === undefined || (grant.budgetUs < this.#leastEventUs(at) && this.#missedEvents < grant.nextMissed)) {
      this.#loseEvent(at);
      return;
    }
    this.#missedEvents = 0;

    // LL control procedures: a request and a response, then the new values apply.
    if (this.#pendingDataLength !== undefined) {
      // Each side takes no more than it supports: the central's controller may stop at 27.
      const centralMax = Math.min(this.central.maxDataLength ?? radio.maxDataLength, radio.maxDataLength);
      const wanted = Math.min(Math.max(this.#pendingDataLength, 27), centralMax);
      this.#pendingDataLength = undefined;
      usedUs += 2 * (pduAirTimeUs(9, this.#phy) + radio.ifsUs);
      // The SoftDevice answers LL_LENGTH_REQ with its own maximum (AUTO) in both directions; the
      // central receives no more than its own maximum.
      const back = centralMax;
      const changed = wanted !== this.#c2pOctets || back !== this.#p2cOctets;
      this.#c2pOctets = wanted;
      this.#p2cOctets = back;
      if (changed) {
        this.#observer.onDataLengthChanged(this);
        this.#handler?.onParametersChanged();
      }
    }
    if (this.#pendingPhy !== undefined) {
      const prefers2M = (this.#pendingPhy.tx & 0x02) !== 0 && (this.#pendingPhy.rx & 0x02) !== 0;
      this.#pendingPhy = undefined;
      usedUs += 2 * (pduAirTimeUs(2, this.#phy) + radio.ifsUs);
      this.#phy = prefers2M ? '2M' : '1M';
      this.#observer.onPhyUpdated(this);
      this.#handler?.onParametersChanged();
    }

    const budgetUs = grant.budgetUs;
    let exchanges = 0;
    let octets = 0;
    for (;;) {
      if (this.#state !== 'open' || this.#silent) break;
      const c = this.#eligible(this.#c2p, at);
      const p = this.#eligible(this.#p2c, at);
      if (c === undefined && p === undefined) break;
      const cLen = c === undefined ? 0 : Math.min(this.#c2pOctets, c.bytes.length - c.offset);
      const pLen = p === undefined ? 0 : Math.min(this.#p2cOctets, p.bytes.length - p.offset);
      const costUs = pduAirTimeUs(cLen, this.#phy) + pduAirTimeUs(pLen, this.#phy) + 2 * radio.ifsUs;
      if (exchanges > 0 && usedUs + costUs > budgetUs) break;
      usedUs += costUs;
      exchanges++;
      octets += cLen + pLen;
      if (c !== undefined) this.#deliverToPeripheral(c, cLen);
      if (p !== undefined && this.#state === 'open' && !this.#silent) this.#deliverToCentral(p, pLen);
    }
    this.#air.eventDone(this, { linkId: this.id, start: at, end: at + usedUs / 1000, lost: false, octets });
    this.#wake();
  }

  /**
   * Air time the event needs at the least: its pending control procedures and one packet exchange
   * (what is at the head of the queues, at the current PHY and data length).
   */
  #leastEventUs(at: number): number {
    const radio = this.#air.radio;
    let us = 0;
    if (this.#pendingDataLength !== undefined) us += 2 * (pduAirTimeUs(9, this.#phy) + radio.ifsUs);
    if (this.#pendingPhy !== undefined) us += 2 * (pduAirTimeUs(2, this.#phy) + radio.ifsUs);
    const c = this.#eligible(this.#c2p, at);
    const p = this.#eligible(this.#p2c, at);
    const cLen = c === undefined ? 0 : Math.min(this.#c2pOctets, c.bytes.length - c.offset);
    const pLen = p === undefined ? 0 : Math.min(this.#p2cOctets, p.bytes.length - p.offset);
    return us + pduAirTimeUs(cLen, this.#phy) + pduAirTimeUs(pLen, this.#phy) + 2 * radio.ifsUs;
  }

  /** The radio was taken at this anchor: nothing crosses, the link tries again at its next one. */
  #loseEvent(at: number): void {
    this.#missedEvents++;
    this.#air.eventDone(this, { linkId: this.id, start: at, end: at, lost: true, octets: 0 });
    this.#wake();
  }

  #eligible(queue: TxItem[], eventStart: number): TxItem | undefined {
    const head = queue[0];
    // Data queued during an event waits for the next one, as on a real link layer.
    return head !== undefined && head.enqueuedAt < eventStart ? head : undefined;
  }

  #deliverToPeripheral(item: TxItem, len: number): void {
    const start = item.start && item.offset === 0;
    const chunk = item.bytes.subarray(item.offset, item.offset + len);
    item.offset += len;
    if (item.offset >= item.bytes.length) {
      this.#c2p.shift();
      item.onSent?.();
    }
    this.#reassemble(chunk, start);
  }

  #deliverToCentral(item: TxItem, len: number): void {
    const start = item.start && item.offset === 0;
    const chunk = item.bytes.slice(item.offset, item.offset + len);
    item.offset += len;
    if (item.offset >= item.bytes.length) {
      this.#p2c.shift();
      item.onSent?.();
    }
    this.#observer.onData(this, chunk, start);
  }

  #reassemble(chunk: Uint8Array, start: boolean): void {
    if (start) {
      const length = l2capFrameLength(chunk);
      if (length === undefined) return;
      this.#rx = { buffer: new Uint8Array(length), filled: 0 };
    }
    const rx = this.#rx;
    if (rx === undefined) return; // continuation without a start: the peripheral drops it
    const n = Math.min(chunk.length, rx.buffer.length - rx.filled);
    rx.buffer.set(chunk.subarray(0, n), rx.filled);
    rx.filled += n;
    if (rx.filled < rx.buffer.length || rx.buffer.length < 4) return;
    this.#rx = undefined;
    const { cid, payload } = decodeL2capFrame(rx.buffer);
    const fate = this.#air.faults?.frameFate('toPeripheral', this, cid, payload) ?? { kind: 'deliver' };
    switch (fate.kind) {
      case 'deliver':
        this.#handler?.onL2cap(cid, payload);
        return;
      case 'drop':
        return;
      case 'corrupt':
        this.#handler?.onL2cap(cid, fate.bytes);
        return;
      case 'delay':
        this.#air.scheduler.after(fate.ms, () => this.#handler?.onL2cap(cid, payload), 'fault: delayed frame to peripheral');
        return;
      default: {
        const never: never = fate;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }
}

interface Advertiser {
  readonly peripheral: SimPeripheral;
  readonly phaseMs: number;
  timer: TimerHandle | undefined;
}

interface PendingInitiation {
  readonly central: CentralNode;
  readonly target: DeviceAddress;
  readonly request: ConnectRequest;
  readonly observer: CentralLinkObserver;
}

export class SimAir {
  readonly scheduler: SimScheduler;
  readonly radio: RadioConfig;
  readonly #logger: Logger | undefined;
  faults: AirFaultHooks | undefined;
  readonly #advertisers: Advertiser[] = [];
  readonly #scanners = new Map<CentralNode, { readonly active: boolean }>();
  readonly #initiations = new Set<PendingInitiation>();
  readonly #links = new Set<AirLink>();
  /** Every address a central connected from (as the peripherals saw it), with its link count. */
  readonly #centralsSeen = new Map<string, { readonly address: DeviceAddress; links: number }>();
  /** One radio per central (centralRadio.ts): its links' events take turns on it. */
  readonly #radios = new Map<CentralNode, CentralRadio>();
  readonly #eventListeners = new Set<(central: CentralNode, event: ConnectionEventRecord) => void>();
  #nextLinkId = 1;
  // Deterministic advDelay (0–10 ms) so runs are reproducible.
  #rng = 0x2545f491;

  constructor(scheduler: SimScheduler, radio: RadioConfig = DEFAULT_RADIO, logger?: Logger) {
    this.scheduler = scheduler;
    this.radio = radio;
    this.#logger = logger;
  }

  /** True while any central has something under way on the air (see scheduler "parked"). */
  get busy(): boolean {
    return this.#scanners.size > 0 || this.#initiations.size > 0 || this.#links.size > 0;
  }

  get links(): readonly AirLink[] {
    return [...this.#links];
  }

  /**
   * The addresses centrals connected from over this air's life, as the peripherals saw them (the
   * peer address of each link), with how many links each: what a device would log as "connected
   * by". Lets a test check from the devices' side that a station never initiated as zeros.
   */
  centralsSeen(): readonly { readonly address: DeviceAddress; readonly links: number }[] {
    return [...this.#centralsSeen.values()].map(({ address, links }) => ({ address, links }));
  }

  addPeripheral(peripheral: SimPeripheral): void {
    const index = this.#advertisers.length;
    const advertiser: Advertiser = { peripheral, phaseMs: 3 + ((index * 7.3) % 17), timer: undefined };
    this.#advertisers.push(advertiser);
    peripheral.attachRadio({ advertisingChanged: () => this.#refresh(advertiser) });
    this.#refresh(advertiser);
  }

  setScanning(central: CentralNode, scan: { readonly active: boolean } | undefined): void {
    if (scan === undefined) this.#scanners.delete(central);
    else this.#scanners.set(central, scan);
    this.#refreshAll();
  }

  initiate(central: CentralNode, target: DeviceAddress, request: ConnectRequest, observer: CentralLinkObserver): Initiation {
    const pending: PendingInitiation = { central, target, request, observer };
    this.#initiations.add(pending);
    this.#refreshAll();
    return {
      cancel: () => {
        this.#initiations.delete(pending);
        this.#refreshAll();
      },
    };
  }

  /** Everything a central had on the air ends silently (controller reset or closed). */
  centralGone(central: CentralNode): void {
    this.#scanners.delete(central);
    for (const i of [...this.#initiations]) if (i.central === central) this.#initiations.delete(i);
    for (const link of this.#links) if (link.central === central) link.centralVanished();
    // Its links are silent from now on: they never ask its radio again.
    this.#radios.delete(central);
    this.#refreshAll();
  }

  linkClosed(link: AirLink): void {
    this.#links.delete(link);
  }

  /**
   * Calls `listener` with every connection event of every central as it is decided (used air
   * time, or lost), for tests and measurements. Returns the unsubscribe function.
   */
  onConnectionEvent(listener: (central: CentralNode, event: ConnectionEventRecord) => void): () => void {
    this.#eventListeners.add(listener);
    return () => {
      this.#eventListeners.delete(listener);
    };
  }

  /** The other open links of the same central (whose events share its radio). */
  #siblings(link: AirLink): AirLink[] {
    return [...this.#links].filter((l) => l !== link && l.central === link.central);
  }

  #radioOf(central: CentralNode): CentralRadio {
    let radio = this.#radios.get(central);
    if (radio === undefined) {
      radio = new CentralRadio();
      this.#radios.set(central, radio);
    }
    return radio;
  }

  /** The link's new anchor after a connection update taking effect at `earliest` (centralRadio.ts). */
  placeAnchor(link: AirLink, earliest: number, intervalMs: number): number {
    return this.#radioOf(link.central).placeAnchor(earliest, intervalMs, this.#siblings(link));
  }

  /** Asks the link's central's radio for an event at `at` (centralRadio.ts); undefined: lost. */
  grantEvent(link: AirLink, at: number, maxMs: number): EventGrant | undefined {
    return this.#radioOf(link.central).grant(link, at, maxMs, this.#siblings(link));
  }

  /** An event of `link` was decided: it holds its central's radio until its end. */
  eventDone(link: AirLink, event: ConnectionEventRecord): void {
    if (!event.lost) this.#radioOf(link.central).occupy(event.start, event.end);
    for (const l of this.#eventListeners) l(link.central, event);
  }

  close(): void {
    for (const a of this.#advertisers) a.timer?.cancel();
    this.#scanners.clear();
    this.#initiations.clear();
    this.#links.clear();
    this.#radios.clear();
    this.#eventListeners.clear();
  }

  #refreshAll(): void {
    for (const a of this.#advertisers) this.#refresh(a);
  }

  #listening(): boolean {
    return this.#scanners.size > 0 || this.#initiations.size > 0;
  }

  /** Advertising events are modelled only while someone listens: nobody could tell otherwise. */
  #refresh(a: Advertiser): void {
    const adv = a.peripheral.advertising();
    if (adv === undefined || !this.#listening()) {
      a.timer?.cancel();
      a.timer = undefined;
      return;
    }
    if (a.timer?.pending === true) return;
    const delay = a.phaseMs % adv.intervalMs;
    a.timer = this.scheduler.after(delay, () => this.#advertisingEvent(a), `adv ${a.peripheral.label}`);
  }

  #advDelayMs(): number {
    this.#rng = (Math.imul(this.#rng, 1103515245) + 12345) >>> 0;
    return ((this.#rng >>> 8) % 10001) / 1000;
  }

  #advertisingEvent(a: Advertiser): void {
    a.timer = undefined;
    const adv = a.peripheral.advertising();
    if (adv === undefined || !this.#listening()) return;
    const peer = adv.peer;
    const isPeer = (address: DeviceAddress): boolean => address.type === peer?.address.type && address.value === peer.address.value;
    for (const [central, scan] of this.#scanners) {
      if (peer?.directed === true) {
        // A directed advertisement carries only the two addresses: others do not report it, nor scan it.
        if (isPeer(central.address)) central.onAdvertisement({ kind: 'adv', address: adv.address, connectable: true, directed: true, data: new Uint8Array(0), rssi: a.peripheral.rssi });
        continue;
      }
      central.onAdvertisement({ kind: 'adv', address: adv.address, connectable: adv.connectable, data: adv.data, rssi: a.peripheral.rssi });
      if (scan.active) {
        central.onAdvertisement({
          kind: 'scanRsp',
          address: adv.address,
          connectable: adv.connectable,
          data: adv.scanResponse,
          rssi: a.peripheral.rssi,
        });
      }
    }
    if (adv.connectable) {
      // With a peer (whitelist or directed), only that central's connection request is accepted.
      const initiation = [...this.#initiations].find((i) => i.target.value === adv.address.value && (peer === undefined || isPeer(i.central.address)));
      if (initiation !== undefined) {
        this.#initiations.delete(initiation);
        this.#connect(initiation, a.peripheral, adv);
        this.#refreshAll();
        return;
      }
    }
    if (a.timer === undefined) {
      a.timer = this.scheduler.after(adv.intervalMs + this.#advDelayMs(), () => this.#advertisingEvent(a), `adv ${a.peripheral.label}`);
    }
  }

  #connect(i: PendingInitiation, peripheral: SimPeripheral, adv: AdvertisingParams): void {
    const now = this.scheduler.nowMs();
    // CONNECT_IND, then the transmit window: the first anchor 1.25 ms + one window later at the
    // earliest, in the widest gap between the central's other links' slots (centralRadio.ts).
    const siblings = [...this.#links].filter((l) => l.central === i.central);
    const firstAnchor = this.#radioOf(i.central).placeAnchor(now + 2.5, i.request.intervalMs, siblings);
    const link = new AirLink(this, this.#nextLinkId++, i.central, peripheral, adv.address, i.request, i.observer, now, firstAnchor);
    this.#links.add(link);
    const central = i.central.address;
    const key = `${central.type} ${central.value}`;
    const seen = this.#centralsSeen.get(key);
    if (seen === undefined) this.#centralsSeen.set(key, { address: central, links: 1 });
    else seen.links++;
    this.#logger?.debug({ link: link.id, peripheral: adv.address.value }, 'sim: connected');
    i.observer.onConnected(link);
    link.attach(peripheral.accept(link.peripheralView()));
  }
}
