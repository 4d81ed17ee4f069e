/**
 * An Adapter over our own BLE host stack, talking HCI (H4) to a controller through any byte
 * transport: a UART dongle, or the simulator's in-memory pipe.
 */
import type { DeviceAddress } from '../../ble/address.js';
import type { AclBufferAccounting, AddressSource, Adapter, AdapterInfo, AdapterState, Advertisement, ConnectParams, Connection, HciCapture, HciCaptureOptions, ScanParams } from '../../ble/types.js';
import { BledfuError, hasCode, isBledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { withLinkedSignal } from '../../common/signals.js';
import { AttBearer } from '../../host/att/bearer.js';
import { ATT_ERROR } from '../../host/att/errors.js';
import { GapCentral, type GapLink } from '../../host/gap/central.js';
import { GattClient } from '../../host/gatt/client.js';
import { HciCaptureHub } from '../../host/hci/capture.js';
import { EVENT_MASK_BITS, LE_EVENT_MASK_BITS, LE_FEATURE_BITS, maskOf, PHY_MASK } from '../../host/hci/commands.js';
import { DEFAULT_COMMAND_TIMEOUT_MS, HciHost } from '../../host/hci/controller.js';
import { HCI_STATUS, hciStatusName } from '../../host/hci/errors.js';
import { OptionalCommands, type OptionalCommand } from '../../host/hci/optionalCommands.js';
import { realClock, type Timer } from '../../common/clock.js';
import { L2capLink } from '../../host/l2cap/link.js';
import type { ByteDuplex } from '../../transport/types.js';
import type { AdapterBaseOptions } from '../adapterOptions.js';
import { failLinkStack, HciConnection, type LinkStack } from './connection.js';
import { describeController } from './identity.js';
import { adapterBusy, LinkSlots } from '../linkSlots.js';
import { dongleKey, generateStaticRandomAddress, isStaticRandom, MemoryStationAddressStore, NO_PUBLIC_ADDRESS, type StationAddressStore } from './stationAddress.js';

export interface HciAdapterOptions extends AdapterBaseOptions {
  readonly commandTimeoutMs?: number;
  /** Path of a btsnoop file (HCI UART) receiving all HCI traffic while the adapter is open. */
  readonly capture?: string;
  /**
   * Where a static random address made for a dongle without a public address is kept (keyed by
   * the spec without its options), so devices see the same station after a restart. Default:
   * this adapter's memory only.
   */
  readonly addressStore?: StationAddressStore;
}

/** Zephyr controllers report the Linux Foundation's company identifier in Read Local Version. */
const ZEPHYR_COMPANY_ID = 0x05f1;


const LE_MAX_TX_OCTETS = 251;
const LE_MAX_TX_TIME_US = 2120;

/** The optional commands this backend sends, with what a controller without them costs. */
const SUGGESTED_DATA_LENGTH: OptionalCommand = {
  name: 'leWriteSuggestedDefaultDataLength',
  leFeature: LE_FEATURE_BITS.dataPacketLengthExtension,
  withoutIt: 'new links start with 27-byte link-layer packets unless LE Set Data Length raises them',
};
const SET_DATA_LENGTH: OptionalCommand = {
  name: 'leSetDataLength',
  leFeature: LE_FEATURE_BITS.dataPacketLengthExtension,
  withoutIt: 'links keep the link-layer packet size the controller and the device agree on by themselves',
};
const SET_PHY: OptionalCommand = {
  name: 'leSetPhy',
  leFeature: LE_FEATURE_BITS.le2mPhy,
  withoutIt: 'links stay on the PHY the controller chooses, usually 1M: transfers may be slower',
};

class HciAdapter implements Adapter {
  readonly id: string;
  readonly #options: HciAdapterOptions;
  readonly #log: Logger;
  readonly #hci: HciHost;
  readonly #gap: GapCentral;
  readonly #capture: HciCaptureHub;
  readonly #stacks = new Map<number, LinkStack>();
  readonly #slots: LinkSlots;
  #state: AdapterState = 'opening';
  #error: BledfuError | undefined;
  #identity = 'unknown controller';
  #address: DeviceAddress | undefined;
  // Per adapter, so per dongle: what one controller ignores says nothing about another.
  readonly #optionalCommands: OptionalCommands;
  #addressSource: AddressSource | undefined;

  constructor(transport: ByteDuplex, options: HciAdapterOptions) {
    this.id = options.id;
    this.#options = options;
    this.#log = options.logger.child({ adapter: options.id });
    this.#slots = new LinkSlots(options.clock ?? realClock);
    this.#optionalCommands = new OptionalCommands(this.#log);
    this.#hci = new HciHost(transport, {
      logger: this.#log,
      ...(options.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: options.commandTimeoutMs }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    this.#capture = new HciCaptureHub(this.#hci, { logger: this.#log, ...(options.capture === undefined ? {} : { file: options.capture }) });
    this.#gap = new GapCentral(this.#hci, {
      logger: this.#log,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      onLinkUp: (link) => this.#onLinkUp(link),
      onLinkDown: (link, error) => {
        const stack = this.#stacks.get(link.handle);
        this.#stacks.delete(link.handle);
        this.#slots.released();
        if (stack !== undefined) failLinkStack(stack, error);
        this.#log.info({ address: link.address.value, reason: error.message }, 'link down');
      },
    });
    this.#hci.onAclFrame((handle, frame) => {
      const stack = this.#stacks.get(handle);
      if (stack === undefined) return;
      try {
        stack.l2cap.receive(frame);
      } catch (e) {
        this.#log.debug({ err: e, handle }, 'malformed L2CAP frame dropped');
      }
    });
    this.#hci.failed.addEventListener(
      'abort',
      () => {
        if (this.#state === 'closed') return;
        this.#state = 'failed';
        this.#error = this.#hci.failed.reason as BledfuError;
        // The registry's supervisor reports the loss to the user; this is the host stack's view.
        this.#log.debug({ err: this.#error }, 'HCI host failed');
      },
      { once: true },
    );
  }

  async open(): Promise<void> {
    this.#hci.start();
    const hci = this.#hci;
    await hci.send('reset', {});
    const version = await hci.send('readLocalVersionInformation', {});
    this.#identity = describeController(version);
    const { address: publicAddress } = await hci.send('readBdAddr', {});
    if (publicAddress !== NO_PUBLIC_ADDRESS) {
      this.#address = { value: publicAddress, type: 'public' };
      this.#addressSource = 'public';
    } else {
      // No public address: every scan and connection would otherwise show 00:00:00:00:00:00.
      const chosen = await this.#staticAddress(version.companyId);
      await hci.send('leSetRandomAddress', { address: chosen.address });
      this.#gap.useRandomAddress();
      this.#address = { value: chosen.address, type: 'random' };
      this.#addressSource = chosen.source;
      this.#log.info({ address: chosen.address, source: chosen.source }, 'controller has no public address; using a static random address');
    }
    const address = this.#address.value;
    await hci.send('setEventMask', {
      mask: maskOf([
        EVENT_MASK_BITS.disconnectionComplete,
        EVENT_MASK_BITS.encryptionChange,
        EVENT_MASK_BITS.hardwareError,
        EVENT_MASK_BITS.dataBufferOverflow,
        EVENT_MASK_BITS.encryptionKeyRefreshComplete,
        EVENT_MASK_BITS.leMeta,
      ]),
    });
    await hci.send('leSetEventMask', {
      mask: maskOf([
        LE_EVENT_MASK_BITS.connectionComplete,
        LE_EVENT_MASK_BITS.advertisingReport,
        LE_EVENT_MASK_BITS.connectionUpdateComplete,
        LE_EVENT_MASK_BITS.remoteConnectionParameterRequest,
        LE_EVENT_MASK_BITS.dataLengthChange,
        LE_EVENT_MASK_BITS.phyUpdateComplete,
      ]),
    });
    await hci.readAclBuffers();
    const { leFeatures } = await hci.send('leReadLocalSupportedFeatures', {});
    this.#optionalCommands.configure({ leFeatures, supportedCommands: await this.#readSupportedCommands() });
    await this.#optionalCommands.run(SUGGESTED_DATA_LENGTH, () =>
      hci.send('leWriteSuggestedDefaultDataLength', { suggestedMaxTxOctets: LE_MAX_TX_OCTETS, suggestedMaxTxTime: LE_MAX_TX_TIME_US }),
    );
    this.#state = 'ready';
    this.#capture.sealPrelude();
    // The registry's supervisor says so to the user (once per opening, not per attempt).
    this.#log.debug({ identity: this.#identity, address }, 'controller set up');
  }

  /**
   * The controller's own static address when it is a Zephyr controller offering one (as BlueZ and
   * Zephyr's own host do), else the one made earlier for this dongle, else a new one, kept.
   */
  async #staticAddress(companyId: number): Promise<{ readonly address: string; readonly source: AddressSource }> {
    if (companyId === ZEPHYR_COMPANY_ID) {
      let offered: readonly { readonly address: string }[] = [];
      await this.#optional('Zephyr Read Static Addresses', async () => {
        offered = (await this.#hci.send('zephyrReadStaticAddresses', {})).addresses;
      });
      const own = offered.find((a) => isStaticRandom(a.address));
      if (own !== undefined) return { address: own.address, source: 'controller-static' };
    }
    const store = this.#options.addressStore ?? this.#ownStore;
    const dongle = dongleKey(this.#options.spec);
    const kept = store.get(dongle);
    if (kept !== undefined) return { address: kept, source: 'generated' };
    const made = generateStaticRandomAddress();
    store.put(dongle, made);
    return { address: made, source: 'generated' };
  }

  readonly #ownStore = new MemoryStationAddressStore();

  /**
   * Runs a vendor command the controller may refuse or ignore: a controller that merely shares
   * Zephyr's company id may not know it, and one that never answers costs one command timeout
   * at opening rather than the dongle. Either way bledfu carries on without it.
   */
  async #optional(what: string, fn: () => Promise<unknown>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (e) {
      if (hasCode(e, 'HCI_ERROR')) {
        this.#log.debug({ err: e }, `${what} refused by the controller; skipped`);
        return false;
      }
      if (hasCode(e, 'HCI_TIMEOUT')) {
        this.#log.warn({ err: e }, `${what}: the controller did not answer; carrying on without it`);
        this.#openingNotes.push(`${what}: the controller did not answer it; carried on without it`);
        return false;
      }
      throw e;
    }
  }

  /**
   * Supported_Commands, or undefined when the controller refuses to say (every controller since
   * Bluetooth 1.2 must answer; one that does not gets no optional commands).
   */
  async #readSupportedCommands(): Promise<Uint8Array | undefined> {
    try {
      return (await this.#hci.send('readLocalSupportedCommands', {})).supportedCommands;
    } catch (e) {
      if (!hasCode(e, 'HCI_ERROR')) throw e;
      this.#log.warn({ err: e }, 'the controller does not list its supported commands; sending no optional commands');
      return undefined;
    }
  }

  aclBufferAccounting(): AclBufferAccounting | undefined {
    return this.#hci.aclBufferAccounting();
  }

  captureHci(options: HciCaptureOptions): HciCapture {
    return this.#capture.record(options);
  }

  info(): AdapterInfo {
    return {
      id: this.id,
      kind: this.#options.kind,
      spec: this.#options.spec,
      state: this.#state,
      ...(this.#address === undefined ? {} : { address: this.#address }),
      ...(this.#addressSource === undefined ? {} : { addressSource: this.#addressSource }),
      identity: this.#identity,
      activeConnections: this.#stacks.size,
      maxConnections: this.#maxConnections,
      ...(this.#error === undefined ? {} : { error: this.#error }),
      workarounds: [
        ...this.#openingNotes,
        ...this.#optionalCommands.workarounds,
        ...(Number.isFinite(this.#controllerLinkLimit)
          ? [`the controller holds ${this.#controllerLinkLimit} links (it refused one more); used with ${this.#controllerLinkLimit} instead of max=${this.#options.maxConnections ?? 4}`]
          : []),
      ],
    };
  }

  get failed(): AbortSignal {
    return this.#hci.failed;
  }

  get #maxConnections(): number {
    return Math.min(this.#options.maxConnections ?? 4, this.#controllerLinkLimit);
  }

  #checkReady(): void {
    if (this.#state === 'ready') return;
    throw (
      this.#error ??
      new BledfuError('ADAPTER_UNAVAILABLE', `adapter ${this.id} is ${this.#state}`, { layer: 'backend' })
    );
  }

  scan(params: ScanParams): AsyncIterable<Advertisement> {
    this.#checkReady();
    return this.#gap.scan(params.active, params.signal);
  }

  #onLinkUp(link: GapLink): void {
    const l2cap = new L2capLink({
      handle: link.handle,
      hci: this.#hci,
      logger: this.#log.child({ handle: link.handle }),
      updateConnection: async (p) => {
        await this.#hci.send('leConnectionUpdate', {
          handle: link.handle,
          connIntervalMin: p.intervalMin,
          connIntervalMax: p.intervalMax,
          maxLatency: p.latency,
          supervisionTimeout: p.timeout,
          minCeLength: 0,
          maxCeLength: 0,
        });
      },
    });
    const bearer = new AttBearer(
      { send: (pdu, signal) => l2cap.sendAtt(pdu, signal) },
      {
        logger: this.#log,
        ...(this.#options.attTimeoutMs === undefined ? {} : { timeoutMs: this.#options.attTimeoutMs }),
        ...(this.#options.clock === undefined ? {} : { clock: this.#options.clock }),
        onTimeout: () => {
          // ATT allows nothing more on a bearer after a timeout: drop the link.
          this.#gap.disconnect(link.handle).catch(() => undefined);
        },
      },
    );
    l2cap.onAtt((pdu) => bearer.receive(pdu));
    const gatt = new GattClient(bearer);
    this.#stacks.set(link.handle, { link, l2cap, bearer, gatt });
  }

  /**
   * Links the controller turned out to hold: a controller with fewer link contexts than max=
   * (Zephyr's CONFIG_BT_MAX_CONN, a vendor firmware's fixed pool) refuses LE Create Connection
   * with Memory Capacity Exceeded or Connection Limit Exceeded while links are up. That is a
   * limit, not a failure: from then on this dongle is used with the links it has (ListAdapters
   * shows it), and the attempt that found it waits for a link like any other (ADAPTER_BUSY).
   */
  #controllerLinkLimit = Number.POSITIVE_INFINITY;
  /** Quirks met while opening (ListAdapters `workarounds`). */
  readonly #openingNotes: string[] = [];

  #controllerFull(e: unknown): BledfuError | undefined {
    if (!(hasCode(e, 'HCI_ERROR') || hasCode(e, 'CONNECT_FAILED'))) return undefined;
    const status = e.facts.hciStatus;
    if (status !== HCI_STATUS.memoryCapacityExceeded && status !== HCI_STATUS.connectionLimitExceeded) return undefined;
    const links = this.#stacks.size;
    // With no link up the controller cannot connect at all: that is its error, not a limit.
    if (links === 0) return undefined;
    if (links < this.#controllerLinkLimit) {
      const configured = this.#options.maxConnections ?? 4;
      this.#controllerLinkLimit = links;
      this.#log.warn(
        { links, configured, hciStatus: status },
        `the controller refused link ${links + 1} (${hciStatusName(status)}): it holds ${links} at most; using ${links} instead of max=${configured} on this dongle (set max=${links} in the adapter spec to say so)`,
      );
    }
    return adapterBusy(this.id, links, `the controller holds at most ${links} links: wait for one to end, or set max=${links} in the adapter spec`);
  }

  /** The connection limit is real: reaching it fails ADAPTER_BUSY (or waits, see LinkSlots). */
  #checkCanConnect(): void {
    this.#checkReady();
    if (this.#stacks.size >= this.#maxConnections) {
      throw adapterBusy(this.id, this.#stacks.size, 'wait for a running job to finish or raise maxConnections');
    }
  }

  async connect(address: DeviceAddress, params: ConnectParams = {}): Promise<Connection> {
    const timeoutMs = params.timeoutMs ?? this.#options.connectTimeoutMs ?? 10_000;
    const link = await this.#slots.acquire(
      async () => {
        this.#checkCanConnect();
        // Attempts queue for the controller (one LE Create Connection at a time); the ones ahead
        // may take the last free slot or the adapter may close meanwhile, so check again on our turn.
        try {
          return await this.#gap.connect(address, {
            timeoutMs,
            ...(params.signal === undefined ? {} : { signal: params.signal }),
            admit: () => this.#checkCanConnect(),
          });
        } catch (e) {
          throw this.#controllerFull(e) ?? e;
        }
      },
      { wait: params.waitForFreeLink === true, timeoutMs, signal: params.signal },
    );
    const stack = this.#stacks.get(link.handle);
    if (stack === undefined) throw link.closed.reason ?? new BledfuError('INTERNAL', 'link without a stack', { layer: 'backend' });
    const connection = new HciConnection(stack, () => this.#gap.disconnect(link.handle));
    try {
      await this.#setUp(stack, params);
    } catch (e) {
      if (link.closed.aborted) {
        const lost = link.closed.reason as BledfuError;
        throw new BledfuError('CONNECT_FAILED', `connected to ${address.value} but ${lost.message}`, {
          layer: 'backend',
          facts: lost.facts,
          cause: e,
        });
      }
      await connection.disconnect().catch(() => undefined);
      throw e;
    }
    return connection;
  }

  async #setUp(stack: LinkStack, params: ConnectParams): Promise<void> {
    const { link, bearer } = stack;
    await withLinkedSignal([link.closed, params.signal], async (signal) => {
      try {
        await bearer.exchangeMtu(params.mtu ?? 247, signal);
      } catch (e) {
        if (!(hasCode(e, 'ATT_ERROR') && e.facts.attError === ATT_ERROR.requestNotSupported)) throw e;
        this.#log.debug('peer does not support Exchange MTU; staying at 23');
      }
      await this.#optionalCommands.run(SET_DATA_LENGTH, () =>
        this.#hci.send('leSetDataLength', { handle: link.handle, txOctets: LE_MAX_TX_OCTETS, txTime: LE_MAX_TX_TIME_US }, signal),
      );
      await this.#optionalCommands.run(SET_PHY, () =>
        this.#hci.send('leSetPhy', { handle: link.handle, allPhys: 0, txPhys: PHY_MASK.le2m, rxPhys: PHY_MASK.le2m, phyOptions: 0 }, signal),
      );
    });
  }

  /** Closing must finish even if the controller never reports the link down. */
  #bounded(work: Promise<void>): Promise<void> {
    const clock = this.#options.clock ?? realClock;
    let timer: Timer | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = clock.setTimer(this.#options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, resolve);
    });
    return Promise.race([work, limit]).finally(() => timer?.cancel());
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const wasUsable = this.#state === 'ready';
    this.#state = 'closed';
    if (wasUsable) {
      await Promise.all(
        [...this.#stacks.values()].map((s) =>
          this.#bounded(this.#gap.disconnect(s.link.handle, HCI_STATUS.remoteUserTerminated)).catch((e: unknown) => {
            this.#log.debug({ err: isBledfuError(e) ? e.message : e }, 'disconnect on close failed');
          }),
        ),
      );
    }
    try {
      await this.#hci.close();
    } finally {
      await this.#capture.close();
    }
  }
}

/** Opens the controller (Reset, identity, buffers, event masks) and returns a ready adapter. */
export async function createHciAdapter(transport: ByteDuplex, options: HciAdapterOptions): Promise<Adapter> {
  const adapter = new HciAdapter(transport, options);
  try {
    await adapter.open();
  } catch (e) {
    await adapter.close().catch(() => undefined);
    throw e;
  }
  return adapter;
}
