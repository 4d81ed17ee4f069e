/**
 * Nordic's H5 link on a real byte pipe: SLIP-decodes what the transport delivers, feeds the pure
 * H5Link state machine with frames and timer expiries, and carries out its actions (writes, timers,
 * deliveries). It owns the transport: closing the link closes the pipe.
 *
 * The link goes down for good once: the transport closed, or the device stopped answering. A
 * device that restarts (SYNC while active: a crash, a watchdog) or loses the sequence state is
 * not that: H5Link establishes the link again by itself, and this reports a restart (everything
 * pending failed, the device's BLE state gone) and then the link up again, so the layer above
 * can configure the device afresh without reopening the port.
 */
import { abortReason, BledfuError, isBledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { realClock, type Clock, type Timer } from '../../common/clock.js';
import type { ByteDuplex } from '../../transport/types.js';
import { decodeH5Header, H5_PACKET_TYPE, decodeLinkControl } from './h5.js';
import { H5Link, type H5LinkAction, type H5LinkDownReason, type H5LinkOptions, type H5LinkState, type H5TimerName } from './h5Link.js';
import { SlipDecoder, SLIP_END } from './slip.js';

export interface NrfLinkOptions extends H5LinkOptions {
  readonly logger: Logger;
  /** For tests: timers driving retransmission and the open deadline. */
  readonly clock?: Clock;
}

/** What the device sent while the link tried to come up: the "link never comes up" diagnosis reads it. */
export interface NrfLinkTraffic {
  readonly bytesIn: number;
  /** SLIP frames whose H5 header checksum was right (so: H5 from a Nordic firmware). */
  readonly h5Frames: number;
  /** Frames that were no valid H5 packet (noise, wrong baud rate). */
  readonly badFrames: number;
  /** Link-control messages received, by kind (sync, syncResponse, config, configResponse). */
  readonly linkControl: Readonly<Record<string, number>>;
  /** Our packets sent again because no ACK came in time. */
  readonly retransmissions: number;
}

export type NrfLinkDown = { readonly reason: H5LinkDownReason | 'transportClosed'; readonly error: BledfuError };

function closedError(): BledfuError {
  return new BledfuError('TRANSPORT_CLOSED', 'the link to the nRF device was closed (closed by this end)', { layer: 'nrf' });
}

export class NrfLink {
  readonly #transport: ByteDuplex;
  readonly #h5: H5Link;
  readonly #slip = new SlipDecoder();
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #armed = new Map<H5TimerName, Timer>();
  readonly #sends = new Map<number, { resolve: () => void; reject: (e: BledfuError) => void }>();
  readonly #down = new AbortController();
  readonly #packetListeners = new Set<(payload: Uint8Array) => void>();
  readonly #restartListeners = new Set<(error: BledfuError) => void>();
  readonly #upListeners = new Set<() => void>();
  #nextId = 1;
  #up = false;
  #opening: { resolve: () => void; reject: (e: BledfuError) => void } | undefined;
  #reading = false;
  /** The device restarted and the link is being established again. */
  #restarting = false;
  #downReason: NrfLinkDown | undefined;
  #traffic = { bytesIn: 0, h5Frames: 0, badFrames: 0, retransmissions: 0, linkControl: {} as Record<string, number> };

  constructor(transport: ByteDuplex, options: NrfLinkOptions) {
    this.#transport = transport;
    this.#h5 = new H5Link(options);
    this.#log = options.logger;
    this.#clock = options.clock ?? realClock;
  }

  get state(): H5LinkState {
    return this.#h5.state;
  }

  get isUp(): boolean {
    return this.#up && !this.#restarting && !this.#down.signal.aborted;
  }

  /** Aborts once the link is down for good (after it was up, or when opening failed); reason: NrfLinkDown's error. */
  get down(): AbortSignal {
    return this.#down.signal;
  }

  /** Why the link went down, once it did. */
  get downReason(): NrfLinkDown | undefined {
    return this.#downReason;
  }

  get traffic(): NrfLinkTraffic {
    return { ...this.#traffic, linkControl: { ...this.#traffic.linkControl } };
  }

  /** Every serialization packet the device sends, in order, exactly once. */
  onPacket(listener: (payload: Uint8Array) => void): () => void {
    this.#packetListeners.add(listener);
    return () => this.#packetListeners.delete(listener);
  }

  /**
   * The device restarted while the link was up: every send pending has failed with `error`, the
   * device's state is gone, and the link is being established again (onUp says when it is).
   */
  onRestart(listener: (error: BledfuError) => void): () => void {
    this.#restartListeners.add(listener);
    return () => this.#restartListeners.delete(listener);
  }

  /** The link is up again after a restart. */
  onUp(listener: () => void): () => void {
    this.#upListeners.add(listener);
    return () => this.#upListeners.delete(listener);
  }

  /**
   * RESET, SYNC, CONFIG: resolves once the link is up. Rejects with SERIAL_NO_RESPONSE when the
   * device does not complete it in time (pc-ble-driver's "Error code 13"), TRANSPORT_CLOSED when the
   * pipe goes away, or the abort reason.
   */
  open(signal?: AbortSignal): Promise<void> {
    if (this.#opening !== undefined || this.#up || this.#down.signal.aborted) {
      return Promise.reject(new BledfuError('INTERNAL', 'NrfLink.open() called twice', { layer: 'nrf' }));
    }
    const opened = new Promise<void>((resolve, reject) => {
      this.#opening = { resolve, reject };
    });
    const onAbort = (): void => {
      this.#goDown({ reason: 'closed', error: abortReason(signal as AbortSignal) });
    };
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    if (!this.#down.signal.aborted) {
      this.#startReading();
      // A lone delimiter first ends whatever half frame the device's decoder holds (a probe's
      // bytes, a previous session's last write), so our RESET is read as a frame of its own.
      this.#transport.write(Uint8Array.of(SLIP_END)).catch(() => undefined);
      this.#run(this.#h5.handle({ type: 'open' }));
    }
    return opened.finally(() => signal?.removeEventListener('abort', onAbort));
  }

  /** Sends one serialization packet reliably; resolves when the device acknowledged it. */
  send(payload: Uint8Array): Promise<void> {
    if (this.#down.signal.aborted) return Promise.reject(this.#down.signal.reason);
    const id = this.#nextId++;
    const done = new Promise<void>((resolve, reject) => this.#sends.set(id, { resolve, reject }));
    this.#run(this.#h5.handle({ type: 'send', id, payload }));
    return done;
  }

  /** Takes the link down (nothing more is sent) and closes the transport. */
  async close(): Promise<void> {
    this.#goDown({ reason: 'closed', error: closedError() });
    await this.#transport.close();
  }

  #startReading(): void {
    if (this.#reading) return;
    this.#reading = true;
    void this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    let ended: BledfuError | undefined;
    try {
      for await (const chunk of this.#transport.readable()) {
        this.#traffic.bytesIn += chunk.length;
        for (const frame of this.#slip.feed(chunk)) {
          this.#count(frame);
          this.#run(this.#h5.handle({ type: 'frame', bytes: frame }));
        }
        if (this.#down.signal.aborted) break;
      }
    } catch (e) {
      ended = isBledfuError(e) ? e : new BledfuError('TRANSPORT_CLOSED', `the serial link failed: ${String(e)}`, { layer: 'nrf', cause: e });
    }
    if (this.#down.signal.aborted) return;
    const reason = this.#transport.closed.reason as unknown;
    const error =
      ended ?? (isBledfuError(reason) ? reason : new BledfuError('TRANSPORT_CLOSED', 'the serial link to the nRF device ended', { layer: 'nrf' }));
    this.#goDown({ reason: 'transportClosed', error });
  }

  /** Tallies what arrived, for the diagnosis of a link that never comes up. */
  #count(frame: Uint8Array): void {
    try {
      const header = decodeH5Header(frame);
      this.#traffic.h5Frames++;
      if (header.packetType === H5_PACKET_TYPE.linkControl) {
        const kind = decodeLinkControl(frame.subarray(4, 4 + header.payloadLength))?.kind ?? 'unknown';
        this.#traffic.linkControl[kind] = (this.#traffic.linkControl[kind] ?? 0) + 1;
      }
    } catch {
      this.#traffic.badFrames++;
    }
  }

  #run(actions: readonly H5LinkAction[]): void {
    for (const action of actions) {
      switch (action.type) {
        case 'write':
          // Order is kept by the transport; a failed write shows up as the transport closing.
          this.#transport.write(action.bytes).catch((e: unknown) => this.#log.debug({ err: e }, 'nrf link: write failed'));
          break;
        case 'armTimer': {
          const previous = this.#armed.get(action.timer);
          if (previous !== undefined) previous.cancel();
          const handle = this.#clock.setTimer(action.ms, () => {
            if (this.#armed.get(action.timer) !== handle) return;
            this.#armed.delete(action.timer);
            if (this.#down.signal.aborted) return;
            if (action.timer === 'retransmit' && this.#h5.state === 'active') this.#traffic.retransmissions++;
            this.#run(this.#h5.handle({ type: 'timer', timer: action.timer }));
          });
          this.#armed.set(action.timer, handle);
          break;
        }
        case 'cancelTimer': {
          const handle = this.#armed.get(action.timer);
          if (handle !== undefined) handle.cancel();
          this.#armed.delete(action.timer);
          break;
        }
        case 'deliver':
          for (const listener of [...this.#packetListeners]) {
            try {
              listener(action.payload);
            } catch (e) {
              this.#log.warn({ err: e }, 'nrf link: packet listener threw');
            }
          }
          break;
        case 'linkUp': {
          const again = this.#up;
          this.#up = true;
          this.#restarting = false;
          this.#opening?.resolve();
          this.#opening = undefined;
          if (again) this.#notify(this.#upListeners, undefined);
          break;
        }
        case 'linkDown':
          if (this.#up && !this.#restarting && (action.reason === 'peerReset' || action.reason === 'outOfSync')) {
            // H5Link is establishing the link again (the actions that follow do it).
            this.#restarting = true;
            this.#log.info({ reason: action.reason }, 'the nRF device restarted; re-establishing the link');
            this.#notify(this.#restartListeners, action.error);
            break;
          }
          this.#goDown({ reason: action.reason, error: action.error });
          return;
        case 'sendDone':
          this.#sends.get(action.id)?.resolve();
          this.#sends.delete(action.id);
          break;
        case 'sendFailed':
          this.#sends.get(action.id)?.reject(action.error);
          this.#sends.delete(action.id);
          break;
        case 'discarded':
          this.#log.trace({ reason: action.reason }, 'nrf link: frame discarded');
          break;
        default: {
          const never: never = action;
          throw new Error(`unreachable ${String(never)}`);
        }
      }
    }
  }

  #notify<T>(listeners: ReadonlySet<(arg: T) => void>, arg: T): void {
    for (const listener of [...listeners]) {
      try {
        listener(arg);
      } catch (e) {
        this.#log.warn({ err: e }, 'nrf link: listener threw');
      }
    }
  }

  #goDown(down: NrfLinkDown): void {
    if (this.#down.signal.aborted) return;
    this.#downReason = down;
    for (const handle of this.#armed.values()) handle.cancel();
    this.#armed.clear();
    // Whatever H5Link still has pending fails with the same error.
    this.#h5.handle({ type: 'close' });
    for (const { reject } of this.#sends.values()) reject(down.error);
    this.#sends.clear();
    this.#opening?.reject(down.error);
    this.#opening = undefined;
    this.#down.abort(down.error);
    if (this.#up) this.#log.debug({ reason: down.reason, err: down.error.message }, 'nrf link down');
  }
}
