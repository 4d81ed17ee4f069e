/**
 * A gRPC call between a client and a server in the same process on the virtual clock (a test, the
 * station simulation): the request's bytes cross loopback, which the accelerated scheduler cannot
 * see. The client holds modelled time still from the moment it sends a call (holdClockWhileSent);
 * the server releases that hold, named in the call's metadata, when the call has arrived
 * (releaseClockHold, first in the server's chain). So a call reaches the server at the modelled
 * instant it was sent, whatever real time its bytes took, and the same run sees the same modelled
 * times on any machine.
 */
import { Metadata, type CallOptions, type ClientMiddleware, type ClientMiddlewareCall } from 'nice-grpc';
import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';
import { CLOCK_HOLD_HEADER, type VirtualClock } from './sim/clock.js';

/**
 * The client side: each call holds modelled time from the moment it is sent until the server has
 * it (the end of the call releases it in any case). Without it, a foreground timer of the server
 * or of the caller could move modelled time on while the request crosses loopback.
 */
export function holdClockWhileSent(clock: VirtualClock): ClientMiddleware {
  return async function* <Request, Response>(call: ClientMiddlewareCall<Request, Response>, options: CallOptions) {
    const id = clock.hold();
    try {
      return yield* call.next(call.request, { ...options, metadata: Metadata(options.metadata).set(CLOCK_HOLD_HEADER, id) });
    } finally {
      clock.release(id);
    }
  };
}

/**
 * Holds modelled time while `read` works: a package read on a worker thread (or any work the
 * accelerated scheduler cannot see as I/O in flight) would otherwise leave the process looking
 * idle, and modelled time would run on (timeouts firing, devices moving on) while the server is
 * busy reading, differently on every machine.
 */
export function holdClockWhile<A extends unknown[], R>(clock: VirtualClock, work: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    const id = clock.hold();
    try {
      return await work(...args);
    } finally {
      clock.release(id);
    }
  };
}

/**
 * The server side: the call has arrived, release its client's hold. First in the chain, so that a
 * call refused by a later middleware releases it too.
 */
export function releaseClockHold(clock: VirtualClock) {
  return async function* <Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    const id = context.metadata.get(CLOCK_HOLD_HEADER);
    if (id !== undefined) clock.release(id);
    return yield* call.next(call.request, context);
  };
}
