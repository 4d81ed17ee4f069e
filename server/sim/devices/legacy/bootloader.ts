/**
 * A legacy BLE bootloader on the simulated chip: nRF5 SDK 11's (advertises "DfuTarg") or the
 * Adafruit nRF52 bootloader (advertises "AdaDFU", adds Device Information), both serving the
 * legacy DFU service 0x1530 (DFU Packet 0x1532 write without response, Control Point 0x1531
 * write + notify, DFU Revision 0x1534 read: 0x0008 for both, configurable for older SDK 7–10 builds,
 * absent on SDK ≤ 6) over a LegacyDfuTarget.
 *
 * Sources (facts only): nRF5 SDK 11.0.0 bootloader_dfu/dfu_transport_ble.c and ble_dfu.c, and
 * adafruit/Adafruit_nRF52_Bootloader lib/sdk11/…/dfu_transport_ble.c:
 * - advertising every 25 ms with flags, the complete local name and the service's 128-bit UUID
 *   in an incomplete list; at the application's address + 1 when it advertises openly, at the
 *   application's own address for the bonded central whose peer data the application handed over
 *   (directed advertising when that central has no IRK, else a whitelist);
 * - ATT MTU 23 (neither raises it: BLEGATT_ATT_MTU_MAX 23 in Adafruit's), so 20-byte packets;
 * - a control point write without notifications enabled is refused with ATT 0xFD (ble_dfu.c,
 *   is_cccd_configured);
 * - a link loss only restarts advertising (state kept, see target.ts);
 * - Activate and reset / System reset: the bootloader disconnects (0x13), writes its settings and
 *   resets; the DFU timer (SDK 11 DFU_TIMEOUT_INTERVAL 120 s: the world's inactivity timeout;
 *   Adafruit's OTA 300 s) restarts on valid peer activity and resets the chip when it runs out.
 */
import { AD_FLAGS, AD_TYPES, encodeAdStructures } from '../../../ble/advertising.js';
import { bootloaderAddress, type DeviceAddress } from '../../../ble/address.js';
import { CharProps } from '../../../ble/types.js';
import { UUIDS, uuidToBytes } from '../../../ble/uuid.js';
import { ATT_ERROR } from '../../../host/att/errors.js';
import type { AdvertisingParams } from '../../peripheral.js';
import type { SimScheduler, TimerHandle } from '../../scheduler.js';
import type { DfuFaultHooks } from '../bootloader.js';
import type { NrfChip } from '../chip.js';
import type { Firmware, LinkSession } from '../firmware.js';
import { GattDatabase, type CharacteristicDef, type MtuPolicy } from '../gattServer.js';
import { LEGACY_OP, LEGACY_RESULT, LEGACY_UUIDS, legacyResponse } from './protocol.js';
import { LegacyDfuTarget, type LegacyDataWrite, type LegacyOutcome, type LegacyTargetConfig } from './target.js';

export type LegacyBootloaderVariant = 'sdk11' | 'adafruit';

/** What tells the two bootloaders apart on the air and in GATT. */
export const LEGACY_BOOTLOADERS = {
  sdk11: { name: 'DfuTarg', dfuTimeoutMs: undefined, deviceInformation: undefined },
  adafruit: {
    // DEVICE_NAME "AdaDFU"; DIS with the manufacturer and a model string, as its services_init adds.
    name: 'AdaDFU',
    dfuTimeoutMs: 300_000,
    deviceInformation: { manufacturer: 'Adafruit Industries', model: 'Bluefruit nRF52 (simulated)' },
  },
} as const satisfies Record<LegacyBootloaderVariant, unknown>;

export interface LegacyBootloaderOptions {
  readonly variant: LegacyBootloaderVariant;
  readonly chip: NrfChip;
  readonly scheduler: SimScheduler;
  readonly appAddress: DeviceAddress;
  readonly target: LegacyTargetConfig;
  /** The DFU timer where the variant does not fix its own (SDK 11: the world's inactivity timeout). */
  readonly inactivityTimeoutMs: number;
  /** The delay, refusal (answered with its result byte as legacy response value), corruption, link-drop-after-bytes and link-drop-after-legacy-response faults apply. */
  readonly faults: DfuFaultHooks;
  readonly reset: () => void;
  readonly onDataWrite?: (write: LegacyDataWrite) => void;
}

const textBytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** SDK 11 bootloaders keep the default ATT MTU. */
export const legacyMtuPolicy: MtuPolicy = () => 23;

export class LegacyBootloader implements Firmware {
  readonly mode = 'bootloader' as const;
  readonly database: GattDatabase;
  readonly mtuPolicy = legacyMtuPolicy;
  readonly target: LegacyDfuTarget;
  readonly address: DeviceAddress;
  readonly name: string;
  readonly variant: LegacyBootloaderVariant;
  readonly #o: LegacyBootloaderOptions;
  readonly #peer: { readonly address: DeviceAddress; readonly directed: boolean } | undefined;
  #session: LinkSession | undefined;
  #flashBusyUntil = 0;
  #dfuTimer: TimerHandle | undefined;
  #stopped = false;
  /** Disconnected to reset: it does not advertise again. */
  #closing = false;

  constructor(options: LegacyBootloaderOptions) {
    this.#o = options;
    this.variant = options.variant;
    const facts = LEGACY_BOOTLOADERS[options.variant];
    this.name = facts.name;
    this.#peer = options.chip.retained.legacyPeer;
    this.address = this.#peer === undefined ? bootloaderAddress(options.appAddress) : options.appAddress;
    this.target = new LegacyDfuTarget(options.chip, options.target);
    const dis: CharacteristicDef[] =
      facts.deviceInformation === undefined
        ? []
        : [
            { uuid: UUIDS.manufacturerName, properties: CharProps.read, read: () => textBytes(facts.deviceInformation.manufacturer) },
            { uuid: UUIDS.modelNumber, properties: CharProps.read, read: () => textBytes(facts.deviceInformation.model) },
          ];
    this.database = new GattDatabase([
      { uuid: UUIDS.genericAccessService, characteristics: [{ uuid: UUIDS.deviceName, properties: CharProps.read, read: () => textBytes(this.name) }] },
      { uuid: UUIDS.genericAttributeService, characteristics: [{ uuid: UUIDS.serviceChanged, properties: CharProps.indicate }] },
      {
        uuid: LEGACY_UUIDS.service,
        // ble_dfu_init adds them in this order: packet, control point, revision.
        characteristics: [
          {
            uuid: LEGACY_UUIDS.packet,
            properties: CharProps.writeWithoutResponse,
            write: (value) => {
              this.#packet(value);
              return undefined;
            },
          },
          {
            uuid: LEGACY_UUIDS.controlPoint,
            properties: CharProps.write | CharProps.notify,
            write: (value, ctx) => {
              if ((ctx.cccd & 0x0001) === 0) return ATT_ERROR.cccdImproperlyConfigured;
              // After the Write Response: answers are notifications.
              this.#o.scheduler.after(0, () => this.#controlPoint(value), 'legacy bootloader: CP request');
              return undefined;
            },
          },
          // SDK ≤ 6 bootloaders (revision 0 here) have no DFU Revision characteristic.
          ...(options.target.revision === 0
            ? []
            : [{ uuid: LEGACY_UUIDS.revision, properties: CharProps.read, read: () => Uint8Array.of(options.target.revision & 0xff, options.target.revision >> 8) }]),
        ],
      },
      ...(dis.length === 0 ? [] : [{ uuid: UUIDS.deviceInformationService, characteristics: dis }]),
    ]);
    this.#restartDfuTimer();
  }

  advertising(): AdvertisingParams | undefined {
    if (this.#session !== undefined || this.#stopped || this.#closing) return undefined;
    const flags = this.#peer === undefined ? AD_FLAGS.leGeneralDiscoverable | AD_FLAGS.brEdrNotSupported : AD_FLAGS.brEdrNotSupported;
    return {
      address: this.address,
      intervalMs: 25,
      data:
        this.#peer?.directed === true
          ? new Uint8Array(0)
          : encodeAdStructures([
              { type: AD_TYPES.flags, data: Uint8Array.of(flags) },
              { type: AD_TYPES.completeLocalName, data: textBytes(this.name) },
              { type: AD_TYPES.incompleteUuid128, data: uuidToBytes(LEGACY_UUIDS.service) },
            ]),
      scanResponse: new Uint8Array(0),
      connectable: true,
      ...(this.#peer === undefined ? {} : { peer: this.#peer }),
    };
  }

  onConnected(session: LinkSession): void {
    this.#session = session;
  }

  onDisconnected(session: LinkSession): void {
    if (this.#session !== session) return;
    // Link loss or the host hung up: advertise again, keep every bit of DFU state.
    this.#session = undefined;
  }

  stop(): void {
    this.#stopped = true;
    this.#session = undefined;
    this.#dfuTimer?.cancel();
  }

  #restartDfuTimer(): void {
    this.#dfuTimer?.cancel();
    const ms = LEGACY_BOOTLOADERS[this.variant].dfuTimeoutMs ?? this.#o.inactivityTimeoutMs;
    this.#dfuTimer = this.#o.scheduler.after(ms, () => this.#o.reset(), 'legacy bootloader: DFU timeout');
  }

  /** When flash work queued so far plus `costMs` is done. */
  #whenFlashDone(costMs: number): number {
    const now = this.#o.scheduler.nowMs();
    this.#flashBusyUntil = Math.max(now, this.#flashBusyUntil) + costMs;
    return this.#flashBusyUntil;
  }

  #notifyAt(at: number, value: Uint8Array, before?: () => void): void {
    const session = this.#session;
    const handle = this.database.handlesOf(LEGACY_UUIDS.controlPoint)?.value;
    this.#o.scheduler.at(
      at,
      () => {
        before?.();
        if (session === undefined || handle === undefined || this.#session !== session || this.#stopped) return;
        // A link-drop fault aimed at this answer breaks the link once the central has it.
        const drop = value[0] === LEGACY_OP.response && value[2] === LEGACY_RESULT.success && this.#o.faults.afterLegacyResponse(value[1] ?? 0);
        session.gatt.notify(handle, value, drop ? () => session.link.lose() : undefined);
      },
      'legacy bootloader: CP notification',
    );
  }

  #apply(out: LegacyOutcome, delayMs: number): void {
    const now = this.#o.scheduler.nowMs();
    const flashDone = this.#whenFlashDone(out.costMs);
    let hookRun = out.onFlashDone === undefined;
    for (const n of out.notifications) {
      if (n.when === 'afterFlash') {
        const hook = hookRun ? undefined : out.onFlashDone;
        hookRun = true;
        this.#notifyAt(Math.max(flashDone, now + delayMs), n.value, hook);
      } else {
        this.#notifyAt(now + out.computeMs + delayMs, n.value);
      }
    }
    if (!hookRun && out.onFlashDone !== undefined) {
      const hook = out.onFlashDone;
      this.#o.scheduler.at(flashDone, hook, 'legacy bootloader: flash done');
    }
    switch (out.followUp) {
      case 'none':
        return;
      case 'activity':
        this.#restartDfuTimer();
        return;
      case 'disconnectAndReset': {
        this.#dfuTimer?.cancel();
        this.#closing = true;
        this.#session?.link.disconnect(0x13);
        // bootloader_dfu_update_process writes the settings, then the main loop resets.
        const resetAt = this.#whenFlashDone(this.#o.chip.saveSettings());
        this.#o.scheduler.at(resetAt, () => this.#o.reset(), 'legacy bootloader: reset');
        return;
      }
      default: {
        const never: never = out.followUp;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  #controlPoint(value: Uint8Array): void {
    if (this.#session === undefined || this.#stopped || this.#closing) return;
    const fault = this.#o.faults.controlPoint(value);
    if (fault.refuse !== undefined) {
      // The fault names a result code: a legacy device answers its op code with it as response value.
      this.#notifyAt(this.#o.scheduler.nowMs() + fault.delayMs, legacyResponse(value[0] ?? 0, fault.refuse[2] ?? 0));
      return;
    }
    this.#apply(this.target.handleControlPoint(value), fault.delayMs);
  }

  #packet(raw: Uint8Array): void {
    const session = this.#session;
    if (session === undefined || this.#stopped || this.#closing) return;
    const firmware = this.target.expectsFirmware;
    const value = firmware ? this.#o.faults.packet(raw) : raw;
    this.#apply(
      this.target.handlePacket(value, (w) => this.#o.onDataWrite?.(w)),
      0,
    );
    if (firmware && this.#o.faults.afterPacket(this.target.snapshot.bytesReceived)) session.link.lose();
  }
}
