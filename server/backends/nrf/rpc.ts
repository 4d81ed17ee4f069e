/**
 * SoftDevice calls over the H5 link, as pc-ble-driver makes them: one command at a time (the
 * connectivity firmware answers each before it takes the next), its response matched by opcode,
 * events dispatched in arrival order whenever they come — also between a command and its
 * response. A response that never comes fails that call with SERIAL_NO_RESPONSE (the firmware
 * drops a packet whose ACKs got lost five times); several in a row mean the device no longer
 * answers, and the RPC layer fails for good so that the adapter is reopened from scratch.
 */
import { abortReason, BledfuError, isBledfuError, type ErrorCode, type ErrorLayer } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { Credits } from '../../host/hci/credits.js';
import { realClock, type Clock, type Timer } from '../../common/clock.js';
import type { NrfLink } from './link.js';
import type { CommandOf } from './serialization/commands.js';
import { NRF_SUCCESS, SD_FUNCTIONS, type ApiVersion, type CommandKind } from './serialization/constants.js';
import { decodeEvent, eventId, type NrfEvent } from './serialization/events.js';
import { commandPacket, decodeSerPacket, resetCommandPacket } from './serialization/packets.js';
import { decodeResponse, type NrfResponseOf } from './serialization/responses.js';
import { nrfResultName } from './serialization/versions.js';

/**
 * pc-ble-driver-py waits 1500 ms; the device retransmits an unacknowledged response every ~400 ms
 * up to 5 times, so on a noisy line its last try lands after ~1.6 s. Wait for all of them.
 */
export const DEFAULT_RESPONSE_TIMEOUT_MS = 2_500;
/** Unanswered calls in a row after which the device counts as gone (the adapter is reopened). */
const MAX_LOST_RESPONSES = 3;

/**
 * Calls that encode the same in API v5 and v6, so they may be made before the firmware's API
 * version is known (sd_ble_cfg_set only for configurations other than the role count).
 */
const VERSION_FREE: ReadonlySet<CommandKind> = new Set(['enable', 'versionGet', 'cfgSet', 'gapAddrGet', 'uuidVsAdd']);

export interface NrfRpcOptions {
  readonly logger: Logger;
  /** The firmware's API version when known; set later with `api` after detecting it. */
  readonly api?: ApiVersion;
  readonly responseTimeoutMs?: number;
  readonly clock?: Clock;
}

interface Outstanding {
  readonly kind: CommandKind;
  readonly opcode: number;
  readonly resolve: (body: Uint8Array) => void;
  readonly reject: (error: BledfuError) => void;
}

/** A SoftDevice call that returned an error: `sd_ble_gap_connect failed: NRF_ERROR_INVALID_STATE (8)`. */
export function nrfCallError(
  api: ApiVersion,
  kind: CommandKind,
  result: number,
  options: { readonly code?: ErrorCode; readonly layer?: ErrorLayer; readonly remedy?: string; readonly what?: string } = {},
): BledfuError {
  const fn = SD_FUNCTIONS[kind];
  return new BledfuError(options.code ?? 'ADAPTER_UNAVAILABLE', `${options.what === undefined ? '' : `${options.what}: `}${fn} failed: ${nrfResultName(api, result)}`, {
    layer: options.layer ?? 'nrf',
    ...(options.remedy === undefined ? {} : { remedy: options.remedy }),
    facts: { context: { call: fn, nrfResult: String(result) } },
  });
}

export class NrfRpc {
  readonly #link: NrfLink;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #responseTimeoutMs: number;
  readonly #turn = new Credits(1);
  readonly #eventListeners = new Set<(event: NrfEvent) => void>();
  readonly #restartListeners = new Set<(error: BledfuError) => void>();
  readonly #failed = new AbortController();
  #api: ApiVersion | undefined;
  #outstanding: Outstanding | undefined;
  /** Calls in a row whose answer never came. */
  #lostResponses = 0;

  constructor(link: NrfLink, options: NrfRpcOptions) {
    this.#link = link;
    this.#log = options.logger;
    this.#clock = options.clock ?? realClock;
    this.#responseTimeoutMs = options.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS;
    this.#api = options.api;
    link.onPacket((payload) => this.#onPacket(payload));
    link.onRestart((error) => {
      // Listeners first: the adapter drops its links before the calls they made fail, so those
      // calls end with the links' LINK_LOST rather than this error.
      for (const listener of [...this.#restartListeners]) listener(error);
      this.#outstanding?.reject(error);
    });
    const onDown = (): void => this.#fail(link.down.reason as BledfuError);
    if (link.down.aborted) onDown();
    else link.down.addEventListener('abort', onDown, { once: true });
  }

  get api(): ApiVersion | undefined {
    return this.#api;
  }

  /** From now on commands and events use this API version's codecs. */
  set api(api: ApiVersion) {
    this.#api = api;
  }

  /** Aborts when the link went down or the device stopped answering; reason a BledfuError. */
  get failed(): AbortSignal {
    return this.#failed.signal;
  }

  /** Every event the device sends, decoded, in order. Undecodable and unknown events are skipped. */
  onEvent(listener: (event: NrfEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  /** The device restarted (link.ts): calls pending fail, then the link comes up again (onUp). */
  onRestart(listener: (error: BledfuError) => void): () => void {
    this.#restartListeners.add(listener);
    return () => this.#restartListeners.delete(listener);
  }

  onUp(listener: () => void): () => void {
    return this.#link.onUp(listener);
  }

  /**
   * Makes one SoftDevice call and returns its response, whatever the result. Waits its turn
   * behind the calls already made. `signal` abandons the call; once it went out the device still
   * answers it, so the next call waits for that answer (or the timeout) before going out.
   */
  async call<K extends CommandKind>(command: CommandOf<K>, signal?: AbortSignal): Promise<NrfResponseOf<K>> {
    const api = this.#api ?? (VERSION_FREE.has(command.kind) && !isRoleCount(command) ? 6 : undefined);
    if (api === undefined) throw new BledfuError('INTERNAL', `${SD_FUNCTIONS[command.kind]} before the API version is known`, { layer: 'nrf' });
    // Encoded before waiting: an unencodable command is the caller's bug and must not be half-sent.
    const packet = commandPacket(api, command);
    await this.#turn.acquire(signal);
    let body: Promise<Uint8Array>;
    try {
      if (this.#failed.signal.aborted) throw this.#failed.signal.reason;
      body = this.#exchange(command.kind, packet, api);
    } catch (e) {
      this.#turn.release();
      throw e;
    }
    // The turn passes on only when the device answered (or never will).
    body.then(
      () => this.#turn.release(),
      () => this.#turn.release(),
    );
    const bytes = await raceAbort(body, signal);
    return decodeResponse(api, command.kind, bytes);
  }

  /** call() that throws `nrfCallError` unless the SoftDevice returned NRF_SUCCESS. */
  async invoke<K extends CommandKind>(
    command: CommandOf<K>,
    signal?: AbortSignal,
    failure: Parameters<typeof nrfCallError>[3] = {},
  ): Promise<NrfResponseOf<K>> {
    const response = await this.call(command, signal);
    if (response.result !== NRF_SUCCESS) throw nrfCallError(this.#api ?? 6, command.kind, response.result, failure);
    return response;
  }

  /**
   * sd_rpc_conn_reset: the device reboots (system) or restarts its SoftDevice (soft) and re-syncs
   * the link; no response. Resolves once the device acknowledged the packet.
   */
  async reset(mode: 'system' | 'soft'): Promise<void> {
    await this.#link.send(resetCommandPacket(mode));
  }

  #exchange(kind: CommandKind, packet: Uint8Array, api: ApiVersion): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      let timer: Timer | undefined;
      const cleanup = (): void => {
        timer?.cancel();
        this.#failed.signal.removeEventListener('abort', onFail);
        if (this.#outstanding === outstanding) this.#outstanding = undefined;
      };
      const onFail = (): void => {
        cleanup();
        reject(this.#failed.signal.reason);
      };
      const outstanding: Outstanding = {
        kind,
        opcode: packet[1] as number,
        resolve: (body) => {
          cleanup();
          resolve(body);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      };
      this.#outstanding = outstanding;
      this.#failed.signal.addEventListener('abort', onFail, { once: true });
      this.#link.send(packet).then(
        () => {
          if (this.#outstanding !== outstanding) return;
          timer = this.#clock.setTimer(this.#responseTimeoutMs, () => {
            const fn = SD_FUNCTIONS[kind];
            const error = new BledfuError('SERIAL_NO_RESPONSE', `the nRF device acknowledged ${fn} but did not answer it within ${this.#responseTimeoutMs} ms`, {
              layer: 'nrf',
              remedy: `the connectivity firmware may not speak SoftDevice API v${api}, or it crashed; bledfu reopens the dongle by itself — if this repeats, unplug and replug it`,
              facts: { context: { call: fn } },
            });
            // One lost answer is the device giving up on a packet our ACKs never reached (a noisy
            // line); only several in a row mean it no longer answers at all.
            this.#lostResponses++;
            if (this.#lostResponses >= MAX_LOST_RESPONSES) this.#fail(error);
            else {
              this.#log.warn({ call: fn }, 'the nRF device did not answer a call; going on');
              outstanding.reject(error);
            }
          });
        },
        (e: unknown) => {
          cleanup();
          reject(e);
        },
      );
    });
  }

  #onPacket(payload: Uint8Array): void {
    let packet;
    try {
      packet = decodeSerPacket(payload);
    } catch (e) {
      this.#log.debug({ err: e }, 'nrf rpc: undecodable serialization packet skipped');
      return;
    }
    if (packet.kind === 'response') {
      const outstanding = this.#outstanding;
      if (outstanding === undefined || packet.body[0] !== outstanding.opcode) {
        this.#log.debug({ opcode: packet.body[0], expected: outstanding?.opcode }, 'nrf rpc: response to no outstanding command skipped');
        return;
      }
      this.#lostResponses = 0;
      outstanding.resolve(packet.body);
      return;
    }
    if (packet.kind !== 'event') {
      this.#log.debug({ kind: packet.kind }, 'nrf rpc: unexpected serialization packet skipped');
      return;
    }
    const api = this.#api;
    if (api === undefined) {
      this.#log.debug({ id: eventId(packet.body) }, 'nrf rpc: event before the API version is known skipped');
      return;
    }
    let event: NrfEvent;
    try {
      event = decodeEvent(api, packet.body);
    } catch (e) {
      // Unknown ids are normal (RSSI changes, security events a central does not ask for).
      this.#log.debug({ id: eventId(packet.body), err: isBledfuError(e) ? e.message : e }, 'nrf rpc: event skipped');
      return;
    }
    for (const listener of [...this.#eventListeners]) {
      try {
        listener(event);
      } catch (e) {
        this.#log.warn({ err: e, event: event.kind }, 'nrf rpc: event listener threw');
      }
    }
  }

  #fail(error: BledfuError): void {
    if (this.#failed.signal.aborted) return;
    this.#failed.abort(error);
    this.#turn.fail(error);
  }
}

function isRoleCount(command: CommandOf<CommandKind>): boolean {
  return command.kind === 'cfgSet' && (command as CommandOf<'cfgSet'>).config.id === 'gapRoleCount';
}

/** `work`, or the abort reason as soon as `signal` aborts (`work` then goes on unobserved). */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      work.catch(() => undefined);
      reject(abortReason(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
