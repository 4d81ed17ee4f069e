/**
 * The device side of Nordic's H5 link, as the connectivity firmware's transport (SDK 15.x
 * ser_phy_hci) behaves:
 *
 *   reset → deaf while booting → UNINITIALIZED: SYNC every retransmission interval, forever
 *   SYNC received (any state)        → SYNC RESPONSE; while ACTIVE it is a restart: seq/ack to 0
 *   SYNC RESPONSE in UNINITIALIZED   → INITIALIZED: CONFIG every interval
 *   CONFIG (not in UNINITIALIZED)    → its own CONFIG if it has not sent one yet, else CONFIG
 *                                      RESPONSE, and only then is the host known to be active
 *   CONFIG RESPONSE in INITIALIZED   → ACTIVE
 *
 * Data flows only when ACTIVE and the host's CONFIG was answered. Window 1 each way: a pure ACK
 * for every reliable packet received (repeating the current ack for duplicates), one reliable
 * packet of its own in flight, retransmitted with a fresh ack field until acknowledged by a pure
 * ACK of seq+1 or seq+2, and dropped after `maxTransmissions` — the sequence number is then
 * reused, as the firmware does. The ack field of the host's reliable packets is ignored.
 */
import type { SimScheduler, TimerHandle } from '../sim/scheduler.js';
import {
  ackPacket,
  decodeH5,
  decodeLinkControl,
  encodeH5,
  H5_CONFIG_FIELD,
  H5_PACKET_TYPE,
  linkControlPacket,
  vendorPacket,
  type H5Packet,
  type LinkControlKind,
} from '../backends/nrf/h5.js';
import type { SimNrfLinkState } from './types.js';

export type DeviceLinkState = SimNrfLinkState | 'off';

export interface DeviceH5LinkOptions {
  /** The device's timers run on the simulator's scheduler, like every simulated device's. */
  readonly scheduler: Pick<SimScheduler, 'after'>;
  readonly retransmitMs: number;
  readonly maxTransmissions: number;
  readonly bootMs: number;
  /** One unescaped H5 packet for the line. */
  readonly write: (packet: Uint8Array) => void;
  /** A serialization packet from the host, in order and once. */
  readonly deliver: (payload: Uint8Array) => void;
  /** The host sent H5 RESET: the whole device reboots. */
  readonly onResetRequested: () => void;
  /** Counters for the dongle's statistics. */
  readonly onRetransmit?: () => void;
  readonly onDropped?: () => void;
}

type TimerName = 'boot' | 'control' | 'retransmit';

const next = (n: number): number => (n + 1) & 7;

export class DeviceH5Link {
  readonly #o: DeviceH5LinkOptions;
  #state: DeviceLinkState = 'off';
  /** We answered the host's CONFIG with CONFIG RESPONSE: it may send data. */
  #hostActive = false;
  #configSent = false;
  #seq = 0;
  #ack = 0;
  #outstanding: { readonly payload: Uint8Array; transmissions: number } | undefined;
  readonly #queue: Uint8Array[] = [];
  readonly #timers = new Map<TimerName, TimerHandle>();
  #silent = false;

  constructor(options: DeviceH5LinkOptions) {
    this.#o = options;
  }

  get state(): DeviceLinkState {
    return this.#state;
  }

  /** Reliable packets waiting or in flight. */
  get pending(): number {
    return this.#queue.length + (this.#outstanding === undefined ? 0 : 1);
  }

  /** One of its packets waits for the host's ACK. */
  get awaitingAck(): boolean {
    return this.#outstanding !== undefined;
  }

  /**
   * Booting or repeating its link-control packets until the host answers: its own timers move it
   * on, whether or not the host is doing anything (a silent device does nothing).
   */
  get establishing(): boolean {
    return !this.#silent && this.#state !== 'off' && !this.up;
  }

  /** Whether data can flow (both sides finished the handshake). */
  get up(): boolean {
    return this.#state === 'active' && this.#hostActive;
  }

  /**
   * A device that never speaks the link protocol (no connectivity firmware, board stuck): it
   * ignores every frame and sends nothing. Cleared, it goes on where it was.
   */
  set silent(silent: boolean) {
    if (this.#silent === silent) return;
    this.#silent = silent;
    if (!silent && (this.#state === 'uninitialized' || this.#state === 'initialized')) this.#armControl();
    if (!silent && this.up) this.#pump();
  }

  get silent(): boolean {
    return this.#silent;
  }

  /** Power-on or reset: everything is forgotten; the link starts over after the boot time. */
  reset(): void {
    this.#cancelAll();
    this.#state = 'booting';
    this.#forgetLink();
    this.#arm('boot', this.#o.bootMs, () => {
      this.#state = 'uninitialized';
      this.#configSent = false;
      this.#armControl();
    });
  }

  close(): void {
    this.#cancelAll();
    this.#state = 'off';
    this.#forgetLink();
  }

  /** Queues a serialization packet (response or event) for reliable transfer. */
  send(payload: Uint8Array): void {
    if (this.#state === 'off' || this.#state === 'booting') return;
    this.#queue.push(payload);
    this.#pump();
  }

  /** One SLIP-decoded frame from the host, not yet validated. */
  frame(bytes: Uint8Array): void {
    if (this.#silent || this.#state === 'off' || this.#state === 'booting') return;
    let packet: H5Packet;
    try {
      packet = decodeH5(bytes);
    } catch {
      return; // bad checksum, CRC or length: the firmware frees the buffer and waits for a retransmission
    }
    switch (packet.packetType) {
      case H5_PACKET_TYPE.reset:
        this.#o.onResetRequested();
        return;
      case H5_PACKET_TYPE.linkControl:
        if (!packet.dataIntegrity && !packet.reliable) this.#linkControl(packet.payload);
        return;
      case H5_PACKET_TYPE.ack:
        if (this.up) this.#pureAck(packet.ack);
        return;
      case H5_PACKET_TYPE.vendor:
        if (this.up && packet.dataIntegrity && packet.reliable) this.#vendor(packet);
        return;
      default:
        return;
    }
  }

  #linkControl(payload: Uint8Array): void {
    const message = decodeLinkControl(payload);
    if (message === undefined) return;
    if ((message.kind === 'config' || message.kind === 'configResponse') && message.config !== H5_CONFIG_FIELD) return;
    switch (message.kind) {
      case 'sync':
        if (this.#state === 'active') {
          // The host restarted: sequence numbers start over, nothing in flight survives.
          this.#state = 'uninitialized';
          this.#forgetLink();
          this.#cancel('retransmit');
        }
        this.#sendControl('syncResponse');
        this.#armControl();
        return;
      case 'syncResponse':
        if (this.#state === 'uninitialized') {
          this.#state = 'initialized';
          this.#configSent = false;
        }
        return;
      case 'config':
        if (this.#state === 'uninitialized') return;
        if (this.#configSent) {
          this.#sendControl('configResponse');
          this.#hostActive = true;
        } else {
          this.#sendControl('config');
        }
        this.#configSent = true;
        if (this.up) this.#pump();
        return;
      case 'configResponse':
        if (this.#state === 'initialized') {
          this.#state = 'active';
          this.#cancel('control');
          if (this.up) this.#pump();
        }
        return;
      default:
        return;
    }
  }

  #pureAck(ack: number): void {
    if (this.#outstanding === undefined) return;
    if (ack !== next(this.#seq) && ack !== next(next(this.#seq))) return;
    this.#outstanding = undefined;
    this.#seq = next(this.#seq);
    this.#cancel('retransmit');
    this.#pump();
  }

  #vendor(packet: H5Packet): void {
    if (packet.seq !== this.#ack) {
      // A duplicate (our ACK got lost) or out of order: say again what we expect.
      this.#o.write(encodeH5(ackPacket(this.#ack)));
      return;
    }
    this.#ack = next(this.#ack);
    this.#o.write(encodeH5(ackPacket(this.#ack)));
    this.#o.deliver(packet.payload);
  }

  #pump(): void {
    if (!this.up || this.#silent || this.#outstanding !== undefined) return;
    const payload = this.#queue.shift();
    if (payload === undefined) return;
    this.#outstanding = { payload, transmissions: 0 };
    this.#transmit();
  }

  #transmit(): void {
    const o = this.#outstanding;
    if (o === undefined) return;
    o.transmissions++;
    // Rebuilt each time: a retransmission carries the current ack, as the firmware's does.
    this.#o.write(encodeH5(vendorPacket(this.#seq, this.#ack, o.payload)));
    this.#arm('retransmit', this.#o.retransmitMs, () => {
      if (this.#outstanding !== o || this.#silent) return;
      if (o.transmissions >= this.#o.maxTransmissions) {
        this.#outstanding = undefined;
        this.#o.onDropped?.();
        this.#pump();
        return;
      }
      this.#o.onRetransmit?.();
      this.#transmit();
    });
  }

  #sendControl(kind: LinkControlKind): void {
    this.#o.write(encodeH5(linkControlPacket(kind)));
  }

  #armControl(): void {
    this.#arm('control', this.#o.retransmitMs, () => {
      if (this.#silent) return;
      if (this.#state === 'uninitialized') {
        this.#sendControl('sync');
      } else if (this.#state === 'initialized') {
        this.#sendControl('config');
        this.#configSent = true;
      } else {
        return;
      }
      this.#armControl();
    });
  }

  #forgetLink(): void {
    this.#seq = 0;
    this.#ack = 0;
    this.#hostActive = false;
    this.#outstanding = undefined;
    this.#queue.length = 0;
  }

  #arm(name: TimerName, ms: number, fn: () => void): void {
    this.#cancel(name);
    const handle = this.#o.scheduler.after(
      ms,
      () => {
        if (this.#timers.get(name) !== handle) return;
        this.#timers.delete(name);
        fn();
      },
      `simnrf: H5 ${name}`,
    );
    this.#timers.set(name, handle);
  }

  #cancel(name: TimerName): void {
    const handle = this.#timers.get(name);
    if (handle === undefined) return;
    this.#timers.delete(name);
    handle.cancel();
  }

  #cancelAll(): void {
    for (const name of [...this.#timers.keys()]) this.#cancel(name);
  }
}
