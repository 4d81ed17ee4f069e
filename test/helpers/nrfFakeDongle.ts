/**
 * A scripted connectivity-firmware dongle on the far end of a memory pipe, built from the pure
 * codecs: it plays the device side of the H5 link (answers SYNC/CONFIG, acknowledges and
 * sequences vendor packets), decodes every command, answers each (defaults that let an adapter
 * open, overridable per command) and lets a test push events. It records everything it decoded.
 */
import { ackPacket, decodeH5, decodeLinkControl, h5Frame, H5_PACKET_TYPE, linkControlPacket, vendorPacket } from '../../server/backends/nrf/h5.js';
import { SlipDecoder } from '../../server/backends/nrf/slip.js';
import { decodeCommand, type NrfCommand, type CommandOf } from '../../server/backends/nrf/serialization/commands.js';
import type { ApiVersion, CommandKind } from '../../server/backends/nrf/serialization/constants.js';
import { encodeEvent, type NrfEvent } from '../../server/backends/nrf/serialization/events.js';
import { decodeSerPacket, encodeSerPacket } from '../../server/backends/nrf/serialization/packets.js';
import { encodeResponse, type NrfResponse } from '../../server/backends/nrf/serialization/responses.js';
import { createMemoryDuplexPair } from '../../server/transport/memory.js';
import type { ByteDuplex } from '../../server/transport/types.js';

/** What the dongle does with a command: answer (result + output), then send these events; or stay silent. */
export type FakeReply =
  | {
      readonly result?: number;
      readonly output?: unknown;
      readonly events?: readonly NrfEvent[];
      /** The response is lost on the line (the events still come). */
      readonly responseLost?: boolean;
    }
  | 'silent';
export type FakeHandler = (command: NrfCommand) => FakeReply | undefined;

export interface FakeDongleOptions {
  readonly api: ApiVersion;
  /** SoftDevice FWID sd_ble_version_get reports (default: S132 5.1.0 for v5, S140 6.1.1 for v6). */
  readonly fwid?: number;
  /** Answer sd_ble_version_get before sd_ble_enable (default true). */
  readonly versionBeforeEnable?: boolean;
  /** Dongle address, least significant byte first. */
  readonly address?: Uint8Array;
}

const DEFAULT_FWID: Record<ApiVersion, number> = { 5: 0xa5, 6: 0xb6 };

export class FakeNrfDongle {
  readonly host: ByteDuplex;
  readonly #device: ByteDuplex;
  readonly #slip = new SlipDecoder();
  readonly #options: FakeDongleOptions;
  readonly commands: NrfCommand[] = [];
  readonly #handlers = new Map<CommandKind, FakeHandler>();
  #seq = 0;
  #expected = 0;
  #enabled = false;
  /** Host vendor packets dropped on purpose (not acknowledged), to exercise retransmission. */
  dropNextHostPackets = 0;
  resets = 0;

  constructor(options: FakeDongleOptions) {
    this.#options = options;
    const [host, device] = createMemoryDuplexPair();
    this.host = host;
    this.#device = device;
    void this.#run();
  }

  /** Replaces the answer to one kind of command; returning undefined falls back to the default. */
  on<K extends CommandKind>(kind: K, handler: (command: CommandOf<K>) => FakeReply | undefined): void {
    this.#handlers.set(kind, handler as FakeHandler);
  }

  of<K extends CommandKind>(kind: K): CommandOf<K>[] {
    return this.commands.filter((c): c is CommandOf<K> => c.kind === kind);
  }

  /** Sends an event to the host now. */
  emit(event: NrfEvent): void {
    this.#sendVendor(encodeSerPacket({ kind: 'event', body: encodeEvent(this.#options.api, event) }));
  }

  /** The device restarts: it sends SYNC, as after a crash. */
  restart(): void {
    this.#write(h5Frame(linkControlPacket('sync')));
  }

  async close(): Promise<void> {
    await this.#device.close();
  }

  #write(bytes: Uint8Array): void {
    this.#device.write(bytes).catch(() => undefined);
  }

  #sendVendor(payload: Uint8Array): void {
    this.#write(h5Frame(vendorPacket(this.#seq, this.#expected, payload)));
    this.#seq = (this.#seq + 1) & 7;
  }

  async #run(): Promise<void> {
    try {
      for await (const chunk of this.#device.readable()) {
        for (const frame of this.#slip.feed(chunk)) this.#onFrame(frame);
      }
    } catch {
      // the host end closed
    }
  }

  #onFrame(frame: Uint8Array): void {
    const packet = decodeH5(frame);
    switch (packet.packetType) {
      case H5_PACKET_TYPE.reset:
        this.resets++;
        this.#seq = 0;
        this.#expected = 0;
        this.#enabled = false;
        return;
      case H5_PACKET_TYPE.linkControl: {
        const kind = decodeLinkControl(packet.payload)?.kind;
        if (kind === 'sync') this.#write(h5Frame(linkControlPacket('syncResponse')));
        if (kind === 'config') {
          this.#seq = 0;
          this.#expected = 0;
          this.#write(h5Frame(linkControlPacket('configResponse')));
        }
        return;
      }
      case H5_PACKET_TYPE.vendor: {
        if (packet.seq !== this.#expected) {
          this.#write(h5Frame(ackPacket(this.#expected)));
          return;
        }
        if (this.dropNextHostPackets > 0) {
          this.dropNextHostPackets--;
          return;
        }
        this.#expected = (this.#expected + 1) & 7;
        this.#write(h5Frame(ackPacket(this.#expected)));
        this.#onSerialization(packet.payload);
        return;
      }
      default:
        return;
    }
  }

  #onSerialization(payload: Uint8Array): void {
    const packet = decodeSerPacket(payload);
    if (packet.kind !== 'command') return;
    const api = this.#options.api;
    const command = decodeCommand(api, packet.body);
    this.commands.push(command);
    const reply = this.#handlers.get(command.kind)?.(command) ?? this.#default(command);
    if (reply === 'silent') return;
    const result = reply.result ?? 0;
    const response = { kind: command.kind, result, ...(result === 0 && 'output' in reply ? { output: reply.output } : outputFor(command, result)) } as NrfResponse;
    if (reply.responseLost !== true) this.#sendVendor(encodeSerPacket({ kind: 'response', body: encodeResponse(api, response) }));
    for (const event of reply.events ?? []) this.emit(event);
  }

  #default(command: NrfCommand): FakeReply {
    switch (command.kind) {
      case 'versionGet':
        if (!this.#enabled && this.#options.versionBeforeEnable === false) return { result: 0x3001 };
        return { output: { version: { versionNumber: 9, companyId: 0x59, subversionNumber: this.#options.fwid ?? DEFAULT_FWID[this.#options.api] } } };
      case 'enable':
        this.#enabled = true;
        return {};
      case 'uuidVsAdd':
        return { output: { uuidType: 2 } };
      case 'gapAddrGet':
        return { output: { addr: { idPeer: false, type: 1, address: this.#options.address ?? Uint8Array.of(0x01, 0x00, 0xf0, 0xdc, 0x1b, 0xc0) } } };
      case 'gapDataLengthUpdate':
        return { output: { limitation: command.wantLimitation ? { txPayloadLimitedOctets: 0, rxPayloadLimitedOctets: 0, txRxTimeLimitedUs: 0 } : null } };
      default:
        return {};
    }
  }
}

/** Commands with outputs need `output: null` on failure. */
function outputFor(command: NrfCommand, result: number): { output?: null } {
  const withOutput = ['uuidVsAdd', 'versionGet', 'gapAddrGet', 'gapDataLengthUpdate'];
  return withOutput.includes(command.kind) && result !== 0 ? { output: null } : {};
}
