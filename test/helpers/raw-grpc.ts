/**
 * gRPC calls at the HTTP/2 level, for what a generated client will not send: a message whose
 * length prefix announces more than is ever sent, or bytes that are not a valid message.
 */
import { connect } from 'node:http2';

export interface RawAnswer {
  /** grpc-status, from a trailers-only response or the trailers. */
  readonly status: number;
  readonly message: string;
  /** Whether the status carried google.rpc.Status details (our ErrorInfo). */
  readonly hasDetails: boolean;
}

/** A gRPC frame header: not compressed, `length` bytes announced. */
export function frameHeader(length: number): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(length, 1);
  return h;
}

/** One length-prefixed message holding `bytes`. */
export function frame(bytes: Uint8Array): Buffer {
  return Buffer.concat([frameHeader(bytes.length), bytes]);
}

/**
 * Sends `body` on `path` and, unless `end` is false, half-closes; resolves with the status the
 * server ends the call with. With `end: false` the server answers without the rest of the body
 * or not at all (then the test's own timeout fails it).
 */
export async function rawCall(
  address: string,
  path: string,
  body: Buffer,
  options: { readonly headers?: Readonly<Record<string, string>>; readonly end?: boolean } = {},
): Promise<RawAnswer> {
  const session = connect(`http://${address}`);
  session.on('error', () => undefined);
  try {
    return await new Promise<RawAnswer>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...options.headers,
      });
      const settle = (h: Readonly<Record<string, unknown>>): boolean => {
        const status = h['grpc-status'];
        if (status === undefined) return false;
        resolve({
          status: Number(status),
          message: decodeURIComponent(String(h['grpc-message'] ?? '')),
          hasDetails: h['grpc-status-details-bin'] !== undefined,
        });
        return true;
      };
      req.on('response', (h) => void settle(h));
      req.on('trailers', (h) => void settle(h));
      req.on('data', () => undefined);
      // The server may reset the stream once it has answered: not our failure.
      req.on('error', () => undefined);
      req.on('close', () => reject(new Error(`${path}: the stream closed without a grpc-status`)));
      req.write(body);
      if (options.end !== false) req.end();
    });
  } finally {
    session.destroy();
  }
}
