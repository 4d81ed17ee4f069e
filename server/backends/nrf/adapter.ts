/**
 * An Adapter over Nordic's connectivity firmware: the SoftDevice runs the BLE host and controller
 * on the dongle, and we drive it through its serialized API (rpc.ts) over the H5 link (link.ts).
 * Above this, DFU engines and the gRPC API see the same Adapter/Connection as with the HCI
 * backend. Besides our own calls, the SoftDevice asks the central to answer its peers' requests
 * (MTU, connection parameters, data length, PHY, system attributes, user memory): answered here.
 *
 * A device that restarts (crash, watchdog) loses every link and its configuration; the link layer
 * re-syncs by itself. The adapter then drops its links (LINK_LOST, so a DFU reconnects and
 * resumes as after any link loss), sets the SoftDevice up again, and lets scans and connection
 * attempts that came meanwhile wait for it, instead of failing for good.
 */
import { addressToBytes, type DeviceAddress } from '../../ble/address.js';
import { adapterBusy, LinkSlots } from '../linkSlots.js';
import type { Adapter, AdapterInfo, AdapterState, Advertisement, ConnectParams, Connection, ScanParams } from '../../ble/types.js';
import { UUIDS, uuidToBytes } from '../../ble/uuid.js';
import { abortReason, BledfuError, hasCode, isBledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { withLinkedSignal } from '../../common/signals.js';
import { ATT_ERROR } from '../../host/att/errors.js';
import { isAcceptableConnectionParameters } from '../../host/hci/connectionParameters.js';
import { Credits } from '../../host/hci/credits.js';
import { HCI_STATUS, linkLostError } from '../../host/hci/errors.js';
import { raceWithin, realClock, type Clock, type Timer } from '../../common/clock.js';
import type { ByteDuplex } from '../../transport/types.js';
import type { AdapterBaseOptions } from '../adapterOptions.js';
import { NrfConnection, parametersOf, type NrfLinkRecord } from './connection.js';
import { NrfGattClient, type GattcEvent } from './gattc.js';
import type { H5LinkOptions } from './h5Link.js';
import { NrfLink } from './link.js';
import { nrfCallError, NrfRpc, raceAbort } from './rpc.js';
import { NrfScanner, sdScanParams } from './scanner.js';
import { CONN_CFG_TAG, deviceAddressOf, setUpSoftDevice, type SoftDeviceSetup } from './setup.js';
import { GAP_ROLE, GAP_TIMEOUT_SRC, NRF_SUCCESS, type ApiVersion } from './serialization/constants.js';
import type { EventOf, NrfEvent } from './serialization/events.js';
import type { ConnParams, GapAddr } from './serialization/structs.js';

export interface NrfAdapterOptions extends AdapterBaseOptions {
  /** The SoftDevice API the firmware must speak; undefined = whichever it speaks (5 or 6). */
  readonly api?: ApiVersion;
  readonly responseTimeoutMs?: number;
  /** H5 link timing (retransmission, reset wait, open deadline). */
  readonly link?: H5LinkOptions;
}

const BLE_ERROR_INVALID_CONN_HANDLE = 0x3002;
/** What a DFU needs (spec §5.3/5.4): the largest MTU, a connection event fitting 251-byte PDUs. */
const ATT_MTU = 247;
const EVENT_LENGTH = 6;
const WRITE_CMD_QUEUE = 8;
const LE_MAX_OCTETS = 251;
const PHY_2M = 2;
const DEFAULT_MAX_CONNECTIONS = 4;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const ATT_TIMEOUT_MS = 30_000;
/** After a connection attempt's own timeout, how long the SoftDevice gets to report it. */
const CONNECT_GRACE_MS = 2_000;
/** Longest wait for a link-layer procedure (data length, PHY) to report its end. */
const LL_PROCEDURE_WAIT_MS = 2_000;
/** Closing must finish even if the SoftDevice never reports a link down. */
const DISCONNECT_WAIT_MS = 3_000;
/** Central defaults as the HCI backend asks: 7.5–30 ms, no latency, 4 s supervision timeout. */
const CONN_PARAMS: ConnParams = { minConnInterval: 6, maxConnInterval: 24, slaveLatency: 0, connSupTimeout: 400 };
/** The Secure DFU base, registered so the DFU characteristics come back with their 16-bit alias. */
const VENDOR_BASES = [uuidToBytes(UUIDS.dfuControlPoint)];

/** The SoftDevice's address for ours: a random address says its kind in its two most significant bits (Core Vol 6, Part B, 1.3.2). */
function gapAddrOf(address: DeviceAddress): GapAddr {
  const bytes = addressToBytes(address);
  if (address.type === 'public') return { idPeer: false, type: 0, address: bytes };
  const top = (bytes[5] as number) >>> 6;
  return { idPeer: false, type: top === 3 ? 1 : top === 1 ? 2 : 3, address: bytes };
}

type ConnectOutcome =
  | { readonly kind: 'connected'; readonly link: NrfLinkRecord }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'restarted'; readonly error: BledfuError };

/** How long scans and connection attempts wait for a restarted device to be set up again. */
const RECOVERY_WAIT_MS = 10_000;

function restartedLinkError(cause: BledfuError): BledfuError {
  return new BledfuError('LINK_LOST', 'link lost: the nRF dongle restarted (its links are gone)', {
    layer: 'nrf',
    remedy: 'the dongle is set up again by itself; reconnect',
    cause,
  });
}

interface LinkWaiters {
  dataLength?: () => void;
  phy?: () => void;
}

class NrfAdapter implements Adapter {
  readonly id: string;
  readonly #o: NrfAdapterOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #link: NrfLink;
  readonly #rpc: NrfRpc;
  readonly #failed = new AbortController();
  readonly #links = new Map<number, NrfLinkRecord>();
  readonly #slots: LinkSlots;
  readonly #llWaiters = new Map<number, LinkWaiters>();
  readonly #connectTurn = new Credits(1);
  #connecting: ((outcome: ConnectOutcome) => void) | undefined;
  #scanner: NrfScanner | undefined;
  #setup: SoftDeviceSetup | undefined;
  #state: AdapterState = 'opening';
  #error: BledfuError | undefined;
  /** Set while a restarted device is being set up again; resolves when it is ready (or failed). */
  #recovery: Promise<void> | undefined;
  /** Device restarts so far: a connection attempt spanning one failed because of it. */
  #restarts = 0;

  constructor(transport: ByteDuplex, options: NrfAdapterOptions) {
    this.id = options.id;
    this.#o = options;
    this.#log = options.logger.child({ adapter: options.id });
    this.#clock = options.clock ?? realClock;
    this.#slots = new LinkSlots(this.#clock);
    this.#link = new NrfLink(transport, { ...options.link, logger: this.#log, clock: this.#clock });
    this.#rpc = new NrfRpc(this.#link, {
      logger: this.#log,
      ...(options.api === undefined ? {} : { api: options.api }),
      ...(options.responseTimeoutMs === undefined ? {} : { responseTimeoutMs: options.responseTimeoutMs }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    this.#rpc.onEvent((e) => this.#onEvent(e));
    this.#rpc.onRestart((e) => this.#onDeviceRestart(e));
    const onFailed = (): void => this.#fail(this.#rpc.failed.reason as BledfuError);
    this.#rpc.failed.addEventListener('abort', onFailed, { once: true });
  }

  /** Link up, SoftDevice configured and enabled. */
  async open(signal?: AbortSignal): Promise<void> {
    await this.#link.open(signal);
    const setup = await this.#setUpSoftDevice(signal);
    this.#setup = setup;
    this.#scanner = new NrfScanner(this.#rpc, setup.api, this.#log, this.#clock);
    if (this.#state !== 'opening') throw this.#error ?? abortReason(this.#failed.signal);
    this.#state = 'ready';
    this.#log.debug(
      { identity: setup.identity, address: setup.address.value, links: setup.maxConnections, writeQueue: setup.writeCmdQueue },
      'connectivity firmware set up',
    );
  }

  #setUpSoftDevice(signal?: AbortSignal): Promise<SoftDeviceSetup> {
    return withLinkedSignal([signal, this.#rpc.failed], (s) =>
      setUpSoftDevice(this.#rpc, {
        // Once known, the API cannot change under us: the same firmware restarted.
        api: this.#rpc.api ?? this.#o.api,
        maxConnections: this.#o.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
        attMtu: ATT_MTU,
        eventLength: EVENT_LENGTH,
        writeCmdQueue: WRITE_CMD_QUEUE,
        vendorBases: VENDOR_BASES,
        logger: this.#log,
        signal: s,
      }),
    );
  }

  /** The device restarted: links are gone; set it up again once the link is back. */
  #onDeviceRestart(cause: BledfuError): void {
    if (this.#state !== 'ready') return;
    this.#restarts++;
    this.#state = 'opening';
    const lost = restartedLinkError(cause);
    this.#scanner?.suspend();
    this.#connecting?.({ kind: 'restarted', error: lost });
    for (const link of [...this.#links.values()]) link.close(lost);
    this.#recovery = new Promise<void>((resolve) => {
      const off = this.#rpc.onUp(() => {
        off();
        this.#setUpSoftDevice()
          .then((setup) => {
            if (this.#state !== 'opening') return;
            this.#setup = setup;
            this.#state = 'ready';
            this.#scanner?.restore();
            this.#log.info({ identity: setup.identity }, 'the nRF dongle restarted and is set up again');
          })
          .catch((e: unknown) => this.#fail(isBledfuError(e) ? e : new BledfuError('ADAPTER_UNAVAILABLE', String(e), { layer: 'nrf', cause: e })))
          .finally(() => {
            this.#recovery = undefined;
            resolve();
          });
      });
    });
  }

  /** Waits for a restarted device to be set up again; throws when the adapter is not usable. */
  async #whenReady(signal: AbortSignal | undefined): Promise<void> {
    const recovery = this.#recovery;
    if (recovery !== undefined) {
      let timer: Timer | undefined;
      const limit = new Promise<void>((resolve) => {
        timer = this.#clock.setTimer(RECOVERY_WAIT_MS, resolve);
      });
      try {
        await withLinkedSignal([signal, this.#failed.signal], (s) => raceAbort(Promise.race([recovery, limit]), s));
      } finally {
        timer?.cancel();
      }
    }
    this.#ready();
  }

  get failed(): AbortSignal {
    return this.#failed.signal;
  }

  info(): AdapterInfo {
    return {
      id: this.id,
      kind: this.#o.kind,
      spec: this.#o.spec,
      state: this.#state,
      // The SoftDevice scans and connects as its own address (bledfu never sets one): a static
      // random address from the chip's FICR, unless someone gave the dongle a public one.
      ...(this.#setup === undefined
        ? {}
        : { address: this.#setup.address, addressSource: this.#setup.address.type === 'public' ? ('public' as const) : ('controller-static' as const) }),
      identity: this.#setup?.identity ?? 'Nordic connectivity firmware',
      activeConnections: this.#links.size,
      maxConnections: this.#setup?.maxConnections ?? this.#o.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      ...(this.#error === undefined ? {} : { error: this.#error }),
    };
  }

  #ready(): { setup: SoftDeviceSetup; scanner: NrfScanner } {
    const setup = this.#setup;
    const scanner = this.#scanner;
    if (this.#state === 'ready' && setup !== undefined && scanner !== undefined) return { setup, scanner };
    throw this.#error ?? new BledfuError('ADAPTER_UNAVAILABLE', `adapter ${this.id} is ${this.#state}`, { layer: 'backend' });
  }

  scan(params: ScanParams): AsyncIterable<Advertisement> {
    if (this.#recovery === undefined) return this.#ready().scanner.scan(params.active, params.signal);
    return this.#scanWhenReady(params);
  }

  async *#scanWhenReady(params: ScanParams): AsyncGenerator<Advertisement> {
    await this.#whenReady(params.signal);
    yield* this.#ready().scanner.scan(params.active, params.signal);
  }

  #checkCanConnect(): SoftDeviceSetup {
    const { setup } = this.#ready();
    if (this.#links.size >= setup.maxConnections) {
      throw adapterBusy(this.id, this.#links.size, 'wait for a running job to finish or raise max= in the adapter spec');
    }
    return setup;
  }

  async connect(address: DeviceAddress, params: ConnectParams = {}): Promise<Connection> {
    await this.#whenReady(params.signal);
    const timeoutMs = params.timeoutMs ?? this.#o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const link = await this.#slots.acquire(
      async () => {
        this.#checkCanConnect();
        // One sd_ble_gap_connect at a time; those ahead may take the last slot meanwhile.
        await this.#connectTurn.acquire(params.signal);
        try {
          return await this.#connectNow(address, timeoutMs, this.#checkCanConnect(), params.signal);
        } finally {
          this.#connectTurn.release();
        }
      },
      { wait: params.waitForFreeLink === true, timeoutMs, signal: params.signal },
    );
    const connection = new NrfConnection(link, () => this.#disconnect(link));
    try {
      await this.#setUpLink(link, params);
    } catch (e) {
      if (link.closed.aborted) {
        const lost = link.closed.reason as BledfuError;
        throw new BledfuError('CONNECT_FAILED', `connected to ${address.value} but ${lost.message}`, { layer: 'backend', facts: lost.facts, cause: e });
      }
      await connection.disconnect().catch(() => undefined);
      throw e;
    }
    return connection;
  }

  async #connectNow(address: DeviceAddress, timeoutMs: number, setup: SoftDeviceSetup, signal: AbortSignal | undefined): Promise<NrfLinkRecord> {
    const scanner = this.#ready().scanner;
    let onOutcome!: (o: ConnectOutcome) => void;
    const outcome = new Promise<ConnectOutcome>((resolve) => (onOutcome = resolve));
    const restarts = this.#restarts;
    try {
      return await this.#attempt(address, timeoutMs, setup, signal, scanner, outcome, onOutcome);
    } catch (e) {
      // The device restarted under the attempt: a failed attempt the caller may retry.
      if (this.#restarts === restarts || hasCode(e, 'CANCELLED')) throw e;
      throw new BledfuError('CONNECT_FAILED', `could not connect to ${address.value}: the nRF dongle restarted meanwhile`, { layer: 'nrf', cause: e });
    }
  }

  async #attempt(
    address: DeviceAddress,
    timeoutMs: number,
    setup: SoftDeviceSetup,
    signal: AbortSignal | undefined,
    scanner: NrfScanner,
    outcome: Promise<ConnectOutcome>,
    onOutcome: (o: ConnectOutcome) => void,
  ): Promise<NrfLinkRecord> {
    try {
      await scanner.pause();
      this.#connecting = onOutcome;
      await this.#rpc.invoke(
        { kind: 'gapConnect', peerAddr: gapAddrOf(address), scanParams: sdScanParams(setup.api, false, timeoutMs), connParams: CONN_PARAMS, connCfgTag: CONN_CFG_TAG },
        signal,
        { code: 'CONNECT_FAILED', what: `connecting to ${address.value}` },
      );
      const first = await raceWithin(outcome, timeoutMs + CONNECT_GRACE_MS, { clock: this.#clock, failed: this.#failed.signal, signal });
      if (first.kind === 'settled') {
        if (first.value.kind === 'connected') return first.value.link;
        if (first.value.kind === 'restarted') throw first.value.error;
      } else {
        // The SoftDevice did not end the attempt in time, or the caller gave up: cancel it. A link
        // that won the race is dropped.
        const cancelled = await this.#rpc.call({ kind: 'gapConnectCancel' }).catch(() => undefined);
        if (cancelled?.result === NRF_SUCCESS) this.#connecting = undefined;
        else {
          const late = await raceWithin(outcome, CONNECT_GRACE_MS, { clock: this.#clock, failed: this.#failed.signal });
          if (late.kind === 'settled' && late.value.kind === 'connected') {
            this.#log.debug({ handle: late.value.link.handle }, 'connection completed while cancelling; disconnecting');
            await this.#disconnect(late.value.link).catch(() => undefined);
          }
        }
        if (first.kind === 'aborted') throw first.error;
      }
      throw new BledfuError('CONNECT_FAILED', `could not connect to ${address.value} within ${timeoutMs} ms`, {
        layer: 'ble',
        remedy: 'check that the device is advertising, connectable and in range',
      });
    } finally {
      this.#connecting = undefined;
      scanner.resume();
    }
  }

  /** MTU, data length and PHY, as the HCI backend negotiates them; a peer refusing is no failure. */
  async #setUpLink(link: NrfLinkRecord, params: ConnectParams): Promise<void> {
    await withLinkedSignal([link.closed, params.signal], async (signal) => {
      const mtu = Math.max(23, Math.min(ATT_MTU, params.mtu ?? ATT_MTU));
      try {
        await link.gatt.exchangeMtu(mtu, signal);
      } catch (e) {
        if (hasCode(e, 'ATT_ERROR') && e.facts.attError === ATT_ERROR.requestNotSupported) this.#log.debug('peer does not support Exchange MTU; staying at 23');
        else if (hasCode(e, 'ATT_ERROR') && e.facts.context?.['nrfResult'] !== undefined) this.#log.debug({ err: e.message }, 'MTU exchange refused; keeping the MTU the peer set');
        else throw e;
      }
      await this.#llProcedure(link, 'dataLength', signal, () =>
        this.#rpc.call(
          {
            kind: 'gapDataLengthUpdate',
            connHandle: link.handle,
            params: { maxTxOctets: LE_MAX_OCTETS, maxRxOctets: LE_MAX_OCTETS, maxTxTimeUs: 0, maxRxTimeUs: 0 },
            wantLimitation: true,
          },
          signal,
        ),
      );
      await this.#llProcedure(link, 'phy', signal, () =>
        this.#rpc.call({ kind: 'gapPhyUpdate', connHandle: link.handle, phys: { txPhys: PHY_2M, rxPhys: PHY_2M } }, signal),
      );
    });
  }

  /** Starts a link-layer procedure and waits (bounded) for the event that ends it. */
  async #llProcedure(link: NrfLinkRecord, which: keyof LinkWaiters, signal: AbortSignal, start: () => Promise<{ result: number }>): Promise<void> {
    const waiters = this.#llWaiters.get(link.handle);
    if (waiters === undefined) return;
    let timer: Timer | undefined;
    let onAbort: (() => void) | undefined;
    const done = new Promise<void>((resolve) => {
      waiters[which] = resolve;
      timer = this.#clock.setTimer(LL_PROCEDURE_WAIT_MS, () => {
        this.#log.debug({ procedure: which }, 'link-layer procedure did not report its end; going on');
        resolve();
      });
      onAbort = resolve;
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const r = await start();
      if (r.result !== NRF_SUCCESS) {
        this.#log.debug({ procedure: which, result: r.result }, 'link-layer procedure refused; skipped');
        return;
      }
      await done;
      if (signal.aborted) throw abortReason(signal);
    } finally {
      timer?.cancel();
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
      delete waiters[which];
    }
  }

  async #disconnect(link: NrfLinkRecord, reason: number = HCI_STATUS.remoteUserTerminated): Promise<void> {
    if (link.closed.aborted) return;
    const down = new Promise<void>((resolve) => link.closed.addEventListener('abort', () => resolve(), { once: true }));
    const r = await this.#rpc.call({ kind: 'gapDisconnect', connHandle: link.handle, hciStatusCode: reason });
    // An invalid handle: it is gone already and DISCONNECTED is on its way.
    if (r.result !== NRF_SUCCESS && r.result !== BLE_ERROR_INVALID_CONN_HANDLE) {
      throw nrfCallError(this.#rpc.api ?? 6, 'gapDisconnect', r.result, { what: `disconnecting ${link.address.value}` });
    }
    await down;
  }

  // --- events ---------------------------------------------------------------------------------

  #onEvent(event: NrfEvent): void {
    switch (event.kind) {
      case 'gapAdvReport':
        this.#scanner?.onEvent(event);
        return;
      case 'gapTimeout':
        if (event.src === GAP_TIMEOUT_SRC.conn) this.#connecting?.({ kind: 'timeout' });
        else this.#scanner?.onEvent(event);
        return;
      case 'gapConnected':
        this.#onConnected(event);
        return;
      case 'gapDisconnected': {
        const link = this.#links.get(event.connHandle);
        if (link === undefined) return;
        const error = linkLostError(event.reason);
        link.close(error);
        this.#log.info({ address: link.address.value, reason: error.message }, 'link down');
        return;
      }
      case 'gapConnParamUpdate': {
        const link = this.#links.get(event.connHandle);
        if (link !== undefined) link.parameters = parametersOf(event.connParams);
        return;
      }
      case 'gapConnParamUpdateRequest': {
        const p = event.connParams;
        const ok = isAcceptableConnectionParameters({ intervalMin: p.minConnInterval, intervalMax: p.maxConnInterval, latency: p.slaveLatency, timeout: p.connSupTimeout });
        this.#answer('accepting connection parameters', { kind: 'gapConnParamUpdate', connHandle: event.connHandle, connParams: ok ? p : null });
        return;
      }
      case 'gapDataLengthUpdateRequest':
        this.#answer('answering a data length request', { kind: 'gapDataLengthUpdate', connHandle: event.connHandle, params: null, wantLimitation: false });
        return;
      case 'gapPhyUpdateRequest':
        this.#answer('answering a PHY request', { kind: 'gapPhyUpdate', connHandle: event.connHandle, phys: event.peerPreferredPhys });
        return;
      case 'gapDataLengthUpdate':
        this.#llWaiters.get(event.connHandle)?.dataLength?.();
        return;
      case 'gapPhyUpdate':
        this.#llWaiters.get(event.connHandle)?.phy?.();
        return;
      case 'gattsExchangeMtuRequest': {
        const link = this.#links.get(event.connHandle);
        if (link !== undefined) link.gatt.mtu = Math.max(23, Math.min(ATT_MTU, event.clientRxMtu));
        this.#answer('answering an MTU exchange', { kind: 'gattsExchangeMtuReply', connHandle: event.connHandle, serverRxMtu: ATT_MTU });
        return;
      }
      case 'gattsSysAttrMissing':
        this.#answer('initialising system attributes', { kind: 'gattsSysAttrSet', connHandle: event.connHandle, sysAttrData: null, flags: 0 });
        return;
      case 'userMemRequest':
        this.#answer('answering a user memory request', { kind: 'userMemReply', connHandle: event.connHandle });
        return;
      case 'gattsHvnTxComplete':
        return;
      default:
        this.#links.get(event.connHandle)?.gatt.onEvent(event as GattcEvent);
    }
  }

  #answer(what: string, command: Parameters<NrfRpc['call']>[0]): void {
    this.#rpc.call(command).then(
      (r) => {
        if (r.result !== NRF_SUCCESS) this.#log.debug({ result: r.result }, `${what} failed`);
      },
      (e: unknown) => this.#log.debug({ err: isBledfuError(e) ? e.message : e }, `${what} failed`),
    );
  }

  #onConnected(event: EventOf<'gapConnected'>): void {
    const setup = this.#setup;
    if (event.role !== GAP_ROLE.central || setup === undefined || this.#connecting === undefined) {
      this.#log.warn({ handle: event.connHandle, role: event.role }, 'unexpected connection (we never advertise); disconnecting');
      this.#answer('refusing a connection', { kind: 'gapDisconnect', connHandle: event.connHandle, hciStatusCode: HCI_STATUS.remoteUserTerminated });
      return;
    }
    const closed = new AbortController();
    const gatt = new NrfGattClient({
      rpc: this.#rpc,
      api: setup.api,
      connHandle: event.connHandle,
      logger: this.#log.child({ handle: event.connHandle }),
      closed: closed.signal,
      writeCmdQueue: setup.writeCmdQueue,
      vendorBases: setup.vendorBases,
      attTimeoutMs: this.#o.attTimeoutMs ?? ATT_TIMEOUT_MS,
      ...(this.#o.clock === undefined ? {} : { clock: this.#o.clock }),
      onAttTimeout: () => {
        const link = this.#links.get(event.connHandle);
        if (link !== undefined) this.#disconnect(link).catch(() => undefined);
      },
    });
    const link: NrfLinkRecord = {
      handle: event.connHandle,
      address: deviceAddressOf(event.peerAddr),
      parameters: parametersOf(event.connParams),
      closed: closed.signal,
      gatt,
      close: (error) => {
        if (closed.signal.aborted) return;
        this.#links.delete(event.connHandle);
        this.#slots.released();
        this.#llWaiters.delete(event.connHandle);
        closed.abort(error);
        gatt.fail(error);
      },
    };
    this.#links.set(event.connHandle, link);
    this.#llWaiters.set(event.connHandle, {});
    this.#connecting({ kind: 'connected', link });
    this.#connecting = undefined;
  }

  // --- failure and close ------------------------------------------------------------------------

  #fail(cause: BledfuError): void {
    if (this.#state === 'closed' || this.#failed.signal.aborted) return;
    const error = new BledfuError('ADAPTER_UNAVAILABLE', cause.message, { layer: 'nrf', ...(cause.remedy === undefined ? {} : { remedy: cause.remedy }), cause });
    this.#state = 'failed';
    this.#error = error;
    this.#failAll(error);
    this.#log.debug({ err: cause }, 'connectivity firmware link failed');
  }

  #failAll(error: BledfuError): void {
    this.#scanner?.fail(error);
    this.#connectTurn.fail(error);
    for (const link of [...this.#links.values()]) link.close(error);
    if (!this.#failed.signal.aborted) this.#failed.abort(error);
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const wasUsable = this.#state === 'ready';
    this.#state = 'closed';
    if (wasUsable) {
      await Promise.all(
        [...this.#links.values()].map((link) =>
          this.#bounded(this.#disconnect(link)).catch((e: unknown) => this.#log.debug({ err: isBledfuError(e) ? e.message : e }, 'disconnect on close failed')),
        ),
      );
    }
    this.#failAll(new BledfuError('ADAPTER_UNAVAILABLE', `adapter ${this.id} is closed`, { layer: 'backend' }));
    await this.#link.close();
  }

  #bounded(work: Promise<void>): Promise<void> {
    let timer: Timer | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = this.#clock.setTimer(DISCONNECT_WAIT_MS, resolve);
    });
    return Promise.race([work, limit]).finally(() => timer?.cancel());
  }
}

/**
 * Brings the link up, identifies and configures the connectivity firmware, and returns a ready
 * adapter. Fails with the link's error (SERIAL_NO_RESPONSE when the link never comes up,
 * TRANSPORT_CLOSED, …) or SERIAL_WRONG_PROTOCOL naming the firmware to flash. Closing the
 * adapter closes the transport.
 */
export async function createNrfAdapter(transport: ByteDuplex, options: NrfAdapterOptions, signal?: AbortSignal): Promise<Adapter> {
  const adapter = new NrfAdapter(transport, options);
  try {
    await adapter.open(signal);
  } catch (e) {
    await adapter.close().catch(() => undefined);
    throw e;
  }
  return adapter;
}
