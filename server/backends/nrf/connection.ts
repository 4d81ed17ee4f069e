/** ble/ Connection over one SoftDevice link: its GAP record and its GATT client. */
import type { DeviceAddress } from '../../ble/address.js';
import type { Connection, ConnectionParameters, GattCharacteristic, GattService, Subscription } from '../../ble/types.js';
import { abortReason, type BledfuError } from '../../common/errors.js';
import { withLinkedSignal } from '../../common/signals.js';
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

export class NrfConnection implements Connection {
  readonly #link: NrfLinkRecord;
  readonly #disconnect: () => Promise<void>;

  constructor(link: NrfLinkRecord, disconnect: () => Promise<void>) {
    this.#link = link;
    this.#disconnect = disconnect;
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

  /** Joins the caller's signal to link loss per operation, detached after it. */
  async #guard<T>(signal: AbortSignal | undefined, fn: (s: AbortSignal) => Promise<T>): Promise<T> {
    if (signal === undefined) {
      if (this.closed.aborted) throw abortReason(this.closed);
      return fn(this.closed);
    }
    return withLinkedSignal([this.closed, signal], fn);
  }

  discoverServices(signal?: AbortSignal): Promise<readonly GattService[]> {
    return this.#guard(signal, (s) => this.#link.gatt.discoverServices(s));
  }
  read(valueHandle: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.#guard(signal, (s) => this.#link.gatt.read(valueHandle, s));
  }
  write(valueHandle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.#guard(signal, (s) => this.#link.gatt.write(valueHandle, value, s));
  }
  writeWithoutResponse(valueHandle: number, value: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.#guard(signal, (s) => this.#link.gatt.writeWithoutResponse(valueHandle, value, s));
  }
  subscribe(characteristic: GattCharacteristic, mode: 'notify' | 'indicate', signal?: AbortSignal): Promise<Subscription> {
    return this.#guard(signal, (s) => this.#link.gatt.subscribe(characteristic, mode, s));
  }
  disconnect(): Promise<void> {
    if (this.closed.aborted) return Promise.resolve();
    return this.#disconnect();
  }
}
