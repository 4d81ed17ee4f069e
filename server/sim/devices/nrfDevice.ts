/**
 * One simulated nRF52840 board: the chip (flash + settings that survive resets) and the firmware
 * running on it, the application or the bootloader. It is a SimPeripheral, so the same object can
 * sit on the simulated air or behind any other radio that implements peripheral.ts.
 *
 * L2CAP endpoint per link: ATT on CID 4 to the firmware's GATT server, LE signaling on CID 5
 * (requests we do not serve are rejected), SMP on CID 6 (pairing is never supported).
 */
import type { DeviceAddress } from '../../ble/address.js';
import type { Logger } from '../../common/logger.js';
import { FW_TYPE } from '../../dfu/package/initPacket.js';
import {
  COMMAND_REJECT_REASONS,
  decodeSignalingCommand,
  encodeSignalingCommand,
  encodeSmpPairingFailed,
  L2CAP_CID,
  SMP_CODES,
  SMP_REASON_PAIRING_NOT_SUPPORTED,
} from '../../host/l2cap/frames.js';
import type { AdvertisingParams, PeripheralLink, PeripheralLinkHandler, PeripheralRadio, SimPeripheral } from '../peripheral.js';
import type { SimScheduler } from '../scheduler.js';
import { Application, firmwareRevisionOf, type AppDfu } from './application.js';
import { Bootloader, type DataWrite, type DfuFaultHooks } from './bootloader.js';
import { DK_IMAGE, imageIdentity, LAYOUT, NrfChip, softDeviceMajorVersion, type InstalledImage } from './chip.js';
import type { DfuTargetConfig } from './dfuTarget.js';
import type { Firmware, LinkSession } from './firmware.js';
import { GattServer } from './gattServer.js';
import { LegacyApplication, type LegacyEntry } from './legacy/application.js';
import { LegacyBootloader, type LegacyBootloaderVariant } from './legacy/bootloader.js';
import type { LegacyDataWrite, LegacyTargetConfig } from './legacy/target.js';

export interface NrfDeviceOptions {
  readonly label: string;
  readonly address: DeviceAddress;
  readonly name: string;
  readonly rssi: number;
  readonly appAdvertisingIntervalMs: number;
  readonly target: DfuTargetConfig;
  readonly inactivityTimeoutMs: number;
  readonly continuationTimeoutMs: number;
  /** Time from reset to advertising, not counting image activation. */
  readonly bootMs: number;
  readonly scheduler: SimScheduler;
  readonly faults: DfuFaultHooks & { isAbsent(): boolean };
  readonly logger?: Logger;
  /** How the board comes out of the factory (default: the DK image, running its application). */
  readonly initial?: InitialDeviceState;
  /** A legacy DFU board (SDK 11 or Adafruit bootloader, legacy buttonless application) instead of the SDK 17 one. */
  readonly legacy?: LegacyDeviceOptions;
}

export interface LegacyDeviceOptions {
  readonly variant: LegacyBootloaderVariant;
  /** How its application enters the bootloader (legacy/application.ts). */
  readonly entry: LegacyEntry;
  readonly target: LegacyTargetConfig;
}

/** A board's state at power-on, where it differs from the DK image. */
export interface InitialDeviceState {
  /** FWID of the installed SoftDevice (the DK image's S140 7.2.0 is 0x0100). */
  readonly softDeviceFwid?: number;
  /** false: no valid application (only the bootloader was flashed): it stays in DFU mode. */
  readonly appValid?: boolean;
  /**
   * Starts in DFU mode (as after a button press at power-on); with a valid application it goes
   * back to it after the bootloader's inactivity timeout.
   */
  readonly inBootloader?: boolean;
  /** The version the bootloader settings hold for the installed application (the DK image's is 1). */
  readonly appVersion?: number;
  /** The DFU the application offers (default its buttonless service without bonds). */
  readonly appDfu?: AppDfu;
}

export type DeviceMode = 'application' | 'bootloader' | 'off';

/** An image a bootloader installed at a reset: its init packet's fw_type and the installed bytes' SHA-256 (hex). */
export interface ActivatedImage {
  readonly fwType: number;
  readonly sha256: string;
}

export class NrfDevice implements SimPeripheral {
  readonly label: string;
  readonly rssi: number;
  readonly chip: NrfChip;
  readonly #o: NrfDeviceOptions;
  #firmware: Firmware | undefined;
  #radio: PeripheralRadio | undefined;
  readonly #links = new Set<PeripheralLink>();
  readonly #dataWriteListeners = new Set<(write: DataWrite) => void>();
  readonly #legacyWriteListeners = new Set<(write: LegacyDataWrite) => void>();
  readonly #activationListeners = new Set<(activated: ActivatedImage) => void>();
  #resets = 0;

  constructor(options: NrfDeviceOptions) {
    this.#o = options;
    this.label = options.label;
    this.rssi = options.rssi;
    const initial = options.initial ?? {};
    this.chip = new NrfChip(initial.softDeviceFwid === undefined ? DK_IMAGE : { ...DK_IMAGE, softDeviceFwid: initial.softDeviceFwid });
    if (initial.appValid === false) this.chip.settings.appValid = false;
    if (initial.inBootloader === true) this.chip.retained.enterBootloader = true;
    if (initial.appVersion !== undefined) this.chip.settings.appVersion = initial.appVersion;
    this.#firmware = this.#start();
  }

  get address(): DeviceAddress {
    return this.#o.address;
  }
  get mode(): DeviceMode {
    return this.#firmware?.mode ?? 'off';
  }
  get resets(): number {
    return this.#resets;
  }

  /**
   * Calls `listener` for every data packet its bootloader stores, across resets (white-box
   * evidence: a test or the station can tell an object sent twice). Returns the unsubscribe function.
   */
  onDataWrite(listener: (write: DataWrite) => void): () => void {
    this.#dataWriteListeners.add(listener);
    return () => {
      this.#dataWriteListeners.delete(listener);
    };
  }
  /** Like onDataWrite, for the firmware bytes a legacy bootloader stores. */
  onLegacyDataWrite(listener: (write: LegacyDataWrite) => void): () => void {
    this.#legacyWriteListeners.add(listener);
    return () => {
      this.#legacyWriteListeners.delete(listener);
    };
  }

  /**
   * Calls `listener` each time its bootloader installs a received image at a reset (white-box
   * evidence: the station counts how often a board really got a new application, whatever the
   * jobs and campaigns say). Returns the unsubscribe function.
   */
  onActivated(listener: (activated: ActivatedImage) => void): () => void {
    this.#activationListeners.add(listener);
    return () => {
      this.#activationListeners.delete(listener);
    };
  }

  /** The address the device currently advertises (address + 1 in the bootloader, unless a legacy one kept the application's). */
  get currentAddress(): DeviceAddress {
    const fw = this.#firmware;
    return fw instanceof Bootloader || fw instanceof LegacyBootloader ? fw.address : this.#o.address;
  }
  get currentName(): string {
    const fw = this.#firmware;
    return fw instanceof Bootloader || fw instanceof LegacyBootloader ? fw.name : this.#o.name;
  }
  /** The running legacy bootloader, if that is what runs. */
  get legacyBootloader(): LegacyBootloader | undefined {
    return this.#firmware instanceof LegacyBootloader ? this.#firmware : undefined;
  }
  /** 'secure' (SDK 17 bootloader) or the legacy variant this board carries. */
  get dfuKind(): 'secure' | LegacyBootloaderVariant {
    return this.#o.legacy?.variant ?? 'secure';
  }
  get firmwareRevision(): string | undefined {
    const app = this.chip.settings.app;
    return this.chip.settings.appValid && app !== undefined ? firmwareRevisionOf(app) : undefined;
  }
  get bootloader(): Bootloader | undefined {
    return this.#firmware instanceof Bootloader ? this.#firmware : undefined;
  }

  attachRadio(radio: PeripheralRadio): void {
    this.#radio = radio;
  }

  /** Re-evaluate advertising (e.g. after the "absent" fault was toggled). */
  advertisingChanged(): void {
    this.#radio?.advertisingChanged();
  }

  advertising(): AdvertisingParams | undefined {
    if (this.#o.faults.isAbsent()) return undefined;
    return this.#firmware?.advertising();
  }

  accept(link: PeripheralLink): PeripheralLinkHandler {
    const firmware = this.#firmware;
    if (firmware === undefined) {
      // Connected to an advertisement the chip no longer makes (it just reset): it never answers.
      link.vanish();
      return { onL2cap: () => undefined, onParametersChanged: () => undefined, onDisconnected: () => undefined };
    }
    this.#links.add(link);
    const gatt = new GattServer({
      database: firmware.database,
      mtuPolicy: firmware.mtuPolicy,
      send: (pdu, onSent) => link.sendL2cap(L2CAP_CID.att, pdu, onSent),
    });
    const session: LinkSession = { link, gatt, signal: (payload) => link.sendL2cap(L2CAP_CID.leSignaling, payload) };
    firmware.onConnected(session);
    this.advertisingChanged();
    return {
      onL2cap: (cid, payload) => {
        if (this.#firmware !== firmware) return;
        this.#onL2cap(session, cid, payload);
      },
      onParametersChanged: () => undefined,
      onDisconnected: (reason) => {
        this.#links.delete(link);
        if (this.#firmware === firmware) {
          firmware.onDisconnected(session, reason);
          this.advertisingChanged();
        }
      },
    };
  }

  #onL2cap(session: LinkSession, cid: number, payload: Uint8Array): void {
    switch (cid) {
      case L2CAP_CID.att:
        session.gatt.receive(payload);
        return;
      case L2CAP_CID.leSignaling: {
        let command;
        try {
          command = decodeSignalingCommand(payload);
        } catch {
          return;
        }
        if (command.kind === 'connectionParameterUpdateResponse' || command.kind === 'commandReject') return;
        session.signal(
          encodeSignalingCommand({
            kind: 'commandReject',
            identifier: command.identifier,
            reason: COMMAND_REJECT_REASONS.commandNotUnderstood,
            data: new Uint8Array(0),
          }),
        );
        return;
      }
      case L2CAP_CID.smp:
        if (payload[0] === SMP_CODES.pairingRequest || payload[0] === SMP_CODES.securityRequest) {
          session.link.sendL2cap(L2CAP_CID.smp, encodeSmpPairingFailed(SMP_REASON_PAIRING_NOT_SUPPORTED));
        }
        return;
      default:
        return;
    }
  }

  /**
   * Resets the chip: links drop without a terminate, then (after boot time and any image
   * activation) the application or the bootloader starts.
   */
  reset(options: { readonly enterBootloader?: boolean } = {}): void {
    this.#resets++;
    if (options.enterBootloader === true) this.chip.retained.enterBootloader = true;
    this.#firmware?.stop();
    this.#firmware = undefined;
    for (const link of this.#links) link.vanish();
    this.#links.clear();
    this.advertisingChanged();
    const activationMs = this.#activate();
    this.#o.scheduler.after(this.#o.bootMs + activationMs, () => {
      this.#firmware = this.#start();
      this.advertisingChanged();
    }, `${this.label}: boot`);
  }

  /** What the bootloader does first after a reset: install a received image. Returns its cost. */
  #activate(): number {
    const s = this.chip.settings;
    const p = s.pending;
    if (p === undefined) return 0;
    s.pending = undefined;
    const flash = this.chip.flash;
    const image = flash.read(p.bankAddress, p.size);
    let cost = 0;
    const copy = (to: number, bytes: Uint8Array): InstalledImage => {
      if (to !== p.bankAddress) cost += flash.program(to, bytes);
      return imageIdentity(bytes, p.fwVersion);
    };
    /**
     * What the SDK 15.3–17 bootloader does with a new SoftDevice. nrf_dfu_validation.c
     * (postvalidate_sd_bl) invalidates the application when the SoftDevice's major version changes
     * (or none was installed), since the application may not run on it; an application also
     * cannot stay valid if the new SoftDevice no longer ends where it starts. Then
     * nrf_bootloader_fw_activation.c returns ACTIVATION_SUCCESS_EXPECT_ADDITIONAL_UPDATE only when
     * an application is still valid: the bootloader stays in DFU mode for
     * NRF_BL_DFU_CONTINUATION_TIMEOUT_MS waiting for it, then starts the old application. Without a
     * valid application it resets into DFU mode and stays there (its inactivity timeout only
     * brings it back to DFU mode). Bootloader-only and application images end in
     * ACTIVATION_SUCCESS: a reset that starts the (valid) application.
     */
    const installSoftDevice = (sd: Uint8Array): void => {
      const before = this.chip.softDeviceMajor();
      const after = softDeviceMajorVersion(sd);
      const majorUpdate = after !== undefined && after !== before;
      s.softDevice = copy(LAYOUT.softDeviceStart, sd);
      s.appValid = s.appValid && !majorUpdate && this.chip.softDeviceEnd() === LAYOUT.appStart;
      this.chip.retained.continuation = s.appValid;
      this.chip.retained.enterBootloader = true;
    };
    const installed = (): InstalledImage | undefined => {
      if (p.fwType === FW_TYPE.APPLICATION) return s.app;
      if (p.fwType === FW_TYPE.SOFTDEVICE) return s.softDevice;
      return p.fwType === FW_TYPE.BOOTLOADER || p.fwType === FW_TYPE.SOFTDEVICE_BOOTLOADER ? s.bootloader : undefined;
    };
    switch (p.fwType) {
      case FW_TYPE.APPLICATION:
        s.app = copy(LAYOUT.appStart, image);
        s.appValid = true;
        if (!p.isDebug && p.fwVersion !== undefined) s.appVersion = p.fwVersion;
        break;
      case FW_TYPE.SOFTDEVICE:
        installSoftDevice(image);
        break;
      case FW_TYPE.BOOTLOADER:
        s.bootloader = copy(LAYOUT.bootloaderStart, image);
        if (!p.isDebug && p.fwVersion !== undefined) s.bootloaderVersion = p.fwVersion;
        break;
      case FW_TYPE.SOFTDEVICE_BOOTLOADER:
        installSoftDevice(image.subarray(0, p.sdSize));
        s.bootloader = copy(LAYOUT.bootloaderStart, image.subarray(p.sdSize));
        if (!p.isDebug && p.fwVersion !== undefined) s.bootloaderVersion = p.fwVersion;
        break;
      default:
        break;
    }
    const activated = installed();
    if (activated !== undefined) for (const l of this.#activationListeners) l({ fwType: p.fwType, sha256: activated.sha256 });
    return cost + this.chip.saveSettings();
  }

  #start(): Firmware {
    const r = this.chip.retained;
    const s = this.chip.settings;
    const app = s.app;
    const legacy = this.#o.legacy;
    if (legacy !== undefined) return this.#startLegacy(legacy);
    if (r.enterBootloader || !s.appValid || app === undefined) {
      const bootloader = new Bootloader({
        chip: this.chip,
        scheduler: this.#o.scheduler,
        appAddress: this.#o.address,
        target: this.#o.target,
        inactivityTimeoutMs: this.#o.inactivityTimeoutMs,
        continuationTimeoutMs: this.#o.continuationTimeoutMs,
        faults: this.#o.faults,
        reset: () => this.reset(),
        onDataWrite: (w) => {
          for (const l of this.#dataWriteListeners) l(w);
        },
      });
      r.enterBootloader = false;
      r.continuation = false;
      this.#o.logger?.debug({ device: this.label, address: bootloader.address.value }, 'sim: bootloader started');
      return bootloader;
    }
    // The application erases the name buttonless stored for the bootloader when it boots normally.
    s.advName = undefined;
    this.#o.logger?.debug({ device: this.label }, 'sim: application started');
    return new Application({
      address: this.#o.address,
      name: this.#o.name,
      advertisingIntervalMs: this.#o.appAdvertisingIntervalMs,
      image: app,
      softDeviceFwid: this.chip.softDeviceFwid(),
      ...(this.#o.initial?.appDfu === undefined ? {} : { dfu: this.#o.initial.appDfu }),
      setBootloaderName: (name) => {
        s.advName = name;
      },
      defer: (fn) => this.#o.scheduler.after(0, fn, `${this.label}: buttonless`),
      enterBootloader: () => this.reset({ enterBootloader: true }),
    });
  }

  /** The legacy board's firmware: its bootloader when asked for or without a valid application, else the application. */
  #startLegacy(legacy: LegacyDeviceOptions): Firmware {
    const r = this.chip.retained;
    const s = this.chip.settings;
    const app = s.app;
    if (r.enterBootloader || !s.appValid || app === undefined) {
      r.enterBootloader = false;
      r.continuation = false;
      const bootloader = new LegacyBootloader({
        variant: legacy.variant,
        chip: this.chip,
        scheduler: this.#o.scheduler,
        appAddress: this.#o.address,
        target: legacy.target,
        inactivityTimeoutMs: this.#o.inactivityTimeoutMs,
        faults: this.#o.faults,
        reset: () => this.reset(),
        onDataWrite: (w) => {
          for (const l of this.#legacyWriteListeners) l(w);
        },
      });
      this.#o.logger?.debug({ device: this.label, address: bootloader.address.value, variant: legacy.variant }, 'sim: legacy bootloader started');
      return bootloader;
    }
    // The application reuses the RAM where the bootloader kept the peer data.
    r.legacyPeer = undefined;
    this.#o.logger?.debug({ device: this.label }, 'sim: legacy application started');
    return new LegacyApplication({
      address: this.#o.address,
      name: this.#o.name,
      advertisingIntervalMs: this.#o.appAdvertisingIntervalMs,
      image: app,
      softDeviceFwid: this.chip.softDeviceFwid(),
      entry: legacy.entry,
      after: (ms, fn) => this.#o.scheduler.after(ms, fn, `${this.label}: legacy buttonless`),
      enterBootloader: (peer) => {
        r.legacyPeer = peer;
        this.reset({ enterBootloader: true });
      },
    });
  }
}
