/**
 * What every DFU engine offers the job layer, and the events it reports. Engines see Bluetooth
 * only through ble/ (Adapter, Connection), never a backend.
 */
import type { DeviceAddress } from '../ble/address.js';
import type { AnyDfuPackage, ImageKind, ImageSummary } from './package/images.js';

// What a package holds is the package codec's (package/images.ts), which needs none of the engine's
// types below: a program that only makes and reads packages (the TypeScript client) stops there.
export {
  IMAGE_KINDS,
  isLegacyPackage,
  packageProtocol,
  type AnyDfuPackage,
  type DfuPackage,
  type DfuProtocol,
  type ImageKind,
  type ImageSummary,
  type LegacyDfuPackage,
  type PackageImage,
} from './package/images.js';

export type DfuTarget =
  | { readonly kind: 'address'; readonly address: DeviceAddress }
  | { readonly kind: 'name'; readonly name: string };

export type ButtonlessMode = 'auto' | 'required' | 'off';

export interface DfuOptions {
  /**
   * Packet receipt notification interval; 0 = the transport's flow control paces the packets, and
   * the engine asks only for the PRN at each full object's last packet, in place of its CRC request.
   */
  readonly prn: number;
  /** ATT MTU to request. */
  readonly mtu: number;
  /**
   * Retries: resends of an object whose CRC does not match (so 1 + retries attempts per object),
   * and reconnects after a link loss. 0: the first failure ends the DFU.
   */
  readonly retries: number;
  readonly buttonless: ButtonlessMode;
  /** Looking for the device, and for the bootloader after a jump or reset. */
  readonly scanTimeoutMs: number;
  /** Waiting for each control point response. */
  readonly requestTimeoutMs: number;
  readonly disableResume: boolean;
  /** Pause before looking for the bootloader after a reset (the device reboots). */
  readonly rebootDelayMs: number;
  /**
   * When the application's Firmware Revision String (as DeviceInfo.firmwareRevision) equals this
   * exactly, the engine ends without touching the device (DfuOutcome.skipped). Undefined: never.
   */
  readonly skipIfFirmwareRevision?: string;
}

export const DEFAULT_DFU_OPTIONS: DfuOptions = {
  prn: 0,
  mtu: 247,
  retries: 3,
  buttonless: 'auto',
  scanTimeoutMs: 10_000,
  requestTimeoutMs: 20_000,
  disableResume: false,
  rebootDelayMs: 500,
};

/**
 * What an application reports in its Device Information service (0x180A), read before the
 * update: each string cleaned up and bounded (dfu/deviceInfo.ts); absent when the device has no
 * such characteristic or its read failed. All absent: the device was found in its bootloader, or
 * its application offers no Device Information.
 */
export interface DeviceInfo {
  readonly manufacturer?: string;
  readonly model?: string;
  readonly serialNumber?: string;
  readonly hardwareRevision?: string;
  readonly firmwareRevision?: string;
  readonly softwareRevision?: string;
}

/** Why a DFU ended without updating the device: its firmware revision was the one to skip. */
export type SkipReason = 'firmware-revision';

/** Phases a DFU goes through; the job layer turns them into job states. */
export type DfuPhase = 'connecting' | 'entering-bootloader' | 'transferring' | 'resuming' | 'activating';

/** Bytes the device has confirmed (by CRC/PRN), per image and over the package. */
export interface DfuProgress {
  readonly imageIndex: number;
  readonly imageCount: number;
  readonly imageKind: ImageKind;
  readonly imageBytesSent: number;
  readonly imageBytesTotal: number;
  /**
   * Bytes of this image the device already held when this run came to it (where a resume picked
   * up an earlier run's transfer); they were not sent by this run. Absent means 0.
   */
  readonly imageBytesAtStart?: number;
  readonly totalBytesSent: number;
  readonly totalBytesTotal: number;
}

export type DfuEvent =
  | { readonly kind: 'phase'; readonly phase: DfuPhase; readonly detail: string }
  /** The application (or bootloader) answering to the target was found at this address. */
  | { readonly kind: 'device'; readonly address: DeviceAddress }
  /** The device's bootloader was found (or found again) at this address, advertising this name. */
  | { readonly kind: 'bootloader'; readonly address: DeviceAddress; readonly name: string | undefined }
  /**
   * The device was reached (once per DFU, before anything is written to it): what its application
   * reported in its Device Information service, empty when it was found in its bootloader.
   */
  | { readonly kind: 'device-info'; readonly info: DeviceInfo }
  | ({ readonly kind: 'progress' } & DfuProgress);

/**
 * Where the device was found after the last image was activated: running an application, or
 * staying in its bootloader (DFU mode) — what a SoftDevice (+ bootloader) package without an
 * application leads to.
 */
export type DeviceState = 'application' | 'dfu-mode';

export interface DfuOutcome {
  /** Address of the updated device's application. */
  readonly address: DeviceAddress;
  /** Firmware Revision String the device reports afterwards, when it has one. */
  readonly firmwareRevision?: string;
  /** Where the device ended; absent when it was not seen after the last image. */
  readonly deviceState?: DeviceState;
  /**
   * Set when nothing was sent because the device is already up to date: its bootloader refused
   * the package's only image as not newer than the version it holds (FW_VERSION_FAILURE at the
   * init packet's Execute). The device keeps its application; `deviceState` and
   * `firmwareRevision` then say where it was seen afterwards and what it runs.
   */
  readonly upToDate?: UpToDate;
  /**
   * Set when the engine left the device as it was before asking its bootloader anything (its
   * firmware revision was DfuOptions.skipIfFirmwareRevision): the job ends up to date too.
   */
  readonly skipped?: SkipReason;
  /**
   * A sentence the job adds to its final detail when the outcome needs one: the final check was
   * skipped because a cancel came after the final Execute succeeded (the device is updated; no
   * deviceState), or the device came back in its application after the link was lost following
   * the final Execute (the image was activated; possibly not confirmable by its firmware revision).
   */
  readonly notice?: string;
}

/** The image a device refused as not newer than what it already holds (DfuOutcome.upToDate). */
export interface UpToDate {
  /** The refused image: its kind and the fw_version its init packet carries. */
  readonly image: ImageSummary;
}

/**
 * Where one device's bootloader was met: the server sent it there (buttonless entry) or found it
 * there. A retry by the application's name or address looks for this bootloader too, since a
 * device stays in DFU mode for minutes after a failed or cancelled update (forever without a
 * valid application).
 */
export interface RememberedDevice {
  /** The application's address, when known (a device met only in its bootloader may not say). */
  readonly appAddress: DeviceAddress | undefined;
  /** The application's advertised name, when known. */
  readonly appName: string | undefined;
  readonly bootloaderAddress: DeviceAddress;
  /** The name the bootloader advertised: the random "DfuNNNNN" a buttonless entry gave it, or "DfuTarg". */
  readonly bootloaderName: string | undefined;
  /** Milliseconds since the epoch. */
  readonly at: number;
}

/**
 * The server's memory of devices met in their bootloader, kept across restarts by the job layer.
 * The engine reads it to find a device by any of its names and records what it learns.
 */
export interface DeviceMemory {
  /** Entries for the device the target names (by application or bootloader name or address), newest first. */
  recall(target: DfuTarget): readonly RememberedDevice[];
  /**
   * Records (or refreshes) a device's entry, stamped with the memory's clock. An entry with the
   * same application or bootloader address is replaced; what the new one does not know (say, the
   * application's name) is kept from it.
   */
  remember(entry: Omit<RememberedDevice, 'at'>): void;
}

/**
 * A device a job is about to talk to, as the engine resolved it (before connecting): the address
 * that answered, and the addresses and names the same device has in its other mode.
 */
export interface DeviceClaim {
  readonly addresses: readonly DeviceAddress[];
  readonly names: readonly string[];
  /** For the job's events: e.g. "bledfu-sim-3 (F0:0D:C0:DE:00:05)". */
  readonly description: string;
}

export interface DfuContext {
  readonly signal: AbortSignal;
  /** The server's clock: every wait and timeout of the engine (real, or the simulator's modelled time). */
  readonly clock: import('../common/clock.js').Clock;
  readonly logger: import('../common/logger.js').Logger;
  readonly onEvent: (event: DfuEvent) => void;
  /** Devices met in their bootloader (absent: nothing remembered, e.g. unit tests). */
  readonly devices?: DeviceMemory;
  /**
   * Claims the device for this job before the engine connects to it. Resolves 'free' at once when
   * no other job is updating it, or 'waited' once the job that was has ended (the device may be
   * elsewhere now: look again). Rejects when the job is cancelled meanwhile. Absent: no other job
   * can interfere (unit tests).
   */
  readonly claimDevice?: (claim: DeviceClaim) => Promise<'free' | 'waited'>;
  /**
   * Where the engine says which phase of the job it is in (dfu/phases.ts), for the job's per-phase
   * times. Absent: the engine keeps its own (unit tests, benches that call the engine directly).
   */
  readonly phases?: import('./phases.js').PhaseRecorder;
}

/**
 * The shape of a DFU engine. The job layer calls a DfuRunner for a package of either protocol
 * (dfu/engine.ts chooses the engine from the package); each engine is a DfuRunner of its own
 * package type (DfuRunner<DfuPackage> for Secure DFU, DfuRunner<LegacyDfuPackage> for legacy).
 */
export type DfuRunner<P extends AnyDfuPackage = AnyDfuPackage> = (
  adapter: import('../ble/types.js').Adapter,
  pkg: P,
  target: DfuTarget,
  options: DfuOptions,
  context: DfuContext,
) => Promise<DfuOutcome>;
