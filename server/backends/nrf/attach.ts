/**
 * An nrf adapter on any byte pipe (a serial port, the simulated dongle), with the "link never
 * comes up" diagnosis: the pipe is tapped so that, when the H5 link fails, what the far end said
 * is there to read; when it said nothing, an HCI Reset tells an HCI controller from a dead board.
 */
import { realClock } from '../../common/clock.js';
import type { Adapter } from '../../ble/types.js';
import { toHex } from '../../common/bytes.js';
import { abortReason, hasCode } from '../../common/errors.js';
import type { SerialPortInfo } from '../../transport/ports.js';
import { RecordingDuplex } from '../../transport/recordingDuplex.js';
import type { ByteDuplex } from '../../transport/types.js';
import { classifyPortReply, HCI_RESET_H4, replyIsConclusive } from '../probe.js';
import { createNrfAdapter, type NrfAdapterOptions } from './adapter.js';
import { diagnoseNrfLink } from './diagnosis.js';

/** Bytes kept from the start of the far end's output for the diagnosis. */
const RECORD_LIMIT = 256;
/** After the link failed, how long to keep listening for the rest of a line or frame. */
const DIAGNOSIS_GRACE_MS = 300;
/** How long an HCI controller gets to answer the Reset of the diagnosis. */
const HCI_PROBE_MS = 500;

export interface AttachTarget {
  /** How errors name the far end: the port path, or "the simulated dongle". */
  readonly where: string;
  /** The port as specs name it (suggested as hci:<specPath> when an HCI controller answers). */
  readonly specPath: string;
  /** The port as the OS lists it, looked up only for a diagnosis. */
  readonly portInfo?: () => Promise<SerialPortInfo | undefined>;
}

/**
 * Opens the adapter on `transport` (which it then owns). When the H5 link never comes up, fails
 * with the diagnosis instead of the bare timeout, and closes the transport.
 */
export async function attachNrfAdapter(transport: ByteDuplex, target: AttachTarget, options: NrfAdapterOptions, signal?: AbortSignal): Promise<Adapter> {
  const tap = new RecordingDuplex(transport, RECORD_LIMIT, options.clock ?? realClock);
  try {
    const adapter = await createNrfAdapter(tap, options, signal);
    tap.release();
    return adapter;
  } catch (e) {
    if (signal?.aborted === true) {
      await transport.close();
      throw abortReason(signal);
    }
    // Unplugged while opening: that is the news, not the protocol.
    if (transport.closed.aborted) throw transport.closed.reason;
    // Only a link that never came up is diagnosed; a firmware that answered has told what it is.
    if (!hasCode(e, 'SERIAL_NO_RESPONSE') || e.facts.context?.['call'] !== undefined) {
      await transport.close();
      throw e;
    }
    const recorded = await tap.waitForRecording(replyIsConclusive, DIAGNOSIS_GRACE_MS, signal);
    const reply = classifyPortReply(recorded);
    let hciProbe;
    if (reply.kind === 'silent' && !transport.closed.aborted) {
      const before = recorded.length;
      await transport.write(HCI_RESET_H4).catch(() => undefined);
      const after = await tap.waitForRecording((bytes) => replyIsConclusive(bytes.subarray(before)), HCI_PROBE_MS, signal);
      hciProbe = classifyPortReply(after.subarray(before));
    }
    await transport.close();
    const port = await target.portInfo?.().catch(() => undefined);
    throw diagnoseNrfLink({
      where: target.where,
      specPath: target.specPath,
      reply,
      ...(hciProbe === undefined ? {} : { hciProbe }),
      firstBytes: toHex(recorded.subarray(0, 32)),
      cause: e,
      ...(port === undefined ? {} : { port }),
    });
  }
}
