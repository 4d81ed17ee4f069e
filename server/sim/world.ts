/**
 * The simulated world: one air, the simulated nRF5 devices on it, and a virtual HCI controller
 * per host transport opened. Several worlds can live in one process; nothing here is global.
 */
import { offsetLastOctet, parseAddress, type DeviceAddress } from '../ble/address.js';
import { BledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { ByteDuplex } from '../transport/types.js';
import { SimAir } from './air.js';
import { VirtualController } from './controller/controller.js';
import { serialNumberOf, type AppDfu } from './devices/application.js';
import type { InstalledImage } from './devices/chip.js';
import { loadPolicyKey } from './devices/initValidation.js';
import { ADAFRUIT, DEVICE_INFO_EMPTY } from './devices/legacy/initCheck.js';
import type { LegacyEntry } from './devices/legacy/application.js';
import { LEGACY_REVISION } from './devices/legacy/protocol.js';
import { LEGACY_CRC_BYTES_PER_MS } from './devices/legacy/target.js';
import { NrfDevice, type DeviceMode, type LegacyDeviceOptions } from './devices/nrfDevice.js';
import { parseFaultSpec } from './faultSpec.js';
import { SimFaults, type SimFault } from './faults.js';
import { trustedKeyFromFile } from './keyFile.js';
import { DEFAULT_SIM_KEY, isSimKeyName, simPublicKey } from './keys.js';
import { DEFAULT_RADIO, type RadioConfig } from './radio.js';
import { SimScheduler } from './scheduler.js';
import { SerialLine, serialLinePair } from './serialLine.js';

/**
 * Which DFU a simulated board speaks: the SDK 17 Secure DFU bootloader with its buttonless
 * application (the default), or a legacy one (devices/legacy/): nRF5 SDK 11's dual-bank
 * bootloader ("DfuTarg") or the Adafruit nRF52 bootloader ("AdaDFU", single bank, device type
 * 0x0052), each with an application carrying the legacy DFU service for buttonless entry.
 */
export const SIM_DEVICE_KINDS = ['secure', 'legacy-sdk11', 'legacy-adafruit'] as const;
export type SimDeviceKind = (typeof SIM_DEVICE_KINDS)[number];
export const LEGACY_ENTRIES = ['address+1', 'same-address', 'directed'] as const satisfies readonly LegacyEntry[];

export interface SimDeviceConfig {
  /** Application address (random static); the bootloader uses address + 1. */
  readonly address: string;
  /** Secure DFU (default) or a legacy bootloader. */
  readonly kind: SimDeviceKind;
  /**
   * Legacy boards: where the bootloader is found after buttonless entry: 'address+1' (the
   * application had no bond to share), 'same-address' (bond shared, whitelisted advertising),
   * 'directed' (bond shared with a central without IRK: directed advertising toward it).
   */
  readonly legacyEntry: LegacyEntry;
  /**
   * SDK 11 legacy boards: the device type and revision in UICR that the bootloader checks init
   * packets against (0xFFFF, erased, accepts any). The Adafruit bootloader always wants 0x0052.
   */
  readonly uicrDeviceType: number;
  readonly uicrDeviceRevision: number;
  /**
   * SDK 11-style legacy boards: the DFU Revision the bootloader reports, 0x0005 (SDK 7) to 0x0008
   * (SDK 10/11, the default), or 0 for an SDK ≤ 6 bootloader (no DFU Revision characteristic,
   * DFU v1: application only, 4-byte size packet, CRC-only init packet). Adafruit's is 0x0008.
   */
  readonly legacyRevision: number;
  readonly name: string;
  /** dBm reported in advertising reports. */
  readonly rssi: number;
  /** Trusted public key: a name from keys.ts or PEM text. Default the project's demo key (bledfu-demo). */
  readonly key: string;
  /** Debug bootloader (skips version checks for is_debug packets), like the DK image. */
  readonly debugBootloader: boolean;
  /** NRF_DFU_REQUIRE_SIGNED_APP_UPDATE. */
  readonly requireSignedApp: boolean;
  /** Data progress after a disconnect: 'keep' (SAVE_PROGRESS_IN_FLASH=1) or 'reload' (SDK 16+ default). */
  readonly progressOnDisconnect: 'keep' | 'reload';
  readonly hwVersion: number;
  readonly appAdvertisingIntervalMs: number;
  /** FWID of the installed SoftDevice; default 0x0100 (S140 7.2.0, as on the DK image). */
  readonly softDeviceFwid: number;
  /** false: the board has only its bootloader (no valid application) and stays in DFU mode. */
  readonly validApp: boolean;
  /** Starts in DFU mode; with a valid application it goes back to it after the inactivity timeout. */
  readonly startInBootloader: boolean;
  /**
   * The installed application's version in the bootloader settings (default 1, the DK image's):
   * a release bootloader (debugBootloader false, or a package without is_debug) refuses an
   * application package with a lower fw_version (FW_VERSION_FAILURE).
   */
  readonly appVersion: number;
  /**
   * NRF_DFU_APP_ACCEPT_SAME_VERSION (SDK 17, default true): false makes the bootloader refuse an
   * application of the version it already holds, like a unit already updated on a production line.
   */
  readonly acceptSameAppVersion: boolean;
  /**
   * The DFU its application offers: 'buttonless' (8EC90003, the default), 'bonded-buttonless'
   * (8EC90004; the simulator does not pair, so a DFU cannot enter the bootloader through it) or
   * 'none' (an application without DFU: only a button press at power-on, startInBootloader,
   * reaches its bootloader).
   */
  readonly appDfu: AppDfu;
}

/**
 * The dongle a `sim:` adapter uses: the virtual HCI controller, or a Nordic connectivity-firmware
 * dongle speaking SoftDevice API v5 or v6 (built by the adapter registry, not by the world).
 */
export type SimDongleKind = { readonly kind: 'hci' } | { readonly kind: 'nrf'; readonly api: 5 | 6 };

export interface SimConfig {
  readonly dongle: SimDongleKind;
  /** The simulated devices; default one device. */
  readonly devices: readonly Partial<SimDeviceConfig>[];
  /** 1 = real time (demo); Infinity = as fast as possible (tests, CI). Default Infinity. */
  readonly speed: number;
  /** Public address of the first virtual controller (later ones count up). */
  readonly controllerAddress: string;
  /** LE ACL buffers the controller announces, shared by all its links: 251 bytes × 8 (`sim:?acl=8x251`). */
  readonly aclDataLength: number;
  readonly aclBuffers: number;
  /** Opcodes the virtual controller advertises but never answers (ControllerOptions.unansweredCommands). */
  readonly unansweredCommands?: readonly number[];
  /** Opcodes left out of the virtual controller's Supported_Commands (ControllerOptions.withheldCommands). */
  readonly withheldCommands?: readonly number[];
  /** false: the controller has no public address (Read BD_ADDR answers zeros, like Zephyr's hci_uart). */
  readonly publicAddress?: false;
  /** A static random address the controller offers via Zephyr's vendor "Read Static Addresses" (it then reports itself as Zephyr). */
  readonly vendorStaticAddress?: string;
  /**
   * The virtual HCI controller's UART, baud (`sim:?baud=N`): H4 bytes cross at 10 bits per byte,
   * each direction on its own (serialLine.ts). 0 = instantly. Default 1 000 000, like `hci:`.
   */
  readonly baud: number;
  /** Links the virtual controller holds at once (`sim:?links=16`); more are refused (ControllerOptions.linkLimit). Default no limit. */
  readonly linkLimit?: number;
  /** Largest LL payload the virtual controller supports with DLE (ControllerOptions.maxDataLength; Zephyr's default 27). Default 251. */
  readonly controllerMaxDataLength?: number;
  /** Link-layer numbers (IFS, event length, data lengths). */
  readonly radio: RadioConfig;
  /** Bootloader timers (spec §8.2). */
  readonly inactivityTimeoutMs: number;
  readonly continuationTimeoutMs: number;
  /** Reset-to-advertising time of a chip, excluding image activation. */
  readonly bootMs: number;
  /** SHA-256 throughput of the final Execute, bytes per ms (UNVERIFIED; CC310-class). */
  readonly sha256BytesPerMs: number;
  /**
   * A PEM file (P-256, public or private key) whose public key every device trusts unless its own
   * config names a key: the user's own signing key (`sim:?keyfile=PATH`). Read once, when the
   * world is created, so an adapter that reopens keeps the key it started with.
   */
  readonly keyFile?: string;
  /**
   * Faults armed when the world is created (`sim:?fault=…`, see faultSpec.ts): each fires as
   * world.faults.inject() would make it, once unless it says otherwise.
   */
  readonly faults?: readonly SimFault[];
}

export const DEFAULT_SIM_CONFIG: SimConfig = {
  dongle: { kind: 'hci' },
  devices: [{}],
  speed: Number.POSITIVE_INFINITY,
  controllerAddress: '00:1B:DC:F0:00:01',
  aclDataLength: 251,
  aclBuffers: 8,
  baud: 1_000_000,
  radio: DEFAULT_RADIO,
  inactivityTimeoutMs: 120_000,
  continuationTimeoutMs: 10_000,
  bootMs: 50,
  sha256BytesPerMs: 20_000,
};

/**
 * Defaults of device `index` (0-based): F0:0D:C0:DE:00:01 "bledfu-sim-1", F0:0D:C0:DE:00:03
 * "bledfu-sim-2", … Odd last octets only: each bootloader advertises at its app's address + 1
 * (spec §4.2), which must not be another device's application.
 */
export function defaultDeviceConfig(index: number): SimDeviceConfig {
  const n = index + 1;
  const hex = (v: number): string => v.toString(16).padStart(2, '0').toUpperCase();
  return {
    address: `F0:0D:C0:DE:${hex(index >> 7)}:${hex(((2 * index) & 0xff) + 1)}`,
    kind: 'secure',
    legacyEntry: 'address+1',
    uicrDeviceType: DEVICE_INFO_EMPTY,
    uicrDeviceRevision: DEVICE_INFO_EMPTY,
    legacyRevision: LEGACY_REVISION.sdk11Bootloader,
    name: `bledfu-sim-${n}`,
    rssi: -40 - 3 * index,
    key: DEFAULT_SIM_KEY,
    debugBootloader: true,
    requireSignedApp: true,
    progressOnDisconnect: 'keep',
    hwVersion: 52,
    appAdvertisingIntervalMs: 100,
    softDeviceFwid: 0x0100,
    validApp: true,
    startInBootloader: false,
    appVersion: 1,
    acceptSameAppVersion: true,
    appDfu: 'buttonless',
  };
}

export interface SimDeviceImages {
  readonly application: InstalledImage | undefined;
  readonly applicationValid: boolean;
  readonly softDevice: InstalledImage | undefined;
  readonly softDeviceFwid: number | undefined;
  readonly bootloader: InstalledImage | undefined;
  readonly appVersion: number;
  readonly bootloaderVersion: number;
}

/** A device as tests and the demo see it. */
export interface SimDeviceView {
  readonly label: string;
  /** The application's address. */
  readonly address: DeviceAddress;
  /** Which DFU it speaks (SimDeviceConfig.kind). */
  readonly kind: SimDeviceKind;
  /** What it advertises now (address + 1 in the bootloader). */
  currentAddress(): DeviceAddress;
  currentName(): string;
  mode(): DeviceMode;
  /** Firmware Revision String of the installed application ("app v1 7f030207"). */
  firmwareRevision(): string | undefined;
  /** Serial Number String its application reports in Device Information ("SIM-F00DC0DE0001"). */
  readonly serialNumber: string;
  images(): SimDeviceImages;
  resets(): number;
  /** The underlying device, for white-box tests of the simulator itself. */
  readonly device: NrfDevice;
}

/** A dongle other than the virtual HCI controller, as the world sees it. */
export interface AttachedDongle {
  /** Something is under way that needs modelled time to move (bytes on its serial line). */
  readonly busy: boolean;
  /** Pulled out: close the line; the links it had on the air are gone. */
  unplug(): void;
}

export interface SimWorld {
  /**
   * A new virtual controller on this world's air; the HCI backend attaches to the returned end.
   * Throws ADAPTER_UNAVAILABLE while the dongle is unplugged, as opening a missing port does.
   */
  openHostTransport(): ByteDuplex;
  /**
   * Pulls the virtual dongle out: every host transport fails with TRANSPORT_CLOSED and the links
   * on the air end (the devices see a supervision timeout and keep their flash).
   */
  unplugDongle(): void;
  /** Plugs it back in: the next openHostTransport() gets a fresh controller with the same address. */
  replugDongle(): void;
  /** Calls `listener` at every replugDongle() (as a hotplug event would). Returns the unsubscribe function. */
  onPlugged(listener: () => void): () => void;
  readonly donglePlugged: boolean;
  /**
   * Puts another kind of dongle on this world (the simulated connectivity-firmware dongle): it is
   * pulled out by unplugDongle() and close() like the virtual controllers, and keeps modelled time
   * running while it says it is busy. Returns the detach function.
   */
  attachDongle(dongle: AttachedDongle): () => void;
  readonly devices: readonly SimDeviceView[];
  readonly faults: SimFaults;
  readonly scheduler: SimScheduler;
  readonly air: SimAir;
  nowMs(): number;
  close(): Promise<void>;
}

/** What a simulated device shares with the others of its world, whatever radio carries it. */
export interface SimDeviceEnvironment {
  readonly scheduler: SimScheduler;
  readonly faults: SimFaults;
  readonly timing: Pick<SimConfig, 'inactivityTimeoutMs' | 'continuationTimeoutMs' | 'bootMs' | 'sha256BytesPerMs'>;
  readonly logger?: Logger;
}

/** A legacy board's bootloader: SDK 11's dual bank with its UICR check, or Adafruit's single bank. */
function legacyOptions(d: SimDeviceConfig): LegacyDeviceOptions {
  const adafruit = d.kind === 'legacy-adafruit';
  return {
    variant: adafruit ? 'adafruit' : 'sdk11',
    entry: d.legacyEntry,
    target: {
      revision: adafruit ? LEGACY_REVISION.sdk11Bootloader : d.legacyRevision,
      banks: adafruit ? 'single' : 'dual',
      initCheck: adafruit ? { kind: 'adafruit', deviceType: ADAFRUIT.deviceType } : { kind: 'sdk11', deviceType: d.uicrDeviceType, deviceRevision: d.uicrDeviceRevision },
      maxInitPacket: adafruit ? 64 : 128,
      crcBytesPerMs: LEGACY_CRC_BYTES_PER_MS,
    },
  };
}

/**
 * Device `index` of a world (defaults from defaultDeviceConfig, overridden by `partial`), not yet
 * on any radio: the caller attaches it (the simulated air, or a real controller's peripheral role).
 */
export function createSimDevice(index: number, partial: Partial<SimDeviceConfig>, env: SimDeviceEnvironment): SimDeviceView {
  const d: SimDeviceConfig = { ...defaultDeviceConfig(index), ...partial };
  const address = parseAddress(d.address, 'random');
  const faultDevice = { label: d.name, appAddress: address.value };
  const hooks = env.faults.dfuHooks(faultDevice);
  const device = new NrfDevice({
    label: d.name,
    address,
    name: d.name,
    rssi: d.rssi,
    appAdvertisingIntervalMs: d.appAdvertisingIntervalMs,
    target: {
      hwVersion: d.hwVersion,
      debug: d.debugBootloader,
      requireSignedApp: d.requireSignedApp,
      acceptSameAppVersion: d.acceptSameAppVersion,
      publicKey: loadPolicyKey(simPublicKey(d.key)),
      maxInitPacket: 512,
      dataObjectMax: 4096,
      progressOnDisconnect: d.progressOnDisconnect,
      sha256BytesPerMs: env.timing.sha256BytesPerMs,
    },
    inactivityTimeoutMs: env.timing.inactivityTimeoutMs,
    continuationTimeoutMs: env.timing.continuationTimeoutMs,
    bootMs: env.timing.bootMs,
    scheduler: env.scheduler,
    faults: { ...hooks, isAbsent: () => env.faults.isAbsent(faultDevice) },
    initial: { softDeviceFwid: d.softDeviceFwid, appValid: d.validApp, inBootloader: d.startInBootloader, appVersion: d.appVersion, appDfu: d.appDfu },
    ...(d.kind === 'secure' ? {} : { legacy: legacyOptions(d) }),
    ...(env.logger === undefined ? {} : { logger: env.logger }),
  });
  return {
    label: d.name,
    address,
    kind: d.kind,
    currentAddress: () => device.currentAddress,
    currentName: () => device.currentName,
    mode: () => device.mode,
    firmwareRevision: () => device.firmwareRevision,
    serialNumber: serialNumberOf(address),
    resets: () => device.resets,
    images: () => {
      const s = device.chip.settings;
      return {
        application: s.app,
        applicationValid: s.appValid,
        softDevice: s.softDevice,
        softDeviceFwid: device.chip.softDeviceFwid(),
        bootloader: s.bootloader,
        appVersion: s.appVersion,
        bootloaderVersion: s.bootloaderVersion,
      };
    },
    device,
  };
}

/**
 * A world on its own scheduler (at `config.speed`), or on `shared`: all the `sim:` adapters of one
 * server share one scheduler, the server's one clock (config.speed is then the shared one's).
 */
export function createSimWorld(config: Partial<SimConfig> = {}, logger?: Logger, shared?: SimScheduler): SimWorld {
  const c: SimConfig = { ...DEFAULT_SIM_CONFIG, ...config };
  const scheduler =
    shared ??
    new SimScheduler({
      speed: c.speed,
      onError: (error, label) => logger?.error({ err: error, event: label }, 'sim: event failed'),
    });
  const air = new SimAir(scheduler, c.radio, logger);
  const devices: NrfDevice[] = [];
  const faults = new SimFaults(() => {
    for (const d of devices) d.advertisingChanged();
  });
  air.faults = faults;
  const controllers: { controller: VirtualController; hostEnd: ByteDuplex; controllerEnd: ByteDuplex; line: SerialLine }[] = [];
  let plugged = true;

  const fileKey = c.keyFile === undefined ? undefined : trustedKeyFromFile(c.keyFile);
  const views: SimDeviceView[] = c.devices.map((partial, index) => {
    const config = fileKey === undefined ? partial : { key: fileKey, ...partial };
    const view = createSimDevice(index, config, { scheduler, faults, timing: c, ...(logger === undefined ? {} : { logger }) });
    devices.push(view.device);
    air.addPeripheral(view.device);
    return view;
  });
  faults.deviceOfLink = (link) => {
    const v = views.find((view) => view.device === link.peripheral);
    return v === undefined ? undefined : { label: v.label, appAddress: v.address.value };
  };
  for (const fault of c.faults ?? []) faults.inject(fault);

  const attached = new Set<AttachedDongle>();
  const pluggedListeners = new Set<() => void>();
  const removeProbe = scheduler.addLivenessProbe(() => {
    if (air.busy) return true;
    for (const { line } of controllers) if (line.busy) return true;
    for (const d of attached) if (d.busy) return true;
    return false;
  });
  let closed = false;

  return {
    devices: views,
    faults,
    scheduler,
    air,
    nowMs: () => scheduler.nowMs(),
    openHostTransport: () => {
      if (closed) throw new BledfuError('TRANSPORT_CLOSED', 'simulator world is closed', { layer: 'sim' });
      if (!plugged) {
        throw new BledfuError('ADAPTER_UNAVAILABLE', 'the simulated dongle is unplugged', { layer: 'sim', remedy: 'plug it back in (replugDongle)' });
      }
      const line = new SerialLine(scheduler, c.baud, 'hci uart');
      // Bytes arriving at the host are input it must get its turns to react to.
      const [hostEnd, controllerEnd] = serialLinePair(line, (direction) => {
        if (direction === 'toHost') scheduler.noteHostActivity();
      });
      const address = offsetLastOctet(parseAddress(c.controllerAddress, 'public'), controllers.length);
      const controller = new VirtualController({
        air,
        scheduler,
        address,
        aclDataLength: c.aclDataLength,
        aclBuffers: c.aclBuffers,
        identity: 'bledfu simulator',
        ...(c.unansweredCommands === undefined ? {} : { unansweredCommands: c.unansweredCommands }),
        ...(c.withheldCommands === undefined ? {} : { withheldCommands: c.withheldCommands }),
        ...(c.publicAddress === false ? { publicAddress: false } : {}),
        ...(c.vendorStaticAddress === undefined ? {} : { vendorStaticAddress: parseAddress(c.vendorStaticAddress, 'random') }),
        ...(c.linkLimit === undefined ? {} : { linkLimit: c.linkLimit }),
        ...(c.controllerMaxDataLength === undefined ? {} : { maxDataLength: c.controllerMaxDataLength }),
        ...(logger === undefined ? {} : { logger }),
      });
      controller.attach(controllerEnd);
      controllers.push({ controller, hostEnd, controllerEnd, line });
      return hostEnd;
    },
    unplugDongle: () => {
      plugged = false;
      // Closed from the controller's side, so the host reads "closed by the far end" like a
      // serial port whose device vanished. Forgotten, so the replugged one gets the same address.
      for (const { controller, controllerEnd } of controllers.splice(0)) {
        controller.detach();
        void controllerEnd.close();
      }
      for (const d of [...attached]) d.unplug();
    },
    attachDongle: (dongle) => {
      attached.add(dongle);
      return () => {
        attached.delete(dongle);
      };
    },
    replugDongle: () => {
      plugged = true;
      for (const l of [...pluggedListeners]) l();
    },
    onPlugged: (listener) => {
      pluggedListeners.add(listener);
      return () => {
        pluggedListeners.delete(listener);
      };
    },
    get donglePlugged() {
      return plugged;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const { controller, hostEnd } of controllers) {
        controller.detach();
        await hostEnd.close();
      }
      for (const d of [...attached]) d.unplug();
      air.close();
      removeProbe();
      // A shared scheduler is the server's clock: its owner closes it.
      if (shared === undefined) scheduler.close();
    },
  };
}

const truthy = (v: string): boolean => v === '1' || v === 'true' || v === 'yes';

/**
 * Simulated controllers that behave like real ones (docs/controllers.md), so their quirks stay
 * tested on every backend feature: `sim:?controller=zephyr` is Zephyr's hci_uart on an nRF52840
 * dongle (no public address, a static address offered through Zephyr's vendor Read Static
 * Addresses, 7 shared LE ACL buffers of 27 bytes); `btvirt-like` has BlueZ btvirt's single
 * 192-byte buffer; `default` is the roomy simulated controller. An explicit `acl=` wins.
 */
export const CONTROLLER_PROFILES = {
  default: {},
  zephyr: { publicAddress: false, vendorStaticAddress: 'D3:C0:5E:F0:00:01', aclBuffers: 7, aclDataLength: 27, linkLimit: 16, controllerMaxDataLength: 27 },
  'btvirt-like': { aclBuffers: 1, aclDataLength: 192 },
} as const satisfies Record<string, Partial<SimConfig>>;

export type ControllerProfileName = keyof typeof CONTROLLER_PROFILES;

function isControllerProfileName(name: string): name is ControllerProfileName {
  return Object.hasOwn(CONTROLLER_PROFILES, name);
}

/** Every parameter parseSimSpec accepts, in the order errors and `bledfud --help` name them. */
export const SIM_SPEC_PARAMETERS = [
  'devices',
  'first',
  'rssi',
  'speed',
  'key',
  'keyfile',
  'progress',
  'debug',
  'signedApp',
  'dongle',
  'api',
  'fault',
  'acl',
  'controller',
  'links',
  'baud',
  'kind',
  'entry',
] as const;

/**
 * Adapter specs such as `sim:`, `sim:?devices=3&speed=1&key=sdk17.0.2&progress=reload&debug=0`,
 * `sim:?keyfile=k.pem` (the bootloaders trust the P-256 key in that PEM file, public or private;
 * read when the adapter is created, not here: this function only parses),
 * `sim:?dongle=nrf&api=5` (a connectivity-firmware dongle instead of the HCI controller; API v6
 * unless api says otherwise), `sim:?devices=2&first=3&rssi=-70` (devices 3 and 4 of the default
 * numbering, "bledfu-sim-3" and "bledfu-sim-4", so several simulated servers show different
 * devices; every device reported at -70 dBm), `sim:?fault=droplink:20000&fault=absent@bledfu-sim-2`
 * (faults armed from the start, faultSpec.ts; a device a fault names must be one of this spec's),
 * `sim:?kind=legacy-adafruit&entry=directed` (legacy DFU devices, devices/legacy/).
 * Unknown parameters are errors: a typo should not silently give the defaults.
 */
export function parseSimSpec(spec: string): Partial<SimConfig> {
  const m = /^sim:(?:\/\/)?([^?]*)(?:\?(.*))?$/.exec(spec.trim());
  if (m === null) {
    throw new BledfuError('INVALID_ARGUMENT', `not a simulator spec: "${spec}"`, { layer: 'sim', remedy: 'write e.g. "sim:" or "sim:?devices=2&speed=1"' });
  }
  const params = new URLSearchParams(m[2] ?? '');
  let count = 1;
  let first = 1;
  let speed: number | undefined;
  let dongle: 'hci' | 'nrf' | undefined;
  let api: 5 | 6 | undefined;
  let keyFile: string | undefined;
  let acl: { aclBuffers: number; aclDataLength: number } | undefined;
  let profile: ControllerProfileName | undefined;
  let links: number | undefined;
  let baud: number | undefined;
  const faults: SimFault[] = [];
  const device: { -readonly [K in keyof SimDeviceConfig]?: SimDeviceConfig[K] } = {};
  const bad = (key: string, value: string): BledfuError =>
    new BledfuError('INVALID_ARGUMENT', `simulator spec: bad value "${value}" for ${key}`, { layer: 'sim' });
  for (const [key, value] of params) {
    switch (key) {
      case 'devices': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0 || n > 64) throw bad(key, value);
        count = n;
        break;
      }
      case 'first': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1 || n > 32_000) throw bad(key, value);
        first = n;
        break;
      }
      case 'rssi': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < -127 || n > 20) throw bad(key, value);
        device.rssi = n;
        break;
      }
      case 'speed': {
        const n = value === 'max' || value === 'inf' || value === 'Infinity' ? Number.POSITIVE_INFINITY : Number(value);
        if (!(n > 0)) throw bad(key, value);
        speed = n;
        break;
      }
      case 'key':
        if (!isSimKeyName(value)) throw bad(key, value);
        device.key = value;
        break;
      case 'keyfile':
        if (value.trim() === '') throw bad(key, value);
        keyFile = value;
        break;
      case 'progress':
        if (value !== 'keep' && value !== 'reload') throw bad(key, value);
        device.progressOnDisconnect = value;
        break;
      case 'debug':
        device.debugBootloader = truthy(value);
        break;
      case 'signedApp':
        device.requireSignedApp = truthy(value);
        break;
      case 'dongle':
        if (value !== 'hci' && value !== 'nrf') throw bad(key, value);
        dongle = value;
        break;
      case 'api':
        if (value !== '5' && value !== '6') throw bad(key, value);
        api = value === '5' ? 5 : 6;
        break;
      case 'fault':
        faults.push(parseFaultSpec(value));
        break;
      case 'acl': {
        // BUFFERSxLENGTH, as LE Read Buffer Size reports them: e.g. 3x27 for a Zephyr hci_uart
        // default. 27 is the least an LE controller may announce (Core Vol 4, Part E, 7.8.2).
        const a = /^(\d{1,3})x(\d{2,3})$/.exec(value);
        const buffers = Number(a?.[1]);
        const length = Number(a?.[2]);
        if (a === null || buffers < 1 || buffers > 255 || length < 27 || length > 251) throw bad(key, value);
        acl = { aclBuffers: buffers, aclDataLength: length };
        break;
      }
      case 'controller':
        if (!isControllerProfileName(value)) throw bad(key, value);
        profile = value;
        break;
      case 'links': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1 || n > 64) throw bad(key, value);
        links = n;
        break;
      }
      case 'baud': {
        // 0: bytes cross instantly (the model before the UART had a speed).
        const n = Number(value);
        if (!/^\d+$/.test(value) || n > 16_000_000) throw bad(key, value);
        baud = n;
        break;
      }
      case 'kind':
        if (!(SIM_DEVICE_KINDS as readonly string[]).includes(value)) throw bad(key, value);
        device.kind = value as SimDeviceKind;
        break;
      case 'entry':
        if (!(LEGACY_ENTRIES as readonly string[]).includes(value)) throw bad(key, value);
        device.legacyEntry = value as LegacyEntry;
        break;
      default:
        throw new BledfuError('INVALID_ARGUMENT', `simulator spec: unknown parameter "${key}"`, {
          layer: 'sim',
          remedy: `known parameters: ${SIM_SPEC_PARAMETERS.join(', ')}`,
        });
    }
  }
  if (api !== undefined && dongle !== 'nrf') {
    throw new BledfuError('INVALID_ARGUMENT', 'simulator spec: api= applies only to dongle=nrf', {
      layer: 'sim',
      remedy: 'write e.g. "sim:?dongle=nrf&api=5"',
    });
  }
  if (profile !== undefined && dongle === 'nrf') {
    throw new BledfuError('INVALID_ARGUMENT', 'simulator spec: controller= applies only to the HCI controller, not dongle=nrf', {
      layer: 'sim',
      remedy: 'write e.g. "sim:?controller=zephyr"',
    });
  }
  if (acl !== undefined && dongle === 'nrf') {
    throw new BledfuError('INVALID_ARGUMENT', 'simulator spec: acl= applies only to the HCI controller, not dongle=nrf', {
      layer: 'sim',
      remedy: 'write e.g. "sim:?acl=3x27"',
    });
  }
  if (links !== undefined && dongle === 'nrf') {
    throw new BledfuError('INVALID_ARGUMENT', 'simulator spec: links= applies only to the HCI controller, not dongle=nrf', {
      layer: 'sim',
      remedy: 'write e.g. "sim:?links=2"; the nrf dongle takes its link count from the server (max= of the adapter)',
    });
  }
  if (baud !== undefined && dongle === 'nrf') {
    throw new BledfuError('INVALID_ARGUMENT', 'simulator spec: baud= applies only to the HCI controller, not dongle=nrf', {
      layer: 'sim',
      remedy: 'write e.g. "sim:?baud=115200"; the simulated nrf dongle\'s line runs at 1 Mbaud like the real one',
    });
  }
  if (keyFile !== undefined && device.key !== undefined) {
    throw new BledfuError('INVALID_ARGUMENT', 'simulator spec: give key= or keyfile=, not both', {
      layer: 'sim',
      remedy: 'key= names a built-in key (e.g. sdk17.0.2); keyfile= is the path of your own PEM key',
    });
  }
  // A fault aimed at a device this spec does not have would silently never fire.
  const names = Array.from({ length: count }, (_, i) => defaultDeviceConfig(first - 1 + i));
  for (const f of faults) {
    const target = f.device;
    if (target === undefined || names.some((d) => d.name === target || d.address === target.toUpperCase())) continue;
    const shown = JSON.stringify(target.length > 40 ? `${target.slice(0, 40)}…` : target);
    throw new BledfuError('INVALID_ARGUMENT', `simulator spec: a fault names device ${shown}, which this simulator does not have`, {
      layer: 'sim',
      remedy: count === 0 ? 'add devices=N, or leave out @DEVICE' : `name one of its devices (${names.map((d) => d.name).join(', ')}) or its address, or leave out @DEVICE for all of them`,
    });
  }
  return {
    devices: Array.from({ length: count }, (_, i) => {
      // Numbered from `first`: the address and name that device would have in a larger world.
      if (first === 1) return { ...device };
      const { address, name } = defaultDeviceConfig(first - 1 + i);
      return { address, name, ...device };
    }),
    ...(speed === undefined ? {} : { speed }),
    ...(faults.length === 0 ? {} : { faults }),
    ...(keyFile === undefined ? {} : { keyFile }),
    ...(profile === undefined ? {} : CONTROLLER_PROFILES[profile]),
    ...acl,
    ...(links === undefined ? {} : { linkLimit: links }),
    ...(baud === undefined ? {} : { baud }),
    ...(dongle === undefined ? {} : { dongle: dongle === 'nrf' ? { kind: 'nrf', api: api ?? 6 } : { kind: 'hci' } }),
  };
}
