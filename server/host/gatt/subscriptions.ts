/**
 * A GATT client's notification and indication subscribers, by value handle. Shared by every
 * client (our ATT bearer, the SoftDevice's GATTC) so that registration order, delivery and
 * failure on link loss behave the same whichever adapter carries the link.
 */
import type { GattCharacteristic, Subscription } from '../../ble/types.js';
import { AsyncQueue } from '../../common/asyncQueue.js';
import { BledfuError, hasCode } from '../../common/errors.js';

interface Subscriber {
  readonly valueHandle: number;
  readonly queue: AsyncQueue<Uint8Array>;
}

export class Subscriptions {
  readonly #subscribers = new Set<Subscriber>();
  #failure: BledfuError | undefined;

  /**
   * Registers first, then has `writeCccd` enable the notifications or indications, so a value
   * the peer sends right after the write is not lost.
   */
  async subscribe(
    characteristic: GattCharacteristic,
    mode: 'notify' | 'indicate',
    writeCccd: (handle: number, value: Uint8Array) => Promise<void>,
  ): Promise<Subscription> {
    if (this.#failure !== undefined) throw this.#failure;
    const cccd = characteristic.cccdHandle;
    if (cccd === undefined) {
      throw new BledfuError('GATT_SERVICE_MISSING', `characteristic ${characteristic.uuid} has no CCCD to ${mode}`, { layer: 'gatt' });
    }
    const subscriber: Subscriber = {
      valueHandle: characteristic.valueHandle,
      queue: new AsyncQueue<Uint8Array>({ onReturn: () => this.#subscribers.delete(subscriber) }),
    };
    this.#subscribers.add(subscriber);
    try {
      await writeCccd(cccd, Uint8Array.of(mode === 'notify' ? 0x01 : 0x02, 0x00));
    } catch (e) {
      subscriber.queue.end();
      throw e;
    }
    const queue = subscriber.queue;
    return {
      // A receive cut short by the link going down reports why the link went down.
      receive: (s) =>
        queue.receive(s).catch((e: unknown) => {
          throw hasCode(e, 'STREAM_ENDED') && this.#failure !== undefined ? this.#failure : e;
        }),
      close: () => queue.end(),
      [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
    };
  }

  /** A value the peer notified or indicated. */
  deliver(valueHandle: number, value: Uint8Array): void {
    // Protocol data must not be dropped; the queues are unbounded for that reason.
    for (const s of this.#subscribers) if (s.valueHandle === valueHandle) s.queue.push(value);
  }

  /** Link gone: every subscription fails with `error` once drained. */
  fail(error: BledfuError): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    for (const s of [...this.#subscribers]) s.queue.fail(error);
    this.#subscribers.clear();
  }
}
