/**
 * The host side of HCI: sends commands under the controller's flow control and matches each
 * Command Complete/Status to the command waiting for it; sends ACL data within the controller's
 * buffers and reassembles what arrives. Everything else the controller reports goes to listeners.
 */
import { concatBytes } from '../../common/bytes.js';
import { BledfuError, isBledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { encodeH4, readH4Packets, type H4Packet } from '../../transport/h4.js';
import { LinePacer } from './linePacer.js';
import type { ByteDuplex } from '../../transport/types.js';
import { HCI_COMMANDS, decodeReturnParameters, encodeCommand, type CommandParams, type CommandReturn, type HciCommandName } from './commands.js';
import { AclBufferScheduler, type AclBufferAccounting } from './aclBuffers.js';
import { Credits } from './credits.js';
import { hciError, hciTimeout, linkLostError } from './errors.js';
import { decodeEvent, type HciEvent } from './events.js';
import { ACL_PB, decodeAclPacket, decodeEventPacket, encodeAclPacket, encodeCommandPacket } from './packets.js';
import { clockUs, type HciDirection, type HciTrafficPacket } from './btsnoop.js';
import { realClock, type Clock } from '../../common/clock.js';

export const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;

export interface HciHostOptions {
  readonly logger: Logger;
  readonly commandTimeoutMs?: number;
  readonly clock?: Clock;
}

export type HciEventListener = (event: HciEvent) => void;
/** A complete L2CAP frame (basic header included) received on a connection handle. */
export type AclFrameSink = (handle: number, frame: Uint8Array) => void;
/** Sees every H4 packet exchanged with the controller (HCI capture). */
export type HciTrafficTap = (traffic: HciTrafficPacket) => void;

interface PendingCommand {
  readonly opcode: number;
  readonly name: string;
  readonly completion: 'complete' | 'status';
  readonly settle: (event: Extract<HciEvent, { kind: 'commandComplete' | 'commandStatus' }>) => void;
  readonly reject: (e: unknown) => void;
}

export class HciHost {
  readonly #transport: ByteDuplex;
  readonly #log: Logger;
  readonly #commandTimeoutMs: number;
  readonly #clock: Clock;
  // The controller may accept one command before it has told us anything (Core Vol 4, Part E, 4.4).
  readonly #commandCredits = new Credits(1);
  readonly #pending: PendingCommand[] = [];
  readonly #listeners = new Set<HciEventListener>();
  readonly #taps = new Set<HciTrafficTap>();
  readonly #failed = new AbortController();
  #aclSink: AclFrameSink | undefined;
  // Shared by every link, handed out fairly among links (aclBuffers.ts).
  #aclBuffers: AclBufferScheduler | undefined;
  #aclMaxData = 27;
  // Per handle with a send under way: aborted (LINK_LOST) when Disconnection Complete reports it.
  readonly #linkDown = new Map<number, AbortController>();
  // Handles reported down and not connected again since: nothing may be sent on them.
  readonly #deadHandles = new Map<number, BledfuError>();
  // Per handle: the fragments of one L2CAP PDU must not interleave with another PDU's on the
  // same link. Different links' fragments may interleave (the controller keeps one queue per
  // connection), which is what lets the buffers be shared fragment by fragment.
  readonly #aclTurns = new Map<number, Credits>();
  /** Per handle, the bytes of the L2CAP PDU received so far. */
  readonly #reassembly = new Map<number, Uint8Array>();
  // Hands H4 packets to the transport in order, small ones first on a slow UART (linePacer.ts).
  readonly #pacer: LinePacer<{ readonly packet: H4Packet; readonly bytes: Uint8Array }>;
  #started = false;

  constructor(transport: ByteDuplex, options: HciHostOptions) {
    this.#transport = transport;
    this.#log = options.logger;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.#clock = options.clock ?? realClock;
    this.#pacer = new LinePacer(({ packet, bytes }) => {
      if (this.#failed.signal.aborted) return Promise.reject(this.#failed.signal.reason);
      this.#tap('sent', packet);
      return this.#transport.write(bytes);
    });
  }

  /** Aborts (reason ADAPTER_UNAVAILABLE) when the transport closes or the controller fails. */
  get failed(): AbortSignal {
    return this.#failed.signal;
  }

  get aclMaxDataLength(): number {
    return this.#aclMaxData;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#readLoop();
    if (this.#transport.closed.aborted) this.#onTransportClosed(this.#transport.closed.reason);
    else this.#transport.closed.addEventListener('abort', () => this.#onTransportClosed(this.#transport.closed.reason), { once: true });
  }

  onEvent(listener: HciEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onAclFrame(sink: AclFrameSink): void {
    this.#aclSink = sink;
  }

  /** Every packet each way, in the order the transport carries them; a tap that throws is logged. */
  onTraffic(tap: HciTrafficTap): () => void {
    this.#taps.add(tap);
    return () => this.#taps.delete(tap);
  }

  /**
   * Sends a command and resolves with its return parameters (Command Complete) or once the
   * controller accepted it (Command Status). A non-zero status rejects with HCI_ERROR naming
   * the command; no answer within the command timeout rejects with HCI_TIMEOUT.
   */
  async send<K extends HciCommandName>(name: K, params: CommandParams<K>, signal?: AbortSignal): Promise<CommandReturn<K>> {
    const spec = HCI_COMMANDS[name];
    await this.#commandCredits.acquire(signal);
    const packet = encodeCommand(name, params);
    const event = await new Promise<Extract<HciEvent, { kind: 'commandComplete' | 'commandStatus' }>>((resolve, reject) => {
      const timer = this.#clock.setTimer(this.#commandTimeoutMs, () => {
        remove();
        // The command is lost; without giving its credit back nothing else could ever be sent.
        this.#commandCredits.set(Math.max(1, this.#commandCredits.available));
        reject(hciTimeout(spec.name, this.#commandTimeoutMs));
      });
      const pending: PendingCommand = {
        opcode: spec.opcode,
        name: spec.name,
        completion: spec.completion,
        settle: (e) => {
          timer.cancel();
          resolve(e);
        },
        reject: (e) => {
          timer.cancel();
          reject(e);
        },
      };
      const remove = (): void => {
        const i = this.#pending.indexOf(pending);
        if (i >= 0) this.#pending.splice(i, 1);
      };
      this.#pending.push(pending);
      this.#log.trace({ command: spec.name }, 'hci command');
      this.#write({ type: 'command', bytes: encodeCommandPacket(packet) }).catch((e: unknown) => {
        remove();
        pending.reject(e);
      });
    });
    if (event.kind === 'commandStatus') {
      if (event.status !== 0) throw hciError(spec.name, event.status);
      return {} as CommandReturn<K>;
    }
    const result = decodeReturnParameters(name, event.returnParameters);
    if (result.status !== 0) throw hciError(spec.name, result.status);
    return result.value as CommandReturn<K>;
  }

  /** Asks the controller its LE ACL buffers and configures them; must be done before sendAcl. */
  async readAclBuffers(): Promise<void> {
    const le = await this.send('leReadBufferSize', {});
    if (le.leAclDataPacketLength === 0 || le.totalNumLeAclDataPackets === 0) {
      // LE shares the BR/EDR buffers on this controller (Core Vol 4, Part E, 7.8.2).
      const shared = await this.send('readBufferSize', {});
      this.configureAcl(shared.aclDataPacketLength, shared.totalNumAclDataPackets);
    } else {
      this.configureAcl(le.leAclDataPacketLength, le.totalNumLeAclDataPackets);
    }
  }

  /** Buffer geometry from (LE) Read Buffer Size; must be called before sendAcl. */
  configureAcl(maxDataLength: number, totalPackets: number): void {
    this.#aclMaxData = maxDataLength;
    this.#aclBuffers = new AclBufferScheduler(totalPackets);
    if (this.#failed.signal.aborted) this.#aclBuffers.fail(this.#failed.signal.reason);
  }

  /** Free controller ACL buffers right now (0 when sending would wait). */
  get aclCreditsAvailable(): number {
    return this.#aclBuffers?.available ?? 0;
  }

  /** How the links have shared the controller's ACL buffers (undefined before configureAcl). */
  aclBufferAccounting(): AclBufferAccounting | undefined {
    return this.#aclBuffers?.accounting();
  }

  /**
   * Sends one L2CAP frame, fragmented to the controller's buffer size, taking one controller
   * buffer per fragment. Resolves when the last fragment is handed to the transport. The signal
   * is honoured only until the first fragment goes out: a half-sent PDU would corrupt the link.
   */
  async sendAcl(handle: number, frame: Uint8Array, signal?: AbortSignal): Promise<void> {
    const buffers = this.#aclBuffers;
    if (buffers === undefined) throw new BledfuError('INTERNAL', 'ACL buffers not configured', { layer: 'hci' });
    const dead = this.#deadHandles.get(handle);
    if (dead !== undefined) throw dead;
    // A link that goes down while we wait or between fragments ends the send: a controller
    // discards data for a handle it no longer has and never reports it completed, so a buffer
    // spent on it would be lost for good.
    let down = this.#linkDown.get(handle);
    if (down === undefined) {
      down = new AbortController();
      this.#linkDown.set(handle, down);
    }
    const gone = down.signal;
    let turn = this.#aclTurns.get(handle);
    if (turn === undefined) {
      turn = new Credits(1);
      this.#aclTurns.set(handle, turn);
    }
    await turn.acquire(signal);
    try {
      for (let at = 0; at < frame.length || at === 0; at += this.#aclMaxData) {
        if (gone.aborted) throw gone.reason;
        // The caller's signal counts until the first fragment; after that only the link's end does.
        await buffers.acquire(handle, at === 0 ? signal : gone);
        if (gone.aborted) {
          buffers.unused(handle);
          throw gone.reason;
        }
        const data = frame.subarray(at, at + this.#aclMaxData);
        const pb = at === 0 ? ACL_PB.firstNonFlushable : ACL_PB.continuing;
        await this.#write({ type: 'acl', bytes: encodeAclPacket({ handle, pb, bc: 0, data }) });
        if (frame.length === 0) break;
      }
    } finally {
      turn.release();
    }
  }

  /** Call when a link is gone: its unacknowledged buffers count as freed (Core Vol 4, Part E, 4.3). */
  #releaseHandle(handle: number, reason: number): void {
    const error = linkLostError(reason);
    this.#deadHandles.set(handle, error);
    this.#linkDown.get(handle)?.abort(error);
    this.#linkDown.delete(handle);
    this.#reassembly.delete(handle);
    this.#aclTurns.delete(handle);
    this.#aclBuffers?.linkGone(handle);
  }

  async close(): Promise<void> {
    this.#fail(new BledfuError('ADAPTER_UNAVAILABLE', 'HCI host closed', { layer: 'hci' }));
    await this.#transport.close();
  }

  #write(packet: H4Packet): Promise<void> {
    const bytes = encodeH4(packet);
    return this.#pacer.send({ packet, bytes }, bytes.length);
  }

  async #readLoop(): Promise<void> {
    try {
      for await (const packet of readH4Packets(this.#transport.readable())) {
        if (this.#failed.signal.aborted) return;
        this.#tap('received', packet);
        this.#onPacket(packet);
      }
      this.#onTransportClosed(undefined);
    } catch (e) {
      this.#onTransportClosed(e);
    }
  }

  #tap(direction: HciDirection, packet: H4Packet): void {
    if (this.#taps.size === 0) return;
    const traffic: HciTrafficPacket = { direction, packet, timestampUs: clockUs(this.#clock) };
    for (const tap of [...this.#taps]) {
      try {
        tap(traffic);
      } catch (e) {
        this.#log.error({ err: e }, 'HCI traffic tap threw');
      }
    }
  }

  #onTransportClosed(cause: unknown): void {
    if (this.#failed.signal.aborted) return;
    const detail = isBledfuError(cause) ? `: ${cause.message}` : '';
    this.#fail(
      new BledfuError('ADAPTER_UNAVAILABLE', `HCI transport closed${detail}`, {
        layer: 'hci',
        remedy: 'check that the dongle is still plugged in',
        cause,
      }),
    );
  }

  #fail(error: BledfuError): void {
    if (this.#failed.signal.aborted) return;
    this.#failed.abort(error);
    for (const p of this.#pending.splice(0)) p.reject(error);
    this.#commandCredits.fail(error);
    this.#aclBuffers?.fail(error);
    for (const turn of this.#aclTurns.values()) turn.fail(error);
    this.#pacer.fail(error);
  }

  #onPacket(packet: H4Packet): void {
    switch (packet.type) {
      case 'event':
        this.#onEvent(decodeEvent(decodeEventPacket(packet.bytes)));
        return;
      case 'acl':
        this.#onAcl(packet.bytes);
        return;
      case 'command':
      case 'sco':
      case 'iso':
        this.#log.debug({ type: packet.type }, 'ignoring unexpected HCI packet type');
        return;
      default: {
        const never: never = packet.type;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  #onEvent(event: HciEvent): void {
    switch (event.kind) {
      case 'commandComplete':
      case 'commandStatus': {
        this.#commandCredits.set(event.numHciCommandPackets);
        // Opcode 0 only announces credits (e.g. after power-up).
        if (event.opcode === 0) return;
        const i = this.#pending.findIndex((p) => p.opcode === event.opcode);
        const pending = i >= 0 ? this.#pending.splice(i, 1)[0] : undefined;
        if (pending === undefined) {
          this.#log.warn({ opcode: event.opcode, kind: event.kind }, 'HCI answer for no pending command');
          return;
        }
        // A 'complete' command may legitimately be refused by Command Status (e.g. Unknown HCI Command).
        if (event.kind === 'commandStatus' && pending.completion === 'complete' && event.status === 0) {
          this.#log.warn({ command: pending.name }, 'Command Status success for a command expecting Command Complete');
        }
        pending.settle(event);
        return;
      }
      case 'numberOfCompletedPackets':
        for (const { handle, count } of event.entries) this.#aclBuffers?.completed(handle, count);
        return;
      case 'disconnectionComplete':
        if (event.status === 0) this.#releaseHandle(event.handle, event.reason);
        break;
      case 'leConnectionComplete':
      case 'leEnhancedConnectionComplete':
        // The handle may be one an earlier link used.
        if (event.status === 0) this.#deadHandles.delete(event.handle);
        break;
      case 'hardwareError':
        this.#emit(event);
        this.#fail(
          new BledfuError('ADAPTER_UNAVAILABLE', `controller reported hardware error 0x${event.hardwareCode.toString(16)}`, {
            layer: 'hci',
            remedy: 'unplug and replug the dongle',
          }),
        );
        return;
      default:
        break;
    }
    this.#emit(event);
  }

  #emit(event: HciEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (e) {
        this.#log.error({ err: e, event: event.kind }, 'HCI event listener threw');
      }
    }
  }

  #onAcl(bytes: Uint8Array): void {
    const packet = decodeAclPacket(bytes);
    const isStart = packet.pb === ACL_PB.firstFlushable || packet.pb === ACL_PB.firstNonFlushable;
    const before = this.#reassembly.get(packet.handle);
    let joined: Uint8Array;
    if (isStart) {
      if (before !== undefined) this.#log.warn({ handle: packet.handle }, 'dropping incomplete L2CAP PDU');
      joined = packet.data.slice();
    } else if (before === undefined) {
      this.#log.warn({ handle: packet.handle }, 'ACL continuation without a start; dropped');
      return;
    } else {
      joined = concatBytes([before, packet.data]);
    }
    this.#reassembly.set(packet.handle, joined);
    if (joined.length < 4) return;
    const expected = 4 + ((joined[0] ?? 0) | ((joined[1] ?? 0) << 8));
    if (joined.length < expected) return;
    this.#reassembly.delete(packet.handle);
    if (joined.length > expected) this.#log.warn({ handle: packet.handle }, 'ACL data beyond the L2CAP frame; truncated');
    this.#aclSink?.(packet.handle, joined.subarray(0, expected));
  }
}

