/**
 * The seam between a simulated device and whatever radio carries it. Device logic (GATT
 * database, application, bootloader) sees only these interfaces, so the same devices can be put
 * on the simulated air (air.ts) or, later, behind a real HCI controller acting as peripheral.
 */
import type { DeviceAddress } from '../ble/address.js';
import type { Phy } from './radio.js';

export interface AdvertisingParams {
  readonly address: DeviceAddress;
  /** Advertising interval in ms (the link layer adds 0–10 ms of advDelay per event). */
  readonly intervalMs: number;
  /** AD structures of the advertising PDU. */
  readonly data: Uint8Array;
  /** AD structures of the scan response (sent to active scanners). */
  readonly scanResponse: Uint8Array;
  readonly connectable: boolean;
  /**
   * Advertising for one central only (a legacy bootloader entered on behalf of a bonded central):
   * `directed` is ADV_DIRECT_IND (no data, heard and connectable only by that central); otherwise
   * undirected advertising whose whitelist lets only that central connect.
   */
  readonly peer?: { readonly address: DeviceAddress; readonly directed: boolean };
}

export interface LinkParameters {
  readonly intervalMs: number;
  readonly latency: number;
  readonly supervisionTimeoutMs: number;
  readonly txPhy: Phy;
  readonly rxPhy: Phy;
  /** Largest LL payload towards the central / from the central. */
  readonly maxTxOctets: number;
  readonly maxRxOctets: number;
}

/** One connection as the peripheral sees it. */
export interface PeripheralLink {
  readonly peerAddress: DeviceAddress;
  parameters(): LinkParameters;
  /** Queues one L2CAP PDU; `onSent` runs once the central acknowledged all of it. */
  sendL2cap(cid: number, payload: Uint8Array, onSent?: () => void): void;
  /** LL terminate with this reason (0x13 remote user terminated, typically). */
  disconnect(reason: number): void;
  /**
   * The chip stops talking on this link without a terminate (reset, power loss): the central
   * notices only by supervision timeout.
   */
  vanish(): void;
  /**
   * Fault injection: the radio path breaks while both chips keep running; each side notices by
   * supervision timeout (a real controller's peripheral role can only approximate this).
   */
  lose(): void;
}

/** What the device does with a link. */
export interface PeripheralLinkHandler {
  onL2cap(cid: number, payload: Uint8Array): void;
  onParametersChanged(): void;
  /** HCI reason code as this side would report it (0x08 supervision timeout, 0x13, 0x16 …). */
  onDisconnected(reason: number): void;
}

export interface SimPeripheral {
  readonly label: string;
  /** Received signal strength the central reports for this device, dBm. */
  readonly rssi: number;
  /** Current advertising, or undefined when the device is silent (connected, rebooting, absent). */
  advertising(): AdvertisingParams | undefined;
  /** A central connected to the advertising in progress; the device stops advertising on it. */
  accept(link: PeripheralLink): PeripheralLinkHandler;
  /** The radio calls this once so the device can say when its advertising changed. */
  attachRadio(radio: PeripheralRadio): void;
}

export interface PeripheralRadio {
  advertisingChanged(): void;
}
