/** Connect: find, connect, report the GATT layout, then the disconnection. Cancelling disconnects. */
import type { ConnectRequest, ConnectResponse } from '../../proto/gen/bledfu/v1/connect.js';
import { isBledfuError } from '../common/errors.js';
import { whenAborted } from '../common/clock.js';
import { linkSignals } from '../common/signals.js';
import { DEFAULT_DFU_OPTIONS } from '../dfu/types.js';
import type { Caller } from './auth.js';
import type { ServiceDeps } from './deps.js';
import { DURATION_RANGES, msFromDuration } from './validate.js';
import { addressToProto, disconnectReasonText, gattToProto, targetFromProto } from './mapBle.js';
import { mtuFromProto } from './mapJobs.js';

export async function* connect(
  deps: ServiceDeps,
  request: ConnectRequest,
  callSignal: AbortSignal,
  /** Who asked: named in a StartDfu refused because this call holds the device. */
  caller: Pick<Caller, 'identity' | 'peer'>,
): AsyncGenerator<ConnectResponse> {
  const adapter = deps.adapters.get(request.adapterId);
  const target = targetFromProto(request.target);
  const mtu = mtuFromProto(request.mtu);
  const linked = linkSignals(callSignal, deps.stopping);
  const signal = linked.signal;
  try {
    const found = await deps.findDevice(adapter, target, {
      timeoutMs: msFromDuration(request.scanTimeout, DEFAULT_DFU_OPTIONS.scanTimeoutMs, DURATION_RANGES.scanTimeout),
      signal,
      clock: deps.clock,
    });
    const connection = await adapter.connect(found.address, { signal, mtu });
    const log = deps.logger.child({ address: connection.address.value, adapterId: adapter.id });
    const forget = deps.connections.add({
      adapterId: adapter.id,
      address: connection.address,
      name: found.name ?? (target.kind === 'name' ? target.name : undefined),
      peer: caller.peer,
      identity: caller.identity,
      since: deps.clock.now(),
      closed: connection.closed,
    });
    try {
      const services = await connection.discoverServices(signal);
      log.info({ services: services.length, mtu: connection.mtu }, 'connected');
      yield {
        event: {
          $case: 'connected',
          connected: {
            address: addressToProto(connection.address),
            mtu: connection.mtu,
            parameters: {
              intervalUs: connection.parameters.intervalUs,
              peripheralLatency: connection.parameters.latency,
              supervisionTimeoutMs: connection.parameters.supervisionTimeoutMs,
            },
            services: gattToProto(services),
          },
        },
      };
      const untilDown = linkSignals(connection.closed, signal);
      await whenAborted(untilDown.signal);
      untilDown.dispose();
      if (connection.closed.aborted) {
        const reason: unknown = connection.closed.reason;
        const hciStatus = isBledfuError(reason) ? (reason.facts.hciStatus ?? 0) : 0;
        log.info({ hciStatus }, 'disconnected');
        yield { event: { $case: 'disconnected', disconnected: { reason: hciStatus, reasonText: disconnectReasonText(hciStatus) } } };
      }
    } finally {
      forget();
      if (!connection.closed.aborted) {
        log.info('call ended: disconnecting');
        await connection.disconnect();
      }
    }
  } finally {
    linked.dispose();
  }
}
