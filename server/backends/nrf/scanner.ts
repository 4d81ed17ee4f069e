/**
 * Scanning through the SoftDevice for any number of consumers at once (a user's Scan RPC beside
 * DFU jobs looking for their device): the first consumer starts the scan, the last one leaving
 * stops it, an active consumer upgrades a passive scan. API v6 scans into a host buffer and the
 * scanner pauses after every report until it is told to continue (spec §3.6.4), so each report is
 * followed by sd_ble_gap_scan_start(NULL, buffer). sd_ble_gap_connect ends a scan, so connection
 * attempts pause scanning and resume it afterwards.
 */
import { ScanResponseJoiner, toAdvertisement } from '../../ble/advertising.js';
import type { Advertisement } from '../../ble/types.js';
import { AsyncQueue } from '../../common/asyncQueue.js';
import type { Clock } from '../../common/clock.js';
import type { BledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { NrfRpc } from './rpc.js';
import { deviceAddressOf } from './setup.js';
import { GAP_TIMEOUT_SRC, NRF_ERROR, NRF_SUCCESS, type ApiVersion } from './serialization/constants.js';
import type { EventOf } from './serialization/events.js';
import type { DataRef } from './serialization/structs.js';
import type { ScanParams as SdScanParams } from './serialization/versions.js';

/** 60 ms interval, 30 ms window (0.625 ms units), as the HCI backend scans. */
const SCAN_INTERVAL = 0x0060;
const SCAN_WINDOW = 0x0030;
/** The one report buffer we hand the v6 scanner: legacy advertising fits in 31 bytes. */
export const REPORT_BUFFER: DataRef = { bufferId: 1, len: 31 };
const ALL_CHANNELS = new Uint8Array(5);
const SCAN_QUEUE_CAPACITY = 1024;
/** v6 report status "incomplete, more data to come": the scanner keeps running by itself. */
const STATUS_MORE_DATA = 1;

type Mode = 'off' | 'passive' | 'active';

interface Consumer {
  readonly queue: AsyncQueue<Advertisement>;
  readonly active: boolean;
  dropped: number;
}

/** Scan parameters for sd_ble_gap_scan_start / sd_ble_gap_connect in the firmware's layout. */
export function sdScanParams(api: ApiVersion, active: boolean, timeoutMs: number): SdScanParams {
  if (api === 5) {
    return { api: 5, active, useWhitelist: false, advDirReport: false, interval: SCAN_INTERVAL, window: SCAN_WINDOW, timeout: Math.min(0xffff, Math.ceil(timeoutMs / 1000)) };
  }
  return {
    api: 6,
    extended: false,
    reportIncompleteEvts: false,
    active,
    filterPolicy: 0,
    scanPhys: 1,
    channelMask: ALL_CHANNELS,
    interval: SCAN_INTERVAL,
    window: SCAN_WINDOW,
    timeout: Math.min(0xffff, Math.ceil(timeoutMs / 10)),
  };
}

export class NrfScanner {
  readonly #rpc: NrfRpc;
  readonly #api: ApiVersion;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #consumers = new Set<Consumer>();
  /** What the SoftDevice was last successfully told. */
  #mode: Mode = 'off';
  /** Connection attempts under way; the scan stays off while there are any. */
  #paused = 0;
  #changes: Promise<void> = Promise.resolve();
  #failure: BledfuError | undefined;
  /** The device restarted and is being set up again: nothing to tell it until restore(). */
  #suspended = false;
  readonly #joiner = new ScanResponseJoiner();

  constructor(rpc: NrfRpc, api: ApiVersion, logger: Logger, clock: Clock) {
    this.#clock = clock;
    this.#rpc = rpc;
    this.#api = api;
    this.#log = logger;
  }

  async *scan(active: boolean, signal: AbortSignal): AsyncGenerator<Advertisement> {
    if (this.#failure !== undefined) throw this.#failure;
    if (signal.aborted) return;
    const consumer: Consumer = { queue: new AsyncQueue<Advertisement>({ capacity: SCAN_QUEUE_CAPACITY }), active, dropped: 0 };
    this.#consumers.add(consumer);
    const onAbort = (): void => consumer.queue.end();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#apply().catch((e: unknown) => {
        // A device restart: the scan starts again once the device is set up (restore()).
        if (!signal.aborted && !this.#suspended) throw e;
      });
      for await (const adv of consumer.queue) yield adv;
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.#consumers.delete(consumer);
      consumer.queue.end();
      if (consumer.dropped > 0) this.#log.debug({ dropped: consumer.dropped }, 'scan consumer was too slow; it missed some advertisements');
      await this.#apply().catch((e: unknown) => this.#log.warn({ err: e }, 'could not stop scanning'));
    }
  }

  /** Stops the scan for a connection attempt (sd_ble_gap_connect would end it anyway). */
  async pause(): Promise<void> {
    this.#paused++;
    await this.#apply();
  }

  resume(): void {
    this.#paused--;
    this.#apply().catch((e: unknown) => this.#failConsumers(e as BledfuError));
  }

  /** The device restarted: its scan is gone. Consumers stay and wait for restore(). */
  suspend(): void {
    this.#suspended = true;
    this.#mode = 'off';
  }

  /** The device is set up again: scan again for the consumers there are. */
  restore(): void {
    this.#suspended = false;
    this.#apply().catch((e: unknown) => this.#failConsumers(e as BledfuError));
  }

  /** Every consumer, now and later, gets `error` (the adapter failed). */
  fail(error: BledfuError): void {
    this.#failure ??= error;
    this.#mode = 'off';
    for (const c of this.#consumers) c.queue.fail(error);
  }

  onEvent(event: EventOf<'gapAdvReport'> | EventOf<'gapTimeout'>): void {
    if (event.kind === 'gapTimeout') {
      if (event.src !== GAP_TIMEOUT_SRC.scan) return;
      // We scan without a timeout; should the SoftDevice end it anyway, start again.
      this.#mode = 'off';
      this.#apply().catch((e: unknown) => this.#failConsumers(e as BledfuError));
      return;
    }
    this.#report(event);
    if (event.api === 6 && event.type.status !== STATUS_MORE_DATA) this.#continue();
  }

  #continue(): void {
    // Queued like any change, so a stop asked for before this report is not undone by it.
    const next = this.#changes.then(async () => {
      if (this.#mode === 'off' || this.#suspended) return;
      const r = await this.#rpc.call({ kind: 'gapScanStart', params: null, reportBuffer: REPORT_BUFFER });
      // Stopped meanwhile (a connect, a timeout): nothing to continue.
      if (r.result !== NRF_SUCCESS && r.result !== NRF_ERROR.invalidState) this.#log.debug({ result: r.result }, 'continuing the scan failed');
    });
    this.#changes = next.catch(() => undefined);
  }

  #apply(): Promise<void> {
    const change = this.#changes.then(() => this.#reconcile());
    this.#changes = change.catch(() => undefined);
    return change;
  }

  async #reconcile(): Promise<void> {
    if (this.#failure !== undefined || this.#suspended) return;
    const consumers = [...this.#consumers];
    const wanted: Mode = consumers.length === 0 || this.#paused > 0 ? 'off' : consumers.some((c) => c.active) ? 'active' : 'passive';
    const current = this.#mode;
    if (wanted === current || (wanted === 'passive' && current === 'active')) return;
    if (current !== 'off') {
      const r = await this.#rpc.call({ kind: 'gapScanStop' });
      // INVALID_STATE: the SoftDevice had stopped already (a connect, a timeout).
      if (r.result !== NRF_SUCCESS && r.result !== NRF_ERROR.invalidState) this.#log.debug({ result: r.result }, 'sd_ble_gap_scan_stop refused');
      this.#mode = 'off';
    }
    if (wanted === 'off') return;
    if (current === 'off') this.#joiner.clear();
    await this.#rpc.invoke(
      {
        kind: 'gapScanStart',
        params: sdScanParams(this.#api, wanted === 'active', 0),
        ...(this.#api === 6 ? { reportBuffer: REPORT_BUFFER } : {}),
      },
      undefined,
      { what: 'starting a scan' },
    );
    this.#mode = wanted;
  }

  #report(event: EventOf<'gapAdvReport'>): void {
    if (this.#consumers.size === 0) return;
    const address = deviceAddressOf(event.peerAddr);
    const key = `${address.type}/${address.value}`;
    const joined = this.#joiner.join(key, {
      data: event.data,
      scanResponse: event.api === 5 ? event.scanRsp : event.type.scanResponse,
      connectable: event.api === 5 ? event.type === 0 || event.type === 1 : event.type.connectable,
    });
    const advertisement = toAdvertisement(address, event.rssi, joined, this.#clock.now());
    for (const consumer of this.#consumers) {
      if (consumer.queue.push(advertisement) || consumer.queue.ended) continue;
      consumer.dropped++;
    }
  }

  #failConsumers(error: BledfuError): void {
    // A call cut short by a device restart is no failure of the scan: restore() starts it again.
    if (this.#suspended) return;
    this.#log.warn({ err: error }, 'scanning failed');
    for (const c of this.#consumers) c.queue.fail(error);
  }
}
