/**
 * The Secure DFU request handler of an SDK 15.3–17 BLE bootloader (spec §2.6), at the byte
 * level: control point writes in, responses out; DFU Packet writes in, PRNs out. It knows
 * nothing of GATT or links. Every outcome carries the flash work it queues and whether its answer
 * waits for that work, so the bootloader answers when the real one would.
 *
 * Flash timing as in the SDK's request handler (nrf_dfu_req_handler.c, SDK 15.3–17): flash work
 * goes through fstorage's queue, one operation after another. A data Create queues the erase of
 * its page and answers at once (on_data_obj_create_request); packets queue their writes (up to
 * ((4096 / 244) + 1) = 17 buffers in nrf_dfu_ble.c, a whole object); CRC answers from RAM at once
 * (the CRC is updated as packets arrive); a command Execute answers at once and queues the
 * settings write with the init packet; a data Execute answers only when fstorage is idle
 * (on_data_obj_execute_request_sched reschedules itself while nrf_fstorage_is_busy) and only then
 * writes the settings page: for every object with NRF_DFU_SAVE_PROGRESS_IN_FLASH=1 ('keep'), and
 * after the last one always (the reset waits for that write, on_dfu_complete).
 */
import { createHash } from 'node:crypto';
import { bytesEqual } from '../../common/bytes.js';
import { crc32 } from '../../common/crc32.js';
import { decodeInitPacket, FW_TYPE, VALIDATION_TYPE, type InitPacket } from '../../dfu/package/initPacket.js';
import { reverseHalves } from '../../dfu/package/signature.js';
import {
  decodeRequest,
  encodeResponse,
  EXT_ERROR,
  OBJECT_TYPE,
  OPCODE,
  RESULT,
  requestOpcode,
  type ControlPointRequest,
  type ControlPointResponse,
} from '../../dfu/secure/controlPoint.js';
import { verify } from 'node:crypto';
import { LAYOUT, softDeviceMajorVersion, type NrfChip } from './chip.js';
import { validateInitPacket, type Rejection, type ValidationPolicy } from './initValidation.js';

export interface DfuTargetConfig extends ValidationPolicy {
  /** 512 on SDK 15.3+. */
  readonly maxInitPacket: number;
  /** Data object size: one flash page on nRF52. */
  readonly dataObjectMax: number;
  /**
   * What a disconnect does to data progress: 'keep' (NRF_DFU_SAVE_PROGRESS_IN_FLASH=1, RAM state
   * kept) or 'reload' (SDK 16+ default: back to what flash holds, data offset 0).
   */
  readonly progressOnDisconnect: 'keep' | 'reload';
  /** SHA-256 throughput at the final Execute (UNVERIFIED in the spec; CC310 is fast). */
  readonly sha256BytesPerMs: number;
}

/** What the bootloader must do after sending a response. */
export type FollowUp =
  | { readonly kind: 'none' }
  /** The last data object was executed and checked: reset and activate. */
  | { readonly kind: 'activate' }
  /** Abort: reset. */
  | { readonly kind: 'reset' }
  /** Restart the inactivity timer (command Create, data Execute). */
  | { readonly kind: 'activity' };

export interface ControlOutcome {
  readonly request: ControlPointRequest | undefined;
  readonly response: Uint8Array;
  /** Flash work (ms) this request queues before its answer is decided. */
  readonly costMs: number;
  /**
   * Whether the answer waits until the flash queue is idle (this request's work included): a data
   * Execute. Everything else answers at once, its flash work (a Create's erase) queued.
   */
  readonly waitsForFlash: boolean;
  /** Flash work (ms) queued right after the answer (the settings page an Execute writes). */
  readonly afterAnswerMs: number;
  readonly followUp: FollowUp;
}

export interface PacketOutcome {
  /** A PRN (or the error it carries) when one is due. */
  readonly notification: Uint8Array | undefined;
  readonly costMs: number;
  /** Result of this write (SUCCESS or the silent error). */
  readonly result: number;
}

type ObjectType = 'command' | 'data';

const NONE: FollowUp = { kind: 'none' };

export class DfuTarget {
  readonly #chip: NrfChip;
  readonly #config: DfuTargetConfig;
  // Command object.
  #cmdSize = 0;
  #cmdBuf = new Uint8Array(0);
  #cmdOffset = 0;
  #cmdCrc = 0;
  #initValid = false;
  #init: InitPacket | undefined;
  // Data objects.
  #imageSize = 0;
  #bankAddress = 0;
  #objSize = 0;
  #fwOffset = 0;
  #fwCrc = 0;
  #fwOffsetLast = 0;
  #fwCrcLast = 0;
  #current: ObjectType = 'command';
  #prnTarget = 0;
  #prnCount = 0;
  /** DP writes seen since boot, for tests and fault triggers. */
  #dataBytesReceived = 0;

  constructor(chip: NrfChip, config: DfuTargetConfig) {
    this.#chip = chip;
    this.#config = config;
    this.#loadFromSettings(true);
  }

  /** Bytes of firmware received in total (data DP writes that were stored). */
  get dataBytesReceived(): number {
    return this.#dataBytesReceived;
  }

  get snapshot(): {
    readonly currentType: ObjectType;
    readonly cmdOffset: number;
    readonly initValid: boolean;
    readonly fwOffset: number;
    readonly fwOffsetLast: number;
    readonly objSize: number;
    readonly imageSize: number;
    readonly prn: number;
    /** CRC-32 of the init packet received so far (of the executed one once initValid): which image the data belongs to. */
    readonly initCrc: number;
  } {
    return {
      currentType: this.#current,
      cmdOffset: this.#cmdOffset,
      initValid: this.#initValid,
      fwOffset: this.#fwOffset,
      fwOffsetLast: this.#fwOffsetLast,
      objSize: this.#objSize,
      imageSize: this.#imageSize,
      prn: this.#prnTarget,
      initCrc: this.#cmdCrc,
    };
  }

  /** The link went down (the device did not reset). */
  onDisconnect(): void {
    if (this.#config.progressOnDisconnect === 'reload') this.#loadFromSettings(false);
  }

  /** RAM state from the settings page: the executed init packet, and saved data progress. */
  #loadFromSettings(atBoot: boolean): void {
    const s = this.#chip.settings;
    const dat = s.initPacket;
    if (dat !== undefined) {
      this.#cmdBuf = dat.slice();
      this.#cmdSize = dat.length;
      this.#cmdOffset = dat.length;
      this.#cmdCrc = crc32(dat);
      this.#initValid = true;
      this.#init = decodeInitPacket(dat);
      this.#bankAddress = s.bankAddress;
      this.#imageSize = this.#expectedSize(this.#init);
    } else if (atBoot) {
      this.#resetCommand(0);
    }
    const keep = this.#config.progressOnDisconnect === 'keep' && dat !== undefined;
    this.#fwOffsetLast = keep ? s.progress.offsetLast : 0;
    this.#fwCrcLast = keep ? s.progress.crcLast : 0;
    this.#fwOffset = this.#fwOffsetLast;
    this.#fwCrc = this.#fwCrcLast;
    this.#objSize = 0;
  }

  #expectedSize(p: InitPacket): number {
    const i = p.init;
    switch (i.type) {
      case FW_TYPE.SOFTDEVICE:
        return i.sdSize ?? 0;
      case FW_TYPE.BOOTLOADER:
        return i.blSize ?? 0;
      case FW_TYPE.SOFTDEVICE_BOOTLOADER:
        return (i.sdSize ?? 0) + (i.blSize ?? 0);
      default:
        return i.appSize ?? 0;
    }
  }

  #resetCommand(size: number): void {
    this.#cmdSize = size;
    this.#cmdBuf = new Uint8Array(size);
    this.#cmdOffset = 0;
    this.#cmdCrc = 0;
    this.#initValid = false;
    this.#init = undefined;
  }

  #resetData(): void {
    this.#imageSize = 0;
    this.#objSize = 0;
    this.#fwOffset = 0;
    this.#fwCrc = 0;
    this.#fwOffsetLast = 0;
    this.#fwCrcLast = 0;
  }

  // --- control point ------------------------------------------------------------------------

  handleControlPoint(bytes: Uint8Array): ControlOutcome {
    let request: ControlPointRequest;
    try {
      request = decodeRequest(bytes);
    } catch {
      // SDK 15+ does not check lengths; a request too short to read is treated as invalid.
      const op = bytes[0] ?? 0;
      return this.#out(undefined, { kind: 'error', request: op, result: RESULT.INVALID_PARAMETER });
    }
    const op = requestOpcode(request);
    const fail = (result: number): ControlOutcome => this.#out(request, { kind: 'error', request: op, result });
    const failExt = (extended: number): ControlOutcome => this.#out(request, { kind: 'extendedError', request: op, extended });
    const ok = (costMs = 0, followUp: FollowUp = NONE, afterAnswerMs = 0): ControlOutcome =>
      this.#out(request, { kind: 'success', request: op }, costMs, followUp, afterAnswerMs);

    switch (request.op) {
      case 'select': {
        if (request.objectType === OBJECT_TYPE.COMMAND) {
          this.#current = 'command';
          return this.#out(request, { kind: 'select', maxSize: this.#config.maxInitPacket, offset: this.#cmdOffset, crc: this.#cmdCrc });
        }
        if (request.objectType === OBJECT_TYPE.DATA) {
          this.#current = 'data';
          return this.#out(request, { kind: 'select', maxSize: this.#config.dataObjectMax, offset: this.#fwOffset, crc: this.#fwCrc });
        }
        return fail(RESULT.INVALID_OBJECT);
      }
      case 'create':
        if (request.objectType === OBJECT_TYPE.COMMAND) return this.#createCommand(request.size, ok, fail);
        if (request.objectType === OBJECT_TYPE.DATA) return this.#createData(request.size, ok, fail);
        return fail(RESULT.INVALID_OBJECT);
      case 'setPrn':
        this.#prnTarget = request.interval;
        this.#prnCount = request.interval;
        return ok();
      case 'calcChecksum':
        return this.#current === 'command'
          ? this.#out(request, { kind: 'checksum', offset: this.#cmdOffset, crc: this.#cmdCrc })
          : this.#out(request, { kind: 'checksum', offset: this.#fwOffset, crc: this.#fwCrc });
      case 'execute':
        // Only a data Execute waits for the flash queue (on_data_obj_execute_request_sched).
        return this.#current === 'command' ? this.#executeCommand(ok, fail, failExt) : { ...this.#executeData(ok, fail, failExt), waitsForFlash: true };
      case 'abort':
        return ok(0, { kind: 'reset' });
      case 'protocolVersion':
      case 'mtuGet':
      case 'ping':
      case 'hardwareVersion':
      case 'firmwareVersion':
      case 'other':
        // NRF_DFU_PROTOCOL_REDUCED in the SDK 15.3+ BLE examples.
        return fail(RESULT.OP_CODE_NOT_SUPPORTED);
      default: {
        const never: never = request;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  #out(request: ControlPointRequest | undefined, response: ControlPointResponse, costMs = 0, followUp: FollowUp = NONE, afterAnswerMs = 0): ControlOutcome {
    return { request, response: encodeResponse(response), costMs, waitsForFlash: false, afterAnswerMs, followUp };
  }

  #createCommand(
    size: number,
    ok: (cost?: number, f?: FollowUp) => ControlOutcome,
    fail: (r: number) => ControlOutcome,
  ): ControlOutcome {
    this.#current = 'command';
    this.#prnCount = this.#prnTarget;
    if (size === 0) return fail(RESULT.INVALID_PARAMETER);
    if (size > this.#config.maxInitPacket) return fail(RESULT.INSUFFICIENT_RESOURCES);
    this.#resetCommand(size);
    this.#resetData();
    this.#chip.settings.initPacket = undefined;
    this.#chip.settings.progress = { offsetLast: 0, crcLast: 0 };
    return ok(0, { kind: 'activity' });
  }

  #createData(
    size: number,
    ok: (cost?: number, f?: FollowUp) => ControlOutcome,
    fail: (r: number) => ControlOutcome,
  ): ControlOutcome {
    this.#current = 'data';
    this.#prnCount = this.#prnTarget;
    if (!this.#initValid) return fail(RESULT.OPERATION_NOT_PERMITTED);
    if (size === 0) return fail(RESULT.INVALID_PARAMETER);
    const page = this.#chip.flash.geometry.pageSize;
    if (size % page !== 0 && this.#fwOffsetLast + size !== this.#imageSize) return fail(RESULT.INVALID_PARAMETER);
    if (size > this.#config.dataObjectMax) return fail(RESULT.INSUFFICIENT_RESOURCES);
    if (this.#fwOffsetLast + size > this.#imageSize) return fail(RESULT.OPERATION_NOT_PERMITTED);
    this.#objSize = size;
    this.#fwOffset = this.#fwOffsetLast;
    this.#fwCrc = this.#fwCrcLast;
    const cost = this.#chip.flash.erase(this.#bankAddress + this.#fwOffsetLast, size);
    return ok(cost);
  }

  #executeCommand(
    ok: (cost?: number, f?: FollowUp, afterAnswerMs?: number) => ControlOutcome,
    fail: (r: number) => ControlOutcome,
    failExt: (e: number) => ControlOutcome,
  ): ControlOutcome {
    if (this.#cmdOffset !== this.#cmdSize) return fail(RESULT.OPERATION_NOT_PERMITTED);
    if (this.#initValid) return ok();
    const dat = this.#cmdBuf.slice(0, this.#cmdSize);
    const v = validateInitPacket(dat, this.#chip, this.#config);
    if (!v.ok) {
      // A rejected init packet resets progress, so Select shows offset 0 again.
      this.#resetCommand(0);
      this.#resetData();
      return this.#reject(v.rejection, fail, failExt);
    }
    this.#initValid = true;
    this.#init = v.packet;
    this.#imageSize = v.imageSize;
    this.#bankAddress = v.bankAddress;
    this.#resetData();
    this.#imageSize = v.imageSize;
    const s = this.#chip.settings;
    s.initPacket = dat;
    s.bankAddress = v.bankAddress;
    s.progress = { offsetLast: 0, crcLast: 0 };
    // on_cmd_obj_execute_request queues the settings write and answers at once.
    return ok(0, NONE, this.#chip.saveSettings());
  }

  #reject(r: Rejection, fail: (r: number) => ControlOutcome, failExt: (e: number) => ControlOutcome): ControlOutcome {
    return r.kind === 'result' ? fail(r.result) : failExt(r.extended);
  }

  #executeData(
    ok: (cost?: number, f?: FollowUp, afterAnswerMs?: number) => ControlOutcome,
    fail: (r: number) => ControlOutcome,
    failExt: (e: number) => ControlOutcome,
  ): ControlOutcome {
    if (!this.#initValid) return fail(RESULT.OPERATION_NOT_PERMITTED);
    if (this.#fwOffset - this.#fwOffsetLast !== this.#objSize) return fail(RESULT.OPERATION_NOT_PERMITTED);
    this.#fwOffsetLast = this.#fwOffset;
    this.#fwCrcLast = this.#fwCrc;
    this.#objSize = 0;
    const s = this.#chip.settings;
    s.progress = { offsetLast: this.#fwOffsetLast, crcLast: this.#fwCrcLast };
    // The settings page is written after the answer, and between objects only when progress is
    // saved in flash (NRF_DFU_SAVE_PROGRESS_IN_FLASH); on 'reload' a reset forgets it anyway.
    const settingsMs = this.#chip.saveSettings();
    if (this.#fwOffset !== this.#imageSize) return ok(0, { kind: 'activity' }, this.#config.progressOnDisconnect === 'keep' ? settingsMs : 0);
    let cost = 0;

    const init = this.#init;
    if (init === undefined) return fail(RESULT.OPERATION_NOT_PERMITTED);
    const image = this.#chip.flash.read(this.#bankAddress, this.#imageSize);
    cost += this.#imageSize / this.#config.sha256BytesPerMs;
    const digest = createHash('sha256').update(image).digest();
    const stored = init.init.hash?.bytes ?? new Uint8Array(0);
    const expected = Uint8Array.from(digest).reverse();
    if (stored.length !== 32 || !bytesEqual(stored, expected)) {
      return failExt(EXT_ERROR.VERIFICATION_FAILED);
    }
    if (!this.#postValidate(init, image, digest)) return fail(RESULT.INVALID_OBJECT);

    const i = init.init;
    s.pending = {
      fwType: i.type ?? FW_TYPE.APPLICATION,
      bankAddress: this.#bankAddress,
      size: this.#imageSize,
      sdSize: i.sdSize ?? 0,
      blSize: i.blSize ?? 0,
      fwVersion: i.fwVersion,
      isDebug: i.isDebug === true,
    };
    s.initPacket = undefined;
    s.progress = { offsetLast: 0, crcLast: 0 };
    this.#resetCommand(0);
    this.#resetData();
    return ok(cost, { kind: 'activate' }, settingsMs);
  }

  /** SoftDevice info struct for SD images, boot_validation entries (spec §6.3, last row). */
  #postValidate(init: InitPacket, image: Uint8Array, digest: Uint8Array): boolean {
    const type = init.init.type;
    const hasSd = type === FW_TYPE.SOFTDEVICE || type === FW_TYPE.SOFTDEVICE_BOOTLOADER;
    if (hasSd) {
      const at = LAYOUT.softDeviceInfoOffset;
      if (image.length < at + 16) return false;
      const view = new DataView(image.buffer, image.byteOffset + at, 16);
      if (view.getUint32(4, true) !== LAYOUT.softDeviceInfoMagic) return false;
      // nrf_dfu_validation.c postvalidate_sd_bl: a BLE bootloader needs the SoftDevice
      // (DFU_REQUIRES_SOFTDEVICE), so a new major version without a matching bootloader is refused.
      const installed = this.#chip.softDeviceMajor();
      const incoming = softDeviceMajorVersion(image);
      if (type === FW_TYPE.SOFTDEVICE && incoming !== undefined && installed !== undefined && incoming !== installed) return false;
    }
    const signedPart = type === FW_TYPE.SOFTDEVICE_BOOTLOADER ? image.subarray(0, init.init.sdSize ?? 0) : image;
    for (const bv of init.init.bootValidation) {
      switch (bv.type) {
        // nrf_dfu_validation.c boot_validation_extract: for CRC and SHA-256 the bootloader computes
        // the value over the received image itself (the init packet carries no bytes for them; nrfutil
        // writes none), so only the ECDSA signature is checked here.
        case VALIDATION_TYPE.NO_VALIDATION:
        case VALIDATION_TYPE.VALIDATE_GENERATED_CRC:
        case VALIDATION_TYPE.VALIDATE_SHA256:
          break;
        case VALIDATION_TYPE.VALIDATE_ECDSA_P256_SHA256:
          if (bv.bytes.length !== 64) return false;
          if (!verify('sha256', signedPart, { key: this.#config.publicKey, dsaEncoding: 'ieee-p1363' }, reverseHalves(bv.bytes))) return false;
          break;
        default:
          return false;
      }
    }
    void digest;
    return true;
  }

  // --- DFU packet ---------------------------------------------------------------------------

  handlePacket(bytes: Uint8Array): PacketOutcome {
    let result: number = RESULT.SUCCESS;
    let cost = 0;
    if (this.#current === 'command') {
      if (this.#cmdOffset + bytes.length > this.#cmdSize) result = RESULT.INVALID_PARAMETER;
      else {
        this.#cmdBuf.set(bytes, this.#cmdOffset);
        this.#cmdOffset += bytes.length;
        this.#cmdCrc = crc32(bytes, this.#cmdCrc);
      }
    } else if (!this.#initValid) {
      result = RESULT.OPERATION_NOT_PERMITTED;
    } else if (this.#fwOffset - this.#fwOffsetLast + bytes.length > this.#objSize) {
      result = RESULT.INVALID_PARAMETER;
    } else {
      cost = this.#chip.flash.write(this.#bankAddress + this.#fwOffset, bytes);
      this.#fwOffset += bytes.length;
      this.#fwCrc = crc32(bytes, this.#fwCrc);
      this.#dataBytesReceived += bytes.length;
    }
    return { notification: this.#prn(result), costMs: cost, result };
  }

  #prn(result: number): Uint8Array | undefined {
    if (this.#prnTarget === 0) return undefined;
    this.#prnCount--;
    if (this.#prnCount > 0) return undefined;
    this.#prnCount = this.#prnTarget;
    if (result !== RESULT.SUCCESS) return encodeResponse({ kind: 'error', request: OPCODE.CALC_CHECKSUM, result });
    return this.#current === 'command'
      ? encodeResponse({ kind: 'checksum', offset: this.#cmdOffset, crc: this.#cmdCrc })
      : encodeResponse({ kind: 'checksum', offset: this.#fwOffset, crc: this.#fwCrc });
  }
}
