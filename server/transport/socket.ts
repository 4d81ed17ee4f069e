/**
 * A byte pipe over a stream socket: a unix socket (BlueZ's btvirt controllers, local relays) or
 * TCP (a dongle shared on the network, ser2net style). Same contract as the memory pair: one
 * reader, writes resolve once handed to the OS, `closed` aborts when either side closes.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { abortReason, BledfuError } from '../common/errors.js';
import { StreamInbox } from './streamInbox.js';
import type { ByteDuplex } from './types.js';

export type SocketTarget = { readonly path: string } | { readonly host: string; readonly port: number };

/**
 * "host:port" (TCP; IPv6 hosts in brackets, "[::1]:5000") or a unix socket path (anything with
 * a slash). INVALID_ARGUMENT otherwise.
 */
export function parseSocketTarget(text: string): SocketTarget {
  if (text.includes('/')) return { path: text };
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port < 1 || port > 65535) {
    throw new BledfuError('INVALID_ARGUMENT', `not a socket address: "${text}"`, {
      layer: 'transport',
      remedy: 'write host:port for TCP (e.g. 192.168.1.20:4000) or a path for a unix socket',
    });
  }
  return { host: m[1] ?? m[2] ?? '', port };
}

export function describeSocketTarget(target: SocketTarget): string {
  return 'path' in target ? target.path : `${target.host}:${target.port}`;
}

function closedError(where: string, detail: string, cause?: unknown): BledfuError {
  return new BledfuError('TRANSPORT_CLOSED', `socket ${where} closed (${detail})`, {
    layer: 'transport',
    ...(cause === undefined ? {} : { cause }),
  });
}

class SocketDuplex implements ByteDuplex {
  readonly #socket: Socket;
  readonly #where: string;
  readonly #inbox: StreamInbox;
  readonly #closed = new AbortController();
  readonly #gone: Promise<void>;

  constructor(socket: Socket, where: string) {
    this.#socket = socket;
    this.#where = where;
    this.#gone = new Promise((resolve) => socket.once('close', () => resolve()));
    this.#inbox = new StreamInbox(socket, 'socket');
    socket.on('error', (e: Error) => this.#farEnd(e.message, e));
    // Without half-open sockets the peer's end closes ours too; 'close' covers both.
    socket.once('close', () => this.#farEnd('closed by the far end'));
  }

  get closed(): AbortSignal {
    return this.#closed.signal;
  }

  readable(): AsyncIterable<Uint8Array> {
    return this.#inbox.readable();
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#closed.signal.aborted) return Promise.reject(this.#closed.signal.reason);
    return new Promise((resolve, reject) => {
      this.#socket.write(bytes, (e) => {
        if (e === undefined || e === null) resolve();
        else reject(this.#closed.signal.aborted ? this.#closed.signal.reason : closedError(this.#where, e.message, e));
      });
    });
  }

  async close(): Promise<void> {
    if (!this.#closed.signal.aborted) {
      this.#closed.abort(closedError(this.#where, 'closed by this end'));
      this.#inbox.end();
      // Whatever was written before close reaches the OS first; we do not wait for the peer
      // to close its side (btvirt, for one, never answers a half-close).
      const flushed = new Promise<void>((resolve) => {
        this.#socket.once('finish', resolve);
        this.#socket.once('close', resolve);
      });
      this.#socket.end();
      await flushed;
    }
    this.#socket.destroy();
    await this.#gone;
  }

  #farEnd(detail: string, cause?: unknown): void {
    if (this.#closed.signal.aborted) return;
    const error = closedError(this.#where, detail, cause);
    this.#closed.abort(error);
    this.#inbox.fail(error);
    this.#socket.destroy();
  }
}

/** Wraps a socket that is already connected. */
export function socketDuplex(socket: Socket, where = 'socket'): ByteDuplex {
  return new SocketDuplex(socket, where);
}

/** Connects to a unix socket path or a TCP host:port; fails with ADAPTER_UNAVAILABLE naming it. */
export function openSocketTransport(target: SocketTarget, signal?: AbortSignal): Promise<ByteDuplex> {
  const where = describeSocketTarget(target);
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const socket = 'path' in target ? netConnect({ path: target.path }) : netConnect({ host: target.host, port: target.port });
    const cleanup = (): void => {
      socket.off('connect', onConnect);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onConnect = (): void => {
      cleanup();
      // H4 packets are small and latency-bound: no Nagle delay on TCP.
      if (!('path' in target)) socket.setNoDelay(true);
      resolve(new SocketDuplex(socket, where));
    };
    const onError = (e: NodeJS.ErrnoException): void => {
      cleanup();
      socket.destroy();
      reject(
        new BledfuError('ADAPTER_UNAVAILABLE', `cannot connect to ${where}: ${e.code ?? e.message}`, {
          layer: 'transport',
          remedy: 'check that the controller (or the relay serving it) is running and listening there',
          facts: { context: { socket: where } },
          cause: e,
        }),
      );
    };
    const onAbort = (): void => {
      cleanup();
      socket.destroy();
      reject(abortReason(signal as AbortSignal));
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
