/**
 * The connectivity application between the H5 link and the SoftDevice (the firmware's ser_conn
 * part): decodes each serialization packet, calls the SoftDevice, encodes the response and the
 * events. As in the firmware, an opcode it does not know gets NRF_ERROR_NOT_SUPPORTED, while a
 * known command with malformed parameters gets no answer at all: the decoder error reaches the
 * error handler, which resets the chip (the host then sees a SYNC).
 */
import { isBledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { decodeCommand } from '../backends/nrf/serialization/commands.js';
import { NRF_ERROR, type ApiVersion } from '../backends/nrf/serialization/constants.js';
import { encodeEvent, type NrfEvent } from '../backends/nrf/serialization/events.js';
import { decodeSerPacket, encodeSerPacket } from '../backends/nrf/serialization/packets.js';
import { encodeResponse } from '../backends/nrf/serialization/responses.js';
import type { SimSoftDevice } from './softDevice.js';

export interface ConnectivityOptions {
  readonly api: ApiVersion;
  /** Hands a serialization packet to the link for reliable transfer. */
  readonly send: (payload: Uint8Array) => void;
  /** The chip resets: sd_rpc_conn_reset, or the error handler after a malformed command. */
  readonly reset: (why: string) => void;
  readonly onCommand?: () => void;
  readonly onEvent?: () => void;
  readonly logger?: Logger;
}

export class Connectivity {
  readonly #o: ConnectivityOptions;
  #softDevice: SimSoftDevice | undefined;
  #inCommand = false;
  readonly #held: NrfEvent[] = [];

  constructor(options: ConnectivityOptions) {
    this.#o = options;
  }

  attach(softDevice: SimSoftDevice): void {
    this.#softDevice = softDevice;
  }

  /** An event from the SoftDevice; one raised while a command runs follows its response. */
  event(event: NrfEvent): void {
    if (this.#inCommand) {
      this.#held.push(event);
      return;
    }
    this.#o.onEvent?.();
    this.#o.send(encodeSerPacket({ kind: 'event', body: encodeEvent(this.#o.api, event) }));
  }

  /** One serialization packet the link delivered. */
  packet(payload: Uint8Array): void {
    let packet;
    try {
      packet = decodeSerPacket(payload);
    } catch {
      this.#o.reset('serialization packet of unknown type');
      return;
    }
    switch (packet.kind) {
      case 'command':
        this.#command(packet.body);
        return;
      case 'resetCommand':
        this.#o.reset(packet.body[0] === 1 ? 'soft reset command' : 'system reset command');
        return;
      default:
        // DTM and device-to-host packet types: nothing the connectivity application acts on.
        this.#o.logger?.debug({ kind: packet.kind }, 'simnrf: ignoring serialization packet');
    }
  }

  #command(body: Uint8Array): void {
    const softDevice = this.#softDevice;
    if (softDevice === undefined) return;
    this.#o.onCommand?.();
    let command;
    try {
      command = decodeCommand(this.#o.api, body);
    } catch (e) {
      const nrfError = isBledfuError(e) ? e.facts.context?.['nrfError'] : undefined;
      if (nrfError === 'NRF_ERROR_NOT_SUPPORTED' && body.length > 0) {
        this.#o.send(Uint8Array.of(0x01, body[0] as number, NRF_ERROR.notSupported, 0, 0, 0));
        return;
      }
      this.#o.logger?.debug({ err: e }, 'simnrf: malformed command, resetting like the firmware');
      this.#o.reset('malformed command');
      return;
    }
    this.#inCommand = true;
    let response;
    try {
      response = softDevice.command(command);
    } finally {
      this.#inCommand = false;
    }
    this.#o.send(encodeSerPacket({ kind: 'response', body: encodeResponse(this.#o.api, response) }));
    for (const event of this.#held.splice(0)) this.event(event);
  }
}
