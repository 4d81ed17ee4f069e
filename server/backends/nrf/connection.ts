/** ble/ Connection over one SoftDevice link: its GAP record and its GATT client. */
import type { DeviceAddress } from '../../ble/address.js';
import type { ConnectionParameters } from '../../ble/types.js';
import type { BledfuError } from '../../common/errors.js';
import { LinkConnection, type LinkGatt } from '../linkConnection.js';
import type { NrfGattClient } from './gattc.js';
import type { ConnParams } from './serialization/structs.js';

/** One link as the adapter tracks it. */
export interface NrfLinkRecord {
  readonly handle: number;
  readonly address: DeviceAddress;
  parameters: ConnectionParameters;
  readonly closed: AbortSignal;
  readonly close: (error: BledfuError) => void;
  readonly gatt: NrfGattClient;
}

export function parametersOf(p: ConnParams): ConnectionParameters {
  return { intervalUs: p.maxConnInterval * 1250, latency: p.slaveLatency, supervisionTimeoutMs: p.connSupTimeout * 10 };
}

export class NrfConnection extends LinkConnection {
  readonly #link: NrfLinkRecord;

  constructor(link: NrfLinkRecord, disconnect: () => Promise<void>) {
    super(disconnect);
    this.#link = link;
  }

  get address(): DeviceAddress {
    return this.#link.address;
  }
  get mtu(): number {
    return this.#link.gatt.mtu;
  }
  get parameters(): ConnectionParameters {
    return this.#link.parameters;
  }
  get closed(): AbortSignal {
    return this.#link.closed;
  }
  protected get gatt(): LinkGatt {
    return this.#link.gatt;
  }
}
