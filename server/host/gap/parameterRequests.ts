/**
 * The peer's LL Connection Parameters Request (Core Vol 6, Part B, 5.1.7), which the controller
 * hands to the host. Both GAP roles answer it the same way: accept what the Core allows, refuse
 * the rest, and never let a failed answer disturb the link's other work.
 */
import type { Logger } from '../../common/logger.js';
import { isAcceptableConnectionParameters } from '../hci/connectionParameters.js';
import type { HciHost } from '../hci/controller.js';
import { HCI_STATUS } from '../hci/errors.js';
import type { HciEvent } from '../hci/events.js';

export function answerConnectionParameterRequest(
  hci: HciHost,
  event: Extract<HciEvent, { kind: 'leRemoteConnectionParameterRequest' }>,
  log: Logger,
): void {
  const p = { intervalMin: event.intervalMin, intervalMax: event.intervalMax, latency: event.maxLatency, timeout: event.timeout };
  const reply = isAcceptableConnectionParameters(p)
    ? hci.send('leRemoteConnectionParameterRequestReply', {
        handle: event.handle,
        connIntervalMin: p.intervalMin,
        connIntervalMax: p.intervalMax,
        maxLatency: p.latency,
        supervisionTimeout: p.timeout,
        minCeLength: 0,
        maxCeLength: 0,
      })
    : hci.send('leRemoteConnectionParameterRequestNegativeReply', {
        handle: event.handle,
        reason: HCI_STATUS.unacceptableConnectionParameters,
      });
  reply.catch((e: unknown) => log.warn({ err: e }, 'could not answer a connection parameter request'));
}
