/** ble/ Connection over one link of our host stack: L2CAP link + ATT bearer + GATT client. */
import type { DeviceAddress } from '../../ble/address.js';
import type { Connection, ConnectionParameters, GattCharacteristic, GattService, Subscription } from '../../ble/types.js';
import { abortReason, type BledfuError } from '../../common/errors.js';
import { withLinkedSignal } from '../../common/signals.js';
import type { AttBearer } from '../../host/att/bearer.js';
import type { GapLink } from '../../host/gap/central.js';
import type { GattClient } from '../../host/gatt/client.js';
import type { L2capLink } from '../../host/l2cap/link.js';

export interface LinkStack {
  readonly link: GapLink;
  readonly l2cap: L2capLink;
  readonly bearer: AttBearer;
  readonly gatt: GattClient;
}

export class HciConnection implements Connection {
  readonly #stack: LinkStack;
  readonly #disconnect: () => Promise<void>;

  constructor(stack: LinkStack, disconnect: () => Promise<void>) {
    this.#stack = stack;
    this.#disconnect = disconnect;
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

  /**
   * Runs one operation with the caller's signal joined to link loss, so every wait ends when the
   * link does. Joined per operation and detached after it: a DFU makes thousands of them on one link.
   */
  async #guard<T>(signal: AbortSignal | undefined, fn: (s: AbortSignal) => Promise<T>): Promise<T> {
    if (signal === undefined) {
      if (this.closed.aborted) throw abortReason(this.closed);
      return fn(this.closed);
    }
    return withLinkedSignal([this.closed, signal], fn);
  }

  discoverServices(signal?: AbortSignal): Promise<readonly GattService[]> {
    return this.#guard(signal, (s) => this.#stack.gatt.discoverServices(s));
  }
  read(valueHandle: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.#guard(signal, (s) => this.#stack.gatt.read(valueHandle, s));
  }
  write(valueHandle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.#guard(signal, (s) => this.#stack.gatt.write(valueHandle, value, s));
  }
  writeWithoutResponse(valueHandle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.#guard(signal, (s) => this.#stack.gatt.writeWithoutResponse(valueHandle, value, s));
  }
  subscribe(characteristic: GattCharacteristic, mode: 'notify' | 'indicate', signal?: AbortSignal): Promise<Subscription> {
    return this.#guard(signal, (s) => this.#stack.gatt.subscribe(characteristic, mode, s));
  }
  disconnect(): Promise<void> {
    if (this.closed.aborted) return Promise.resolve();
    return this.#disconnect();
  }
}

/** Fails the link's upper layers with the error the link went down with. */
export function failLinkStack(stack: LinkStack, error: BledfuError): void {
  stack.bearer.fail(error);
  stack.gatt.fail(error);
}
