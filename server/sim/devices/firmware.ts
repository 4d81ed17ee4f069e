/**
 * What a firmware image running on a simulated chip provides to the device shell (nrfDevice.ts):
 * its advertising, its GATT database and MTU rule, and reactions to links coming and going.
 */
import type { AdvertisingParams, PeripheralLink } from '../peripheral.js';
import type { GattDatabase, GattServer, MtuPolicy } from './gattServer.js';

export interface LinkSession {
  readonly link: PeripheralLink;
  readonly gatt: GattServer;
  /** Sends an L2CAP LE signaling PDU (CID 5). */
  signal(payload: Uint8Array): void;
}

export interface Firmware {
  readonly mode: 'application' | 'bootloader';
  readonly database: GattDatabase;
  readonly mtuPolicy: MtuPolicy;
  advertising(): AdvertisingParams | undefined;
  onConnected(session: LinkSession): void;
  onDisconnected(session: LinkSession, reason: number): void;
  /** The chip resets: cancel timers. */
  stop(): void;
}

/** GAP and GATT services every SoftDevice firmware exposes. */
export const GAP_APPEARANCE_UNKNOWN = 0x0000;
