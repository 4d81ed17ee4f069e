/**
 * What every backend's Connection shares: GATT operations with the caller's signal joined to link
 * loss, and a disconnect that is a no-op once the link is down. Backends supply the link's facts
 * and its GATT client.
 */
import type { DeviceAddress } from '../ble/address.js';
import type { Connection, ConnectionParameters, DiscoveryOptions, GattCharacteristic, GattService, Subscription } from '../ble/types.js';
import { abortReason } from '../common/errors.js';
import { withLinkedSignal } from '../common/signals.js';

/** The GATT client calls a Connection forwards, each honouring its signal. */
export interface LinkGatt {
  discoverServices(signal: AbortSignal, options?: DiscoveryOptions): Promise<readonly GattService[]>;
  read(valueHandle: number, signal: AbortSignal): Promise<Uint8Array>;
  write(valueHandle: number, value: Uint8Array, signal: AbortSignal): Promise<void>;
  writeWithoutResponse(valueHandle: number, value: Uint8Array, signal: AbortSignal): Promise<void>;
  subscribe(characteristic: GattCharacteristic, mode: 'notify' | 'indicate', signal: AbortSignal): Promise<Subscription>;
}

export abstract class LinkConnection implements Connection {
  readonly #disconnect: () => Promise<void>;

  constructor(disconnect: () => Promise<void>) {
    this.#disconnect = disconnect;
  }

  abstract get address(): DeviceAddress;
  abstract get mtu(): number;
  abstract get parameters(): ConnectionParameters;
  abstract get closed(): AbortSignal;
  protected abstract get gatt(): LinkGatt;

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

  discoverServices(signal?: AbortSignal, options?: DiscoveryOptions): Promise<readonly GattService[]> {
    return this.#guard(signal, (s) => this.gatt.discoverServices(s, options));
  }
  read(valueHandle: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.#guard(signal, (s) => this.gatt.read(valueHandle, s));
  }
  write(valueHandle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.#guard(signal, (s) => this.gatt.write(valueHandle, value, s));
  }
  writeWithoutResponse(valueHandle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.#guard(signal, (s) => this.gatt.writeWithoutResponse(valueHandle, value, s));
  }
  subscribe(characteristic: GattCharacteristic, mode: 'notify' | 'indicate', signal?: AbortSignal): Promise<Subscription> {
    return this.#guard(signal, (s) => this.gatt.subscribe(characteristic, mode, s));
  }
  disconnect(): Promise<void> {
    if (this.closed.aborted) return Promise.resolve();
    return this.#disconnect();
  }
}
