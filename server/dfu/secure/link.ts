/**
 * One connection to a Secure DFU bootloader: control point requests (one in flight, each with a
 * timeout), DP streaming with PRN validation, and the translation of failure responses into
 * DFU_REMOTE_ERROR. Notifications are pumped into a queue so PRNs that arrive while streaming
 * can be checked without blocking.
 */
import type { Connection, ConnectionParameters, GattCharacteristic, Subscription } from '../../ble/types.js';
import { AsyncQueue } from '../../common/asyncQueue.js';
import { toHex } from '../../common/bytes.js';
import { abortReason, BledfuError, hasCode, isBledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { Clock } from '../../common/clock.js';
import { dfuProtocolError, dfuRemoteError } from '../errors.js';
import type { ImageSummary } from '../types.js';
import {
  decodeResponse,
  describeFailure,
  encodeRequest,
  EXT_ERROR,
  OPCODE,
  opcodeName,
  RESULT,
  responseRequest,
  type ControlPointRequest,
  type ControlPointResponse,
} from './controlPoint.js';
import { judgeChecksum, packets, type PrefixCrc } from './objects.js';

export interface LinkOptions {
  readonly requestTimeoutMs: number;
  readonly packetSize: number;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** What the failing step was about, for the error message. */
export interface StepContext {
  readonly what: string;
  readonly image: ImageSummary;
}

const PACKAGE_RELEVANT_EXT: ReadonlySet<number> = new Set([
  EXT_ERROR.INIT_COMMAND_INVALID,
  EXT_ERROR.FW_VERSION_FAILURE,
  EXT_ERROR.HW_VERSION_FAILURE,
  EXT_ERROR.SD_VERSION_FAILURE,
]);

function packageFacts(image: ImageSummary): string {
  const hex = (n: number): string => `0x${n.toString(16).toUpperCase()}`;
  return `package ${image.kind}: fw_version ${image.fwVersion ?? 'absent'}, hw_version ${image.hwVersion ?? 'absent'}, sd_req [${image.sdReq.map(hex).join(', ')}]`;
}

/** DFU_REMOTE_ERROR for a failure response, naming codes, the package facts where relevant, and a remedy. */
export function remoteError(res: ControlPointResponse, step: StepContext): BledfuError {
  const d = describeFailure(res);
  if (d === undefined) return dfuProtocolError(`${step.what}: success treated as failure`);
  const ext = d.extended;
  const codeText = ext === undefined ? `${d.result.name} (0x${d.result.code.toString(16).padStart(2, '0')})` : `${ext.name} (extended error 0x${ext.code.toString(16).padStart(2, '0')})`;
  const relevant = (ext !== undefined && PACKAGE_RELEVANT_EXT.has(ext.code)) || (ext === undefined && d.result.code === RESULT.OPERATION_FAILED);
  const message =
    `the bootloader rejected ${step.what}: ${codeText} — ${(ext ?? d.result).message}` + (relevant ? `; ${packageFacts(step.image)}` : '');
  return dfuRemoteError(
    message,
    {
      dfuResult: d.result.code,
      dfuResultName: d.result.name,
      ...(ext === undefined ? {} : { dfuExtended: ext.code, dfuExtendedName: ext.name }),
      context: { request: opcodeName(responseRequest(res)), image: step.image.kind },
    },
    (ext ?? d.result).remedy,
  );
}

const PRN_WAIT_EXTRA_EVENTS = 4;
const PRN_WAIT_MIN_MS = 100;
const PRN_WAIT_MAX_MS = 2000;

/**
 * How long to wait for a due PRN before asking the device where it is instead (spec §3.3 step 5).
 * A PRN that is not coming (its packet was lost, or the device's count is off ours, §3.6) would
 * otherwise hold the transfer for the whole request timeout and end in a reconnect. Waiting too
 * little costs only a CRC round trip, since the answer tells both cases apart, so the bound is a
 * few connection events: up to `prn` packets may still sit in the controller's buffers (one per
 * event in the worst case), then the device's notification needs about two more (doubled for
 * link-layer retransmissions); peripheral latency lets the device skip events. The floor covers
 * host-side delays (HCI transport, event loop) on fast links; the ceiling keeps slow links from
 * waiting long on a lost packet. The interval is read at each wait: it changes after updates.
 */
export function prnWaitMs(params: ConnectionParameters, prn: number, requestTimeoutMs: number): number {
  const eventMs = (params.intervalUs / 1000) * (1 + params.latency);
  const wanted = Math.ceil((prn + PRN_WAIT_EXTRA_EVENTS) * eventMs);
  return Math.min(requestTimeoutMs, PRN_WAIT_MAX_MS, Math.max(PRN_WAIT_MIN_MS, wanted));
}

export class BootloaderLink {
  readonly conn: Connection;
  readonly #cp: GattCharacteristic;
  readonly #dp: GattCharacteristic;
  readonly #sub: Subscription;
  readonly #queue = new AsyncQueue<Uint8Array>();
  readonly #options: LinkOptions;
  /** Aborts on close(): ends the notification pump (a cancel alone does not, see finish()). */
  readonly #closing = new AbortController();
  /** Aborts on cancel or link loss. */
  readonly signal: AbortSignal;

  private constructor(conn: Connection, cp: GattCharacteristic, dp: GattCharacteristic, sub: Subscription, options: LinkOptions) {
    this.conn = conn;
    this.#cp = cp;
    this.#dp = dp;
    this.#sub = sub;
    this.#options = options;
    this.signal = AbortSignal.any([options.signal, conn.closed]);
    void this.#pump();
  }

  /** Enables CP notifications (before any CP write, spec §3.1 step 5). */
  static async open(conn: Connection, cp: GattCharacteristic, dp: GattCharacteristic, options: LinkOptions): Promise<BootloaderLink> {
    const sub = await conn.subscribe(cp, 'notify', AbortSignal.any([options.signal, conn.closed]));
    return new BootloaderLink(conn, cp, dp, sub, options);
  }

  async #pump(): Promise<void> {
    // Not ended by a cancel: finish() still needs the answer to a request already sent.
    const until = AbortSignal.any([this.conn.closed, this.#closing.signal]);
    try {
      for (;;) this.#queue.push(await this.#sub.receive(until));
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

  /** DP payload per write. */
  get packetSize(): number {
    return this.#options.packetSize;
  }

  close(): void {
    this.#closing.abort();
    this.#sub.close();
  }

  #timeout(what: string, ms = this.#options.requestTimeoutMs, parent: AbortSignal = this.signal): { signal: AbortSignal; dispose: () => void } {
    return this.#options.clock.timeoutSignal(
      {
        ms,
        code: 'DFU_TIMEOUT',
        layer: 'dfu',
        message: `no answer to ${what} within ${ms} ms`,
        remedy: 'the device stopped answering; check that it is in range and still in DFU mode, then retry',
      },
      parent,
    );
  }

  /**
   * Sends one CP request and waits for its answer even if the job is cancelled meanwhile: only
   * the link's loss or the request timeout end the wait. For the final Execute, whose answer
   * decides whether the device is updated: once it is sent the bootloader validates and activates
   * the image whatever the host does, so a cancel cannot undo it, only hide the outcome. A cancel
   * that came before the request is sent is the caller's to honour.
   */
  async finish(req: ControlPointRequest, step: StepContext): Promise<ControlPointResponse> {
    const bytes = encodeRequest(req);
    const op = bytes[0] as number;
    const t = this.#timeout(`${opcodeName(op)} (${toHex(bytes, ' ')}) — ${step.what} —`, this.#options.requestTimeoutMs, this.conn.closed);
    try {
      await this.conn.write(this.#cp.valueHandle, bytes, t.signal);
      for (;;) {
        const raw = await this.#queue.receive(t.signal);
        const res = decodeResponse(raw);
        const answers = responseRequest(res);
        if (answers === op) return res;
        // As in request(): stale PRNs are skipped, a PRN carrying a packet-write error is the answer.
        if (answers === OPCODE.CALC_CHECKSUM && res.kind === 'checksum') continue;
        if (answers === OPCODE.CALC_CHECKSUM) return res;
        throw dfuProtocolError(`expected a response to ${opcodeName(op)}, got ${toHex(raw, ' ')}`, { notification: toHex(raw) });
      }
    } catch (e) {
      if (isBledfuError(e) && e.code === 'DFU_TIMEOUT' && !this.conn.closed.aborted) throw e;
      if (this.conn.closed.aborted) throw abortReason(this.conn.closed);
      throw e;
    } finally {
      t.dispose();
    }
  }

  /**
   * Sends one CP request and returns its response (failures included). Stale checksum
   * notifications (a PRN due on the last packet of an object) are checked by `onStalePrn` and skipped.
   */
  async request(req: ControlPointRequest, onStalePrn?: (r: { offset: number; crc: number }) => void, step?: StepContext): Promise<ControlPointResponse> {
    const bytes = encodeRequest(req);
    const op = bytes[0] as number;
    const t = this.#timeout(`${opcodeName(op)} (${toHex(bytes, ' ')})${step === undefined ? '' : ` — ${step.what} —`}`);
    try {
      await this.conn.write(this.#cp.valueHandle, bytes, t.signal);
      for (;;) {
        const raw = await this.#queue.receive(t.signal);
        const res = decodeResponse(raw);
        const answers = responseRequest(res);
        if (answers === op) return res;
        if (answers === OPCODE.CALC_CHECKSUM && res.kind === 'checksum') {
          onStalePrn?.(res);
          continue;
        }
        if (answers === OPCODE.CALC_CHECKSUM) return res; // a PRN carrying a packet-write error
        throw dfuProtocolError(`expected a response to ${opcodeName(op)}, got ${toHex(raw, ' ')}`, { notification: toHex(raw) });
      }
    } catch (e) {
      // Notifications were enabled when the link opened, so 0xFD means the bootloader did not keep
      // that subscription (spec §1.1): it refuses every CP write, and no retry on this link helps.
      if (hasCode(e, 'ATT_ERROR') && e.facts.attError === 0xfd && !this.signal.aborted) {
        throw new BledfuError(
          'DFU_PROTOCOL_ERROR',
          `the bootloader refused ${opcodeName(op)} (${toHex(bytes, ' ')}): control point notifications are not enabled for this link (ATT error 0xFD, CCCD improperly configured)`,
          {
            layer: 'dfu',
            facts: e.facts,
            cause: e,
            remedy: 'the subscription did not take effect on the device (a stale GATT cache can do this): restart the device and retry; for a bonded bootloader, bond from this adapter first',
          },
        );
      }
      throw isBledfuError(e) && e.code === 'DFU_TIMEOUT' && !this.signal.aborted ? e : this.#failure(e);
    } finally {
      t.dispose();
    }
  }

  /** Like request(), but any failure response throws DFU_REMOTE_ERROR. */
  async expect(req: ControlPointRequest, step: StepContext, onStalePrn?: (r: { offset: number; crc: number }) => void): Promise<ControlPointResponse> {
    const res = await this.request(req, onStalePrn, step);
    if (res.kind === 'error' || res.kind === 'extendedError') throw remoteError(res, step);
    return res;
  }

  /**
   * CRC request (03) whose answer is told apart from PRNs, which look exactly the same (spec §2.5):
   * a PRN the streaming loop did not wait for (the device's count is off the host's, spec §3.6,
   * or the PRN left the device late) can still be queued ahead of the answer. A report of `sent`
   * bytes is the answer (a PRN for the last packet says the same). One reporting fewer is either
   * such a PRN or a device that really holds fewer bytes: ask again. The device repeats its answer
   * exactly only in the second case, since no data is in flight; a late PRN is followed by
   * something else (the next PRN or the real answer). Surplus answers stay queued and are skipped
   * as stale checksums by the next request.
   */
  async checksum(sent: number, step: StepContext, onStalePrn?: (r: { offset: number; crc: number }) => void): Promise<{ offset: number; crc: number }> {
    const ask = async (): Promise<{ offset: number; crc: number }> => {
      const res = await this.expect({ op: 'calcChecksum' }, step, onStalePrn);
      if (res.kind !== 'checksum') throw dfuProtocolError(`${step.what}: expected a checksum, got a ${res.kind} response`);
      return res;
    };
    let res = await ask();
    while (res.offset < sent) {
      const again = await ask();
      if (again.offset === res.offset && again.crc === res.crc) return res;
      this.#options.logger.debug({ offset: res.offset, sent }, 'a late packet receipt notification came before the CRC answer');
      onStalePrn?.(res);
      res = again;
    }
    return res;
  }

  /**
   * Writes data[from, to) to DP in packets. With PRN n > 0, at most n packets go out past the
   * last PRN before waiting for the next one; each PRN is validated against the offset it
   * reports (offsets in `data` are image offsets, as in `prefix`). A due PRN that does not come
   * within prnWaitMs() ends the stream early: `sent` is then below `to`, and the caller's CRC
   * request tells where the device really is (only a dead link runs into the request timeout,
   * on that request). Returns the PRN verdicts' first failure, if any, instead of throwing;
   * `confirmed` is the furthest offset a valid PRN of this stream reported (a PRN at `to` answers
   * what a CRC request would, spec §2.5).
   */
  async stream(
    data: Uint8Array,
    from: number,
    to: number,
    prn: number,
    prefix: PrefixCrc,
    onConfirmed: (offset: number) => void,
  ): Promise<{ ok: true; sent: number; confirmed: number | undefined } | { ok: false; detail: string }> {
    let sinceConfirm = 0;
    let failure: string | undefined;
    let confirmed: number | undefined;
    const handle = (raw: Uint8Array): void => {
      const res = decodeResponse(raw);
      if (res.kind === 'checksum') {
        sinceConfirm = 0;
        const v = judgeChecksum(prefix, res, res.offset);
        if (v.ok) {
          confirmed = Math.max(confirmed ?? 0, res.offset);
          onConfirmed(res.offset);
        } else failure ??= `PRN: ${v.reason === 'mismatch' ? v.detail : 'short'}`;
      } else if (res.kind === 'error' || res.kind === 'extendedError') {
        failure ??= `PRN reported an error writing data: ${toHex(raw, ' ')}`;
      } else {
        throw dfuProtocolError(`unexpected notification while streaming: ${toHex(raw, ' ')}`, { notification: toHex(raw) });
      }
    };
    for (const p of packets(data, from, to, this.#options.packetSize)) {
      if (this.signal.aborted) throw this.#failure(abortReason(this.signal));
      await this.conn.writeWithoutResponse(this.#dp.valueHandle, p.bytes, this.signal).catch((e: unknown) => {
        throw this.#failure(e);
      });
      prefix.advanceTo(p.start + p.bytes.length);
      sinceConfirm++;
      while (this.#queue.size > 0) handle(await this.#queue.receive(this.signal));
      if (prn > 0 && sinceConfirm >= prn) {
        const waitMs = prnWaitMs(this.conn.parameters, prn, this.#options.requestTimeoutMs);
        const t = this.#timeout('a packet receipt notification', waitMs);
        try {
          handle(await this.#queue.receive(t.signal));
        } catch (e) {
          // Only our own timer aborted: the PRN is overdue, not the link gone.
          if (this.signal.aborted || !t.signal.aborted) throw this.#failure(e);
          const sent = p.start + p.bytes.length;
          this.#options.logger.debug({ waitMs, prn, sent }, `no packet receipt notification within ${waitMs} ms: asking the device for its CRC`);
          return { ok: true, sent, confirmed };
        } finally {
          t.dispose();
        }
      }
      if (failure !== undefined) return { ok: false, detail: failure };
    }
    return { ok: true, sent: to, confirmed };
  }
}
