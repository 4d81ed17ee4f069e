/**
 * The scrape endpoint over real HTTP on 127.0.0.1: GET /metrics only, 404 and 405 otherwise, and
 * a port already in use refused with a typed error naming the setting.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { hasCode } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';
import { serveMetrics, splitHostPort } from '../../../server/metrics/http.js';
import { parseExposition } from '../../helpers/prom-text.js';

function registryWithOne(): Registry {
  const registry = new Registry();
  new Counter({ name: 'bledfu_test_total', help: 'a test counter', labelNames: ['x'], registers: [registry] }).inc({ x: 'a "quoted"\\value' }, 3);
  return registry;
}

async function holdPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, port: address.port };
}

describe('metrics HTTP endpoint', () => {
  it('GET /metrics answers the Prometheus text format; HEAD the headers only; other paths 404, other methods 405', async () => {
    const m = await serveMetrics(registryWithOne(), '127.0.0.1:0', silentLogger());
    try {
      assert.match(m.address, /^127\.0\.0\.1:\d+$/);
      assert.notEqual(m.port, 0);
      const res = await fetch(`http://${m.address}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const parsed = parseExposition(await res.text());
      assert.equal(parsed.value('bledfu_test_total', { x: 'a "quoted"\\value' }), 3);
      assert.equal(parsed.types.get('bledfu_test_total'), 'counter');

      assert.equal((await fetch(`http://${m.address}/metrics?debug=1`)).status, 200, 'a query string is ignored');
      const head = await fetch(`http://${m.address}/metrics`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), '');

      for (const path of ['/', '/metric', '/metrics/', '/healthz']) {
        const r = await fetch(`http://${m.address}${path}`);
        assert.equal(r.status, 404, path);
        assert.match(await r.text(), /\/metrics/);
      }
      for (const method of ['POST', 'PUT', 'DELETE']) {
        const r = await fetch(`http://${m.address}/metrics`, { method, body: method === 'DELETE' ? null : 'x' });
        assert.equal(r.status, 405, method);
        assert.equal(r.headers.get('allow'), 'GET, HEAD');
        await r.arrayBuffer();
      }
    } finally {
      await m.close();
    }
    await assert.rejects(fetch(`http://${m.address}/metrics`), 'nothing listens after close');
  });

  it('a port already in use: INVALID_ARGUMENT naming the address and what to do', async () => {
    const held = await holdPort();
    try {
      await assert.rejects(
        serveMetrics(registryWithOne(), `127.0.0.1:${held.port}`, silentLogger()),
        (e: unknown) =>
          hasCode(e, 'INVALID_ARGUMENT') &&
          e.message === `cannot serve metrics on 127.0.0.1:${held.port}: the address is already in use` &&
          /--metrics-listen/.test(e.remedy ?? ''),
      );
    } finally {
      await new Promise((resolve) => held.server.close(resolve));
    }
  });

  it('splits host:port, IPv6 hosts in brackets', () => {
    assert.deepEqual(splitHostPort('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 });
    assert.deepEqual(splitHostPort('[::]:9464'), { host: '::', port: 9464 });
    assert.deepEqual(splitHostPort('localhost:0'), { host: 'localhost', port: 0 });
  });
});
