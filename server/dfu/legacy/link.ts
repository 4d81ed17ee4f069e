/**
 * One connection to a legacy DFU service (bootloader or buttonless application): control point
 * writes (write with response) with their notified answers, DFU Packet writes (write without
 * response), and the firmware stream paced by packet receipt notifications. Notifications are
 * pumped into a queue from the moment the link opens, so an answer that comes while a write is
 * still being acknowledged is never lost.
 */
import type { Connection, GattCharacteristic, Subscription } from '../../ble/types.js';
import { AsyncQueue } from '../../common/asyncQueue.js';
import { toHex } from '../../common/bytes.js';
import type { Clock } from '../../common/clock.js';
import { abortReason, hasCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { decodeLegacyNotification, encodeLegacyRequest, expectLegacySuccess, LEGACY_OPCODE, legacyOpcodeName, legacyPacketSize, type LegacyNotification, type LegacyRequest } from './controlPoint.js';
import { legacyProtocolError } from './errors.js';

export interface LegacyLinkOptions {
  readonly requestTimeoutMs: number;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly logger: Logger;
}

type Response = Extract<LegacyNotification, { kind: 'response' }>;

export class LegacyLink {
  readonly conn: Connection;
  readonly #cp: GattCharacteristic;
  readonly #packet: GattCharacteristic;
  readonly #sub: Subscription;
  readonly #queue = new AsyncQueue<Uint8Array>();
  readonly #options: LegacyLinkOptions;
  /** Aborts on cancel or link loss. */
  readonly signal: AbortSignal;

  private constructor(conn: Connection, cp: GattCharacteristic, packet: GattCharacteristic, sub: Subscription, options: LegacyLinkOptions) {
    this.conn = conn;
    this.#cp = cp;
    this.#packet = packet;
    this.#sub = sub;
    this.#options = options;
    this.signal = AbortSignal.any([options.signal, conn.closed]);
    void this.#pump();
  }

  /** Enables control point notifications: both the bootloader and the application refuse control point writes without them (ATT 0xFD). */
  static async open(conn: Connection, cp: GattCharacteristic, packet: GattCharacteristic, options: LegacyLinkOptions): Promise<LegacyLink> {
    const sub = await conn.subscribe(cp, 'notify', AbortSignal.any([options.signal, conn.closed]));
    return new LegacyLink(conn, cp, packet, sub, options);
  }

  async #pump(): Promise<void> {
    try {
      for (;;) this.#queue.push(await this.#sub.receive(this.signal));
    } catch (e) {
      this.#queue.fail(this.#failure(e));
    }
  }

  /** Cancel wins over link loss, link loss over whatever the aborted operation threw. */
  #failure(e: unknown): unknown {
    if (this.#options.signal.aborted) return abortReason(this.#options.signal);
    if (this.conn.closed.aborted) return abortReason(this.conn.closed);
    return e;
  }

  /** Firmware and init packet bytes per DFU Packet write: whole words (legacyPacketSize). */
  get packetSize(): number {
    return legacyPacketSize(this.conn.mtu);
  }

  close(): void {
    this.#sub.close();
  }

  #timeout(what: string, ms = this.#options.requestTimeoutMs): { signal: AbortSignal; dispose: () => void } {
    return this.#options.clock.timeoutSignal(
      {
        ms,
        code: 'DFU_TIMEOUT',
        layer: 'dfu',
        message: `no answer to ${what} within ${ms} ms`,
        remedy: 'the device stopped answering; check that it is in range and still in DFU mode, then retry',
      },
      this.signal,
    );
  }

  /** A control point write; no answer is awaited (the caller awaits it with response()). */
  async write(req: LegacyRequest): Promise<void> {
    const bytes = encodeLegacyRequest(req);
    const t = this.#timeout(`the write of ${legacyOpcodeName(bytes[0] as number)} (${toHex(bytes, ' ')})`);
    try {
      await this.conn.write(this.#cp.valueHandle, bytes, t.signal);
    } catch (e) {
      throw hasCode(e, 'DFU_TIMEOUT') && !this.signal.aborted ? e : this.#failure(e);
    } finally {
      t.dispose();
    }
  }

  /** A DFU Packet write (without response). */
  async data(bytes: Uint8Array): Promise<void> {
    await this.conn.writeWithoutResponse(this.#packet.valueHandle, bytes, this.signal).catch((e: unknown) => {
      throw this.#failure(e);
    });
  }

  /** The next notification. */
  async #next(what: string, ms?: number): Promise<LegacyNotification> {
    const t = this.#timeout(what, ms);
    try {
      return decodeLegacyNotification(await this.#queue.receive(t.signal));
    } catch (e) {
      throw hasCode(e, 'DFU_TIMEOUT') && !this.signal.aborted ? e : this.#failure(e);
    } finally {
      t.dispose();
    }
  }

  /**
   * The response to `request` (packet receipt notifications before it are skipped: one may be due
   * on the image's last packet), as is, failures included: the caller decides which it survives.
   */
  async response(request: number, what: string, ms?: number): Promise<Response> {
    for (;;) {
      const n = await this.#next(`${legacyOpcodeName(request)} (${what})`, ms);
      if (n.kind === 'packetReceipt') continue;
      if (n.request !== request) {
        throw legacyProtocolError(`waiting for the response to ${legacyOpcodeName(request)} (${what}), got one to ${legacyOpcodeName(n.request)}`, {
          request: legacyOpcodeName(request),
        });
      }
      return n;
    }
  }

  /** Like response(), but a failure status throws DFU_REMOTE_ERROR (LEGACY_* result, its remedy). */
  async expect(request: number, what: string, ms?: number): Promise<void> {
    expectLegacySuccess(await this.response(request, what, ms), request, what);
  }

  /** A control point request and its successful response. */
  async request(req: LegacyRequest, what: string): Promise<void> {
    await this.write(req);
    await this.expect(encodeLegacyRequest(req)[0] as number, what);
  }

  /** Writes `bytes` to DFU Packet in packetSize pieces (the init packet: every piece but the last whole words). */
  async writeAll(bytes: Uint8Array): Promise<void> {
    const size = this.packetSize;
    for (let at = 0; at < bytes.length; at += size) await this.data(bytes.subarray(at, at + size));
  }

  /**
   * Streams the firmware image after Receive firmware image: `prn` packets at most past the last
   * packet receipt notification, each of which must report exactly the bytes sent up to its
   * packet; then the response to Receive firmware image (10 03 01 after the last packet's flash
   * write). A failure response while streaming (10 03 xx) ends it with DFU_REMOTE_ERROR.
   */
  async stream(bin: Uint8Array, prn: number, what: string, onConfirmed: (bytes: number) => void): Promise<void> {
    const size = this.packetSize;
    const op = LEGACY_OPCODE.RECEIVE_FIRMWARE_IMAGE;
    let sinceReceipt = 0;
    let sent = 0;
    const handle = (n: LegacyNotification): void => {
      if (n.kind === 'response') {
        expectLegacySuccess(n, op, what);
        throw legacyProtocolError(`${what}: the bootloader answered success after ${sent} of ${bin.length} bytes`, { request: legacyOpcodeName(op) });
      }
      if (n.bytesReceived > sent) throw legacyProtocolError(`${what}: a packet receipt notification reports ${n.bytesReceived} bytes, only ${sent} were sent`);
      sinceReceipt = Math.floor((sent - n.bytesReceived) / size);
      onConfirmed(n.bytesReceived);
    };
    while (sent < bin.length) {
      if (this.signal.aborted) throw this.#failure(abortReason(this.signal));
      const piece = bin.subarray(sent, Math.min(bin.length, sent + size));
      await this.data(piece);
      sent += piece.length;
      sinceReceipt++;
      if (sent === bin.length) break;
      while (this.#queue.size > 0) handle(await this.#next(what));
      if (prn > 0 && sinceReceipt >= prn) handle(await this.#next(`a packet receipt notification (${what})`));
    }
    await this.expect(op, what);
    onConfirmed(bin.length);
    this.#options.logger.debug({ bytes: bin.length }, 'legacy firmware image received');
  }
}
