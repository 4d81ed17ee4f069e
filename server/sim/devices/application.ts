/**
 * The nRF5 SDK buttonless example application (ble_app_buttonless_dfu, without bonds): advertises
 * its name and the Device Information service (as the SDK examples do; only the bootloader
 * advertises FE59), exposes GAP, GATT, Device Information (manufacturer, model, a serial number
 * per board, hardware and software revisions, and a Firmware Revision String that identifies the
 * running image) and the buttonless DFU characteristic 8EC90003 (spec §1.2, §4.1).
 *
 * Two variants tell an inventory apart from it (SimDeviceConfig.appDfu): the bonded buttonless
 * service 8EC90004 (ble_app_buttonless_dfu with bonds; the simulator does no pairing, so it
 * refuses every write with Insufficient Authentication, as such a device does to a central without
 * a bond), and an application without any DFU service.
 */
import { AD_FLAGS, AD_TYPES, encodeAdStructures } from '../../ble/advertising.js';
import type { DeviceAddress } from '../../ble/address.js';
import { CharProps } from '../../ble/types.js';
import { UUIDS, uuidToBytes } from '../../ble/uuid.js';
import { ATT_ERROR } from '../../host/att/errors.js';
import type { AdvertisingParams } from '../peripheral.js';
import type { InstalledImage } from './chip.js';
import type { Firmware, LinkSession } from './firmware.js';
import { GattDatabase, type MtuPolicy, type ServiceDef, type WriteContext } from './gattServer.js';

/** The identity string of an application image: "app v<fw_version> <first 8 hex of its SHA-256>". */
export function firmwareRevisionOf(image: InstalledImage): string {
  return `app v${image.fwVersion ?? 0} ${image.sha256.slice(0, 8)}`;
}

/** The simulated boards' Device Information that does not depend on the board or its image. */
export const SIM_DEVICE_INFO = {
  manufacturer: 'Nordic Semiconductor (simulated)',
  model: 'nRF52840 (bledfu simulator)',
  hardwareRevision: 'PCA10056 3.0.0 (simulated)',
} as const;

/**
 * A board's Serial Number String: "SIM-" and its application address without colons, so each
 * simulated board has its own, the same in every run (as a factory-programmed serial would be).
 */
export function serialNumberOf(address: DeviceAddress): string {
  return `SIM-${address.value.replace(/:/g, '')}`;
}

/** The Software Revision String: the SoftDevice the application runs on, by its FWID. */
export function softwareRevisionOf(softDeviceFwid: number | undefined): string {
  return softDeviceFwid === undefined ? 'no SoftDevice' : `SoftDevice FWID 0x${softDeviceFwid.toString(16).padStart(4, '0')}`;
}

export const BUTTONLESS = {
  enterBootloader: 0x01,
  setName: 0x02,
  response: 0x20,
} as const satisfies Record<string, number>;

export const BUTTONLESS_RESULT = {
  success: 0x01,
  opCodeNotSupported: 0x02,
  operationFailed: 0x04,
  invalidAdvName: 0x05,
} as const satisfies Record<string, number>;

/** What DFU the application offers: the buttonless service without bonds, with bonds, or none. */
export type AppDfu = 'buttonless' | 'bonded-buttonless' | 'none';

/** ATT Insufficient Authentication: a bonded service's answer to a central without a bond. */
const INSUFFICIENT_AUTHENTICATION = 0x05;

export interface ApplicationHooks {
  readonly address: DeviceAddress;
  /** Default 'buttonless'. */
  readonly dfu?: AppDfu;
  readonly name: string;
  readonly advertisingIntervalMs: number;
  readonly image: InstalledImage;
  /** FWID of the installed SoftDevice, for the Software Revision String. */
  readonly softDeviceFwid: number | undefined;
  /** Buttonless 0x02 stores the bootloader's advertising name. */
  setBootloaderName(name: string): void;
  /** Runs soon: lets the write response go out before the indication. */
  defer(fn: () => void): void;
  /** Disconnect done: reset into the bootloader. */
  enterBootloader(): void;
}

const textBytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * What the simulated applications share, whatever DFU service they add: the advertising data
 * (flags, DIS, name; only a bootloader advertises its DFU service) and GAP, GATT and Device
 * Information (manufacturer, model, a serial number per board, hardware and software revisions,
 * and the Firmware Revision String that identifies the running image).
 */
export function applicationAdvertisingData(name: string): Uint8Array {
  return encodeAdStructures([
    { type: AD_TYPES.flags, data: Uint8Array.of(AD_FLAGS.leGeneralDiscoverable | AD_FLAGS.brEdrNotSupported) },
    { type: AD_TYPES.completeUuid16, data: uuidToBytes(UUIDS.deviceInformationService) },
    { type: AD_TYPES.completeLocalName, data: textBytes(name) },
  ]);
}

export function applicationServices(o: {
  readonly name: string;
  readonly address: DeviceAddress;
  readonly firmwareRevision: string;
  readonly softDeviceFwid: number | undefined;
}): ServiceDef[] {
  return [
    {
      uuid: UUIDS.genericAccessService,
      characteristics: [
        { uuid: UUIDS.deviceName, properties: CharProps.read, read: () => textBytes(o.name) },
        { uuid: '2A01', properties: CharProps.read, read: () => Uint8Array.of(0, 0) },
      ],
    },
    { uuid: UUIDS.genericAttributeService, characteristics: [{ uuid: UUIDS.serviceChanged, properties: CharProps.indicate }] },
    {
      uuid: UUIDS.deviceInformationService,
      characteristics: [
        { uuid: UUIDS.manufacturerName, properties: CharProps.read, read: () => textBytes(SIM_DEVICE_INFO.manufacturer) },
        { uuid: UUIDS.modelNumber, properties: CharProps.read, read: () => textBytes(SIM_DEVICE_INFO.model) },
        { uuid: UUIDS.serialNumber, properties: CharProps.read, read: () => textBytes(serialNumberOf(o.address)) },
        { uuid: UUIDS.hardwareRevision, properties: CharProps.read, read: () => textBytes(SIM_DEVICE_INFO.hardwareRevision) },
        { uuid: UUIDS.firmwareRevision, properties: CharProps.read, read: () => textBytes(o.firmwareRevision) },
        { uuid: UUIDS.softwareRevision, properties: CharProps.read, read: () => textBytes(softwareRevisionOf(o.softDeviceFwid)) },
      ],
    },
  ];
}

export class Application implements Firmware {
  readonly mode = 'application' as const;
  readonly database: GattDatabase;
  /** NRF_SDH_BLE_GATT_MAX_MTU_SIZE = 247 in the example. */
  readonly mtuPolicy: MtuPolicy = (client) => Math.min(247, Math.max(23, client));
  readonly #hooks: ApplicationHooks;
  readonly #advData: Uint8Array;
  readonly #scanResponse: Uint8Array;
  #connected = false;
  #enteringBootloader: LinkSession | undefined;
  readonly firmwareRevision: string;

  constructor(hooks: ApplicationHooks) {
    this.#hooks = hooks;
    this.firmwareRevision = firmwareRevisionOf(hooks.image);
    this.#advData = applicationAdvertisingData(hooks.name);
    this.#scanResponse = encodeAdStructures([{ type: AD_TYPES.txPowerLevel, data: Uint8Array.of(0) }]);
    let session: LinkSession | undefined;
    const bind = (s: LinkSession): void => {
      session = s;
    };
    this.#bindSession = bind;
    const dfu = hooks.dfu ?? 'buttonless';
    this.database = new GattDatabase([
      ...applicationServices({ name: hooks.name, address: hooks.address, firmwareRevision: this.firmwareRevision, softDeviceFwid: hooks.softDeviceFwid }),
      ...(dfu === 'none'
        ? []
        : [
            {
              uuid: UUIDS.secureDfuService,
              characteristics: [
                dfu === 'bonded-buttonless'
                  ? { uuid: UUIDS.buttonlessWithBonds, properties: CharProps.write | CharProps.indicate, write: () => INSUFFICIENT_AUTHENTICATION }
                  : {
                      uuid: UUIDS.buttonlessWithoutBonds,
                      properties: CharProps.write | CharProps.indicate,
                      write: (value: Uint8Array, ctx: WriteContext) => {
                        // Authorized only with indications enabled (notifications are not enough).
                        if ((ctx.cccd & 0x0002) === 0) return ATT_ERROR.cccdImproperlyConfigured;
                        const s = session;
                        if (s !== undefined) hooks.defer(() => this.#buttonless(s, value));
                        return undefined;
                      },
                    },
              ],
            },
          ]),
    ]);
  }

  readonly #bindSession: (s: LinkSession) => void;

  advertising(): AdvertisingParams | undefined {
    if (this.#connected) return undefined;
    return {
      address: this.#hooks.address,
      intervalMs: this.#hooks.advertisingIntervalMs,
      data: this.#advData,
      scanResponse: this.#scanResponse,
      connectable: true,
    };
  }

  onConnected(session: LinkSession): void {
    this.#connected = true;
    this.#bindSession(session);
  }

  onDisconnected(session: LinkSession): void {
    this.#connected = false;
    if (this.#enteringBootloader === session) {
      this.#enteringBootloader = undefined;
      this.#hooks.enterBootloader();
    }
  }

  stop(): void {
    this.#connected = false;
  }

  #buttonless(session: LinkSession, value: Uint8Array): void {
    const handle = this.database.handlesOf(UUIDS.buttonlessWithoutBonds)?.value;
    if (handle === undefined) return;
    const op = value[0] ?? 0;
    const respond = (result: number, onConfirmed?: () => void): void => {
      session.gatt.indicate(handle, Uint8Array.of(BUTTONLESS.response, op, result), onConfirmed);
    };
    switch (op) {
      case BUTTONLESS.setName: {
        const len = value[1] ?? 0;
        if (len < 1 || len > 20 || value.length < 2 + len) {
          respond(BUTTONLESS_RESULT.invalidAdvName);
          return;
        }
        this.#hooks.setBootloaderName(new TextDecoder().decode(value.subarray(2, 2 + len)));
        respond(BUTTONLESS_RESULT.success);
        return;
      }
      case BUTTONLESS.enterBootloader:
        // The example disconnects all links once the host confirmed, then resets.
        respond(BUTTONLESS_RESULT.success, () => {
          this.#enteringBootloader = session;
          session.link.disconnect(0x13);
        });
        return;
      default:
        respond(BUTTONLESS_RESULT.opCodeNotSupported);
    }
  }
}
