/**
 * A simulated nRF52 dongle running Nordic's connectivity firmware, at the byte level: the host end
 * of a virtual serial line carries SLIP/H5 frames, the device side answers the link establishment
 * and the SoftDevice serialization (API v5 or v6), and its SoftDevice is a BLE central on the same
 * simulated air and devices as the virtual HCI controller. Faults on the line (lost, corrupted and
 * garbage frames, a device that never syncs, a device reset) are set at open and changed at run time.
 */
import { parseAddress } from '../ble/address.js';
import { BledfuError, isBledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { SlipDecoder } from '../backends/nrf/slip.js';
import type { SimScheduler } from '../sim/scheduler.js';
import type { SimWorld } from '../sim/world.js';
import { createMemoryDuplexPair } from '../transport/memory.js';
import type { ByteDuplex } from '../transport/types.js';
import { Connectivity } from './connectivity.js';
import { DeviceH5Link } from './h5Device.js';
import { VirtualLine, type LineCounters } from './line.js';
import { LineFaultState } from './lineFaults.js';
import { SimSoftDevice } from './softDevice.js';
import type { H5LineFaults, SimNrfApi, SimNrfLinkState } from './types.js';

export type { H5LineFaults, LineDirection, SimNrfApi, SimNrfLinkState } from './types.js';

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
   * packets). Default the world's scheduler, like every simulated device's; tests step them by hand.
   */
  readonly deviceTimers?: Pick<SimScheduler, 'after'>;
  /** Device retransmission interval and link-control repetition, ms (firmware: ≈400). */
  readonly retransmitMs?: number;
  /** Transmissions of one reliable packet before the device drops it (firmware: 5). */
  readonly maxTransmissions?: number;
  /** Time the device is deaf after a reset before it starts sending SYNC, ms. Default 50. */
  readonly bootMs?: number;
}

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

export const SIM_NRF_DEFAULTS = {
  baud: 1_000_000,
  address: 'C2:4E:52:46:00:01',
  retransmitMs: 400,
  maxTransmissions: 5,
  bootMs: 50,
  garbageInjectBytes: 16,
} as const;

/**
 * A connectivity-firmware dongle on a simulated world; returns the host end of a virtual serial
 * line. Each call is a fresh dongle (the host's H5 RESET wipes its state anyway). Throws
 * ADAPTER_UNAVAILABLE while the world's dongle is unplugged; world.unplugDongle() closes it.
 */
export function openSimNrfDongle(world: SimWorld, options: SimNrfDongleOptions, logger?: Logger): SimNrfDongle {
  if (!world.donglePlugged) {
    throw new BledfuError('ADAPTER_UNAVAILABLE', 'the simulated nRF dongle is unplugged', { layer: 'sim', remedy: 'plug it back in (replugDongle)' });
  }
  if (options.api !== 5 && options.api !== 6) {
    throw new BledfuError('INVALID_ARGUMENT', `simulated nRF dongle: API v${String(options.api)} is not simulated`, { layer: 'sim', remedy: 'use api 5 or 6' });
  }
  const api = options.api;
  const scheduler = world.scheduler;
  const log = logger?.child({ component: 'simnrf' });
  const faults = new LineFaultState();
  const counters: LineCounters & { deviceRetransmissions: number; deviceDropped: number; resets: number; commands: number; events: number } = {
    framesToHost: 0,
    framesToDevice: 0,
    lost: 0,
    corrupted: 0,
    garbageBursts: 0,
    deviceRetransmissions: 0,
    deviceDropped: 0,
    resets: 0,
    commands: 0,
    events: 0,
  };
  const [hostEnd, deviceEnd] = createMemoryDuplexPair();
  let closed = false;
  let resetCountdown: number | undefined;

  const line = new VirtualLine({
    scheduler,
    baud: options.baud ?? SIM_NRF_DEFAULTS.baud,
    faults,
    counters,
    toHost: (bytes) => {
      if (closed) return;
      scheduler.noteHostActivity();
      deviceEnd.write(bytes).catch(() => undefined);
    },
  });

  const resetDevice = (why: string): void => {
    if (closed) return;
    counters.resets++;
    log?.debug({ why }, 'simnrf: device reset');
    softDevice.reset();
    link.reset();
  };

  const connectivity = new Connectivity({
    api,
    send: (payload) => link.send(payload),
    reset: resetDevice,
    onCommand: () => counters.commands++,
    onEvent: () => counters.events++,
    ...(log === undefined ? {} : { logger: log }),
  });

  const link = new DeviceH5Link({
    scheduler: options.deviceTimers ?? scheduler,
    retransmitMs: options.retransmitMs ?? SIM_NRF_DEFAULTS.retransmitMs,
    maxTransmissions: options.maxTransmissions ?? SIM_NRF_DEFAULTS.maxTransmissions,
    bootMs: options.bootMs ?? SIM_NRF_DEFAULTS.bootMs,
    write: (packet) => line.sendToHost(packet),
    deliver: (payload) => {
      if (resetCountdown !== undefined && --resetCountdown <= 0) {
        resetCountdown = undefined;
        resetDevice('fault: resetAfterPackets');
        return;
      }
      connectivity.packet(payload);
    },
    onResetRequested: () => resetDevice('H5 RESET from the host'),
    onRetransmit: () => counters.deviceRetransmissions++,
    onDropped: () => counters.deviceDropped++,
  });

  const softDevice = new SimSoftDevice({
    api,
    air: world.air,
    scheduler,
    address: parseAddress(options.address ?? SIM_NRF_DEFAULTS.address, 'random'),
    emit: (event) => connectivity.event(event),
    ...(log === undefined ? {} : { logger: log }),
  });
  connectivity.attach(softDevice);

  const setFaults = (f: H5LineFaults): void => {
    faults.set(f);
    link.silent = f.noSync === true;
    resetCountdown = f.resetAfterPackets;
  };
  setFaults(options.faults ?? {});

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    detach();
    line.close();
    link.close();
    softDevice.close();
    await deviceEnd.close();
  };
  const detach = world.attachDongle({
    // Bytes on the line, a reliable packet of the device waiting for its ACK, or the device
    // booting and establishing its link: its own timers must be able to move time.
    get busy() {
      return line.busy || link.awaitingAck || link.establishing;
    },
    unplug: () => void close(),
  });

  const decoder = new SlipDecoder();
  void (async () => {
    try {
      for await (const chunk of deviceEnd.readable()) {
        scheduler.noteHostActivity();
        line.carry('toDevice', chunk.length, () => {
          for (const frame of decoder.feed(chunk)) line.frameToDevice(frame, (f) => link.frame(f));
        });
      }
    } catch (error) {
      if (!(isBledfuError(error) && error.code === 'TRANSPORT_CLOSED')) log?.warn({ err: error }, 'simnrf: host stream failed');
    } finally {
      // The host closed its end: like pulling the dongle, nothing of it stays on the air.
      await close();
    }
  })();

  // Power on.
  link.reset();

  const control: SimNrfDongleControl = {
    api,
    get faults() {
      return faults.faults;
    },
    setFaults,
    clearFaults: () => setFaults({}),
    injectGarbage: (bytes) => {
      counters.garbageBursts++;
      line.rawToHost(bytes ?? faults.randomBytes(SIM_NRF_DEFAULTS.garbageInjectBytes));
    },
    reset: () => resetDevice('control: reset'),
    get linkState() {
      const state = link.state;
      return state === 'off' ? 'booting' : state;
    },
    get stats() {
      return { ...counters };
    },
  };

  return { transport: hostEnd, control, close };
}
