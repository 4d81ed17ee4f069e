/**
 * The scrape endpoint: `GET /metrics` in the Prometheus text format over plain HTTP. Every other
 * path is 404, every other method 405. Metrics hold no secrets (no tokens, no device addresses),
 * so it may listen beyond loopback without TLS.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { BledfuError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

export const METRICS_PATH = '/metrics';

export interface MetricsServer {
  /** host:port with the real port (useful with port 0); an IPv6 host in brackets. */
  readonly address: string;
  readonly port: number;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

/** "[::1]:9464" → { host: "::1", port: 9464 }; the config has checked the form already. */
export function splitHostPort(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(at + 1)) };
}

/** Binds `listen` (host:port) and serves `registry`; rejects with INVALID_ARGUMENT when it cannot bind. */
export async function serveMetrics(registry: Registry, listen: string, logger: Logger): Promise<MetricsServer> {
  const server = createServer((req, res) => void answer(registry, req, res, logger));
  // Scrapers keep connections open; these must not hold up a shutdown.
  server.keepAliveTimeout = 5_000;
  const { host, port } = splitHostPort(listen);
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      reject(
        new BledfuError('INVALID_ARGUMENT', `cannot serve metrics on ${listen}: ${e.code === 'EADDRINUSE' ? 'the address is already in use' : e.message}`, {
          layer: 'config',
          remedy: 'choose another --metrics-listen host:port (or stop what is using it); an empty value turns metrics off',
          cause: e,
          facts: { context: { listen, ...(e.code === undefined ? {} : { errno: e.code }) } },
        }),
      );
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (e) => logger.error({ err: e }, 'metrics server error'));
  const bound = (server.address() as AddressInfo).port;
  const address = `${host.includes(':') ? `[${host}]` : host}:${bound}`;
  logger.info({ address, path: METRICS_PATH }, 'serving Prometheus metrics');
  let closed: Promise<void> | undefined;
  return {
    address,
    port: bound,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

async function answer(registry: Registry, req: IncomingMessage, res: ServerResponse, logger: Logger): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== METRICS_PATH) {
    send(res, 404, 'text/plain; charset=utf-8', `not found: metrics are at ${METRICS_PATH}\n`);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, 'text/plain; charset=utf-8', `method ${req.method ?? ''} not allowed: use GET\n`);
    return;
  }
  let body: string;
  try {
    body = await registry.metrics();
  } catch (e) {
    logger.error({ err: e }, 'collecting metrics failed');
    send(res, 500, 'text/plain; charset=utf-8', 'collecting metrics failed (details in the server log)\n');
    return;
  }
  send(res, 200, registry.contentType, req.method === 'HEAD' ? undefined : body, Buffer.byteLength(body));
}

function send(res: ServerResponse, status: number, contentType: string, body: string | undefined, length = body === undefined ? 0 : Buffer.byteLength(body)): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': length });
  res.end(body);
}
