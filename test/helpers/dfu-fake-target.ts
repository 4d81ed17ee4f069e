/**
 * A small but faithful nRF5 device for engine tests, at the GATT level: an application with a
 * buttonless DFU characteristic and DIS, and an SDK 17 Secure DFU bootloader following the
 * target rules of spec §2.6 (state, PRN, CRC, Execute checks, the 0x08 boundary quirk,
 * SDK 16+ progress reload on disconnect). Faults are injected through `faults`.
 */
import { createHash } from 'node:crypto';
import { bootloaderAddress, type DeviceAddress } from '../../server/ble/address.js';
import { CharProps, type GattService } from '../../server/ble/types.js';
import { UUIDS } from '../../server/ble/uuid.js';
import { crc32 } from '../../server/common/crc32.js';
import { decodeInitPacket, expectedImageSize, hashHexNormalOrder, type InitPacket } from '../../server/dfu/package/initPacket.js';
import { verifyInitPacketSignature } from '../../server/dfu/package/signature.js';
import { decodeRequest, encodeResponse, EXT_ERROR, RESULT, type ControlPointResponse } from '../../server/dfu/secure/controlPoint.js';
import { attError, type FakeAdvertising, type FakeGatt, type FakeLink, type FakePeripheral } from './fake-ble.js';

const H = { cp: 11, cpCccd: 12, dp: 14, buttonless: 21, buttonlessCccd: 22, fwRev: 31 } as const;

export interface DeviceFaults {
  /** Drop the link once each time the firmware offset reaches one of these values (after storing). */
  dropAtDataOffset?: number[];
  /** Drop the link right after accepting the Create of the data object starting at this offset (the 0x08 quirk). */
  dropAfterCreateAt?: number[];
  /** Corrupt one byte at this image offset, once (as lost/corrupted radio data would). */
  corruptAtDataOffset?: number[];
  /**
   * The host stack silently loses `count` DP writes once the firmware offset reaches `at` (spec §9
   * item 5): they never reach the device, which neither stores nor counts them for PRN.
   */
  loseDataPackets?: { at: number; count: number }[];
  /**
   * PRN counting restarts only on Create, not on Set PRN: the pitfall of spec §3.6, where PRNs
   * after resuming inside an object arrive at positions the host's own count does not expect.
   */
  prnCountOnlyResetByCreate?: boolean;
  /**
   * Each PRN leaves the device only after this many further DP writes (as when it is sent from a
   * flash-write callback), or ahead of the next CP response (notifications keep their order), or
   * after `prnHoldMs` when nothing else comes.
   */
  delayPrns?: number;
  /**
   * How long a PRN held by `delayPrns` waits when no DP write or CP request comes (default 5 ms).
   * A long hold makes the PRN miss the host's bounded wait, leaving it to arrive ahead of the CRC answer.
   */
  prnHoldMs?: number;
  /**
   * CP requests (as logged: "execute 2", "select 2", …) whose response is lost `times` times: the
   * device acts on them but the notification never reaches the host.
   */
  unanswered?: { request: string; times: number }[];
  /** CCCD writes are acknowledged but not applied in this mode, so value writes get ATT 0xFD (spec §1.1, §1.2). */
  cccdIgnored?: 'app' | 'bootloader';
  /** Answer the command Execute with this extended error. */
  rejectInitWithExt?: number;
  /** Never drop the link after the final Execute. */
  noResetAfterFinal?: boolean;
  /**
   * An application built without the SVCI hand-over (spec §4.1 step 3): buttonless set-name is
   * answered `20 02 04` ('refuse'), or the application resets and comes back as itself ('reset').
   */
  setName?: 'refuse' | 'reset';
}

export interface FakeDeviceOptions {
  readonly appAddress: DeviceAddress;
  readonly startIn: 'app' | 'bootloader';
  /** 'legacy': the application offers the legacy DFU service 1530 instead (spec §1.3). */
  readonly buttonless?: 'without-bonds' | 'with-bonds' | 'none' | 'legacy';
  readonly publicKeyPem?: string;
  readonly hwVersion?: number;
  readonly sdFwid?: number;
  /** Keep data progress across disconnects (SDK 15 / NRF_DFU_SAVE_PROGRESS_IN_FLASH). Default false (SDK 16+). */
  readonly keepDataProgress?: boolean;
  readonly faults?: DeviceFaults;
  readonly firmwareRevision?: string;
}

interface HeldPrn {
  readonly bytes: Uint8Array;
  writesLeft: number;
  readonly timer: NodeJS.Timeout;
}

const MAX_CMD = 512;
const MAX_DATA = 4096;

export class FakeNrfDevice implements FakePeripheral {
  readonly options: FakeDeviceOptions;
  readonly faults: DeviceFaults;
  mode: 'app' | 'bootloader';
  bootloaderName: string | undefined;
  firmwareRevision: string;
  /** Every CP request, decoded ("select 1", "create 2 4096", "execute", …), and link events. */
  readonly log: string[] = [];
  readonly installed: { type: number; sha256: string }[] = [];
  dpWrites = 0;

  // bootloader state (spec §2.6)
  #cmd = new Uint8Array(0);
  #cmdSize = 0;
  #cmdOffset = 0;
  #initValid = false;
  #init: InitPacket | undefined;
  #imageSize = 0;
  #image = new Uint8Array(0);
  #objSize = 0;
  #fwOffset = 0;
  #fwCrc = 0;
  #fwOffsetLast = 0;
  #fwCrcLast = 0;
  #current: 1 | 2 = 1;
  #prnTarget = 0;
  #prnCount = 0;
  #link: FakeLink | undefined;
  /**
   * A reset is on its way (after the final Execute, after the buttonless jump): a real device
   * is restarting and advertises nothing, even if the central hung up first. Without this the
   * fake would advertise its old mode for a moment, and a fast central could connect to a mode
   * the device is leaving.
   */
  #resetting = false;

  constructor(options: FakeDeviceOptions) {
    this.options = options;
    this.faults = options.faults ?? {};
    this.mode = options.startIn;
    this.firmwareRevision = options.firmwareRevision ?? 'old-1.0';
  }

  get bootloaderAddress(): DeviceAddress {
    return bootloaderAddress(this.options.appAddress);
  }

  advertising(): FakeAdvertising | undefined {
    if (this.#link !== undefined || this.#resetting) return undefined;
    return this.mode === 'app'
      ? { address: this.options.appAddress, name: 'Nordic_Buttonless', serviceUuids: this.options.buttonless === 'none' || this.options.buttonless === 'legacy' ? [] : [UUIDS.secureDfuService] }
      : { address: this.bootloaderAddress, name: this.bootloaderName ?? 'DfuTarg', serviceUuids: [UUIDS.secureDfuService] };
  }

  accept(link: FakeLink): FakeGatt {
    this.#link = link;
    this.log.push(`connect ${this.mode}`);
    let cpCccd = 0;
    let blCccd = 0;
    const drop = (): void => {
      this.#link = undefined;
    };
    if (this.mode === 'app') {
      const services: GattService[] = [{ uuid: UUIDS.deviceInformationService, startHandle: 29, endHandle: 31, characteristics: [{ uuid: UUIDS.firmwareRevision, handle: 30, valueHandle: H.fwRev, properties: CharProps.read }] }];
      if (this.options.buttonless === 'legacy') {
        const legacy = (n: string): string => `0000${n}-1212-EFDE-1523-785FEABCD123`;
        services.unshift({
          uuid: UUIDS.legacyDfuService,
          startHandle: 19,
          endHandle: 26,
          characteristics: [
            { uuid: legacy('1532'), handle: 20, valueHandle: 21, properties: CharProps.writeWithoutResponse },
            { uuid: legacy('1531'), handle: 22, valueHandle: 23, properties: CharProps.write | CharProps.notify, cccdHandle: 24 },
            { uuid: legacy('1534'), handle: 25, valueHandle: 26, properties: CharProps.read },
          ],
        });
      } else if (this.options.buttonless !== 'none') {
        const uuid = this.options.buttonless === 'with-bonds' ? UUIDS.buttonlessWithBonds : UUIDS.buttonlessWithoutBonds;
        services.unshift({ uuid: UUIDS.secureDfuService, startHandle: 19, endHandle: 22, characteristics: [{ uuid, handle: 20, valueHandle: H.buttonless, properties: CharProps.write | CharProps.indicate, cccdHandle: H.buttonlessCccd }] });
      }
      return {
        services,
        read: (h) => {
          if (h === H.fwRev) return new TextEncoder().encode(this.firmwareRevision);
          throw attError(0x01, 'invalid handle');
        },
        write: (h, v) => {
          if (h === H.buttonlessCccd) {
            if (this.faults.cccdIgnored !== 'app') blCccd = v[0] ?? 0;
            return;
          }
          if (h !== H.buttonless) throw attError(0x03, 'not writable');
          if (blCccd !== 2) throw attError(0xfd, 'CCCD improperly configured');
          const op = v[0];
          if (op === 0x02 && this.faults.setName === 'refuse') {
            link.notify(H.buttonless, Uint8Array.of(0x20, 0x02, 0x04));
          } else if (op === 0x02 && this.faults.setName === 'reset') {
            this.log.push('reset on set-name');
            link.drop();
          } else if (op === 0x02) {
            this.bootloaderName = new TextDecoder().decode(v.subarray(2, 2 + (v[1] ?? 0)));
            link.notify(H.buttonless, Uint8Array.of(0x20, 0x02, 0x01));
          } else if (op === 0x01) {
            if (this.options.buttonless === 'with-bonds') {
              link.notify(H.buttonless, Uint8Array.of(0x20, 0x01, 0x07));
              return;
            }
            link.notify(H.buttonless, Uint8Array.of(0x20, 0x01, 0x01));
            this.log.push('jump to bootloader');
            this.#resetting = true;
            setImmediate(() => {
              this.#resetting = false;
              this.mode = 'bootloader';
              link.drop();
            });
          } else link.notify(H.buttonless, Uint8Array.of(0x20, op ?? 0, 0x02));
        },
        writeWithoutResponse: () => undefined,
        onDisconnect: drop,
      };
    }
    return {
      services: [
        {
          uuid: UUIDS.secureDfuService,
          startHandle: 9,
          endHandle: 14,
          characteristics: [
            { uuid: UUIDS.dfuControlPoint, handle: 10, valueHandle: H.cp, properties: CharProps.write | CharProps.notify, cccdHandle: H.cpCccd },
            { uuid: UUIDS.dfuPacket, handle: 13, valueHandle: H.dp, properties: CharProps.writeWithoutResponse },
          ],
        },
      ],
      read: () => {
        throw attError(0x02, 'not readable');
      },
      write: (h, v) => {
        if (h === H.cpCccd) {
          if (this.faults.cccdIgnored !== 'bootloader') cpCccd = v[0] ?? 0;
          return;
        }
        if (h !== H.cp) throw attError(0x03, 'not writable');
        if (cpCccd !== 1) throw attError(0xfd, 'CCCD improperly configured');
        this.#flushPrns();
        const res = this.#request(v);
        const lost = this.faults.unanswered?.find((u) => u.request === this.log.at(-1) && u.times > 0);
        if (lost !== undefined) {
          lost.times--;
          this.log.push('fault: response lost');
        } else if (res !== undefined) link.notify(H.cp, encodeResponse(res));
        this.#afterRequest?.();
        this.#afterRequest = undefined;
      },
      writeWithoutResponse: (h, v) => {
        if (h === H.dp) this.#packet(v);
      },
      onDisconnect: () => {
        drop();
        this.log.push('disconnect');
        for (const p of this.#heldPrns.splice(0)) clearTimeout(p.timer);
        if (!this.options.keepDataProgress) {
          // SDK 16+: RAM state reloaded from flash; the executed init packet survives, data does not.
          this.#fwOffset = this.#fwOffsetLast = 0;
          this.#fwCrc = this.#fwCrcLast = 0;
          this.#objSize = 0;
        }
      },
    };
  }

  #afterRequest: (() => void) | undefined;

  #ok(request: number): ControlPointResponse {
    return { kind: 'success', request };
  }

  #request(bytes: Uint8Array): ControlPointResponse | undefined {
    const req = decodeRequest(bytes);
    switch (req.op) {
      case 'select':
        this.log.push(`select ${req.objectType}`);
        if (req.objectType === 1) {
          this.#current = 1;
          return { kind: 'select', maxSize: MAX_CMD, offset: this.#cmdOffset, crc: crc32(this.#cmd.subarray(0, this.#cmdOffset)) };
        }
        if (req.objectType === 2) {
          this.#current = 2;
          return { kind: 'select', maxSize: MAX_DATA, offset: this.#fwOffset, crc: this.#fwCrc };
        }
        return { kind: 'error', request: 6, result: RESULT.INVALID_OBJECT };
      case 'setPrn':
        this.log.push(`prn ${req.interval}`);
        this.#prnTarget = req.interval;
        if (!this.faults.prnCountOnlyResetByCreate) this.#prnCount = 0;
        return this.#ok(2);
      case 'create':
        this.log.push(`create ${req.objectType} ${req.size}`);
        this.#prnCount = 0;
        if (req.objectType === 1) {
          this.#current = 1;
          if (req.size === 0) return { kind: 'error', request: 1, result: RESULT.INVALID_PARAMETER };
          if (req.size > MAX_CMD) return { kind: 'error', request: 1, result: RESULT.INSUFFICIENT_RESOURCES };
          this.#initValid = false;
          this.#cmd = new Uint8Array(req.size);
          this.#cmdSize = req.size;
          this.#cmdOffset = 0;
          this.#fwOffset = this.#fwOffsetLast = this.#fwCrc = this.#fwCrcLast = this.#objSize = 0;
          return this.#ok(1);
        }
        this.#current = 2;
        if (!this.#initValid) return { kind: 'error', request: 1, result: RESULT.OPERATION_NOT_PERMITTED };
        if (req.size === 0) return { kind: 'error', request: 1, result: RESULT.INVALID_PARAMETER };
        if (req.size % MAX_DATA !== 0 && this.#fwOffsetLast + req.size !== this.#imageSize) return { kind: 'error', request: 1, result: RESULT.INVALID_PARAMETER };
        if (req.size > MAX_DATA) return { kind: 'error', request: 1, result: RESULT.INSUFFICIENT_RESOURCES };
        if (this.#fwOffsetLast + req.size > this.#imageSize) return { kind: 'error', request: 1, result: RESULT.OPERATION_NOT_PERMITTED };
        this.#objSize = req.size;
        this.#fwOffset = this.#fwOffsetLast;
        this.#fwCrc = this.#fwCrcLast;
        if (this.#takeFault(this.faults.dropAfterCreateAt, this.#fwOffsetLast)) this.#afterRequest = () => this.#dropLink('fault: drop after create');
        return this.#ok(1);
      case 'calcChecksum':
        this.log.push('crc');
        return this.#current === 1
          ? { kind: 'checksum', offset: this.#cmdOffset, crc: crc32(this.#cmd.subarray(0, this.#cmdOffset)) }
          : { kind: 'checksum', offset: this.#fwOffset, crc: this.#fwCrc };
      case 'execute':
        this.log.push(`execute ${this.#current}`);
        return this.#current === 1 ? this.#executeCommand() : this.#executeData();
      case 'abort':
        // SDK 15+: reply, then reset; with its application still valid the bootloader starts it.
        this.log.push('abort');
        this.#afterRequest = () => {
          this.#resetting = true;
          setImmediate(() => {
            this.#resetting = false;
            this.#resetState();
            this.mode = 'app';
            this.bootloaderName = undefined;
            this.#dropLink('reset after abort');
          });
        };
        return this.#ok(0x0c);
      default:
        return { kind: 'error', request: bytes[0] ?? 0, result: RESULT.OP_CODE_NOT_SUPPORTED };
    }
  }

  #executeCommand(): ControlPointResponse {
    if (this.#cmdOffset !== this.#cmdSize) return { kind: 'error', request: 4, result: RESULT.OPERATION_NOT_PERMITTED };
    if (this.#initValid) return this.#ok(4);
    const fail = (r: ControlPointResponse): ControlPointResponse => {
      this.#cmdOffset = 0;
      return r;
    };
    let p: InitPacket;
    try {
      p = decodeInitPacket(this.#cmd);
    } catch {
      return fail({ kind: 'error', request: 4, result: RESULT.INVALID_OBJECT });
    }
    if (this.options.publicKeyPem !== undefined) {
      if (p.kind !== 'signed') return fail({ kind: 'extendedError', request: 4, extended: EXT_ERROR.SIGNATURE_MISSING });
      if (!verifyInitPacketSignature(this.#cmd, this.options.publicKeyPem, p)) return fail({ kind: 'error', request: 4, result: RESULT.INVALID_OBJECT });
    }
    if (this.faults.rejectInitWithExt !== undefined) return fail({ kind: 'extendedError', request: 4, extended: this.faults.rejectInitWithExt });
    if (p.init.hwVersion === undefined) return fail({ kind: 'extendedError', request: 4, extended: EXT_ERROR.INIT_COMMAND_INVALID });
    if (p.init.hwVersion !== (this.options.hwVersion ?? 52)) return fail({ kind: 'extendedError', request: 4, extended: EXT_ERROR.HW_VERSION_FAILURE });
    const fwid = this.options.sdFwid ?? 0x100;
    if (!p.init.sdReq.includes(fwid) && p.init.sdReq[0] !== 0) return fail({ kind: 'extendedError', request: 4, extended: EXT_ERROR.SD_VERSION_FAILURE });
    const size = expectedImageSize(p.init);
    if (size === undefined) return fail({ kind: 'extendedError', request: 4, extended: EXT_ERROR.INIT_COMMAND_INVALID });
    this.#init = p;
    this.#initValid = true;
    this.#imageSize = size;
    this.#image = new Uint8Array(size);
    return this.#ok(4);
  }

  #executeData(): ControlPointResponse {
    if (this.#fwOffset - this.#fwOffsetLast !== this.#objSize) return { kind: 'error', request: 4, result: RESULT.OPERATION_NOT_PERMITTED };
    this.#fwOffsetLast = this.#fwOffset;
    this.#fwCrcLast = this.#fwCrc;
    this.#objSize = 0;
    if (this.#fwOffset !== this.#imageSize) return this.#ok(4);
    const init = this.#init as InitPacket;
    const sha = createHash('sha256').update(this.#image).digest('hex');
    if (init.init.hash === undefined || hashHexNormalOrder(init.init.hash) !== sha) {
      return { kind: 'extendedError', request: 4, extended: EXT_ERROR.VERIFICATION_FAILED };
    }
    this.installed.push({ type: init.init.type ?? -1, sha256: sha });
    if (!this.faults.noResetAfterFinal) {
      // Settings written, then reset without a disconnect: the central just loses the link.
      this.#afterRequest = () => {
        this.#resetting = true;
        setImmediate(() => {
          this.#resetting = false;
          const type = init.init.type;
          this.#resetState();
          // SDK 15–17 (nrf_bootloader_fw_activation.c): an application or a bootloader image ends
          // in ACTIVATION_SUCCESS, a reset that starts the (still valid) application; after a
          // SoftDevice (1) or SoftDevice + bootloader (3) the bootloader stays in DFU mode.
          this.mode = type === 0 || type === 2 ? 'app' : 'bootloader';
          if (type === 0) this.firmwareRevision = `new-${init.init.fwVersion ?? 0}`;
          this.bootloaderName = undefined;
          this.#dropLink('reset after final execute');
        });
      };
    }
    return this.#ok(4);
  }

  #resetState(): void {
    this.#initValid = false;
    this.#cmd = new Uint8Array(0);
    this.#cmdSize = this.#cmdOffset = 0;
    this.#fwOffset = this.#fwOffsetLast = this.#fwCrc = this.#fwCrcLast = this.#objSize = 0;
  }

  #dropLink(why: string): void {
    this.log.push(why);
    const l = this.#link;
    l?.drop();
  }

  #takeFault(list: number[] | undefined, value: number): boolean {
    const i = list?.indexOf(value) ?? -1;
    if (i < 0 || list === undefined) return false;
    list.splice(i, 1);
    return true;
  }

  #losing = 0;
  /** PRNs held back by `delayPrns`, each with the DP writes it still waits for. */
  readonly #heldPrns: HeldPrn[] = [];

  #sendPrn(bytes: Uint8Array): void {
    const delay = this.faults.delayPrns ?? 0;
    if (delay <= 0) {
      this.#link?.notify(H.cp, bytes);
      return;
    }
    const timer = setTimeout(() => this.#flushPrns(), this.faults.prnHoldMs ?? 5);
    this.#heldPrns.push({ bytes, writesLeft: delay, timer });
  }

  /** Sends every held PRN, oldest first. */
  #flushPrns(): void {
    for (const p of this.#heldPrns.splice(0)) {
      clearTimeout(p.timer);
      this.#link?.notify(H.cp, p.bytes);
    }
  }

  /** One more DP write arrived: release the held PRNs that waited for it (in order). */
  #agePrns(): void {
    for (const p of this.#heldPrns) p.writesLeft--;
    while (this.#heldPrns[0] !== undefined && this.#heldPrns[0].writesLeft <= 0) {
      const p = this.#heldPrns.shift() as HeldPrn;
      clearTimeout(p.timer);
      this.#link?.notify(H.cp, p.bytes);
    }
  }

  #packet(v: Uint8Array): void {
    if (this.#current === 2) {
      const loss = this.faults.loseDataPackets?.find((l) => l.at === this.#fwOffset);
      if (loss !== undefined) {
        this.faults.loseDataPackets?.splice(this.faults.loseDataPackets.indexOf(loss), 1);
        this.#losing = loss.count;
      }
      if (this.#losing > 0) {
        this.#losing--;
        this.log.push(`fault: lost a packet at ${this.#fwOffset}`);
        return;
      }
    }
    this.dpWrites++;
    this.#agePrns();
    let error: number | undefined;
    if (this.#current === 1) {
      if (this.#cmdOffset + v.length > this.#cmdSize) error = RESULT.INVALID_PARAMETER;
      else {
        this.#cmd.set(v, this.#cmdOffset);
        this.#cmdOffset += v.length;
      }
    } else if (!this.#initValid) error = RESULT.OPERATION_NOT_PERMITTED;
    else if (this.#fwOffset - this.#fwOffsetLast + v.length > this.#objSize) error = RESULT.INVALID_PARAMETER;
    else {
      const data = Uint8Array.from(v);
      for (const at of this.faults.corruptAtDataOffset ?? []) {
        if (at >= this.#fwOffset && at < this.#fwOffset + data.length) {
          data[at - this.#fwOffset] = (data[at - this.#fwOffset] as number) ^ 0xff;
          this.#takeFault(this.faults.corruptAtDataOffset, at);
          this.log.push(`fault: corrupted byte ${at}`);
          break;
        }
      }
      this.#image.set(data, this.#fwOffset);
      this.#fwOffset += data.length;
      this.#fwCrc = crc32(data, this.#fwCrc);
    }
    if (this.#prnTarget > 0 && ++this.#prnCount >= this.#prnTarget) {
      this.#prnCount = 0;
      const res: ControlPointResponse =
        error !== undefined
          ? { kind: 'error', request: 3, result: error }
          : this.#current === 1
            ? { kind: 'checksum', offset: this.#cmdOffset, crc: crc32(this.#cmd.subarray(0, this.#cmdOffset)) }
            : { kind: 'checksum', offset: this.#fwOffset, crc: this.#fwCrc };
      this.#sendPrn(encodeResponse(res));
    }
    if (this.#current === 2 && this.#takeFault(this.faults.dropAtDataOffset, this.#fwOffset)) this.#dropLink(`fault: drop at ${this.#fwOffset}`);
  }
}
