/**
 * Carries one simulated device (a SimPeripheral) on a real HCI controller in the peripheral role,
 * the counterpart of the simulated air: the device's advertising becomes the controller's, a
 * central's connection becomes a PeripheralLink, L2CAP goes over ACL.
 *
 * Link endings a real peripheral controller cannot produce on request are approximated:
 * - lose() (the path breaks, both chips keep running): from then on nothing crosses the link;
 *   one supervision timeout later (modelled time) we send HCI Disconnect with reason 0x08, which
 *   the emulator passes through, so the central sees Connection Timeout, and the device is told
 *   0x08 as well;
 * - vanish() (the chip resets): the same silence and the same late 0x08 towards the central, but
 *   the device is told nothing. A controller has one advertising set and we stop talking on the
 *   old link anyway, so when the rebooted device wants to advertise before that timeout, the old
 *   link is terminated (0x08) at once instead: the central notices a little early.
 */
import type { ConnectionParameters } from '../ble/types.js';
import { isBledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { GapPeripheral, PeripheralAdvertising, PeripheralConnection, PeripheralConnectionHandler } from '../host/gap/peripheral.js';
import { HCI_STATUS } from '../host/hci/errors.js';
import type { LinkParameters, PeripheralLink, PeripheralLinkHandler, SimPeripheral } from '../sim/peripheral.js';
import type { SimScheduler, TimerHandle } from '../sim/scheduler.js';

/** LL payload without Data Length Extension (emulated controllers do not negotiate it). */
const DEFAULT_LL_OCTETS = 27;

function linkParameters(p: ConnectionParameters): LinkParameters {
  return {
    intervalMs: p.intervalUs / 1000,
    latency: p.latency,
    supervisionTimeoutMs: p.supervisionTimeoutMs,
    txPhy: '1M',
    rxPhy: '1M',
    maxTxOctets: DEFAULT_LL_OCTETS,
    maxRxOctets: DEFAULT_LL_OCTETS,
  };
}

export interface CarrierOptions {
  readonly device: SimPeripheral;
  readonly peripheral: GapPeripheral;
  readonly scheduler: SimScheduler;
  readonly logger: Logger;
}

/** One link between the device and a central, as the device sees it. */
class CarriedLink {
  readonly #connection: PeripheralConnection;
  readonly #scheduler: SimScheduler;
  readonly #log: Logger;
  #device: PeripheralLinkHandler | undefined;
  /** Nothing crosses any more (lost or vanished); the link waits for its late 0x08. */
  #silent = false;
  /** The device is told when the link ends (false once it vanished). */
  #deviceListens = true;
  #lateTimeout: TimerHandle | undefined;

  constructor(connection: PeripheralConnection, scheduler: SimScheduler, logger: Logger) {
    this.#connection = connection;
    this.#scheduler = scheduler;
    this.#log = logger;
  }

  get silentPending(): boolean {
    return this.#silent && !this.#connection.closed.aborted;
  }

  attach(device: PeripheralLinkHandler): void {
    this.#device = device;
  }

  view(): PeripheralLink {
    return {
      peerAddress: this.#connection.peerAddress,
      parameters: () => linkParameters(this.#connection.parameters),
      sendL2cap: (cid, payload, onSent) => {
        if (this.#silent || this.#connection.closed.aborted) return;
        this.#connection.sendL2cap(cid, payload).then(
          () => onSent?.(),
          (e: unknown) => this.#log.debug({ err: isBledfuError(e) ? e.message : e }, 'simbridge: send on a link that went down'),
        );
      },
      disconnect: (reason) => {
        if (this.#silent || this.#connection.closed.aborted) return;
        this.#terminate(reason);
      },
      vanish: () => this.#goSilent(false),
      lose: () => this.#goSilent(true),
    };
  }

  /** The handler the host peripheral calls. */
  handler(): PeripheralConnectionHandler {
    return {
      onL2cap: (cid, payload) => {
        if (!this.#silent) this.#device?.onL2cap(cid, payload);
      },
      onParametersChanged: () => {
        if (!this.#silent) this.#device?.onParametersChanged();
      },
      onDisconnected: (reason) => {
        this.#lateTimeout?.cancel();
        const device = this.#device;
        this.#device = undefined;
        if (!this.#deviceListens) return;
        // A link we ended for a lost path is a supervision timeout on this side too.
        device?.onDisconnected(this.#silent ? HCI_STATUS.connectionTimeout : reason);
      },
    };
  }

  /** Ends a silent link now (the controller is needed for advertising). */
  async endSilence(): Promise<void> {
    if (!this.silentPending) return;
    this.#lateTimeout?.cancel();
    await this.#connection.disconnect(HCI_STATUS.connectionTimeout).catch(() => undefined);
  }

  #goSilent(deviceListens: boolean): void {
    if (this.#silent || this.#connection.closed.aborted) return;
    this.#silent = true;
    this.#deviceListens = deviceListens;
    if (!deviceListens) this.#device = undefined;
    const timeoutMs = this.#connection.parameters.supervisionTimeoutMs;
    this.#lateTimeout = this.#scheduler.after(timeoutMs, () => this.#terminate(HCI_STATUS.connectionTimeout), 'simbridge: supervision timeout');
  }

  #terminate(reason: number): void {
    this.#connection.disconnect(reason).catch((e: unknown) => {
      this.#log.debug({ err: isBledfuError(e) ? e.message : e }, 'simbridge: disconnect failed');
    });
  }
}

/**
 * Binds a device to a controller: call start() once the peripheral role is open. From then on
 * the device's advertising changes are mirrored and connections handed to it.
 */
export class DeviceCarrier {
  readonly #o: CarrierOptions;
  readonly #links = new Set<CarriedLink>();
  #started = false;
  #closed = false;
  // Advertising changes coalesce: one runs at a time and the latest wish wins.
  #syncing = false;
  #again = false;

  constructor(options: CarrierOptions) {
    this.#o = options;
  }

  /** The host peripheral's onConnection, to be passed when the GapPeripheral is built. */
  onConnection(connection: PeripheralConnection): PeripheralConnectionHandler {
    const link = new CarriedLink(connection, this.#o.scheduler, this.#o.logger);
    this.#links.add(link);
    connection.closed.addEventListener('abort', () => {
      this.#links.delete(link);
    }, { once: true });
    const handler = link.handler();
    link.attach(this.#o.device.accept(link.view()));
    return handler;
  }

  /** Resolves once the device's first advertising (if any) is on the controller. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#o.device.attachRadio({ advertisingChanged: () => this.#advertisingChanged() });
    this.#syncing = true;
    await this.#sync();
    this.#syncing = false;
    if (this.#again) {
      this.#again = false;
      this.#advertisingChanged();
    }
  }

  /** Stops mirroring the device; the owner closes the peripheral role. */
  close(): void {
    this.#closed = true;
  }

  #advertisingChanged(): void {
    if (!this.#started || this.#closed) return;
    if (this.#syncing) {
      this.#again = true;
      return;
    }
    this.#syncing = true;
    void this.#sync().finally(() => {
      this.#syncing = false;
      if (this.#again) {
        this.#again = false;
        this.#advertisingChanged();
      }
    });
  }

  async #sync(): Promise<void> {
    const adv = this.#o.device.advertising();
    const wanted: PeripheralAdvertising | undefined =
      adv === undefined
        ? undefined
        : { address: adv.address, intervalMs: adv.intervalMs, data: adv.data, scanResponse: adv.scanResponse, connectable: adv.connectable };
    try {
      if (wanted !== undefined) await Promise.all([...this.#links].map((l) => l.endSilence()));
      await this.#o.peripheral.setAdvertising(wanted);
    } catch (e) {
      if (this.#closed) return;
      this.#o.logger.warn({ err: e, device: this.#o.device.label }, 'simbridge: could not change advertising');
    }
  }
}
