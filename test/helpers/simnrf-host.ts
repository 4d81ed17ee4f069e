/**
 * A bare host for the simulated connectivity dongle: the pure H5 link state machine and the
 * serialization codecs, nothing of the nrf backend, so dongle tests check the dongle against the
 * protocol rather than against the backend that is tested against the dongle.
 */
import { realClock, type Clock, type Timer } from '../../server/common/clock.js';
import { BledfuError } from '../../server/common/errors.js';
import { H5Link, type H5LinkAction, type H5LinkOptions, type H5TimerName } from '../../server/backends/nrf/h5Link.js';
import { SlipDecoder } from '../../server/backends/nrf/slip.js';
import type { NrfCommand } from '../../server/backends/nrf/serialization/commands.js';
import type { ApiVersion, CommandKind, EventKind } from '../../server/backends/nrf/serialization/constants.js';
import { decodeEvent, type EventOf, type NrfEvent } from '../../server/backends/nrf/serialization/events.js';
import { commandPacket, decodeSerPacket } from '../../server/backends/nrf/serialization/packets.js';
import { decodeResponse, type NrfResponseOf } from '../../server/backends/nrf/serialization/responses.js';
import type { ByteDuplex } from '../../server/transport/types.js';

const WAIT_MS = 10_000;

export class TestNrfHost {
  readonly api: ApiVersion;
  readonly events: NrfEvent[] = [];
  /** Link-down reasons in order. */
  readonly linkDowns: string[] = [];
  /** Raw serialization payloads the link delivered. */
  readonly delivered: Uint8Array[] = [];
  readonly #transport: ByteDuplex;
  readonly #link: H5Link;
  readonly #timers = new Map<H5TimerName, Timer>();
  readonly #clock: Clock;
  readonly #slip = new SlipDecoder();
  #up = false;
  #waiters: (() => void)[] = [];
  #pending: { readonly kind: CommandKind; resolve: (payload: Uint8Array) => void } | undefined;
  #nextId = 1;
  #closed = false;

  /**
   * `clock`: where the host's link timers run — the simulated world's own (virtualClock over its
   * scheduler), as a server on the accelerated simulator would.
   */
  constructor(transport: ByteDuplex, api: ApiVersion, linkOptions: H5LinkOptions = { retransmitMs: 40, resetWaitMs: 20, openTimeoutMs: 5000 }, clock: Clock = realClock) {
    this.api = api;
    this.#clock = clock;
    this.#transport = transport;
    this.#link = new H5Link(linkOptions);
    void this.#read();
  }

  get up(): boolean {
    return this.#up;
  }

  async #read(): Promise<void> {
    try {
      for await (const chunk of this.#transport.readable()) {
        for (const bytes of this.#slip.feed(chunk)) this.#run(this.#link.handle({ type: 'frame', bytes }));
      }
    } catch {
      // closed by the dongle: tests look at linkDowns / transport.closed
    } finally {
      this.#closed = true;
      this.#run(this.#link.handle({ type: 'close' }));
      this.#notify();
    }
  }

  #run(actions: H5LinkAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'write':
          if (!this.#transport.closed.aborted) this.#transport.write(a.bytes).catch(() => undefined);
          break;
        case 'armTimer': {
          this.#timers.get(a.timer)?.cancel();
          this.#timers.set(
            a.timer,
            this.#clock.setTimer(a.ms, () => {
              this.#timers.delete(a.timer);
              this.#run(this.#link.handle({ type: 'timer', timer: a.timer }));
            }),
          );
          break;
        }
        case 'cancelTimer': {
          this.#timers.get(a.timer)?.cancel();
          this.#timers.delete(a.timer);
          break;
        }
        case 'deliver':
          this.#deliver(a.payload);
          break;
        case 'linkUp':
          this.#up = true;
          break;
        case 'linkDown':
          this.#up = false;
          this.linkDowns.push(a.reason);
          break;
        default:
          break;
      }
    }
    this.#notify();
  }

  #deliver(payload: Uint8Array): void {
    this.delivered.push(payload);
    const packet = decodeSerPacket(payload);
    if (packet.kind === 'response') {
      const pending = this.#pending;
      this.#pending = undefined;
      pending?.resolve(packet.body);
    } else if (packet.kind === 'event') {
      this.events.push(decodeEvent(this.api, packet.body));
    }
  }

  #notify(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves once `done()` holds; fails after a (generous) wait so a broken test does not hang. */
  async until(done: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
  }

  async open(): Promise<void> {
    const downs = this.linkDowns.length;
    this.#run(this.#link.handle({ type: 'open' }));
    await this.until(() => this.#up || this.linkDowns.length > downs, 'the H5 link to come up');
    if (!this.#up) throw new Error(`H5 link did not come up: ${this.linkDowns.at(-1) ?? 'closed'}`);
  }

  /** Sends a raw serialization payload (for malformed-command tests). */
  sendRaw(payload: Uint8Array): void {
    this.#run(this.#link.handle({ type: 'send', id: this.#nextId++, payload }));
  }

  async call<K extends CommandKind>(command: Extract<NrfCommand, { kind: K }>): Promise<NrfResponseOf<K>> {
    if (this.#pending !== undefined) throw new Error('one command at a time');
    const body = await new Promise<Uint8Array>((resolve, reject) => {
      const downs = this.linkDowns.length;
      const pending = { kind: command.kind, resolve };
      this.#pending = pending;
      this.#run(this.#link.handle({ type: 'send', id: this.#nextId++, payload: commandPacket(this.api, command) }));
      this.until(() => this.#pending !== pending || this.#closed || this.linkDowns.length > downs, `the response to ${command.kind}`).then(
        () => {
          if (this.#pending !== pending) return;
          this.#pending = undefined;
          reject(new BledfuError('TRANSPORT_CLOSED', `link went down (${this.linkDowns.at(-1) ?? 'closed'}) before the response`, { layer: 'nrf' }));
        },
        reject,
      );
    });
    return decodeResponse(this.api, command.kind as K, body);
  }

  /** Calls and insists on NRF_SUCCESS. */
  async ok<K extends CommandKind>(command: Extract<NrfCommand, { kind: K }>): Promise<NrfResponseOf<K>> {
    const r = await this.call(command);
    if (r.result !== 0) throw new Error(`${command.kind} failed with ${r.result}`);
    return r;
  }

  /** The first event of this kind not yet taken (matching `where`), waiting for it. */
  async event<K extends EventKind>(kind: K, where: (e: EventOf<K>) => boolean = () => true): Promise<EventOf<K>> {
    let found: EventOf<K> | undefined;
    await this.until(() => {
      const i = this.events.findIndex((e) => e.kind === kind && where(e as EventOf<K>));
      if (i < 0) return false;
      found = this.events.splice(i, 1)[0] as EventOf<K>;
      return true;
    }, `event ${kind}`);
    return found as EventOf<K>;
  }

  async close(): Promise<void> {
    for (const t of this.#timers.values()) t.cancel();
    this.#timers.clear();
    await this.#transport.close();
  }
}
