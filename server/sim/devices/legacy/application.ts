/**
 * An nRF5 SDK 7–11 application that carries the legacy DFU service for buttonless entry (the
 * SDK's ble_app_hrs with BLE_DFU_APP_SUPPORT): the services and advertising of the other
 * simulated applications (application.ts) and the legacy DFU service with DFU Revision 0x0001.
 *
 * Start DFU (01 …) written to its control point (notifications enabled, else ATT 0xFD) makes it
 * jump into the bootloader (dfu_app_handler.c bootloader_start): reset_prepare disconnects
 * (0x13) and waits 500 ms (nrf_delay_ms in the SDK example), then, for a bonded central, the
 * application hands the peer's address (and keys) to the bootloader, which then advertises at
 * the application's address for that central only; without a bond it advertises openly at
 * address + 1. Any other op code the service knows is answered 10 01 03 (the handler's default
 * answers for the Start procedure), an unknown one 10 OP 03 (ble_dfu.c).
 *
 * The simulated central never bonds (the devices refuse pairing), so `entry` states which case
 * the board shows: 'address+1' (no bond), 'same-address' (bond with IRK: whitelisted
 * advertising) or 'directed' (bond without IRK: directed advertising toward the central).
 */
import type { DeviceAddress } from '../../../ble/address.js';
import { CharProps } from '../../../ble/types.js';
import { ATT_ERROR } from '../../../host/att/errors.js';
import type { AdvertisingParams } from '../../peripheral.js';
import { applicationAdvertisingData, applicationServices, firmwareRevisionOf } from '../application.js';
import type { InstalledImage, LegacyPeer } from '../chip.js';
import type { Firmware, LinkSession } from '../firmware.js';
import { GattDatabase, type MtuPolicy } from '../gattServer.js';
import { LEGACY_OP, LEGACY_RESULT, LEGACY_REVISION, LEGACY_UUIDS, legacyResponse } from './protocol.js';

export type LegacyEntry = 'address+1' | 'same-address' | 'directed';

/** reset_prepare's nrf_delay_ms(500) between the disconnect and the jump. */
export const LEGACY_JUMP_DELAY_MS = 500;

export interface LegacyApplicationHooks {
  readonly address: DeviceAddress;
  readonly name: string;
  readonly advertisingIntervalMs: number;
  readonly image: InstalledImage;
  readonly softDeviceFwid: number | undefined;
  readonly entry: LegacyEntry;
  after(ms: number, fn: () => void): void;
  /** Jump into the bootloader, handing it this peer (undefined: advertise openly at address + 1). */
  enterBootloader(peer: LegacyPeer | undefined): void;
}


export class LegacyApplication implements Firmware {
  readonly mode = 'application' as const;
  readonly database: GattDatabase;
  /** SDK 11 applications keep the default ATT MTU. */
  readonly mtuPolicy: MtuPolicy = () => 23;
  readonly firmwareRevision: string;
  readonly #hooks: LegacyApplicationHooks;
  readonly #advData: Uint8Array;
  #session: LinkSession | undefined;
  #jumping = false;

  constructor(hooks: LegacyApplicationHooks) {
    this.#hooks = hooks;
    this.firmwareRevision = firmwareRevisionOf(hooks.image);
    this.#advData = applicationAdvertisingData(hooks.name);
    this.database = new GattDatabase([
      ...applicationServices({ name: hooks.name, address: hooks.address, firmwareRevision: this.firmwareRevision, softDeviceFwid: hooks.softDeviceFwid }),
      {
        uuid: LEGACY_UUIDS.service,
        characteristics: [
          // The application ignores DFU Packet writes.
          { uuid: LEGACY_UUIDS.packet, properties: CharProps.writeWithoutResponse, write: () => undefined },
          {
            uuid: LEGACY_UUIDS.controlPoint,
            properties: CharProps.write | CharProps.notify,
            write: (value, ctx) => {
              if ((ctx.cccd & 0x0001) === 0) return ATT_ERROR.cccdImproperlyConfigured;
              const session = this.#session;
              if (session !== undefined) hooks.after(0, () => this.#controlPoint(session, value));
              return undefined;
            },
          },
          { uuid: LEGACY_UUIDS.revision, properties: CharProps.read, read: () => Uint8Array.of(LEGACY_REVISION.application & 0xff, LEGACY_REVISION.application >> 8) },
        ],
      },
    ]);
  }

  advertising(): AdvertisingParams | undefined {
    if (this.#session !== undefined || this.#jumping) return undefined;
    return { address: this.#hooks.address, intervalMs: this.#hooks.advertisingIntervalMs, data: this.#advData, scanResponse: new Uint8Array(0), connectable: true };
  }

  onConnected(session: LinkSession): void {
    this.#session = session;
  }

  onDisconnected(session: LinkSession): void {
    if (this.#session === session) this.#session = undefined;
  }

  stop(): void {
    this.#session = undefined;
  }

  #controlPoint(session: LinkSession, value: Uint8Array): void {
    const op = value[0] ?? 0;
    const handle = this.database.handlesOf(LEGACY_UUIDS.controlPoint)?.value;
    const respond = (procedure: number): void => {
      if (handle !== undefined) session.gatt.notify(handle, legacyResponse(procedure, LEGACY_RESULT.notSupported));
    };
    if (op === LEGACY_OP.startDfu) {
      if (this.#jumping) return;
      this.#jumping = true;
      const entry = this.#hooks.entry;
      const peer: LegacyPeer | undefined = entry === 'address+1' ? undefined : { address: session.link.peerAddress, directed: entry === 'directed' };
      session.link.disconnect(0x13);
      this.#hooks.after(LEGACY_JUMP_DELAY_MS, () => this.#hooks.enterBootloader(peer));
      return;
    }
    if (op === LEGACY_OP.packetReceiptRequest && value.length < 3) respond(op);
    else if (op >= LEGACY_OP.initDfuParams && op <= LEGACY_OP.packetReceiptRequest) respond(LEGACY_OP.startDfu);
    else respond(op);
  }
}
