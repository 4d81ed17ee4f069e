/**
 * The request handling of a legacy (nRF5 SDK 11) BLE bootloader at the byte level: control point
 * writes and DFU Packet writes in, notifications out, with the flash work each one queues. It
 * knows nothing of GATT or links; legacyBootloader.ts times the answers on the model's clock.
 *
 * Two layers, as in the SDK: the transport (dfu_transport_ble.c: what the next DFU Packet write
 * is — size packet, init packet or firmware — set by the last control point op code; the packet
 * receipt counter; the received-bytes count) and the bank (dfu_dual_bank.c / dfu_single_bank.c:
 * IDLE → PREPARING → RDY → RX_INIT_PKT → RX_DATA_PKT → VALIDATE → WAIT_4_ACTIVATE).
 *
 * Answers, as the SDK gives them:
 * - Start DFU (01 TT) only sets what the next DFU Packet write is; the 12-byte size packet
 *   (SD, BL, app sizes, u32 LE) is checked and, from IDLE only, the bank is erased; the answer
 *   10 01 01 comes when the erase is done (pstorage's clear callback). Refusals come at once:
 *   not 12 bytes, app together with SD/BL, sizes not whole words → not supported; too large →
 *   data size; not IDLE → invalid state. The sizes are taken before the state is checked
 *   (m_start_packet is overwritten first), as in the SDK.
 * - Initialize DFU Parameters 02 00 then the init packet on DFU Packet (only errors answered),
 *   then 02 01: the init packet is checked (initCheck.ts) and answered 10 02 RR.
 * - Packet receipt request 08 NN NN: no answer; 0 turns notifications off.
 * - Receive firmware 03: no answer; packets (whole words only) are written to the bank, a PRN
 *   11 + bytes every NN packets as they arrive; after the last one 10 03 01 once its flash
 *   write is done (the pstorage store callback of that buffer).
 * - Validate 04: CRC-16 of the bank against the init packet: 10 04 01 or 10 04 05 (CRC error);
 *   after a CRC error the bank stays in VALIDATE and only a reset gets it out.
 * - Activate and reset 05: the bootloader disconnects, marks the image for activation (or, in
 *   any other state than WAIT_4_ACTIVATE, just resets). System reset 06: disconnect and reset.
 * - Report received image size 07: 10 07 01 + bytes (u32 LE). Anything else: 10 OP 03.
 *
 * A link loss changes nothing here (dfu_transport_ble.c only advertises again): the bank keeps
 * its state and the data received, so a host that reconnects and sends Start DFU is answered
 * "invalid state"; SDK 11 has no way to continue an interrupted image, and Nordic's libraries
 * (Android LegacyDfuImpl) answer that with System Reset and start over. Only a reset, or the
 * DFU inactivity timer, clears it.
 */
import { crc32 } from '../../../common/crc32.js';
import { FW_TYPE } from '../../../dfu/package/initPacket.js';
import type { NrfChip, PendingActivation } from '../chip.js';
import { LAYOUT } from '../chip.js';
import { parseLegacyInit, postvalidate, prevalidate, type InitCheckPolicy, type LegacyInitFields } from './initCheck.js';
import {
  LEGACY_IMAGE,
  LEGACY_INIT,
  LEGACY_OP,
  LEGACY_RESULT,
  legacyImageSizeReport,
  legacyPacketReceipt,
  legacyResponse,
  translate,
  type NrfError,
} from './protocol.js';

/** CRC-16 throughput of Validate (crc16_compute over flash), bytes per ms: UNVERIFIED, ~10 cycles a byte at 64 MHz. */
export const LEGACY_CRC_BYTES_PER_MS = 6_000;

export type BankState = 'idle' | 'preparing' | 'ready' | 'rxInit' | 'rxData' | 'validate' | 'waitActivate';
type PacketType = 'invalid' | 'start' | 'init' | 'data';

export interface LegacyTargetConfig {
  /**
   * The DFU Revision the bootloader reports (0x0005 SDK 7 … 0x0008 SDK 10/11, same protocol in this
   * model), or 0: an SDK ≤ 6 bootloader without the DFU Revision characteristic, speaking DFU v1
   * (as Nordic's Android LegacyDfuImpl describes it): application only, Start DFU 01 with a
   * 4-byte size packet (a 12-byte one is answered 10 01 03, which is how hosts detect v1), an
   * optional init packet of just the CRC-16 written after 02 and answered 10 02 01 at once, and
   * Validate checking that CRC when one was given.
   */
  readonly revision: number;
  /**
   * 'dual': SDK 11's default BLE bootloader (dfu_dual_bank.c): application and bootloader images
   * go to bank 1 (the whole bank is erased), the old application stays valid until activation; a
   * SoftDevice (+ bootloader) goes to bank 0 and invalidates the application.
   * 'single' (dfu_single_bank.c, Adafruit): every image goes to bank 0, erasing the application.
   */
  readonly banks: 'dual' | 'single';
  readonly initCheck: InitCheckPolicy;
  /** Size of the init packet buffer: 128 in SDK 11's dual bank module, 64 in Adafruit's single bank one. */
  readonly maxInitPacket: number;
  /** CRC-16 throughput of Validate (crc16_compute over flash), bytes per ms (UNVERIFIED: ~10 cycles a byte at 64 MHz). */
  readonly crcBytesPerMs: number;
}

/** When a notification goes out. */
export type LegacyNotification =
  | { readonly value: Uint8Array; readonly when: 'now' }
  /** Once the flash work queued so far (this request's included) is done. */
  | { readonly value: Uint8Array; readonly when: 'afterFlash' };

export type LegacyFollowUp =
  | 'none'
  /** Valid peer activity: the DFU timer restarts. */
  | 'activity'
  /** Disconnect, then reset; a received image is activated by the next boot. */
  | 'disconnectAndReset';

export interface LegacyOutcome {
  readonly notifications: readonly LegacyNotification[];
  /** Flash work (ms) this write queued. */
  readonly costMs: number;
  /** CPU time (ms) before the answer (Validate's CRC). */
  readonly computeMs: number;
  readonly followUp: LegacyFollowUp;
  /** Runs when the queued flash work is done, before 'afterFlash' notifications (the erase's clear callback). */
  readonly onFlashDone?: () => void;
}

const NOTHING: LegacyOutcome = { notifications: [], costMs: 0, computeMs: 0, followUp: 'none' };

function answer(value: Uint8Array, extra: Partial<LegacyOutcome> = {}): LegacyOutcome {
  return { ...NOTHING, notifications: [{ value, when: 'now' }], ...extra };
}

/** A data packet the bank stored (for observers: the station tells resent bytes apart). */
export interface LegacyDataWrite {
  /** CRC-32 of the accepted init packet: the image the bytes belong to. */
  readonly initCrc: number;
  readonly offset: number;
  readonly length: number;
}

export class LegacyDfuTarget {
  readonly #chip: NrfChip;
  readonly #config: LegacyTargetConfig;
  // Transport (dfu_transport_ble.c).
  #packetType: PacketType = 'invalid';
  #updateMode = 0;
  #bytesReceived = 0;
  #prnEnabled = false;
  #prnTarget = 0;
  #prnCount = 0;
  // Bank (dfu_dual_bank.c / dfu_single_bank.c).
  #state: BankState = 'idle';
  #sizes = { sd: 0, bl: 0, app: 0 };
  #imageSize = 0;
  #dataReceived = 0;
  #bank: number = LAYOUT.appStart;
  #initBuf = new Uint8Array(0);
  #init: LegacyInitFields | undefined;
  #initCrc = 0;

  constructor(chip: NrfChip, config: LegacyTargetConfig) {
    this.#chip = chip;
    this.#config = config;
  }

  get snapshot(): {
    readonly state: BankState;
    readonly packetType: PacketType;
    readonly imageSize: number;
    /** What the bank holds of the image (0xFFFFFFFF after an overflow). */
    readonly dataReceived: number;
    /** The transport's count, what Report Received Image Size and PRNs say. */
    readonly bytesReceived: number;
    readonly bankAddress: number;
    readonly prn: number;
  } {
    return {
      state: this.#state,
      packetType: this.#packetType,
      imageSize: this.#imageSize,
      dataReceived: this.#dataReceived,
      bytesReceived: this.#bytesReceived,
      bankAddress: this.#bank,
      prn: this.#prnEnabled ? this.#prnTarget : 0,
    };
  }

  /** Whether the next DFU Packet write is firmware data (faults corrupt only those). */
  get expectsFirmware(): boolean {
    return this.#packetType === 'data';
  }

  /** Largest image per bank: bank 0 is the application area, bank 1 its upper half (dfu_types.h). */
  #limits(): { full: number; banked: number; bank1: number; bootloader: number } {
    const page = this.#chip.flash.geometry.pageSize;
    const full = this.#chip.appAreaEnd() - LAYOUT.appStart;
    const banked = Math.floor(full / 2 / page) * page;
    return { full, banked, bank1: LAYOUT.appStart + banked, bootloader: LAYOUT.bootloaderEnd - LAYOUT.bootloaderStart };
  }

  handleControlPoint(value: Uint8Array): LegacyOutcome {
    const op = value[0] ?? 0;
    switch (op) {
      case LEGACY_OP.startDfu:
        this.#packetType = 'start';
        // DFU v1 hosts send 01 alone (application only, 4-byte size packet): SDK 11 reads the
        // missing type byte from wherever the pointer points; the 4-byte size packet is refused
        // as not supported either way, which is how hosts detect the old protocol.
        this.#updateMode = value[1] ?? 0;
        return NOTHING;
      case LEGACY_OP.initDfuParams:
        this.#packetType = 'init';
        if (this.#v1 || (value[1] ?? LEGACY_INIT.receive) !== LEGACY_INIT.complete) return NOTHING;
        return answer(legacyResponse(op, translate(this.#initComplete(), op)));
      case LEGACY_OP.receiveFirmware:
        this.#packetType = 'data';
        return NOTHING;
      case LEGACY_OP.validate: {
        const { error, computeMs } = this.#validate();
        const result = translate(error, op);
        return answer(legacyResponse(op, result), { computeMs, followUp: error === 'success' || error === 'invalidData' ? 'activity' : 'none' });
      }
      case LEGACY_OP.activateAndReset:
        if (this.#state === 'waitActivate') this.#chip.settings.pending = this.#pendingActivation();
        return { ...NOTHING, followUp: 'disconnectAndReset' };
      case LEGACY_OP.systemReset:
        return { ...NOTHING, followUp: 'disconnectAndReset' };
      case LEGACY_OP.reportImageSize:
        return answer(legacyImageSizeReport(this.#bytesReceived));
      case LEGACY_OP.packetReceiptRequest: {
        if (value.length < 3) return answer(legacyResponse(op, LEGACY_RESULT.notSupported));
        const n = (value[1] as number) | ((value[2] as number) << 8);
        this.#prnEnabled = n !== 0;
        this.#prnTarget = n;
        this.#prnCount = n;
        return NOTHING;
      }
      default:
        return answer(legacyResponse(op, LEGACY_RESULT.notSupported));
    }
  }

  /** A DFU Packet write; `onStored` is told of firmware bytes the bank took. */
  handlePacket(value: Uint8Array, onStored?: (write: LegacyDataWrite) => void): LegacyOutcome {
    switch (this.#packetType) {
      case 'start':
        return this.#startPacket(value);
      case 'init': {
        if (this.#v1) return this.#v1Init(value);
        const error = this.#initPacket(value);
        return error === 'success' ? NOTHING : answer(legacyResponse(LEGACY_OP.initDfuParams, translate(error, LEGACY_OP.initDfuParams)));
      }
      case 'data':
        return this.#dataPacket(value, onStored);
      default:
        // "It is not possible to find out what packet it is. Ignore." (dfu_transport_ble.c)
        return NOTHING;
    }
  }

  get #v1(): boolean {
    return this.#config.revision === 0;
  }

  #startPacket(value: Uint8Array): LegacyOutcome {
    const refuse = (error: NrfError): LegacyOutcome => answer(legacyResponse(LEGACY_OP.startDfu, translate(error, LEGACY_OP.startDfu)));
    if (value.length !== (this.#v1 ? 4 : 12)) return refuse('notSupported');
    const v = new DataView(value.buffer, value.byteOffset, value.length);
    const sizes = this.#v1 ? { sd: 0, bl: 0, app: v.getUint32(0, true) } : { sd: v.getUint32(0, true), bl: v.getUint32(4, true), app: v.getUint32(8, true) };
    // DFU v1 updates applications only, whatever type byte a host adds.
    const mode = this.#v1 ? LEGACY_IMAGE.application : this.#updateMode;
    this.#updateMode = mode;
    // dfu_start_pkt_handle: the start packet and image size are taken before any check.
    this.#sizes = sizes;
    this.#imageSize = (sizes.sd + sizes.bl + sizes.app) >>> 0;
    const app = (mode & LEGACY_IMAGE.application) !== 0;
    const sd = (mode & LEGACY_IMAGE.softDevice) !== 0;
    const bl = (mode & LEGACY_IMAGE.bootloader) !== 0;
    if (app && (sd || bl)) return refuse('notSupported');
    if (sizes.sd % 4 !== 0 || sizes.bl % 4 !== 0 || sizes.app % 4 !== 0) return refuse('notSupported');
    const limits = this.#limits();
    if (sizes.bl > limits.bootloader) return refuse('dataSize');
    const inBank1 = this.#config.banks === 'dual' && !sd;
    if (this.#imageSize > (inBank1 ? limits.banked : limits.full)) return refuse('dataSize');
    if (this.#state !== 'idle') return refuse('invalidState');
    this.#bank = inBank1 ? limits.bank1 : LAYOUT.appStart;
    this.#state = 'preparing';
    // Dual bank clears all of bank 1 (DFU_IMAGE_MAX_SIZE_BANKED); bank 0 is cleared for the image size.
    const cost = this.#chip.flash.erase(this.#bank, inBank1 ? limits.banked : this.#imageSize);
    const erasesApp = !inBank1 && this.#imageSize > 0;
    return {
      notifications: [{ value: legacyResponse(LEGACY_OP.startDfu, LEGACY_RESULT.success), when: 'afterFlash' }],
      costMs: cost,
      computeMs: 0,
      followUp: 'activity',
      onFlashDone: () => {
        if (this.#state !== 'preparing') return;
        this.#state = 'ready';
        // dfu_cleared_func_app → DFU_BANK_0_ERASED: the settings no longer hold a valid application.
        if (erasesApp) this.#chip.settings.appValid = false;
      },
    };
  }

  #initPacket(value: Uint8Array): NrfError {
    if (this.#state === 'ready') this.#state = 'rxInit';
    if (this.#state !== 'rxInit') return 'invalidState';
    if (this.#dataReceived > 0) return 'invalidState';
    // Padded with zeros to whole words (init_data_process).
    const padded = new Uint8Array(Math.ceil(value.length / 4) * 4);
    padded.set(value);
    if (this.#initBuf.length + padded.length > this.#config.maxInitPacket) return 'invalidLength';
    const next = new Uint8Array(this.#initBuf.length + padded.length);
    next.set(this.#initBuf);
    next.set(padded, this.#initBuf.length);
    this.#initBuf = next;
    return 'success';
  }

  /** DFU v1: the packet after 02 is the image's CRC-16 (2 bytes), answered at once. */
  #v1Init(value: Uint8Array): LegacyOutcome {
    const op = LEGACY_OP.initDfuParams;
    if (this.#state !== 'ready' || this.#dataReceived > 0) return answer(legacyResponse(op, LEGACY_RESULT.invalidState));
    if (value.length !== 2) return answer(legacyResponse(op, LEGACY_RESULT.notSupported));
    const crc = (value[0] as number) | ((value[1] as number) << 8);
    this.#init = { deviceType: 0xffff, deviceRevision: 0xffff, applicationVersion: 0xffffffff, softDevices: [], crc16: crc };
    this.#initCrc = crc32(value);
    this.#state = 'rxData';
    return answer(legacyResponse(op, LEGACY_RESULT.success));
  }

  #initComplete(): NrfError {
    if (this.#dataReceived > 0) return 'invalidState';
    if (this.#state !== 'rxInit') return 'invalidState';
    const parsed = parseLegacyInit(this.#initBuf);
    const error = parsed === 'invalidLength' ? parsed : prevalidate(parsed, this.#updateMode, this.#chip.softDeviceFwid(), this.#config.initCheck);
    if (error !== 'success' || parsed === 'invalidLength') {
      this.#initBuf = new Uint8Array(0);
      return error;
    }
    this.#init = parsed;
    this.#initCrc = crc32(this.#initBuf);
    this.#state = 'rxData';
    return 'success';
  }

  #dataPacket(value: Uint8Array, onStored?: (write: LegacyDataWrite) => void): LegacyOutcome {
    const op = LEGACY_OP.receiveFirmware;
    const refuse = (error: NrfError): LegacyOutcome => answer(legacyResponse(op, translate(error, op)));
    if (value.length % 4 !== 0) return refuse('notSupported');
    // DFU v1: the init packet is optional, firmware may follow Start directly.
    if (this.#v1 && this.#state === 'ready') this.#state = 'rxData';
    if (this.#state !== 'rxData') return refuse('invalidState');
    if (this.#dataReceived + value.length > this.#imageSize) {
      // "Treated as a serious error condition and an unrecoverable one": every later write fails too.
      this.#dataReceived = 0xffffffff;
      return refuse('dataSize');
    }
    const offset = this.#dataReceived;
    const cost = this.#chip.flash.write(this.#bank + offset, value);
    this.#dataReceived += value.length;
    this.#bytesReceived += value.length;
    onStored?.({ initCrc: this.#initCrc, offset, length: value.length });
    if (this.#dataReceived === this.#imageSize) {
      return { notifications: [{ value: legacyResponse(op, LEGACY_RESULT.success), when: 'afterFlash' }], costMs: cost, computeMs: 0, followUp: 'activity' };
    }
    const notifications: LegacyNotification[] = [];
    if (this.#prnEnabled && --this.#prnCount === 0) {
      notifications.push({ value: legacyPacketReceipt(this.#bytesReceived), when: 'now' });
      this.#prnCount = this.#prnTarget;
    }
    return { notifications, costMs: cost, computeMs: 0, followUp: 'activity' };
  }

  #validate(): { error: NrfError; computeMs: number } {
    if (this.#state !== 'rxData' || this.#dataReceived !== this.#imageSize) return { error: 'invalidState', computeMs: 0 };
    if (this.#init === undefined && !this.#v1) return { error: 'invalidState', computeMs: 0 };
    this.#state = 'validate';
    const image = this.#chip.flash.read(this.#bank, this.#imageSize);
    const computeMs = this.#imageSize / this.#config.crcBytesPerMs;
    const error = this.#init === undefined ? 'success' : postvalidate(this.#init, image);
    if (error === 'success') this.#state = 'waitActivate';
    return { error, computeMs };
  }

  #pendingActivation(): PendingActivation {
    const mode = this.#updateMode & (LEGACY_IMAGE.softDevice | LEGACY_IMAGE.bootloader | LEGACY_IMAGE.application);
    const fwType =
      mode === (LEGACY_IMAGE.softDevice | LEGACY_IMAGE.bootloader)
        ? FW_TYPE.SOFTDEVICE_BOOTLOADER
        : mode === LEGACY_IMAGE.softDevice
          ? FW_TYPE.SOFTDEVICE
          : mode === LEGACY_IMAGE.bootloader
            ? FW_TYPE.BOOTLOADER
            : FW_TYPE.APPLICATION;
    const version = this.#init?.applicationVersion;
    return {
      fwType,
      bankAddress: this.#bank,
      size: this.#imageSize,
      sdSize: this.#sizes.sd,
      blSize: this.#sizes.bl,
      // 0xFFFFFFFF is "any version" in nrfutil 0.5 packages: nothing to record.
      fwVersion: version === undefined || version === 0xffffffff ? undefined : version,
      isDebug: false,
    };
  }
}
