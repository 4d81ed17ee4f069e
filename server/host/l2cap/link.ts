/**
 * One LE link's fixed channels: routes incoming frames by CID, answers the peer's signaling
 * (connection parameter updates) and SMP (we do not pair), and sends frames for the layers above.
 */
import type { Logger } from '../../common/logger.js';
import { isAcceptableConnectionParameters, type ConnectionParameterRequest } from '../hci/connectionParameters.js';
import type { HciHost } from '../hci/controller.js';
import {
  COMMAND_REJECT_REASONS,
  CONNECTION_PARAMETER_UPDATE_RESULT,
  decodeL2capFrame,
  decodeSignalingCommand,
  encodeL2capFrame,
  encodeSignalingCommand,
  encodeSmpPairingFailed,
  L2CAP_CID,
  SIGNALING_CODES,
  SMP_CODES,
  SMP_REASON_PAIRING_NOT_SUPPORTED,
  type SignalingCommand,
} from './frames.js';

export { isAcceptableConnectionParameters, type ConnectionParameterRequest };

export interface L2capLinkOptions {
  readonly handle: number;
  readonly hci: HciHost;
  readonly logger: Logger;
  /** Applies accepted parameters (LE Connection Update); failures are logged, not thrown. */
  readonly updateConnection: (p: ConnectionParameterRequest) => Promise<void>;
}

export class L2capLink {
  readonly handle: number;
  readonly #hci: HciHost;
  readonly #log: Logger;
  readonly #updateConnection: (p: ConnectionParameterRequest) => Promise<void>;
  #attSink: ((pdu: Uint8Array) => void) | undefined;

  constructor(options: L2capLinkOptions) {
    this.handle = options.handle;
    this.#hci = options.hci;
    this.#log = options.logger;
    this.#updateConnection = options.updateConnection;
  }

  onAtt(sink: (pdu: Uint8Array) => void): void {
    this.#attSink = sink;
  }

  send(cid: number, payload: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.#hci.sendAcl(this.handle, encodeL2capFrame({ cid, payload }), signal);
  }

  sendAtt(pdu: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.send(L2CAP_CID.att, pdu, signal);
  }

  /** Called with each reassembled frame for this handle. */
  receive(frameBytes: Uint8Array): void {
    const frame = decodeL2capFrame(frameBytes);
    switch (frame.cid) {
      case L2CAP_CID.att:
        this.#attSink?.(frame.payload);
        return;
      case L2CAP_CID.leSignaling:
        this.#onSignaling(frame.payload);
        return;
      case L2CAP_CID.smp:
        this.#onSmp(frame.payload);
        return;
      default:
        this.#log.debug({ cid: frame.cid }, 'frame on an unused L2CAP channel dropped');
    }
  }

  #reply(command: SignalingCommand): void {
    this.send(L2CAP_CID.leSignaling, encodeSignalingCommand(command)).catch((e: unknown) =>
      this.#log.debug({ err: e }, 'could not send L2CAP signaling reply'),
    );
  }

  #onSignaling(payload: Uint8Array): void {
    let command: SignalingCommand;
    try {
      command = decodeSignalingCommand(payload);
    } catch (e) {
      this.#log.debug({ err: e }, 'malformed L2CAP signaling command');
      this.#reply({ kind: 'commandReject', identifier: payload[1] ?? 0, reason: COMMAND_REJECT_REASONS.commandNotUnderstood, data: new Uint8Array() });
      return;
    }
    switch (command.kind) {
      case 'connectionParameterUpdateRequest': {
        const accept = isAcceptableConnectionParameters(command);
        this.#log.debug({ ...command, accept }, 'peer asked for new connection parameters');
        this.#reply({
          kind: 'connectionParameterUpdateResponse',
          identifier: command.identifier,
          result: accept ? CONNECTION_PARAMETER_UPDATE_RESULT.accepted : CONNECTION_PARAMETER_UPDATE_RESULT.rejected,
        });
        if (accept) {
          this.#updateConnection(command).catch((e: unknown) =>
            this.#log.warn({ err: e }, 'LE Connection Update for the peer request failed'),
          );
        }
        return;
      }
      case 'commandReject':
      case 'connectionParameterUpdateResponse':
        // Answers to requests we never send as a central; nothing to do.
        return;
      case 'unknown':
        // Responses must never be answered with a reject, or two stacks could loop.
        if (command.code === SIGNALING_CODES.disconnectionResponse || command.code === SIGNALING_CODES.leCreditBasedConnectionResponse) return;
        this.#reply({
          kind: 'commandReject',
          identifier: command.identifier,
          reason: COMMAND_REJECT_REASONS.commandNotUnderstood,
          data: new Uint8Array(),
        });
        return;
      default: {
        const never: never = command;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  #onSmp(payload: Uint8Array): void {
    const code = payload[0];
    if (code === SMP_CODES.pairingRequest || code === SMP_CODES.securityRequest) {
      this.#log.debug({ code }, 'peer wants to pair; answering Pairing Not Supported');
      this.send(L2CAP_CID.smp, encodeSmpPairingFailed(SMP_REASON_PAIRING_NOT_SUPPORTED)).catch(() => undefined);
    }
  }
}
