/**
 * Keeps one adapter id alive across its dongle going away and coming back. A factory opens the
 * real adapter; when that adapter fails (transport closed = dongle unplugged, controller hardware
 * error), every link, scan and pending call on it fails at once with one clear error naming the
 * dongle, and the supervisor reopens it with backoff until it answers again.
 *
 *   opening ──ok──▶ ready ──inner failed──▶ failed ──delay──▶ reopening ──ok──▶ ready
 *      └──error──▶ failed ◀──────────error───────────────────────┘
 *
 * While failed or reopening, info() says 'failed' with the latest error, so ListAdapters shows
 * why the adapter is unusable and what to do. close() stops everything, retries included.
 */
import type { DeviceAddress } from '../ble/address.js';
import type {
  DiscoveryOptions,
  AclBufferAccounting,
  Adapter,
  AdapterInfo,
  AdapterKind,
  Advertisement,
  ConnectParams,
  Connection,
  ConnectionParameters,
  GattCharacteristic,
  GattService,
  HciCapture,
  HciCaptureOptions,
  ScanParams,
  Subscription,
} from '../ble/types.js';
import { BledfuError, hasCode, isBledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { realClock, type Clock } from '../common/clock.js';

export type SupervisorState = 'opening' | 'ready' | 'failed' | 'reopening' | 'closed';

export interface SupervisorOptions {
  readonly id: string;
  readonly spec: string;
  readonly kind: AdapterKind;
  readonly logger: Logger;
  /** Opens a fresh adapter; rejects with a typed error (port missing, busy, no answer, …). */
  readonly open: (signal: AbortSignal) => Promise<Adapter>;
  /**
   * Cheap check before a retry (e.g. the port path exists); false skips the attempt and keeps
   * the latest error, so a missing dongle costs no port opening every few seconds.
   */
  readonly canOpen?: () => boolean;
  /** Whether opening again could help after this error; default: anything but a bad spec. */
  readonly retryable?: (error: BledfuError) => boolean;
  /**
   * What is at the port now (e.g. the device node's identity, which a replug changes);
   * undefined when absent or unknown.
   */
  readonly identity?: () => string | undefined;
  /**
   * Errors after which the same device will answer the same way, e.g. it speaks another
   * protocol: retried once a minute, or at once when `identity` changes. Each attempt writes to
   * a device that is not ours (an HCI Reset, an H5 SYNC), so we must not do that every few
   * seconds. Default: SERIAL_WRONG_PROTOCOL.
   */
  readonly sameUntilReplugged?: (error: BledfuError) => boolean;
  /** Connection limit to report while the adapter is not open. */
  readonly maxConnections?: number;
  /** Modelled milliseconds of the simulator behind a sim: adapter (its jobs report them as air time). */
  readonly modelledTimeMs?: () => number;
  /** Delay before the first retry, doubled after each failed one up to `max`. */
  readonly retryDelayMs?: { readonly first: number; readonly max: number };
  /**
   * Subscribes to news that a dongle was plugged in (the simulator tells at replug): a reopening
   * waiting out its delay tries at once. Returns the unsubscribe function.
   */
  readonly onPlugged?: (listener: () => void) => () => void;
  /** The server's clock; the retry delays are background timers on it (they never pull a virtual clock). */
  readonly clock?: Clock;
}

const DEFAULT_RETRY_DELAY_MS = { first: 500, max: 5_000 };
/** How often a device that answered in another protocol is tried again without a replug. */
const SAME_DEVICE_RETRY_MS = 60_000;
const defaultSameUntilReplugged = (e: BledfuError): boolean => e.code === 'SERIAL_WRONG_PROTOCOL';

/** One opened inner adapter, from its opening to its failure or close. */
class Generation {
  readonly adapter: Adapter;
  readonly #id: string;
  /** Set before we close it ourselves: its failure then is no loss. */
  closing = false;
  /** The loss error once the adapter's own signal said it failed; built once so every caller sees the same. */
  #lost: BledfuError | undefined;

  constructor(adapter: Adapter, id: string) {
    this.adapter = adapter;
    this.#id = id;
  }

  /**
   * The error every caller of this generation sees once its adapter failed; undefined while it
   * works. Computed from the adapter's own signal, which is already aborted while that abort is
   * being dispatched: a link's `closed` listener runs before the supervisor hears of it.
   */
  lost(): BledfuError | undefined {
    if (this.#lost !== undefined) return this.#lost;
    if (this.closing || !this.adapter.failed.aborted) return undefined;
    this.#lost = adapterLostError(this.#id, this.adapter.failed.reason);
    return this.#lost;
  }

  /**
   * `error` as the caller should see it: the adapter's loss, if that is what caused it. A write
   * can meet the closed transport a moment before the host stack notices the loss; that call is
   * told of the loss too. Only the adapter's own `failed` signal makes the loss stick: one error
   * must never declare a working dongle dead for every later call (issue 10: the end of a queue
   * was once taken for the transport closing, and the server failed every job after that).
   */
  explain(error: unknown): unknown {
    const lost = this.lost();
    if (lost !== undefined) return lost;
    if (this.closing || !causedBy(error, 'TRANSPORT_CLOSED')) return error;
    return adapterLostError(this.#id, error);
  }

  async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.explain(e);
    }
  }
}

function causedBy(error: unknown, code: BledfuError['code']): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (hasCode(e, code)) return true;
    if (typeof e !== 'object' || e === null) return false;
  }
  return false;
}

/** ADAPTER_UNAVAILABLE naming the dongle; the inner failure stays attached as the cause. */
export function adapterLostError(id: string, reason: unknown): BledfuError {
  if (causedBy(reason, 'TRANSPORT_CLOSED')) {
    return new BledfuError('ADAPTER_UNAVAILABLE', `dongle ${id} went away (unplugged?)`, {
      layer: 'backend',
      remedy: `plug it back in: bledfu reopens ${id} by itself (ListAdapters shows it ready again); then start the job again, the device resumes`,
      cause: reason,
    });
  }
  const detail = isBledfuError(reason) ? reason.message : 'unexpected failure';
  return new BledfuError('ADAPTER_UNAVAILABLE', `dongle ${id} stopped working (${detail})`, {
    layer: 'backend',
    remedy: (isBledfuError(reason) ? reason.remedy : undefined) ?? `unplug and replug the dongle: bledfu reopens ${id} by itself`,
    cause: reason,
  });
}

/** Our own errors are written for users; anything else is a bug whose text belongs in the log. */
function typedOpenError(spec: string, e: unknown): BledfuError {
  return isBledfuError(e)
    ? e
    : new BledfuError('ADAPTER_UNAVAILABLE', `cannot open ${spec}: internal error (details in the server log)`, { layer: 'backend', cause: e });
}

export class SupervisedAdapter implements Adapter {
  readonly id: string;
  readonly modelledTimeMs?: () => number;
  readonly #options: SupervisorOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #stop = new AbortController();
  #state: SupervisorState = 'opening';
  readonly #listeners = new Set<(state: SupervisorState) => void>();
  #generation: Generation | undefined;
  #error: BledfuError | undefined;
  /** What the last working controller said about itself, kept for info() while it is away. */
  #lastInfo: AdapterInfo | undefined;
  /** The opening attempt or retry loop under way, for close() to wait for. */
  #work: Promise<void> = Promise.resolve();
  /** identity() when the latest opening attempt began: a change means another device is there. */
  #identityAtAttempt: string | undefined;
  /** Ends the reopening delay under way early (a dongle was plugged in). */
  #wakeRetry: (() => void) | undefined;
  /** A dongle was plugged in while no delay was under way: the next one is skipped. */
  #pluggedMeanwhile = false;
  readonly #offPlugged: (() => void) | undefined;

  constructor(options: SupervisorOptions) {
    this.id = options.id;
    this.#options = options;
    this.#log = options.logger.child({ adapter: options.id });
    this.#clock = options.clock ?? realClock;
    if (options.modelledTimeMs !== undefined) this.modelledTimeMs = options.modelledTimeMs;
    this.#offPlugged = options.onPlugged?.(() => {
      if (this.#wakeRetry !== undefined) this.#wakeRetry();
      else this.#pluggedMeanwhile = true;
    });
  }

  get state(): SupervisorState {
    return this.#state;
  }

  /**
   * Calls `listener` after every state change (unplugged, back, closed, …), so health reporting
   * follows the dongle without polling. Returns the unsubscribe function.
   */
  onStateChange(listener: (state: SupervisorState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #setState(state: SupervisorState): void {
    if (this.#state === state) return;
    this.#state = state;
    for (const listener of [...this.#listeners]) {
      try {
        listener(state);
      } catch (e) {
        this.#log.error({ err: e }, 'state listener failed');
      }
    }
  }

  /** A supervised adapter never fails for good: it reopens. This aborts only on close(). */
  get failed(): AbortSignal {
    return this.#stop.signal;
  }

  /**
   * The first opening attempt; resolves once it succeeded or failed (then retries go on in the
   * background when they can help). Never rejects: a failure is the state, shown by info().
   */
  start(): Promise<void> {
    const first = this.#attempt().then((ok) => {
      if (!ok) this.#retryInBackground();
    });
    this.#work = first;
    return first;
  }

  info(): AdapterInfo {
    const gen = this.#generation;
    if (this.#state === 'ready' && gen !== undefined) return gen.adapter.info();
    const last = this.#lastInfo;
    return {
      id: this.id,
      // An auto: adapter is of whichever kind it last opened as.
      kind: last?.kind ?? this.#options.kind,
      spec: this.#options.spec,
      state: this.#state === 'reopening' ? 'failed' : this.#state,
      ...(last?.address === undefined ? {} : { address: last.address }),
      ...(last?.addressSource === undefined ? {} : { addressSource: last.addressSource }),
      identity: last?.identity ?? '',
      activeConnections: 0,
      maxConnections: last?.maxConnections ?? this.#options.maxConnections ?? 0,
      ...(last?.workarounds === undefined ? {} : { workarounds: last.workarounds }),
      ...(this.#error === undefined || this.#state === 'opening' || this.#state === 'closed' ? {} : { error: this.#error }),
    };
  }

  scan(params: ScanParams): AsyncIterable<Advertisement> {
    return this.#scan(params);
  }

  async *#scan(params: ScanParams): AsyncGenerator<Advertisement> {
    const gen = this.#usable();
    try {
      for await (const adv of gen.adapter.scan(params)) yield adv;
    } catch (e) {
      throw gen.explain(e);
    }
  }

  async connect(address: DeviceAddress, params?: ConnectParams): Promise<Connection> {
    const gen = this.#usable();
    const inner = await gen.call(() => gen.adapter.connect(address, params));
    return new SupervisedConnection(inner, gen);
  }

  /**
   * Records the open dongle's HCI traffic. The recording belongs to that opening: it stops when
   * the dongle goes away, and a reopened dongle is not recorded until asked again.
   */
  captureHci(options: HciCaptureOptions): HciCapture | undefined {
    const gen = this.#state === 'ready' ? this.#generation : undefined;
    return gen?.adapter.captureHci?.(options);
  }

  /** The open dongle's buffer accounting; a reopened dongle starts from zero. */
  aclBufferAccounting(): AclBufferAccounting | undefined {
    const gen = this.#state === 'ready' ? this.#generation : undefined;
    return gen?.adapter.aclBufferAccounting?.();
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#setState('closed');
    this.#offPlugged?.();
    this.#stop.abort(new BledfuError('ADAPTER_UNAVAILABLE', `adapter ${this.id} is closed`, { layer: 'backend' }));
    await this.#work;
    const gen = this.#generation;
    this.#generation = undefined;
    if (gen !== undefined) {
      gen.closing = true;
      await gen.adapter.close();
    }
    this.#log.debug('adapter closed');
  }

  #usable(): Generation {
    const gen = this.#generation;
    if (this.#state === 'ready' && gen !== undefined) return gen;
    if (this.#state === 'opening') {
      throw new BledfuError('ADAPTER_UNAVAILABLE', `adapter ${this.id} is still opening`, { layer: 'backend', remedy: 'retry in a moment' });
    }
    if (this.#state === 'closed') {
      throw new BledfuError('ADAPTER_UNAVAILABLE', `adapter ${this.id} is closed`, { layer: 'backend', remedy: 'the server is shutting down' });
    }
    const error = this.#error;
    return this.#refuse(error);
  }

  #refuse(error: BledfuError | undefined): never {
    throw new BledfuError('ADAPTER_UNAVAILABLE', `adapter ${this.id} is not usable: ${error?.message ?? 'it failed'}`, {
      layer: 'backend',
      ...(error?.remedy === undefined ? {} : { remedy: error.remedy }),
      cause: error,
    });
  }

  /** One opening; true when the adapter is ready. */
  async #attempt(): Promise<boolean> {
    this.#identityAtAttempt = this.#options.identity?.();
    const first = this.#state === 'opening';
    if (!first) this.#setState('reopening');
    let adapter: Adapter;
    try {
      adapter = await this.#options.open(this.#stop.signal);
    } catch (e) {
      if (this.#state === 'closed') return false;
      const error = typedOpenError(this.#options.spec, e);
      const changed = this.#error?.code !== error.code || first;
      this.#error = error;
      this.#setState('failed');
      const details = { spec: this.#options.spec, err: isBledfuError(e) ? error : e, remedy: error.remedy };
      // A dongle left unplugged fails the same way every few seconds: say it once, not each time.
      if (first) this.#log.error(details, 'adapter failed to open');
      else if (changed) this.#log.warn(details, 'adapter still cannot be reopened');
      else this.#log.debug(details, 'adapter reopening failed again');
      return false;
    }
    if (this.#state === 'closed') {
      await adapter.close().catch(() => undefined);
      return false;
    }
    this.#adopt(adapter, first);
    return true;
  }

  #adopt(adapter: Adapter, first: boolean): void {
    const gen = new Generation(adapter, this.id);
    this.#generation = gen;
    this.#pluggedMeanwhile = false;
    this.#setState('ready');
    this.#error = undefined;
    this.#lastInfo = adapter.info();
    const { identity, address } = this.#lastInfo;
    this.#log.info({ spec: this.#options.spec, identity, address: address?.value }, first ? 'adapter ready' : 'adapter is back');
    const onFailed = (): void => this.#onLost(gen);
    if (adapter.failed.aborted) onFailed();
    else adapter.failed.addEventListener('abort', onFailed, { once: true });
  }

  #onLost(gen: Generation): void {
    const error = gen.lost();
    if (error === undefined || this.#generation !== gen || this.#state === 'closed') return;
    this.#lastInfo = gen.adapter.info();
    this.#generation = undefined;
    this.#error = error;
    this.#setState('failed');
    this.#log.error({ err: error, cause: isBledfuError(error.cause) ? error.cause.message : undefined }, 'adapter lost; reopening it when it is back');
    // Its links and calls have failed already; closing frees the port for the next opening.
    gen.closing = true;
    const closed = gen.adapter.close().catch((e: unknown) => this.#log.debug({ err: e }, 'closing the lost adapter failed'));
    this.#work = closed.then(() => this.#retryLoop());
  }

  #retryInBackground(): void {
    this.#work = this.#retryLoop();
  }

  async #retryLoop(): Promise<void> {
    const { first, max } = this.#options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    const retryable = this.#options.retryable ?? ((e: BledfuError) => e.code !== 'INVALID_ARGUMENT');
    for (let delay = first; ; delay = Math.min(max, delay * 2)) {
      if (this.#error !== undefined && !retryable(this.#error)) {
        this.#log.warn({ code: this.#error.code }, 'not retrying: opening again cannot help');
        return;
      }
      const sameUntilReplugged = this.#options.sameUntilReplugged ?? defaultSameUntilReplugged;
      if (this.#error !== undefined && sameUntilReplugged(this.#error)) {
        if (!(await this.#waitForOtherDevice(max))) return;
      } else if (!(await this.#wait(delay))) return;
      if (this.#options.canOpen?.() === false) continue;
      if (await this.#attempt()) return;
      if (this.#state === 'closed') return;
    }
  }

  /**
   * Until the port holds another device than at the last attempt (checked every `pollMs`), at
   * most SAME_DEVICE_RETRY_MS. False when close() ended the wait.
   */
  async #waitForOtherDevice(pollMs: number): Promise<boolean> {
    const identity = this.#options.identity;
    for (let waited = 0; waited < SAME_DEVICE_RETRY_MS; waited += pollMs) {
      if (!(await this.#wait(Math.min(pollMs, SAME_DEVICE_RETRY_MS - waited)))) return false;
      if (identity !== undefined && identity() !== this.#identityAtAttempt) return true;
    }
    return true;
  }

  /** False when close() ended the wait. */
  #wait(ms: number): Promise<boolean> {
    const stop = this.#stop.signal;
    if (stop.aborted) return Promise.resolve(false);
    if (this.#pluggedMeanwhile) {
      this.#pluggedMeanwhile = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const onStop = (): void => {
        timer.cancel();
        this.#wakeRetry = undefined;
        resolve(false);
      };
      this.#wakeRetry = () => {
        this.#wakeRetry = undefined;
        timer.cancel();
        stop.removeEventListener('abort', onStop);
        resolve(true);
      };
      // Background: waiting to reopen a lost dongle is not something anybody waits for, so it
      // must not make a virtual clock race ahead on its own.
      const timer = this.#clock.setTimer(
        ms,
        () => {
          this.#wakeRetry = undefined;
          stop.removeEventListener('abort', onStop);
          resolve(true);
        },
        { background: true, label: 'supervisor: reopen' },
      );
      stop.addEventListener('abort', onStop, { once: true });
    });
  }
}

/** A connection of one generation: its failures carry the adapter's loss when that caused them. */
class SupervisedConnection implements Connection {
  readonly #inner: Connection;
  readonly #gen: Generation;
  readonly #closed = new AbortController();

  constructor(inner: Connection, gen: Generation) {
    this.#inner = inner;
    this.#gen = gen;
    const onClosed = (): void => this.#closed.abort(gen.explain(inner.closed.reason));
    if (inner.closed.aborted) onClosed();
    else inner.closed.addEventListener('abort', onClosed, { once: true });
  }

  get address(): DeviceAddress {
    return this.#inner.address;
  }
  get mtu(): number {
    return this.#inner.mtu;
  }
  get parameters(): ConnectionParameters {
    return this.#inner.parameters;
  }
  get closed(): AbortSignal {
    return this.#closed.signal;
  }
  discoverServices(signal?: AbortSignal, options?: DiscoveryOptions): Promise<readonly GattService[]> {
    return this.#gen.call(() => this.#inner.discoverServices(signal, options));
  }
  read(valueHandle: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.#gen.call(() => this.#inner.read(valueHandle, signal));
  }
  write(valueHandle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.#gen.call(() => this.#inner.write(valueHandle, value, signal));
  }
  writeWithoutResponse(valueHandle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.#gen.call(() => this.#inner.writeWithoutResponse(valueHandle, value, signal));
  }
  async subscribe(characteristic: GattCharacteristic, mode: 'notify' | 'indicate', signal?: AbortSignal): Promise<Subscription> {
    const inner = await this.#gen.call(() => this.#inner.subscribe(characteristic, mode, signal));
    return new SupervisedSubscription(inner, this.#gen);
  }
  disconnect(): Promise<void> {
    return this.#inner.disconnect();
  }
}

class SupervisedSubscription implements Subscription {
  readonly #inner: Subscription;
  readonly #gen: Generation;

  constructor(inner: Subscription, gen: Generation) {
    this.#inner = inner;
    this.#gen = gen;
  }
  receive(signal?: AbortSignal): Promise<Uint8Array> {
    return this.#gen.call(() => this.#inner.receive(signal));
  }
  close(): void {
    this.#inner.close();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    try {
      for await (const value of this.#inner) yield value;
    } catch (e) {
      throw this.#gen.explain(e);
    }
  }
}
