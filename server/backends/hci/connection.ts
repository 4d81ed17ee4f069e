/** ble/ Connection over one link of our host stack: L2CAP link + ATT bearer + GATT client. */
import type { DeviceAddress } from '../../ble/address.js';
import type { ConnectionParameters } from '../../ble/types.js';
import type { BledfuError } from '../../common/errors.js';
import type { AttBearer } from '../../host/att/bearer.js';
import type { GapLink } from '../../host/gap/central.js';
import type { GattClient } from '../../host/gatt/client.js';
import type { L2capLink } from '../../host/l2cap/link.js';
import { LinkConnection, type LinkGatt } from '../linkConnection.js';

export interface LinkStack {
  readonly link: GapLink;
  readonly l2cap: L2capLink;
  readonly bearer: AttBearer;
  readonly gatt: GattClient;
}

export class HciConnection extends LinkConnection {
  readonly #stack: LinkStack;

  constructor(stack: LinkStack, disconnect: () => Promise<void>) {
    super(disconnect);
    this.#stack = stack;
  }

  get address(): DeviceAddress {
    return this.#stack.link.address;
  }
  get mtu(): number {
    return this.#stack.bearer.mtu;
  }
  get parameters(): ConnectionParameters {
    return this.#stack.link.parameters;
  }
  get closed(): AbortSignal {
    return this.#stack.link.closed;
  }
  protected get gatt(): LinkGatt {
    return this.#stack.gatt;
  }
}

/** Fails the link's upper layers with the error the link went down with. */
export function failLinkStack(stack: LinkStack, error: BledfuError): void {
  stack.bearer.fail(error);
  stack.gatt.fail(error);
}
