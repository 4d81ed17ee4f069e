/**
 * The client end of one ATT bearer (Core Vol 3, Part F, 3.3): one request outstanding at a time
 * (later ones queue), the response matched to it, a 30 s transaction timeout, Error Response
 * turned into ATT_ERROR, and values the server pushes routed to one handler. When the link goes,
 * `fail()` rejects everything pending and everything asked afterwards.
 */
import { abortReason, BledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { realClock, type Clock, type Timer } from '../../common/clock.js';
import { ATT_ERROR, attError, attTimeout } from './errors.js';
import {
  ATT_DEFAULT_MTU,
  ATT_OP_LABELS,
  ATT_OPCODES,
  ATT_RESPONSE_FOR,
  decodeAttPdu,
  encodeAttPdu,
  isAttCommand,
  type AttPdu,
  type AttPduOf,
  type AttRequestName,
} from './pdu.js';

export const DEFAULT_ATT_TIMEOUT_MS = 30_000;

export interface AttChannel {
  send(pdu: Uint8Array, signal?: AbortSignal): Promise<void>;
}

export type AttRequest = AttPduOf<AttRequestName>;
export type AttResponseFor<R extends AttRequest> = AttPduOf<(typeof ATT_RESPONSE_FOR)[R['op']]>;

export type ValueKind = 'notification' | 'indication';
export type ValueHandler = (handle: number, value: Uint8Array, kind: ValueKind) => void;

export interface AttBearerOptions {
  readonly logger: Logger;
  readonly timeoutMs?: number;
  readonly clock?: Clock;
  /** The MTU we answer a peer's Exchange MTU Request with (our receive capacity). */
  readonly localMtu?: number;
  /** Called once after a transaction timed out: ATT then requires the link to be dropped. */
  readonly onTimeout?: (error: BledfuError) => void;
}

interface Queued {
  readonly request: AttRequest;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (pdu: AttPdu) => void;
  readonly reject: (e: unknown) => void;
  onAbort?: () => void;
}

function handleOf(request: AttRequest): number {
  switch (request.op) {
    case 'readReq':
    case 'readBlobReq':
    case 'writeReq':
      return request.handle;
    case 'findInformationReq':
    case 'findByTypeValueReq':
    case 'readByTypeReq':
    case 'readByGroupTypeReq':
      return request.startHandle;
    case 'exchangeMtuReq':
      return 0;
    default: {
      const never: never = request;
      throw new Error(`unreachable ${String(never)}`);
    }
  }
}

export class AttBearer {
  readonly #channel: AttChannel;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #localMtu: number;
  readonly #onTimeout: ((error: BledfuError) => void) | undefined;
  readonly #queue: Queued[] = [];
  #outstanding: { readonly item: Queued; readonly timer: Timer } | undefined;
  #mtu = ATT_DEFAULT_MTU;
  #failure: BledfuError | undefined;
  #valueHandler: ValueHandler | undefined;

  constructor(channel: AttChannel, options: AttBearerOptions) {
    this.#channel = channel;
    this.#log = options.logger;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_ATT_TIMEOUT_MS;
    this.#clock = options.clock ?? realClock;
    this.#localMtu = options.localMtu ?? 247;
    this.#onTimeout = options.onTimeout;
  }

  get mtu(): number {
    return this.#mtu;
  }

  onValue(handler: ValueHandler): void {
    this.#valueHandler = handler;
  }

  /** Sends a request when the bearer is free and resolves with its response. */
  request<R extends AttRequest>(request: R, signal?: AbortSignal): Promise<AttResponseFor<R>> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<AttPdu>((resolve, reject) => {
      const item: Queued = { request, signal, resolve, reject };
      if (signal !== undefined) {
        item.onAbort = () => {
          const i = this.#queue.indexOf(item);
          if (i >= 0) this.#queue.splice(i, 1);
          // An outstanding request keeps the bearer busy until its response or timeout arrives:
          // otherwise a late response would be taken for the answer to the next request.
          reject(abortReason(signal));
        };
        signal.addEventListener('abort', item.onAbort, { once: true });
      }
      this.#queue.push(item);
      this.#pump();
    }) as Promise<AttResponseFor<R>>;
  }

  /** Write Command: no response; resolves once the lower layer accepted it (ACL credit). */
  async writeCommand(handle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    await this.#channel.send(encodeAttPdu({ op: 'writeCmd', handle, value }), signal);
  }

  /** Exchange MTU (once per connection); the result is the smaller of the two, at least 23. */
  async exchangeMtu(clientMtu: number, signal?: AbortSignal): Promise<number> {
    const response = await this.request({ op: 'exchangeMtuReq', mtu: clientMtu }, signal);
    this.#mtu = Math.max(ATT_DEFAULT_MTU, Math.min(clientMtu, response.mtu));
    return this.#mtu;
  }

  /** Fails everything pending and everything asked later (link lost, adapter gone). */
  fail(error: BledfuError): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    const outstanding = this.#outstanding;
    this.#outstanding = undefined;
    if (outstanding !== undefined) {
      outstanding.timer.cancel();
      this.#finish(outstanding.item, () => outstanding.item.reject(error));
    }
    for (const item of this.#queue.splice(0)) this.#finish(item, () => item.reject(error));
  }

  /** An ATT PDU arrived from the peer. */
  receive(bytes: Uint8Array): void {
    let pdu: AttPdu;
    try {
      pdu = decodeAttPdu(bytes);
    } catch (e) {
      this.#log.debug({ err: e }, 'malformed ATT PDU dropped');
      return;
    }
    switch (pdu.op) {
      case 'handleValueNtf':
        this.#valueHandler?.(pdu.handle, pdu.value, 'notification');
        return;
      case 'handleValueInd':
        this.#valueHandler?.(pdu.handle, pdu.value, 'indication');
        // Confirmed after delivery: the server sends nothing more until we do.
        this.#channel.send(encodeAttPdu({ op: 'handleValueCfm' })).catch(() => undefined);
        return;
      case 'exchangeMtuReq':
        // The peer's own MTU exchange (peripherals often start one).
        this.#mtu = Math.max(ATT_DEFAULT_MTU, Math.min(this.#localMtu, pdu.mtu));
        this.#answer({ op: 'exchangeMtuRsp', mtu: this.#localMtu });
        return;
      case 'findInformationReq':
      case 'findByTypeValueReq':
      case 'readByTypeReq':
      case 'readByGroupTypeReq':
        // We host no attributes.
        this.#answer({ op: 'errorRsp', requestOpcode: ATT_OPCODES[pdu.op], handle: pdu.startHandle, errorCode: ATT_ERROR.attributeNotFound });
        return;
      case 'readReq':
      case 'readBlobReq':
      case 'writeReq':
        this.#answer({ op: 'errorRsp', requestOpcode: ATT_OPCODES[pdu.op], handle: pdu.handle, errorCode: ATT_ERROR.invalidHandle });
        return;
      case 'unknown':
        if (!isAttCommand(pdu.opcode)) {
          this.#answer({ op: 'errorRsp', requestOpcode: pdu.opcode, handle: 0, errorCode: ATT_ERROR.requestNotSupported });
        }
        return;
      case 'writeCmd':
      case 'handleValueCfm':
        return;
      case 'errorRsp':
      case 'exchangeMtuRsp':
      case 'findInformationRsp':
      case 'findByTypeValueRsp':
      case 'readByTypeRsp':
      case 'readRsp':
      case 'readBlobRsp':
      case 'readByGroupTypeRsp':
      case 'writeRsp':
        this.#onResponse(pdu);
        return;
      default: {
        const never: never = pdu;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  #answer(pdu: AttPdu): void {
    this.#channel.send(encodeAttPdu(pdu)).catch(() => undefined);
  }

  #onResponse(pdu: AttPdu): void {
    const outstanding = this.#outstanding;
    if (outstanding === undefined) {
      this.#log.debug({ op: pdu.op }, 'ATT response with no request outstanding; dropped');
      return;
    }
    const request = outstanding.item.request;
    const expected = ATT_RESPONSE_FOR[request.op];
    const label = ATT_OP_LABELS[request.op];
    if (pdu.op === 'errorRsp') {
      if (pdu.requestOpcode !== ATT_OPCODES[request.op]) {
        this.#log.debug({ requestOpcode: pdu.requestOpcode }, 'ATT Error Response for another request; dropped');
        return;
      }
      this.#complete(() => outstanding.item.reject(attError(label, pdu.handle, pdu.errorCode)));
      return;
    }
    if (pdu.op !== expected) {
      this.#log.debug({ op: pdu.op, expected }, 'ATT response does not match the request; dropped');
      return;
    }
    this.#complete(() => outstanding.item.resolve(pdu));
  }

  #complete(settle: () => void): void {
    const outstanding = this.#outstanding;
    if (outstanding === undefined) return;
    outstanding.timer.cancel();
    this.#outstanding = undefined;
    this.#finish(outstanding.item, settle);
    this.#pump();
  }

  #finish(item: Queued, settle: () => void): void {
    if (item.onAbort !== undefined) item.signal?.removeEventListener('abort', item.onAbort);
    // If the caller already gave up, its promise is settled and this is a no-op.
    settle();
  }

  #pump(): void {
    if (this.#outstanding !== undefined || this.#failure !== undefined) return;
    const item = this.#queue.shift();
    if (item === undefined) return;
    const label = ATT_OP_LABELS[item.request.op];
    const timer = this.#clock.setTimer(this.#timeoutMs, () => {
      const error = attTimeout(label, this.#timeoutMs);
      this.#log.warn({ request: label, handle: handleOf(item.request) }, 'ATT transaction timed out');
      this.fail(error);
      this.#onTimeout?.(error);
    });
    this.#outstanding = { item, timer };
    this.#channel.send(encodeAttPdu(item.request)).catch((e: unknown) => {
      if (this.#outstanding?.item !== item) return;
      this.#complete(() => item.reject(e));
    });
  }
}
