/**
 * A scripted HCI controller on the far end of a memory duplex pair. It decodes what the host
 * sends with the same codecs, answers commands (defaults for the adapter's start-up, overridable
 * per command), records everything, and lets a test inject events and ACL data.
 */
import { decodeAttPdu, encodeAttPdu, type AttPdu } from '../../server/host/att/pdu.js';
import {
  decodeCommand,
  encodeReturnParameters,
  HCI_COMMANDS,
  type CommandReturn,
  type DecodedCommand,
  type HciCommandName,
} from '../../server/host/hci/commands.js';
import { encodeEvent, type HciEvent } from '../../server/host/hci/events.js';
import { SUPPORTED_COMMAND_BITS, supportedCommandsBitmapOf, type AdvertisedCommandName } from '../../server/host/hci/supportedCommands.js';
import {
  ACL_PB,
  decodeAclPacket,
  decodeCommandPacket,
  encodeAclPacket,
  encodeEventPacket,
  type HciAclPacket,
} from '../../server/host/hci/packets.js';
import { decodeL2capFrame, encodeL2capFrame, L2CAP_CID } from '../../server/host/l2cap/frames.js';
import { encodeH4, readH4Packets } from '../../server/transport/h4.js';
import { createMemoryDuplexPair } from '../../server/transport/memory.js';
import type { ByteDuplex } from '../../server/transport/types.js';

/** What to do with a command: answer with a status (and return value), answer later, or never. */
export type CommandReply =
  | { readonly kind: 'ok'; readonly value?: unknown; readonly credits?: number }
  | { readonly kind: 'status'; readonly status: number; readonly credits?: number }
  | { readonly kind: 'silent' };

export type CommandHandler = (command: DecodedCommand) => CommandReply | void;

export interface FakeControllerOptions {
  readonly leBufferLength?: number;
  readonly leBufferCount?: number;
  readonly leFeatures?: bigint;
  /** Supported_Commands (Read Local Supported Commands); default every command of the host's table. */
  readonly supportedCommands?: Uint8Array;
  /** Answers ATT requests from the host (per handle); undefined = no answer. */
  readonly att?: (pdu: AttPdu, handle: number) => AttPdu | undefined;
  /** Report each ACL packet transmitted at once (Number Of Completed Packets). Default true. */
  readonly completeAcl?: boolean;
}

const DEFAULT_RETURNS: Partial<{ [K in HciCommandName]: CommandReturn<K> }> = {
  readLocalVersionInformation: { hciVersion: 12, hciSubversion: 0x0102, lmpVersion: 12, companyId: 0x0059, lmpSubversion: 0x0304 },
  readBdAddr: { address: 'C0:FF:EE:00:00:01' },
  readBufferSize: { aclDataPacketLength: 27, syncDataPacketLength: 0, totalNumAclDataPackets: 4, totalNumSyncDataPackets: 0 },
  leReadSuggestedDefaultDataLength: { suggestedMaxTxOctets: 27, suggestedMaxTxTime: 328 },
};

interface Waiter<T> {
  readonly match: (item: T) => boolean;
  readonly resolve: (item: T) => void;
}

export class FakeController {
  readonly host: ByteDuplex;
  readonly #end: ByteDuplex;
  readonly commands: DecodedCommand[] = [];
  readonly acl: HciAclPacket[] = [];
  readonly #handlers = new Map<string, CommandHandler>();
  readonly #commandWaiters: Waiter<DecodedCommand>[] = [];
  readonly #aclWaiters: Waiter<HciAclPacket>[] = [];
  readonly #options: FakeControllerOptions;
  #credits = 1;

  constructor(options: FakeControllerOptions = {}) {
    this.#options = options;
    const [host, end] = createMemoryDuplexPair();
    this.host = host;
    this.#end = end;
    void this.#run();
  }

  /** Overrides how one command is answered (default: success with DEFAULT_RETURNS). */
  on(name: HciCommandName | 'unknown', handler: CommandHandler): this {
    this.#handlers.set(name, handler);
    return this;
  }

  get closed(): AbortSignal {
    return this.#end.closed;
  }

  async close(): Promise<void> {
    await this.#end.close();
  }

  sendEvent(event: HciEvent): Promise<void> {
    return this.#end.write(encodeH4({ type: 'event', bytes: encodeEventPacket(encodeEvent(event)) }));
  }

  sendAclPacket(packet: HciAclPacket): Promise<void> {
    return this.#end.write(encodeH4({ type: 'acl', bytes: encodeAclPacket(packet) }));
  }

  /**
   * Several packets in one chunk, as a UART read on real hardware delivers them: the host parses
   * them back to back, with no chance to act between them.
   */
  sendTogether(...packets: ({ readonly event: HciEvent } | { readonly acl: HciAclPacket })[]): Promise<void> {
    const parts = packets.map((p) =>
      'event' in p
        ? encodeH4({ type: 'event', bytes: encodeEventPacket(encodeEvent(p.event)) })
        : encodeH4({ type: 'acl', bytes: encodeAclPacket(p.acl) }),
    );
    const chunk = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      chunk.set(p, at);
      at += p.length;
    }
    return this.#end.write(chunk);
  }

  /** One L2CAP frame in a single ACL packet. */
  sendL2cap(handle: number, cid: number, payload: Uint8Array): Promise<void> {
    return this.sendAclPacket({ handle, pb: ACL_PB.firstFlushable, bc: 0, data: encodeL2capFrame({ cid, payload }) });
  }

  sendAtt(handle: number, pdu: AttPdu): Promise<void> {
    return this.sendL2cap(handle, L2CAP_CID.att, encodeAttPdu(pdu));
  }

  /** Resolves with the next command named `name` (or one already received and not yet claimed). */
  waitForCommand<K extends HciCommandName>(name: K, from = 0): Promise<Extract<DecodedCommand, { name: K }>> {
    const seen = this.commands.slice(from).find((c) => c.name === name);
    if (seen !== undefined) return Promise.resolve(seen as Extract<DecodedCommand, { name: K }>);
    return new Promise((resolve) =>
      this.#commandWaiters.push({ match: (c) => c.name === name, resolve: (c) => resolve(c as Extract<DecodedCommand, { name: K }>) }),
    );
  }

  waitForAcl(match: (p: HciAclPacket) => boolean, from = 0): Promise<HciAclPacket> {
    const seen = this.acl.slice(from).find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.#aclWaiters.push({ match, resolve }));
  }

  /** ATT PDUs the host sent on a handle (whole single-fragment frames only). */
  attSent(handle: number): AttPdu[] {
    return this.acl
      .filter((p) => p.handle === handle && p.pb === ACL_PB.firstNonFlushable)
      .map((p) => decodeL2capFrame(p.data))
      .filter((f) => f.cid === L2CAP_CID.att)
      .map((f) => decodeAttPdu(f.payload));
  }

  /** Gives the host `n` command credits without answering anything (Command Complete, opcode 0). */
  grantCommandCredits(n: number): Promise<void> {
    this.#credits = n;
    return this.sendEvent({ kind: 'commandComplete', numHciCommandPackets: n, opcode: 0, returnParameters: new Uint8Array() });
  }

  completeCommand(name: HciCommandName, status: number, value?: unknown, credits = this.#credits): Promise<void> {
    const spec = HCI_COMMANDS[name];
    if (spec.completion === 'status') {
      return this.sendEvent({ kind: 'commandStatus', status, numHciCommandPackets: credits, opcode: spec.opcode });
    }
    return this.sendEvent({
      kind: 'commandComplete',
      numHciCommandPackets: credits,
      opcode: spec.opcode,
      returnParameters: encodeReturnParameters(name, status, value as never),
    });
  }

  async #run(): Promise<void> {
    try {
      for await (const packet of readH4Packets(this.#end.readable())) {
        if (packet.type === 'command') await this.#onCommand(decodeCommand(decodeCommandPacket(packet.bytes)));
        else if (packet.type === 'acl') await this.#onAcl(decodeAclPacket(packet.bytes));
      }
    } catch {
      // The host closed the pipe.
    }
  }

  async #onCommand(command: DecodedCommand): Promise<void> {
    this.commands.push(command);
    for (const w of this.#commandWaiters.splice(0)) {
      if (w.match(command)) w.resolve(command);
      else this.#commandWaiters.push(w);
    }
    const handler = this.#handlers.get(command.name);
    const reply = handler?.(command) ?? { kind: 'ok' };
    if (reply.kind === 'silent') return;
    if (command.name === 'unknown') {
      await this.sendEvent({ kind: 'commandStatus', status: 0x01, numHciCommandPackets: 1, opcode: command.opcode });
      return;
    }
    const status = reply.kind === 'status' ? reply.status : 0;
    const value = reply.kind === 'ok' ? (reply.value ?? this.#defaultReturn(command.name)) : undefined;
    await this.completeCommand(command.name, status, status === 0 ? value : undefined, reply.credits ?? 1);
    // Like a real controller: the link goes down after a successful Disconnect.
    if (command.name === 'disconnect' && status === 0) {
      await this.sendEvent({ kind: 'disconnectionComplete', status: 0, handle: command.params.handle, reason: 0x16 });
    }
  }

  #defaultReturn(name: HciCommandName): unknown {
    switch (name) {
      case 'leReadBufferSize':
        return { leAclDataPacketLength: this.#options.leBufferLength ?? 27, totalNumLeAclDataPackets: this.#options.leBufferCount ?? 4 };
      case 'leReadLocalSupportedFeatures':
        return { leFeatures: this.#options.leFeatures ?? 0n };
      case 'readLocalSupportedFeatures':
        return { lmpFeatures: 0n };
      case 'readLocalSupportedCommands':
        return {
          supportedCommands:
            this.#options.supportedCommands ?? supportedCommandsBitmapOf(Object.keys(SUPPORTED_COMMAND_BITS) as AdvertisedCommandName[]),
        };
      case 'leSetDataLength':
      case 'leRemoteConnectionParameterRequestReply':
      case 'leRemoteConnectionParameterRequestNegativeReply': {
        const c = this.commands.at(-1);
        return { handle: c !== undefined && 'handle' in (c.params as object) ? (c.params as { handle: number }).handle : 0 };
      }
      default:
        return DEFAULT_RETURNS[name] ?? {};
    }
  }

  async #onAcl(packet: HciAclPacket): Promise<void> {
    this.acl.push(packet);
    for (const w of this.#aclWaiters.splice(0)) {
      if (w.match(packet)) w.resolve(packet);
      else this.#aclWaiters.push(w);
    }
    if (this.#options.completeAcl ?? true) {
      await this.sendEvent({ kind: 'numberOfCompletedPackets', entries: [{ handle: packet.handle, count: 1 }] });
    }
    const att = this.#options.att;
    if (att === undefined || packet.pb !== ACL_PB.firstNonFlushable) return;
    let frame;
    try {
      frame = decodeL2capFrame(packet.data);
    } catch {
      return;
    }
    if (frame.cid !== L2CAP_CID.att) return;
    const answer = att(decodeAttPdu(frame.payload), packet.handle);
    if (answer !== undefined) await this.sendAtt(packet.handle, answer);
  }
}

/** LE Connection Complete for `handle` with the peer address given. */
export function connectionComplete(handle: number, peerAddress: string, status = 0): HciEvent {
  return {
    kind: 'leConnectionComplete',
    status,
    handle,
    role: 0,
    peerAddressType: 1,
    peerAddress,
    connInterval: 24,
    connLatency: 0,
    supervisionTimeout: 400,
    centralClockAccuracy: 0,
  };
}
