import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { concatBytes } from '../../../server/common/bytes.js';
import { hasCode } from '../../../server/common/errors.js';
import { openSocketTransport, parseSocketTarget, socketDuplex, type SocketTarget } from '../../../server/transport/socket.js';

interface Peer {
  readonly server: Server;
  readonly target: SocketTarget;
  /** The server side of the next connection. */
  next(): Promise<Socket>;
}

async function listen(where: { path: string } | { host: string }): Promise<Peer> {
  const waiting: ((s: Socket) => void)[] = [];
  const early: Socket[] = [];
  const server = createServer((s) => {
    const w = waiting.shift();
    if (w) w(s);
    else early.push(s);
  });
  await new Promise<void>((resolve) => ('path' in where ? server.listen(where.path, resolve) : server.listen(0, where.host, resolve)));
  const target: SocketTarget = 'path' in where ? { path: where.path } : { host: where.host, port: (server.address() as AddressInfo).port };
  return {
    server,
    target,
    next: () => {
      const s = early.shift();
      return s ? Promise.resolve(s) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

function readAll(s: Socket): Promise<Uint8Array> {
  return new Promise((resolve) => {
    const parts: Uint8Array[] = [];
    s.on('data', (c: Buffer) => parts.push(new Uint8Array(c)));
    s.on('close', () => resolve(concatBytes(parts)));
  });
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source) parts.push(chunk);
  return concatBytes(parts);
}

describe('socket transport', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-sock-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const kind of ['unix', 'tcp'] as const) {
    it(`${kind}: carries bytes both ways, in order, and flushes writes made before close`, async () => {
      const peer = await listen(kind === 'unix' ? { path: join(dir, 'a.sock') } : { host: '127.0.0.1' });
      try {
        const t = await openSocketTransport(peer.target);
        const far = await peer.next();
        const farGot = readAll(far);
        far.write(Uint8Array.of(1, 2, 3));
        far.write(Uint8Array.of(4));
        const reader = t.readable()[Symbol.asyncIterator]();
        const got: number[] = [];
        while (got.length < 4) {
          const r = await reader.next();
          assert.equal(r.done, false);
          got.push(...(r.value as Uint8Array));
        }
        assert.deepEqual(got, [1, 2, 3, 4]);
        const big = new Uint8Array(256 * 1024).map((_, i) => i & 0xff);
        const writes = [t.write(Uint8Array.of(9)), t.write(big)];
        await t.close();
        await Promise.all(writes);
        const received = await farGot;
        assert.equal(received.length, 1 + big.length);
        assert.equal(received[0], 9);
        assert.deepEqual(received.subarray(1), big);
        assert.equal(t.closed.aborted, true);
        assert.ok(hasCode(t.closed.reason, 'TRANSPORT_CLOSED'));
        // Our own close ends the reader normally.
        assert.equal((await reader.next()).done, true);
        await assert.rejects(t.write(Uint8Array.of(1)), (e: unknown) => hasCode(e, 'TRANSPORT_CLOSED'));
      } finally {
        peer.server.close();
      }
    });
  }

  it('fails the reader with TRANSPORT_CLOSED after draining when the far end goes away', async () => {
    const peer = await listen({ path: join(dir, 'b.sock') });
    try {
      const t = await openSocketTransport(peer.target);
      const far = await peer.next();
      far.end(Uint8Array.of(0xaa, 0xbb));
      const parts: number[] = [];
      await assert.rejects(
        (async () => {
          for await (const c of t.readable()) parts.push(...c);
        })(),
        (e: unknown) => hasCode(e, 'TRANSPORT_CLOSED') && /far end/.test(e.message),
      );
      assert.deepEqual(parts, [0xaa, 0xbb]);
      assert.equal(t.closed.aborted, true);
      await assert.rejects(t.write(Uint8Array.of(1)), (e: unknown) => hasCode(e, 'TRANSPORT_CLOSED'));
      await t.close();
    } finally {
      peer.server.close();
    }
  });

  it('refuses a second reader', async () => {
    const peer = await listen({ path: join(dir, 'c.sock') });
    try {
      const t = await openSocketTransport(peer.target);
      t.readable();
      assert.throws(() => t.readable(), (e: unknown) => hasCode(e, 'INTERNAL'));
      await t.close();
    } finally {
      peer.server.close();
    }
  });

  it('keeps every byte when the reader is slower than the sender (the socket pauses, nothing is dropped)', async () => {
    const peer = await listen({ path: join(dir, 'd.sock') });
    try {
      const t = await openSocketTransport(peer.target);
      const far = await peer.next();
      const total = 4 * 1024 * 1024;
      const data = new Uint8Array(total).map((_, i) => (i * 7) & 0xff);
      for (let at = 0; at < total; at += 1000) far.write(data.subarray(at, at + 1000));
      far.end();
      let n = 0;
      let ok = true;
      await assert.rejects(
        (async () => {
          for await (const c of t.readable()) {
            for (const b of c) ok &&= b === ((n++ * 7) & 0xff);
            // A slow consumer: yield to the event loop after each chunk.
            await new Promise((r) => setImmediate(r));
          }
        })(),
        (e: unknown) => hasCode(e, 'TRANSPORT_CLOSED'),
      );
      assert.equal(n, total);
      assert.ok(ok, 'bytes arrived out of order or changed');
      await t.close();
    } finally {
      peer.server.close();
    }
  });

  it('wraps an already connected socket', async () => {
    const peer = await listen({ path: join(dir, 'e.sock') });
    try {
      const raw = connect({ path: (peer.target as { path: string }).path });
      await new Promise((r) => raw.once('connect', r));
      const t = socketDuplex(raw, 'test');
      const far = await peer.next();
      const got = collect(t.readable());
      far.end(Uint8Array.of(5));
      await assert.rejects(got, (e: unknown) => hasCode(e, 'TRANSPORT_CLOSED'));
      await t.close();
    } finally {
      peer.server.close();
    }
  });

  it('names the target when nobody listens, and honours an aborted signal', async () => {
    const path = join(dir, 'nobody.sock');
    await assert.rejects(openSocketTransport({ path }), (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE') && e.message.includes(path) && e.remedy !== undefined);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(openSocketTransport({ path }, ac.signal), (e: unknown) => hasCode(e, 'CANCELLED'));
  });
});

describe('socket targets', () => {
  it('reads paths, host:port and bracketed IPv6', () => {
    assert.deepEqual(parseSocketTarget('./ctl.sock'), { path: './ctl.sock' });
    assert.deepEqual(parseSocketTarget('dongles.lan:4000'), { host: 'dongles.lan', port: 4000 });
    assert.deepEqual(parseSocketTarget('[::1]:5000'), { host: '::1', port: 5000 });
  });

  it('refuses what is neither', () => {
    for (const bad of ['ctl.sock', 'host:', 'host:0', 'host:70000', ':22']) {
      assert.throws(() => parseSocketTarget(bad), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'), bad);
    }
  });
});
