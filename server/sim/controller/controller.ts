/**
 * A virtual LE controller: speaks H4 over a byte pipe (the host end is what the HCI backend
 * opens) and puts the host's scans and connections on the simulated air. Packet layouts come
 * from the host stack's codecs (host/hci), so both sides agree by construction; behaviour
 * (which events, when, with which status) is the controller's own.
 */
import type { DeviceAddress } from '../../ble/address.js';
import { ByteReader, ByteWriter } from '../../common/bytes.js';
import { isBledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import {
  decodeCommand,
  encodeReturnParameters,
  HCI_COMMANDS,
  type CommandParams,
  type CommandReturn,
  type DecodedCommand,
  type HciCommandName,
  LE_FEATURE_BITS,
  LE_EVENT_MASK_BITS,
  EVENT_MASK_BITS,
  maskOf,
  hasBit,
} from '../../host/hci/commands.js';
import { encodeEvent, type HciEvent } from '../../host/hci/events.js';
import { ACL_PB, decodeAclPacket, decodeCommandPacket, encodeAclPacket, encodeEventPacket } from '../../host/hci/packets.js';
import { encodeH4, H4Parser, type H4PacketType } from '../../transport/h4.js';
import type { ByteDuplex } from '../../transport/types.js';
import type { AirAdvertisement, AirLink, CentralLinkObserver, CentralNode, Initiation, SimAir } from '../air.js';
import type { SimScheduler } from '../scheduler.js';
import { supportedCommandsBitmap } from './supportedCommands.js';

export const STATUS = {
  success: 0x00,
  unknownCommand: 0x01,
  unknownConnection: 0x02,
  memoryCapacityExceeded: 0x07,
  commandDisallowed: 0x0c,
  invalidParameters: 0x12,
} as const satisfies Record<string, number>;

/** Opcodes answered here that the host codecs do not model. */
const EXTRA_OPCODES = { readLocalName: 0x0c14, hostBufferSize: 0x0c33 } as const;

export interface ControllerOptions {
  readonly air: SimAir;
  readonly scheduler: SimScheduler;
  /** Public address (Read BD_ADDR). */
  readonly address: DeviceAddress;
  /** LE ACL buffers announced by LE Read Buffer Size. */
  readonly aclDataLength: number;
  readonly aclBuffers: number;
  /** Shown in Read Local Name. */
  readonly identity: string;
  /**
   * false: the controller has no public address and Read BD_ADDR answers 00:00:00:00:00:00, like
   * Zephyr's hci_uart on an nRF52840 dongle. Default: it answers `address`.
   */
  readonly publicAddress?: false;
  /**
   * A static random address the controller offers through Zephyr's vendor command "Read Static
   * Addresses" (0xFC09). Given, the controller also presents itself as Zephyr in Read Local
   * Version (manufacturer 0x05F1, The Linux Foundation), as a host needs that to send the vendor
   * command at all. Default: no vendor commands; the manufacturer is 0xFFFF.
   */
  readonly vendorStaticAddress?: DeviceAddress;
  readonly logger?: Logger;
  /**
   * Opcodes the controller advertises (Supported_Commands) but never answers: no Command Status,
   * no Command Complete, the command credit kept, as some real controllers do with LE Set PHY.
   * Default none.
   */
  readonly unansweredCommands?: readonly number[];
  /** Opcodes left out of Supported_Commands (still answered if sent anyway). Default none. */
  readonly withheldCommands?: readonly number[];
  /**
   * Links the controller can hold at once (Zephyr's CONFIG_BT_MAX_CONN). LE Create Connection
   * beyond it gets Command Status Memory Capacity Exceeded, as Zephyr's controller answers when no
   * connection context is free. Default: no limit.
   */
  readonly linkLimit?: number;
  /**
   * Largest LL payload the controller supports with Data Length Extension (27–251). Zephyr's
   * defaults to 27 unless the build raises BT_CTLR_DATA_LENGTH_MAX: LE Set Data Length to 251 is
   * accepted and the link stays at 27. Default 251.
   */
  readonly maxDataLength?: number;
}

/** Zephyr's controllers report the Linux Foundation's company identifier. */
const ZEPHYR_COMPANY_ID = 0x05f1;
const NO_ADDRESS = '00:00:00:00:00:00';

const DEFAULT_EVENT_MASK = 0x00001fffffffffffn;
const DEFAULT_LE_EVENT_MASK = 0x1fn;

interface Connection {
  readonly handle: number;
  readonly link: AirLink;
  /** Host ACL packets handed to the link and not yet acknowledged over the air. */
  inFlight: number;
  phyRequested: boolean;
  updateRequested: boolean;
}

export class VirtualController implements CentralNode {
  readonly #air: SimAir;
  readonly #scheduler: SimScheduler;
  readonly #options: ControllerOptions;
  readonly #logger: Logger | undefined;
  readonly #parser = new H4Parser();
  #transport: ByteDuplex | undefined;
  #eventMask = DEFAULT_EVENT_MASK;
  #leEventMask = DEFAULT_LE_EVENT_MASK;
  #randomAddress: DeviceAddress | undefined;
  #ownAddressType = 0;
  #scanActive = false;
  #scanning = false;
  #filterDuplicates = false;
  readonly #seen = new Set<string>();
  #initiation: { readonly handle: Initiation; readonly peer: DeviceAddress } | undefined;
  readonly #connections = new Map<number, Connection>();
  readonly #byLink = new Map<AirLink, Connection>();
  #nextHandle = 0x0040;
  #suggestedTxOctets = 27;
  #suggestedTxTime = 328;
  #hostAclLength: number | undefined;
  readonly #completed = new Map<number, number>();
  #completedFlushQueued = false;

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.#air = options.air;
    this.#scheduler = options.scheduler;
    this.#logger = options.logger;
  }

  get maxDataLength(): number | undefined {
    return this.#options.maxDataLength;
  }

  get address(): DeviceAddress {
    if (this.#ownAddressType === 1 && this.#randomAddress !== undefined) return this.#randomAddress;
    // Without a public address, a host that scans or connects as "public" goes on the air as zeros.
    return this.#options.publicAddress === false ? { value: NO_ADDRESS, type: 'public' } : this.#options.address;
  }

  /** True while the host has a scan, a connection attempt or a link on the air. */
  get busy(): boolean {
    return this.#scanning || this.#initiation !== undefined || this.#connections.size > 0;
  }

  /** Starts serving a host on this pipe (the controller end of a memory pair). */
  attach(transport: ByteDuplex): void {
    this.#transport = transport;
    void this.#readLoop(transport);
  }

  /** The host went away: everything on the air ends as if the dongle were unplugged. */
  detach(): void {
    this.#dropAll();
    this.#transport = undefined;
  }

  async #readLoop(transport: ByteDuplex): Promise<void> {
    try {
      for await (const chunk of transport.readable()) {
        this.#scheduler.noteHostActivity();
        for (const packet of this.#parser.feed(chunk)) this.#onPacket(packet.type, packet.bytes);
      }
    } catch (error) {
      if (!(isBledfuError(error) && error.code === 'TRANSPORT_CLOSED')) {
        this.#logger?.warn({ err: error }, 'sim controller: host stream failed');
      }
    } finally {
      if (this.#transport === transport) this.detach();
    }
  }

  #onPacket(type: H4PacketType, bytes: Uint8Array): void {
    switch (type) {
      case 'command':
        this.#onCommandPacket(bytes);
        return;
      case 'acl':
        this.#onAcl(bytes);
        return;
      case 'event':
      case 'sco':
      case 'iso':
        this.#logger?.debug({ type }, 'sim controller: ignoring packet type a host does not send');
        return;
      default: {
        const never: never = type;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  // --- output -------------------------------------------------------------------------------

  #write(type: H4PacketType, bytes: Uint8Array): void {
    const transport = this.#transport;
    if (transport === undefined || transport.closed.aborted) return;
    this.#scheduler.noteHostActivity();
    transport.write(encodeH4({ type, bytes })).catch(() => undefined);
  }

  #event(event: HciEvent): void {
    if (!this.#eventEnabled(event)) return;
    const packet = encodeEvent(event);
    this.#write('event', encodeEventPacket(packet));
  }

  #eventEnabled(event: HciEvent): boolean {
    const le = (bit: number): boolean => hasBit(this.#eventMask, EVENT_MASK_BITS.leMeta) && hasBit(this.#leEventMask, bit);
    switch (event.kind) {
      case 'commandComplete':
      case 'commandStatus':
      case 'numberOfCompletedPackets':
        return true;
      case 'disconnectionComplete':
        return hasBit(this.#eventMask, EVENT_MASK_BITS.disconnectionComplete);
      case 'hardwareError':
        return hasBit(this.#eventMask, EVENT_MASK_BITS.hardwareError);
      case 'leConnectionComplete':
        return le(LE_EVENT_MASK_BITS.connectionComplete);
      case 'leEnhancedConnectionComplete':
        return le(LE_EVENT_MASK_BITS.enhancedConnectionComplete);
      case 'leAdvertisingReport':
        return le(LE_EVENT_MASK_BITS.advertisingReport);
      case 'leConnectionUpdateComplete':
        return le(LE_EVENT_MASK_BITS.connectionUpdateComplete);
      case 'leRemoteConnectionParameterRequest':
        return le(LE_EVENT_MASK_BITS.remoteConnectionParameterRequest);
      case 'leDataLengthChange':
        return le(LE_EVENT_MASK_BITS.dataLengthChange);
      case 'lePhyUpdateComplete':
        return le(LE_EVENT_MASK_BITS.phyUpdateComplete);
      case 'unknown':
        return true;
      default: {
        const never: never = event;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  #complete(opcode: number, returnParameters: Uint8Array): void {
    this.#event({ kind: 'commandComplete', numHciCommandPackets: 1, opcode, returnParameters });
  }

  #completeWith<K extends HciCommandName>(name: K, value?: CommandReturn<K>, status: number = STATUS.success): void {
    this.#complete(HCI_COMMANDS[name].opcode, encodeReturnParameters(name, status, status === STATUS.success ? value : undefined));
  }

  #status(opcode: number, status: number): void {
    this.#event({ kind: 'commandStatus', status, numHciCommandPackets: 1, opcode });
  }

  // --- commands -----------------------------------------------------------------------------

  #onCommandPacket(bytes: Uint8Array): void {
    let packet;
    try {
      packet = decodeCommandPacket(bytes);
    } catch {
      return; // a framing-level lie: nothing sensible to answer
    }
    let command: DecodedCommand;
    try {
      command = decodeCommand(packet);
    } catch {
      const name = [...Object.entries(HCI_COMMANDS)].find(([, spec]) => spec.opcode === packet.opcode)?.[1];
      if (name?.completion === 'status') this.#status(packet.opcode, STATUS.invalidParameters);
      else this.#complete(packet.opcode, Uint8Array.of(STATUS.invalidParameters));
      return;
    }
    this.#onCommand(command);
  }

  #onCommand(command: DecodedCommand): void {
    if (this.#options.unansweredCommands?.includes(command.opcode) === true) {
      this.#logger?.debug({ opcode: command.opcode }, 'sim controller: leaving a command unanswered (quirk)');
      return;
    }
    switch (command.name) {
      case 'reset':
        this.#dropAll();
        this.#eventMask = DEFAULT_EVENT_MASK;
        this.#leEventMask = DEFAULT_LE_EVENT_MASK;
        this.#randomAddress = undefined;
        this.#ownAddressType = 0;
        this.#scanActive = false;
        this.#suggestedTxOctets = 27;
        this.#suggestedTxTime = 328;
        this.#hostAclLength = undefined;
        this.#completeWith('reset');
        return;
      case 'setEventMask':
        this.#eventMask = command.params.mask;
        this.#completeWith('setEventMask');
        return;
      case 'leSetEventMask':
        this.#leEventMask = command.params.mask;
        this.#completeWith('leSetEventMask');
        return;
      case 'readLocalVersionInformation':
        this.#completeWith('readLocalVersionInformation', {
          hciVersion: 0x09,
          hciSubversion: 0x0001,
          lmpVersion: 0x09,
          companyId: this.#options.vendorStaticAddress === undefined ? 0xffff : ZEPHYR_COMPANY_ID,
          lmpSubversion: 0x0001,
        });
        return;
      case 'readLocalSupportedCommands':
        this.#completeWith('readLocalSupportedCommands', { supportedCommands: supportedCommandsBitmap(this.#options.withheldCommands) });
        return;
      case 'readLocalSupportedFeatures':
        // LE supported (controller), BR/EDR not supported.
        this.#completeWith('readLocalSupportedFeatures', { lmpFeatures: maskOf([37, 38]) });
        return;
      case 'readBufferSize':
        // LE-only: no BR/EDR buffers; hosts use LE Read Buffer Size.
        this.#completeWith('readBufferSize', {
          aclDataPacketLength: 0,
          syncDataPacketLength: 0,
          totalNumAclDataPackets: 0,
          totalNumSyncDataPackets: 0,
        });
        return;
      case 'readBdAddr':
        this.#completeWith('readBdAddr', { address: this.#options.publicAddress === false ? NO_ADDRESS : this.#options.address.value });
        return;
      case 'leReadBufferSize':
        this.#completeWith('leReadBufferSize', {
          leAclDataPacketLength: this.#options.aclDataLength,
          totalNumLeAclDataPackets: this.#options.aclBuffers,
        });
        return;
      case 'leReadLocalSupportedFeatures':
        this.#completeWith('leReadLocalSupportedFeatures', {
          leFeatures: maskOf([LE_FEATURE_BITS.dataPacketLengthExtension, LE_FEATURE_BITS.le2mPhy]),
        });
        return;
      case 'leSetRandomAddress':
        if (this.#scanning || this.#initiation !== undefined) {
          this.#completeWith('leSetRandomAddress', undefined, STATUS.commandDisallowed);
          return;
        }
        this.#randomAddress = { value: command.params.address, type: 'random' };
        this.#completeWith('leSetRandomAddress');
        return;
      case 'leSetScanParameters':
        if (this.#scanning) {
          this.#completeWith('leSetScanParameters', undefined, STATUS.commandDisallowed);
          return;
        }
        this.#scanActive = command.params.scanType === 0x01;
        this.#ownAddressType = command.params.ownAddressType & 1;
        this.#completeWith('leSetScanParameters');
        return;
      case 'leSetScanEnable':
        this.#setScan(command.params.enable !== 0, command.params.filterDuplicates !== 0);
        this.#completeWith('leSetScanEnable');
        return;
      case 'leCreateConnection':
        this.#createConnection(command.opcode, command.params);
        return;
      case 'leCreateConnectionCancel':
        this.#cancelConnection();
        return;
      case 'disconnect': {
        const conn = this.#connections.get(command.params.handle);
        if (conn === undefined) {
          this.#status(command.opcode, STATUS.unknownConnection);
          return;
        }
        this.#status(command.opcode, STATUS.success);
        conn.link.terminate(command.params.reason);
        return;
      }
      case 'leConnectionUpdate': {
        const conn = this.#connections.get(command.params.handle);
        if (conn === undefined) {
          this.#status(command.opcode, STATUS.unknownConnection);
          return;
        }
        this.#status(command.opcode, STATUS.success);
        conn.updateRequested = true;
        conn.link.updateParameters({
          intervalMs: command.params.connIntervalMin * 1.25,
          latency: command.params.maxLatency,
          supervisionTimeoutMs: command.params.supervisionTimeout * 10,
        });
        return;
      }
      case 'leRemoteConnectionParameterRequestReply':
      case 'leRemoteConnectionParameterRequestNegativeReply':
        // This controller does not announce the LL Connection Parameters Request procedure, so no
        // request can be pending: the spec's answer is Unknown Connection Identifier.
        this.#complete(command.opcode, new ByteWriter(3).u8(STATUS.unknownConnection).u16le(command.params.handle).finish());
        return;
      case 'leSetDataLength': {
        const conn = this.#connections.get(command.params.handle);
        if (conn === undefined) {
          this.#completeWith('leSetDataLength', { handle: command.params.handle }, STATUS.unknownConnection);
          return;
        }
        this.#completeWith('leSetDataLength', { handle: conn.handle });
        conn.link.requestDataLength(command.params.txOctets);
        return;
      }
      case 'leReadSuggestedDefaultDataLength':
        this.#completeWith('leReadSuggestedDefaultDataLength', {
          suggestedMaxTxOctets: this.#suggestedTxOctets,
          suggestedMaxTxTime: this.#suggestedTxTime,
        });
        return;
      case 'leWriteSuggestedDefaultDataLength':
        this.#suggestedTxOctets = command.params.suggestedMaxTxOctets;
        this.#suggestedTxTime = command.params.suggestedMaxTxTime;
        this.#completeWith('leWriteSuggestedDefaultDataLength');
        return;
      case 'leSetDefaultPhy':
        this.#completeWith('leSetDefaultPhy');
        return;
      case 'leSetPhy': {
        const conn = this.#connections.get(command.params.handle);
        if (conn === undefined) {
          this.#status(command.opcode, STATUS.unknownConnection);
          return;
        }
        this.#status(command.opcode, STATUS.success);
        conn.phyRequested = true;
        const any = 0x03;
        const tx = (command.params.allPhys & 0x01) !== 0 ? any : command.params.txPhys;
        const rx = (command.params.allPhys & 0x02) !== 0 ? any : command.params.rxPhys;
        conn.link.requestPhy(tx, rx);
        return;
      }
      case 'leSetAdvertisingParameters':
      case 'leSetAdvertisingData':
      case 'leSetScanResponseData':
      case 'leSetAdvertisingEnable':
        // A central only: the simulated devices advertise on the air themselves.
        this.#complete(command.opcode, Uint8Array.of(STATUS.unknownCommand));
        return;
      case 'zephyrReadStaticAddresses': {
        const offered = this.#options.vendorStaticAddress;
        if (offered === undefined) {
          this.#complete(command.opcode, Uint8Array.of(STATUS.unknownCommand));
          return;
        }
        this.#completeWith('zephyrReadStaticAddresses', { addresses: [{ address: offered.value, ir: new Uint8Array(16) }] });
        return;
      }
      case 'unknown':
        this.#onUnmodelledCommand(command.opcode, command.params);
        return;
      default: {
        const never: never = command;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  #onUnmodelledCommand(opcode: number, params: Uint8Array): void {
    switch (opcode) {
      case EXTRA_OPCODES.readLocalName: {
        const name = new Uint8Array(248);
        name.set(new TextEncoder().encode(this.#options.identity).subarray(0, 247));
        this.#complete(opcode, new ByteWriter(249).u8(STATUS.success).bytes(name).finish());
        return;
      }
      case EXTRA_OPCODES.hostBufferSize: {
        try {
          const aclLength = new ByteReader(params, 'hci', 'Host Buffer Size').u16le();
          this.#hostAclLength = aclLength > 0 ? aclLength : undefined;
          this.#complete(opcode, Uint8Array.of(STATUS.success));
        } catch {
          this.#complete(opcode, Uint8Array.of(STATUS.invalidParameters));
        }
        return;
      }
      default:
        this.#complete(opcode, Uint8Array.of(STATUS.unknownCommand));
    }
  }

  #setScan(enable: boolean, filterDuplicates: boolean): void {
    this.#scanning = enable;
    this.#filterDuplicates = filterDuplicates;
    this.#seen.clear();
    this.#air.setScanning(this, enable ? { active: this.#scanActive } : undefined);
  }

  #createConnection(opcode: number, p: CommandParams<'leCreateConnection'>): void {
    if (this.#initiation !== undefined) {
      this.#status(opcode, STATUS.commandDisallowed);
      return;
    }
    if (this.#options.linkLimit !== undefined && this.#connections.size >= this.#options.linkLimit) {
      this.#status(opcode, STATUS.memoryCapacityExceeded);
      return;
    }
    this.#ownAddressType = p.ownAddressType & 1;
    const peer: DeviceAddress = { value: p.peerAddress, type: (p.peerAddressType & 1) === 1 ? 'random' : 'public' };
    this.#status(opcode, STATUS.success);
    const observer = this.#linkObserver();
    const handle = this.#air.initiate(
      this,
      peer,
      { intervalMs: p.connIntervalMin * 1.25, latency: p.maxLatency, supervisionTimeoutMs: p.supervisionTimeout * 10 },
      observer,
    );
    this.#initiation = { handle, peer };
  }

  #cancelConnection(): void {
    const pending = this.#initiation;
    if (pending === undefined) {
      this.#completeWith('leCreateConnectionCancel', undefined, STATUS.commandDisallowed);
      return;
    }
    pending.handle.cancel();
    this.#initiation = undefined;
    this.#completeWith('leCreateConnectionCancel');
    this.#connectionComplete(STATUS.unknownConnection, 0, pending.peer, 0, 0, 0);
  }

  #connectionComplete(status: number, handle: number, peer: DeviceAddress, intervalMs: number, latency: number, timeoutMs: number): void {
    const common = {
      status,
      handle,
      role: 0x00,
      peerAddressType: peer.type === 'random' ? 1 : 0,
      peerAddress: peer.value,
      connInterval: Math.round(intervalMs / 1.25),
      connLatency: latency,
      supervisionTimeout: Math.round(timeoutMs / 10),
      centralClockAccuracy: 0,
    };
    if (hasBit(this.#leEventMask, LE_EVENT_MASK_BITS.enhancedConnectionComplete)) {
      this.#event({
        kind: 'leEnhancedConnectionComplete',
        ...common,
        localResolvablePrivateAddress: '00:00:00:00:00:00',
        peerResolvablePrivateAddress: '00:00:00:00:00:00',
      });
    } else {
      this.#event({ kind: 'leConnectionComplete', ...common });
    }
  }

  #linkObserver(): CentralLinkObserver {
    return {
      onConnected: (link) => {
        this.#initiation = undefined;
        const handle = this.#nextHandle;
        this.#nextHandle = this.#nextHandle >= 0x0eff ? 0x0040 : this.#nextHandle + 1;
        const conn: Connection = { handle, link, inFlight: 0, phyRequested: false, updateRequested: false };
        this.#connections.set(handle, conn);
        this.#byLink.set(link, conn);
        const p = link.parameters();
        this.#connectionComplete(STATUS.success, handle, link.peripheralAddress, p.intervalMs, p.latency, p.supervisionTimeoutMs);
        // Like most controllers, start a Data Length Update by itself when the host suggested one.
        if (this.#suggestedTxOctets > 27) link.requestDataLength(this.#suggestedTxOctets);
      },
      onData: (link, fragment, start) => this.#toHost(link, fragment, start),
      onParametersUpdated: (link) => {
        const conn = this.#byLink.get(link);
        if (conn === undefined) return;
        const p = link.parameters();
        this.#event({
          kind: 'leConnectionUpdateComplete',
          status: STATUS.success,
          handle: conn.handle,
          connInterval: Math.round(p.intervalMs / 1.25),
          connLatency: p.latency,
          supervisionTimeout: Math.round(p.supervisionTimeoutMs / 10),
        });
      },
      onDataLengthChanged: (link) => {
        const conn = this.#byLink.get(link);
        if (conn === undefined) return;
        const time = (octets: number): number => (octets + 14) * 8;
        this.#event({
          kind: 'leDataLengthChange',
          handle: conn.handle,
          maxTxOctets: link.centralTxOctets,
          maxTxTime: time(link.centralTxOctets),
          maxRxOctets: link.centralRxOctets,
          maxRxTime: time(link.centralRxOctets),
        });
      },
      onPhyUpdated: (link) => {
        const conn = this.#byLink.get(link);
        if (conn === undefined) return;
        const phy = link.phy === '2M' ? 0x02 : 0x01;
        this.#event({ kind: 'lePhyUpdateComplete', status: STATUS.success, handle: conn.handle, txPhy: phy, rxPhy: phy });
      },
      onDisconnected: (link, reason) => {
        const conn = this.#byLink.get(link);
        if (conn === undefined) return;
        this.#forget(conn);
        this.#event({ kind: 'disconnectionComplete', status: STATUS.success, handle: conn.handle, reason });
      },
    };
  }

  #forget(conn: Connection): void {
    this.#connections.delete(conn.handle);
    this.#byLink.delete(conn.link);
    this.#completed.delete(conn.handle);
  }

  #dropAll(): void {
    if (this.#scanning) this.#setScan(false, false);
    this.#initiation?.handle.cancel();
    this.#initiation = undefined;
    for (const conn of [...this.#connections.values()]) {
      this.#forget(conn);
      conn.link.centralVanished();
    }
    this.#air.centralGone(this);
  }

  // --- air → host -----------------------------------------------------------------------------

  onAdvertisement(adv: AirAdvertisement): void {
    if (!this.#scanning) return;
    // ADV_IND 0x00, ADV_DIRECT_IND 0x01, ADV_NONCONN_IND 0x03, SCAN_RSP 0x04 (Core Vol 4, Part E, 7.7.65.2).
    const eventType = adv.kind === 'scanRsp' ? 0x04 : adv.directed === true ? 0x01 : adv.connectable ? 0x00 : 0x03;
    if (this.#filterDuplicates) {
      const key = `${adv.address.value}/${eventType}`;
      if (this.#seen.has(key)) return;
      this.#seen.add(key);
    }
    this.#event({
      kind: 'leAdvertisingReport',
      reports: [
        {
          eventType,
          addressType: adv.address.type === 'random' ? 1 : 0,
          address: adv.address.value,
          data: adv.data,
          rssi: adv.rssi,
        },
      ],
    });
  }

  #toHost(link: AirLink, fragment: Uint8Array, start: boolean): void {
    const conn = this.#byLink.get(link);
    if (conn === undefined) return;
    const max = this.#hostAclLength ?? fragment.length;
    for (let at = 0; at < fragment.length || at === 0; at += max) {
      const data = fragment.subarray(at, Math.min(fragment.length, at + max));
      const pb = start && at === 0 ? ACL_PB.firstFlushable : ACL_PB.continuing;
      this.#write('acl', encodeAclPacket({ handle: conn.handle, pb, bc: 0, data }));
      if (fragment.length === 0) break;
    }
  }

  // --- host → air -----------------------------------------------------------------------------

  #onAcl(bytes: Uint8Array): void {
    let packet;
    try {
      packet = decodeAclPacket(bytes);
    } catch {
      return;
    }
    const conn = this.#connections.get(packet.handle);
    if (conn === undefined) return;
    conn.inFlight++;
    const start = packet.pb !== ACL_PB.continuing;
    conn.link.sendFromCentral(packet.data.slice(), start, () => this.#acked(conn));
  }

  #acked(conn: Connection): void {
    if (this.#connections.get(conn.handle) !== conn) return;
    conn.inFlight--;
    this.#completed.set(conn.handle, (this.#completed.get(conn.handle) ?? 0) + 1);
    if (this.#completedFlushQueued) return;
    this.#completedFlushQueued = true;
    // One Number Of Completed Packets per connection event rather than one per packet.
    queueMicrotask(() => {
      this.#completedFlushQueued = false;
      const entries = [...this.#completed].map(([handle, count]) => ({ handle, count }));
      this.#completed.clear();
      if (entries.length > 0) this.#event({ kind: 'numberOfCompletedPackets', entries });
    });
  }
}
