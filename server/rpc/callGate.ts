/**
 * The transport gate: a grpc-js server interceptor that decides, from a call's headers alone and
 * before a byte of its request is read, how much of a request the server will buffer.
 *
 * grpc-js applies one `grpc.max_receive_message_length` to every method and reads a whole
 * message before any nice-grpc middleware (our token check) runs. So the server-wide limit is
 * the small one (`maxMessageBytes`: reflection, health and every BledfuService method without a
 * package), and this gate raises it for the methods that carry packages (StartDfu with
 * `package_data`, UploadPackage) only once the call is allowed: an unauthenticated or
 * under-privileged caller is refused here, while its body still waits unread in HTTP/2 flow
 * control, and at most `maxConcurrentUploads` package bodies are received at once.
 *
 * A StartDfu over that limit waits for a slot (up to `startWaitMs`, at most `maxWaitingStarts`
 * of them) instead of being refused: a station starts a burst of jobs at once, mostly by
 * package_id, and each StartDfu holds its slot only until its one message has arrived, so the
 * slot comes soon. Waiting costs an open HTTP/2 stream and nothing else: the body stays unread.
 * An UploadPackage over the limit is refused at once (its body may take long to arrive).
 */
import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type StatusObject,
} from '@grpc/grpc-js';
import { realClock, type Clock } from '../common/clock.js';
import { BledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { accessRefusal, SERVICE_PREFIX, type TokenTable } from './auth.js';
import { encodeStatusDetails, statusForCode } from './status.js';

/** The BledfuService methods whose request carries a package (proto/bledfu/v1/service.proto). */
export const PACKAGE_METHODS: ReadonlySet<string> = new Set(['StartDfu', 'UploadPackage']);

export interface CallGateOptions {
  /** Token table; undefined = no token auth (loopback default). */
  readonly tokens: TokenTable | undefined;
  /** Largest request message of a package-carrying method (package limit plus field overhead). */
  readonly packageMessageBytes: number;
  /** Package-carrying calls receiving their request at once. */
  readonly maxConcurrentUploads: number;
  /** How long a StartDfu waits for a slot before TOO_MANY_UPLOADS (real time: it waits on the network). Default 30 s. */
  readonly startWaitMs?: number;
  /** StartDfu calls that may wait for a slot at once; more are refused at once. Default 4 × maxConcurrentUploads. */
  readonly maxWaitingStarts?: number;
  /** The startWaitMs timer's clock: real time (the wait is on the network), a manual one in tests. */
  readonly clock?: Clock;
  readonly logger: Logger;
  /** Told of every call the gate ends (metrics count it: no middleware sees it). */
  readonly onRefused?: (path: string, code: number) => void;
}

/** What a running server can tell about its gate (tests and metrics). */
export interface CallGateStats {
  /** Package-carrying calls whose request is being received now. */
  readonly uploadsReceiving: number;
  /** Package-carrying calls allowed to read their request since start. */
  readonly uploadsAdmitted: number;
  /** Package-carrying calls refused before their request was read (auth or too many uploads). */
  readonly refusedUnread: number;
  /** StartDfu calls waiting for a slot now. */
  readonly startsWaiting: number;
}

export interface CallGate {
  readonly interceptor: ServerInterceptor;
  readonly stats: () => CallGateStats;
}

/**
 * grpc-js (1.14) keeps a call's receive limit in two private fields of the call it hands the
 * first interceptor: the frame decoder's `maxReadMessageLength` (checked against a message's
 * 5-byte length prefix, before its body is buffered) and `maxReceiveMessageSize` (checked while
 * decompressing). There is no public per-method limit. When the fields are not there (another
 * grpc-js), nothing is raised: package calls then keep the small limit and fail loudly
 * (RESOURCE_EXHAUSTED), never open up silently; test/e2e/rpc-limits.test.ts guards this.
 */
interface ReceiveLimitFields {
  decoder?: { maxReadMessageLength?: unknown };
  maxReceiveMessageSize?: unknown;
}

export function raiseReceiveLimit(call: ServerInterceptingCallInterface, bytes: number): boolean {
  const fields = call as unknown as ReceiveLimitFields;
  const decoder = fields.decoder;
  if (decoder === undefined || typeof decoder.maxReadMessageLength !== 'number' || typeof fields.maxReceiveMessageSize !== 'number') return false;
  decoder.maxReadMessageLength = bytes;
  fields.maxReceiveMessageSize = bytes;
  return true;
}

/**
 * The status a nice-grpc handler would have ended the call with for `error`: code, message and
 * its google.rpc.Status (ErrorInfo, then ErrorDetail) in `grpc-status-details-bin`, as
 * errorDetailsServerMiddleware writes it, so clients decode a refusal here like any other.
 */
export function statusFor(error: BledfuError): StatusObject {
  const code = statusForCode(error.code);
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(encodeStatusDetails(error)));
  return { code, details: error.message, metadata };
}

export function createCallGate(o: CallGateOptions): CallGate {
  let receiving = 0;
  let admitted = 0;
  let refusedUnread = 0;
  let warnedInternals = false;
  const startWaitMs = o.startWaitMs ?? 30_000;
  const networkClock = o.clock ?? realClock;
  const maxWaitingStarts = o.maxWaitingStarts ?? 4 * o.maxConcurrentUploads;
  // Waiting StartDfu calls, first come first served; each takes the next slot freed.
  const waiting: (() => void)[] = [];
  const slotFreed = (): void => {
    receiving--;
    waiting.shift()?.();
  };
  const tooMany = (detail: string): BledfuError =>
    new BledfuError('TOO_MANY_UPLOADS', `${receiving} packages are being received already, the most this server takes at once${detail}`, {
      layer: 'rpc',
      remedy: 'retry when one has arrived; upload a package once (UploadPackage) and start jobs with its package_id; or raise --max-concurrent-uploads',
    });

  const interceptor: ServerInterceptor = (descriptor, call) => {
    const method = descriptor.path.startsWith(SERVICE_PREFIX) ? descriptor.path.slice(SERVICE_PREFIX.length) : '';
    // Everything else keeps the server-wide small limit and passes untouched.
    if (!PACKAGE_METHODS.has(method)) return new ServerInterceptingCall(call);

    let holding = false;
    let gone = false;
    let stopWaiting = (): void => undefined;
    const release = (): void => {
      gone = true;
      stopWaiting();
      if (!holding) return;
      holding = false;
      slotFreed();
    };
    const refuse = (error: BledfuError): void => {
      refusedUnread++;
      const status = statusFor(error);
      o.onRefused?.(descriptor.path, status.code);
      // The listener's `next` is never called: the handler never asks for the body, so it stays
      // in HTTP/2 flow control until grpc-js discards it with the stream.
      call.sendStatus(status);
    };
    const peer = call.getPeer();
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            if (o.tokens !== undefined) {
              const refusal = accessRefusal(o.tokens, method, metadata.get('authorization'), peer, (f, m) => o.logger.warn(f, m));
              if (refusal !== undefined) return refuse(refusal);
            }
            const admit = (): void => {
              if (!raiseReceiveLimit(call, o.packageMessageBytes) && !warnedInternals) {
                warnedInternals = true;
                o.logger.error({ method }, 'cannot raise the receive limit of package calls (grpc-js internals changed): they keep --max-message-bytes');
              }
              holding = true;
              receiving++;
              admitted++;
              nextMetadata(metadata);
            };
            if (receiving < o.maxConcurrentUploads) return admit();
            if (method !== 'StartDfu' || waiting.length >= maxWaitingStarts) {
              o.logger.warn({ method, peer, receiving, waiting: waiting.length }, 'call refused: too many packages being received');
              return refuse(tooMany(method === 'StartDfu' ? ` and ${waiting.length} StartDfu calls wait for them` : ''));
            }
            const turn = (): void => {
              timer.cancel();
              stopWaiting = () => undefined;
              if (!gone) admit();
              // A call that went away meanwhile passes its turn on.
              else waiting.shift()?.();
            };
            // Real time, not the simulator's: the wait is for bytes on the network.
            const timer = networkClock.setTimer(
              startWaitMs,
              () => {
                stopWaiting();
                o.logger.warn({ method, peer, receiving }, 'call refused: no package slot came free in time');
                refuse(tooMany(`; this call waited ${Math.round(startWaitMs / 1000)} s for one`));
              },
              { background: true, label: 'rpc: StartDfu waits for a package slot' },
            );
            stopWaiting = () => {
              timer.cancel();
              const i = waiting.indexOf(turn);
              if (i >= 0) waiting.splice(i, 1);
              stopWaiting = () => undefined;
            };
            waiting.push(turn);
          },
          // StartDfu's one message has arrived; the rest of the call is the job's event stream.
          onReceiveMessage(message, nextMessage) {
            if (method === 'StartDfu') release();
            nextMessage(message);
          },
          onReceiveHalfClose(nextHalfClose) {
            release();
            nextHalfClose();
          },
          onCancel() {
            release();
          },
        });
      },
      sendStatus(status, nextStatus) {
        release();
        nextStatus(status);
      },
    });
  };

  return { interceptor, stats: () => ({ uploadsReceiving: receiving, uploadsAdmitted: admitted, refusedUnread, startsWaiting: waiting.length }) };
}

