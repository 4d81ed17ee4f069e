/**
 * The SDK 15.3–17 BLE secure bootloader (spec §1.1, §1.4, §2.6, §3.1, §8): advertises "DfuTarg"
 * (or the buttonless name) with FE59 at address + 1 every 25 ms, asks for a 15 ms connection
 * interval right after a connection, word-aligns the MTU it accepts, serves the DFU Control
 * Point and Packet characteristics over a DfuTarget, answers when its flash work would be done,
 * and resets without disconnecting after the last Execute.
 */
import { AD_FLAGS, AD_TYPES, encodeAdStructures } from '../../ble/advertising.js';
import { bootloaderAddress, type DeviceAddress } from '../../ble/address.js';
import { CharProps } from '../../ble/types.js';
import { UUIDS, uuidToBytes } from '../../ble/uuid.js';
import { ATT_ERROR } from '../../host/att/errors.js';
import { encodeSignalingCommand } from '../../host/l2cap/frames.js';
import { RESULT, type ControlPointRequest } from '../../dfu/secure/controlPoint.js';
import type { AdvertisingParams } from '../peripheral.js';
import type { SimScheduler, TimerHandle } from '../scheduler.js';
import { DfuTarget, type DfuTargetConfig } from './dfuTarget.js';
import type { NrfChip } from './chip.js';
import type { Firmware, LinkSession } from './firmware.js';
import { GattDatabase, type MtuPolicy } from './gattServer.js';

/** DFU-level fault hooks the bootloader consults (implemented by sim/faults.ts). */
export interface DfuFaultHooks {
  /** Before handling a CP write: an injected answer and/or extra delay. */
  controlPoint(value: Uint8Array): { readonly refuse: Uint8Array | undefined; readonly delayMs: number };
  /** After handling a CP write: whether to break the link now. */
  afterControlPoint(request: ControlPointRequest | undefined, response: Uint8Array, currentType: 'command' | 'data'): boolean;
  /** A DP write of data: possibly corrupted bytes. */
  packet(value: Uint8Array): Uint8Array;
  /** After storing data: whether to break the link now (`total` = firmware bytes received). */
  afterPacket(total: number): boolean;
  /** Legacy DFU: after a successful response (10 OP 01) went out, whether to break the link now. */
  afterLegacyResponse(op: number): boolean;
}

/** A data packet the bootloader stored: where in which image (for observers that look for resent bytes). */
export interface DataWrite {
  /** CRC-32 of the executed init packet: the image the bytes belong to. */
  readonly initCrc: number;
  /** Offset in the image of the packet's first byte. */
  readonly offset: number;
  readonly length: number;
}

export interface BootloaderOptions {
  readonly chip: NrfChip;
  readonly scheduler: SimScheduler;
  /** The application's address: the bootloader advertises at address + 1. */
  readonly appAddress: DeviceAddress;
  readonly target: DfuTargetConfig;
  readonly inactivityTimeoutMs: number;
  readonly continuationTimeoutMs: number;
  readonly faults: DfuFaultHooks;
  /** Reset the chip (after the last Execute, an Abort or inactivity). */
  readonly reset: () => void;
  /** Told of every data packet stored (white-box evidence for tests and the station). */
  readonly onDataWrite?: (write: DataWrite) => void;
}

const textBytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** SDK 15+: up to 247, and (MTU − 3) a multiple of 4 when the client asks for less (spec §3.1). */
export const bootloaderMtuPolicy: MtuPolicy = (client) => {
  if (client >= 247) return 247;
  if (client <= 23) return 23;
  return client - ((client - 3) % 4);
};

export class Bootloader implements Firmware {
  readonly mode = 'bootloader' as const;
  readonly database: GattDatabase;
  readonly mtuPolicy = bootloaderMtuPolicy;
  readonly target: DfuTarget;
  readonly address: DeviceAddress;
  readonly #o: BootloaderOptions;
  #session: LinkSession | undefined;
  #flashBusyUntil = 0;
  #inactivity: TimerHandle | undefined;
  #stopped = false;
  /** It answered the activating Execute and resets once its flash is idle: it does not advertise again meanwhile. */
  #resettingSoon = false;

  constructor(options: BootloaderOptions) {
    this.#o = options;
    this.address = bootloaderAddress(options.appAddress);
    this.target = new DfuTarget(options.chip, options.target);
    this.database = new GattDatabase([
      {
        uuid: UUIDS.genericAccessService,
        characteristics: [{ uuid: UUIDS.deviceName, properties: CharProps.read, read: () => textBytes(this.name) }],
      },
      { uuid: UUIDS.genericAttributeService, characteristics: [{ uuid: UUIDS.serviceChanged, properties: CharProps.indicate }] },
      {
        uuid: UUIDS.secureDfuService,
        characteristics: [
          {
            uuid: UUIDS.dfuControlPoint,
            properties: CharProps.write | CharProps.notify,
            write: (value, ctx) => {
              if ((ctx.cccd & 0x0001) === 0) return ATT_ERROR.cccdImproperlyConfigured;
              // After the Write Response: the answer is a notification.
              this.#o.scheduler.after(0, () => this.#controlPoint(value), 'bootloader: CP request');
              return undefined;
            },
          },
          {
            uuid: UUIDS.dfuPacket,
            properties: CharProps.writeWithoutResponse,
            write: (value) => {
              this.#packet(value);
              return undefined;
            },
          },
        ],
      },
    ]);
    this.#armInactivity(options.chip.retained.continuation ? options.continuationTimeoutMs : options.inactivityTimeoutMs);
  }

  get name(): string {
    return this.#o.chip.settings.advName ?? 'DfuTarg';
  }

  advertising(): AdvertisingParams | undefined {
    if (this.#session !== undefined || this.#stopped || this.#resettingSoon) return undefined;
    return {
      address: this.address,
      intervalMs: 25,
      data: encodeAdStructures([
        { type: AD_TYPES.flags, data: Uint8Array.of(AD_FLAGS.leGeneralDiscoverable | AD_FLAGS.brEdrNotSupported) },
        { type: AD_TYPES.incompleteUuid16, data: uuidToBytes(UUIDS.secureDfuService) },
        { type: AD_TYPES.completeLocalName, data: textBytes(this.name) },
      ]),
      scanResponse: new Uint8Array(0),
      connectable: true,
    };
  }

  onConnected(session: LinkSession): void {
    this.#session = session;
    // The bootloader asks for 15 ms (12 units), latency 0, 6 s supervision right away (spec §8.1).
    session.signal(
      encodeSignalingCommand({ kind: 'connectionParameterUpdateRequest', identifier: 1, intervalMin: 12, intervalMax: 12, latency: 0, timeout: 600 }),
    );
  }

  onDisconnected(session: LinkSession): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    this.target.onDisconnect();
  }

  stop(): void {
    this.#stopped = true;
    this.#session = undefined;
    this.#inactivity?.cancel();
  }

  #armInactivity(ms: number): void {
    this.#inactivity?.cancel();
    this.#inactivity = this.#o.scheduler.after(ms, () => this.#o.reset(), 'bootloader: inactivity timeout');
  }

  /** When flash work queued so far plus `costMs` is done. */
  #whenFlashDone(costMs: number): number {
    const now = this.#o.scheduler.nowMs();
    this.#flashBusyUntil = Math.max(now, this.#flashBusyUntil) + costMs;
    return this.#flashBusyUntil;
  }

  #notify(at: number, value: Uint8Array, onSent?: () => void): void {
    const session = this.#session;
    const handle = this.database.handlesOf(UUIDS.dfuControlPoint)?.value;
    if (session === undefined || handle === undefined) return;
    this.#o.scheduler.at(
      at,
      () => {
        if (this.#session === session) session.gatt.notify(handle, value, onSent);
      },
      'bootloader: CP notification',
    );
  }

  #controlPoint(value: Uint8Array): void {
    const session = this.#session;
    if (session === undefined || this.#stopped) return;
    const fault = this.#o.faults.controlPoint(value);
    if (fault.refuse !== undefined) {
      this.#notify(this.#whenFlashDone(fault.delayMs), fault.refuse);
      return;
    }
    const out = this.target.handleControlPoint(value);
    // Execute waits for the flash queue (DfuTarget's header); other requests queue their flash
    // work and answer at once. An injected delay holds the answer (and, for Execute, the queue).
    let at: number;
    if (out.waitsForFlash) at = this.#whenFlashDone(out.costMs + fault.delayMs);
    else {
      this.#whenFlashDone(out.costMs);
      at = this.#o.scheduler.nowMs() + fault.delayMs;
    }
    // Work after the answer (the settings page) starts when the answer is given.
    if (out.afterAnswerMs > 0) this.#flashBusyUntil = Math.max(this.#flashBusyUntil, at) + out.afterAnswerMs;
    switch (out.followUp.kind) {
      case 'none':
        this.#notify(at, out.response);
        break;
      case 'activity':
        this.#armInactivity(this.#o.inactivityTimeoutMs);
        this.#notify(at, out.response);
        break;
      case 'activate':
        // Reply, then write the settings and reset without a terminate (on_dfu_complete runs once
        // the flash is idle), whether or not the answer made it out: the host sees a supervision
        // timeout. Meanwhile it does not advertise again, though the host may hang up first.
        this.#inactivity?.cancel();
        this.#resettingSoon = true;
        this.#notify(at, out.response);
        this.#o.scheduler.at(this.#whenFlashDone(0), () => this.#o.reset(), 'bootloader: reset to activate');
        break;
      case 'reset':
        // Abort: reply, then reset without a terminate.
        this.#inactivity?.cancel();
        this.#notify(at, out.response, () => this.#o.reset());
        break;
      default: {
        const never: never = out.followUp;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
    if (this.#o.faults.afterControlPoint(out.request, out.response, this.target.snapshot.currentType)) session.link.lose();
  }

  #packet(raw: Uint8Array): void {
    const session = this.#session;
    if (session === undefined || this.#stopped) return;
    const before = this.target.snapshot;
    const value = before.currentType === 'data' ? this.#o.faults.packet(raw) : raw;
    const out = this.target.handlePacket(value);
    if (before.currentType === 'data' && out.result === RESULT.SUCCESS) this.#o.onDataWrite?.({ initCrc: before.initCrc, offset: before.fwOffset, length: value.length });
    // The packet's write joins the flash queue, but its PRN (if due) goes out on reception, as in
    // the SDK: on_data_obj_write_request (nrf_dfu_req_handler.c) hands the bytes to fstorage and
    // updates offset and CRC at once, and the request's response, which nrf_dfu_ble.c turns into
    // the PRN when one is due, is given right after it, not from the flash callback (that only
    // frees the buffer). Only a data Execute waits for the flash queue.
    this.#whenFlashDone(out.costMs);
    if (out.notification !== undefined) this.#notify(this.#o.scheduler.nowMs(), out.notification);
    if (this.target.snapshot.currentType === 'data' && this.#o.faults.afterPacket(this.target.dataBytesReceived)) session.link.lose();
  }
}
