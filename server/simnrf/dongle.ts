/**
 * A simulated nRF52 dongle running Nordic's connectivity firmware, at the byte level: the host end
 * of a virtual serial line carries SLIP/H5 frames, the device side answers the link establishment
 * and the SoftDevice serialization (API v5 or v6), and its SoftDevice is a BLE central on the same
 * simulated air and devices as the virtual HCI controller. Faults on the line (lost, corrupted and
 * garbage frames, a device that never syncs, a device reset) are set at open and changed at run time.
 */
import type { Logger } from '../common/logger.js';
import type { Timers } from '../host/hci/timers.js';
import type { SimWorld } from '../sim/world.js';
import type { ByteDuplex } from '../transport/types.js';

export type SimNrfApi = 5 | 6;

/** Which way a line fault applies. */
export type LineDirection = 'toHost' | 'toDevice' | 'both';

/**
 * Faults of the serial line and the device's link layer. Rates are shares of SLIP frames (0..1),
 * drawn from a seeded generator so a run can be repeated.
 */
export interface H5LineFaults {
  /** Frames that vanish on the line. */
  readonly lossRate?: number;
  /** Frames that arrive with a bad CRC / header checksum (always detectable, never a valid other frame). */
  readonly corruptRate?: number;
  /** Frames preceded by a burst of random bytes (which may contain 0xC0 and 0xDB). */
  readonly garbageRate?: number;
  /** Length of each garbage burst; default 8. */
  readonly garbageBytes?: number;
  /** Where loss, corruption and garbage apply; default both directions. */
  readonly direction?: LineDirection;
  /** The device never answers SYNC and never sends one: no connectivity firmware, or a board stuck after a crash. */
  readonly noSync?: boolean;
  /**
   * The device resets (as after a crash or watchdog: connections, configuration and link state
   * gone, then it sends SYNC) once it has received this many more serialization packets. One shot.
   */
  readonly resetAfterPackets?: number;
  /** Seed of the fault generator; default 1. */
  readonly seed?: number;
}

export interface SimNrfDongleOptions {
  readonly api: SimNrfApi;
  readonly faults?: H5LineFaults;
  /**
   * Line speed: every frame takes `10 bits × bytes / baud` of modelled time to cross, one frame at
   * a time per direction, as on the real 1 Mbaud UART. 0 = instantaneous. Default 1 000 000.
   */
  readonly baud?: number;
  /** The dongle's own address (random static, what sd_ble_gap_addr_get answers). */
  readonly address?: string;
  /**
   * Timers of the device's link layer (SYNC/CONFIG repetition, retransmission of its reliable
   * packets). Real time by default, like the host's link timers they talk to.
   */
  readonly timers?: Timers;
  /** Device retransmission interval and link-control repetition, ms (firmware: ≈400). */
  readonly retransmitMs?: number;
  /** Transmissions of one reliable packet before the device drops it (firmware: 5). */
  readonly maxTransmissions?: number;
  /** Time the device is deaf after a reset before it starts sending SYNC, ms. Default 50. */
  readonly bootMs?: number;
}

export type SimNrfLinkState = 'booting' | 'uninitialized' | 'initialized' | 'active';

/** Counters for tests and benchmarks. */
export interface SimNrfDongleStats {
  readonly framesToHost: number;
  readonly framesToDevice: number;
  readonly lost: number;
  readonly corrupted: number;
  readonly garbageBursts: number;
  /** Reliable packets the device sent again for want of an ACK. */
  readonly deviceRetransmissions: number;
  /** Reliable packets the device gave up on after maxTransmissions. */
  readonly deviceDropped: number;
  readonly resets: number;
  readonly commands: number;
  readonly events: number;
}

export interface SimNrfDongleControl {
  readonly api: SimNrfApi;
  /** Current line faults. */
  readonly faults: H5LineFaults;
  /** Replaces the line faults (a fresh generator from their seed). */
  setFaults(faults: H5LineFaults): void;
  clearFaults(): void;
  /** Puts bytes on the line towards the host now (default: 16 random bytes). */
  injectGarbage(bytes?: Uint8Array): void;
  /** Resets the device now, as a crash or watchdog would. */
  reset(): void;
  readonly linkState: SimNrfLinkState;
  readonly stats: SimNrfDongleStats;
}

export interface SimNrfDongle {
  /** The host end of the virtual serial line. */
  readonly transport: ByteDuplex;
  readonly control: SimNrfDongleControl;
  /** Unplugs the dongle: the line closes (the host reads TRANSPORT_CLOSED) and its links vanish from the air. Idempotent. */
  close(): Promise<void>;
}

/**
 * A connectivity-firmware dongle on a simulated world; returns the host end of a virtual serial
 * line. Each call is a fresh dongle (the host's H5 RESET wipes its state anyway). Throws
 * ADAPTER_UNAVAILABLE while the world's dongle is unplugged; world.unplugDongle() closes it.
 */
export function openSimNrfDongle(world: SimWorld, options: SimNrfDongleOptions, logger?: Logger): SimNrfDongle {
  void world;
  void options;
  void logger;
  throw new Error('openSimNrfDongle: not implemented yet');
}
