/**
 * Requests whose bytes do not decode end INVALID_ARGUMENT, like any other bad input. grpc-js
 * answers a throwing deserializer itself with INTERNAL "Error deserializing request", which
 * reads as a server bug and carries no ErrorInfo. So the service definitions are served with
 * decoders that never throw: a failure becomes a marker request, and the middleware here turns
 * the marker into a BledfuError before any handler sees it. Covers int64 fields beyond 2^53
 * (ts-proto's forceLong=number refuses them while decoding) and truncated or garbled messages.
 */
import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';
import { BledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { toServerError } from './status.js';

const MALFORMED: unique symbol = Symbol('malformed request');

interface Malformed {
  readonly [MALFORMED]: string;
}

function isMalformed(value: unknown): value is Malformed {
  return typeof value === 'object' && value !== null && MALFORMED in value;
}

/** Our decoder's words, never the client's bytes, and short: it ends up in a status message. */
const REASON_CHARS = 120;

function marked<A extends unknown[], T>(decode: (...args: A) => T): (...args: A) => T {
  return (...args: A): T => {
    try {
      return decode(...args);
    } catch (e) {
      const reason = (e instanceof Error ? e.message : String(e)).slice(0, REASON_CHARS);
      return { [MALFORMED]: reason } as unknown as T;
    }
  };
}

interface TsProtoMethod {
  readonly requestType: { readonly decode: (...args: never[]) => unknown };
}

/** A ts-proto service definition (proto/gen) whose request decoders never throw. */
export function tolerantTsProto<D extends { readonly methods: Readonly<Record<string, TsProtoMethod>> }>(definition: D): D {
  const methods: Record<string, TsProtoMethod> = {};
  for (const [key, method] of Object.entries(definition.methods)) {
    methods[key] = { ...method, requestType: { ...method.requestType, decode: marked(method.requestType.decode) } };
  }
  return { ...definition, methods } as D;
}

/** A generic (grpc-js style) service definition whose request deserializers never throw. */
export function tolerantGeneric<D extends Readonly<Record<string, { readonly requestDeserialize: (bytes: Buffer) => unknown }>>>(definition: D): D {
  const out: Record<string, unknown> = {};
  for (const [key, method] of Object.entries(definition)) out[key] = { ...method, requestDeserialize: marked(method.requestDeserialize) };
  return out as D;
}

function malformedError(path: string, reason: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', `the request to ${path} does not decode: ${reason}`, {
    layer: 'rpc',
    remedy: 'send a message encoded from the published protos (proto/); integers must fit their declared type, int64 durations included up to 2^53',
  });
}

/** Middleware refusing marker requests; put it inside errorDetailsServerMiddleware and the token check. */
export function refuseMalformedRequests(logger: Logger) {
  return async function* refuseMalformed<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    const path = call.method.path;
    const refuse = (reason: string): never => {
      logger.warn({ method: path, peer: context.peer, reason }, 'call refused: request does not decode');
      throw toServerError(malformedError(path, reason), logger);
    };
    if (!call.requestStream) {
      if (isMalformed(call.request)) refuse(call.request[MALFORMED]);
      return yield* call.next(call.request, context);
    }
    const requests = call.request;
    async function* checked(): AsyncGenerator<Request> {
      for await (const r of requests) {
        if (isMalformed(r)) refuse(r[MALFORMED]);
        yield r;
      }
    }
    return yield* call.next(checked(), context);
  };
}
