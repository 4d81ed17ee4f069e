/**
 * A set of simulated nRF5 devices, each on its own real HCI controller in the peripheral role
 * (for tests against BlueZ's btvirt, or real dongles on a bench). The devices share a paced
 * scheduler: their flash and boot times are modelled, sped up by `speed`, so a run is quick but
 * keeps the order of events a real board would produce.
 */
import { BledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { GapPeripheral } from '../host/gap/peripheral.js';
import { HciHost } from '../host/hci/controller.js';
import type { DeviceMode } from '../sim/devices/nrfDevice.js';
import { SimFaults, type FaultHandle, type SimFault } from '../sim/faults.js';
import { SimScheduler } from '../sim/scheduler.js';
import { createSimDevice, DEFAULT_SIM_CONFIG, type SimDeviceConfig, type SimDeviceView } from '../sim/world.js';
import type { ByteDuplex } from '../transport/types.js';
import { DeviceCarrier } from './carrier.js';

export interface StationConfig {
  /** One transport per device, each to its own controller. */
  readonly transports: readonly ByteDuplex[];
  /** Per device, overrides of defaultDeviceConfig(index); as many as transports. */
  readonly devices: readonly Partial<SimDeviceConfig>[];
  /**
   * Modelled time per real time; finite (real controllers run in real time). The host's own
   * waits are real time, so keep them well inside the devices' modelled timeouts: at 1000× the
   * DFU engine's 0.5 s reboot pause is 500 modelled seconds and the bootloader's 120 s inactivity
   * timeout has long reset it. 50 keeps a DFU quick with realistic ordering.
   */
  readonly speed: number;
  readonly inactivityTimeoutMs?: number;
  readonly continuationTimeoutMs?: number;
  readonly bootMs?: number;
  readonly sha256BytesPerMs?: number;
}

/** A device as a test sees it, in plain data (it crosses process boundaries). */
export interface StationDeviceStatus {
  readonly label: string;
  readonly address: string;
  readonly currentAddress: string;
  readonly currentName: string;
  readonly mode: DeviceMode;
  readonly firmwareRevision: string | undefined;
  readonly resets: number;
  /** The public address of the controller carrying it. */
  readonly controllerAddress: string;
}

export interface Station {
  readonly devices: readonly SimDeviceView[];
  status(): StationDeviceStatus[];
  inject(fault: SimFault): FaultHandle;
  /** Terminates the devices' links, stops advertising and closes the controllers. */
  close(): Promise<void>;
}

export async function startStation(config: StationConfig, logger: Logger): Promise<Station> {
  if (config.transports.length !== config.devices.length) {
    throw new BledfuError('INVALID_ARGUMENT', `${config.devices.length} device(s) need as many controllers, got ${config.transports.length}`, {
      layer: 'sim',
      remedy: 'give each simulated device its own controller',
    });
  }
  if (!Number.isFinite(config.speed) || !(config.speed > 0)) {
    throw new BledfuError('INVALID_ARGUMENT', `speed must be a finite number > 0, got ${config.speed}`, {
      layer: 'sim',
      remedy: 'devices on real controllers run paced: use e.g. 50',
    });
  }
  const scheduler = new SimScheduler({
    speed: config.speed,
    onError: (error, label) => logger.error({ err: error, event: label }, 'simbridge: event failed'),
  });
  const views: SimDeviceView[] = [];
  const faults = new SimFaults(() => {
    for (const v of views) v.device.advertisingChanged();
  });
  const timing = {
    inactivityTimeoutMs: config.inactivityTimeoutMs ?? DEFAULT_SIM_CONFIG.inactivityTimeoutMs,
    continuationTimeoutMs: config.continuationTimeoutMs ?? DEFAULT_SIM_CONFIG.continuationTimeoutMs,
    bootMs: config.bootMs ?? DEFAULT_SIM_CONFIG.bootMs,
    sha256BytesPerMs: config.sha256BytesPerMs ?? DEFAULT_SIM_CONFIG.sha256BytesPerMs,
  };
  const carriers: DeviceCarrier[] = [];
  const peripherals: GapPeripheral[] = [];
  const closeAll = async (): Promise<void> => {
    scheduler.close();
    for (const c of carriers) c.close();
    await Promise.all(peripherals.map((p) => p.close().catch(() => undefined)));
  };
  try {
    for (const [index, partial] of config.devices.entries()) {
      const view = createSimDevice(index, partial, { scheduler, faults, timing, logger });
      views.push(view);
      const log = logger.child({ device: view.label });
      const hci = new HciHost(config.transports[index] as ByteDuplex, { logger: log });
      let carrier: DeviceCarrier | undefined;
      const peripheral = new GapPeripheral(hci, {
        logger: log,
        onConnection: (connection) => {
          if (carrier === undefined) throw new BledfuError('INTERNAL', 'connection before the carrier exists', { layer: 'sim' });
          return carrier.onConnection(connection);
        },
      });
      peripherals.push(peripheral);
      await peripheral.open();
      carrier = new DeviceCarrier({ device: view.device, peripheral, scheduler, logger: log });
      carriers.push(carrier);
    }
  } catch (e) {
    await closeAll();
    throw e;
  }
  await Promise.all(carriers.map((c) => c.start()));
  let closed = false;
  return {
    devices: views,
    status: () =>
      views.map((v, i) => ({
        label: v.label,
        address: v.address.value,
        currentAddress: v.currentAddress().value,
        currentName: v.currentName(),
        mode: v.mode(),
        firmwareRevision: v.firmwareRevision(),
        resets: v.resets(),
        controllerAddress: peripherals[i]?.address?.value ?? '',
      })),
    inject: (fault) => faults.inject(fault),
    close: async () => {
      if (closed) return;
      closed = true;
      await closeAll();
    },
  };
}
