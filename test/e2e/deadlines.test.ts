/**
 * Deadlines are honoured: a call whose deadline passes ends with DEADLINE_EXCEEDED on the client
 * and its radio work stops on the server (the controller leaves the scan, no link stays up).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createServer, type Socket } from 'node:net';
import { Client, credentials, status as Status, type ClientReadableStream } from '@grpc/grpc-js';
import { PassThrough } from 'node:stream';
import { createBledfuClient, decodeError } from '../../clients/ts/index.js';
import { runCli } from '../../clients/cli/program.js';
import { EXIT } from '../../clients/cli/exitCodes.js';
import { ConnectRequest, ConnectResponse } from '../../proto/gen/bledfu/v1/connect.js';
import { ScanRequest, ScanResponse } from '../../proto/gen/bledfu/v1/scan.js';
import { addressTarget, startSimServer } from '../helpers/sim-server.js';

const SCAN_FOREVER: ScanRequest = {
  adapterId: '',
  filter: { name: 'nobody-advertises-this', namePrefix: '', address: '', serviceUuid: '', minRssi: undefined, dfuBootloaderOnly: false },
  duration: undefined,
  allowDuplicates: false,
  active: true,
};

function grpcCode(e: unknown): unknown {
  return (e as { code?: unknown }).code;
}

/**
 * Other languages' clients send a deadline as the grpc-timeout header, which is what grpc-js's
 * own client does here. Our TypeScript client enforces its deadline itself (it cancels the call),
 * tested at the end.
 */
function withDeadline<Req, Res>(
  address: string,
  method: string,
  codec: { readonly encode: (r: Req) => { finish(): Uint8Array }; readonly decode: (b: Uint8Array) => Res },
  request: Req,
  deadline: Date,
): { stream: ClientReadableStream<Res>; close(): void } {
  const client = new Client(address, credentials.createInsecure());
  const stream = client.makeServerStreamRequest(
    `/bledfu.v1.BledfuService/${method}`,
    (r: Req) => Buffer.from(codec.encode(r).finish()),
    (b: Buffer) => codec.decode(b),
    request,
    { deadline },
  );
  return { stream, close: () => client.close() };
}

async function drainUntilError<Res>(call: { stream: ClientReadableStream<Res>; close(): void }, seen: Res[]): Promise<unknown> {
  try {
    for await (const r of call.stream as AsyncIterable<Res>) seen.push(r);
  } catch (e) {
    return e;
  } finally {
    call.close();
  }
  return undefined;
}

describe('deadlines', () => {
  it('a Scan past its deadline ends with DEADLINE_EXCEEDED and the controller stops scanning', { timeout: 30_000 }, async () => {
    const s = await startSimServer();
    try {
      // No duration and a filter nothing matches: only the deadline can end this call.
      const seen: ScanResponse[] = [];
      const error = await drainUntilError(withDeadline(s.address, 'Scan', { encode: (r: ScanRequest) => ScanRequest.encode(r), decode: (b) => ScanResponse.decode(b) }, SCAN_FOREVER, new Date(Date.now() + 300)), seen);
      assert.deepEqual(seen, [], 'nothing matched the filter');
      assert.equal(grpcCode(error), Status.DEADLINE_EXCEEDED, `ended with ${String(error)}`);
      assert.ok(s.air.scans >= 1, 'the scan reached the controller');
      await s.scanStopped();
      assert.equal(s.air.scanning, false);
      assert.equal(s.world.air.busy, false);
    } finally {
      await s.close();
    }
  });

  it('a Connect past its deadline ends with DEADLINE_EXCEEDED and the link is taken down', { timeout: 30_000 }, async () => {
    const s = await startSimServer();
    try {
      const dev = s.device();
      const gone = s.nextDisconnection();
      const seen: ConnectResponse[] = [];
      const request: ConnectRequest = { adapterId: '', target: addressTarget(dev.address.value), scanTimeout: undefined, mtu: 0 };
      const error = await drainUntilError(withDeadline(s.address, 'Connect', { encode: (r: ConnectRequest) => ConnectRequest.encode(r), decode: (b) => ConnectResponse.decode(b) }, request, new Date(Date.now() + 2_000)), seen);
      assert.equal(grpcCode(error), Status.DEADLINE_EXCEEDED, `ended with ${String(error)}`);
      assert.equal(seen[0]?.event?.$case, 'connected', 'the link was up before the deadline');
      // The server hung up: the device saw the link end (not a reset) and no link is left.
      await gone;
      assert.equal(s.world.air.links.length, 0);
      assert.equal(dev.resets(), 0);
    } finally {
      await s.close();
    }
  });

  it('the TypeScript client: a unary call not answered by its deadline ends with DEADLINE_EXCEEDED', { timeout: 30_000 }, async () => {
    // A peer that accepts the connection and never speaks HTTP/2: only the deadline ends the call.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const client = createBledfuClient(`127.0.0.1:${port}`);
    try {
      const error = await client.listAdapters({}, { deadline: 200 }).then(
        () => assert.fail('answered by a silent peer'),
        (e: unknown) => e,
      );
      const decoded = decodeError(error);
      assert.equal(decoded.grpcCode, Status.DEADLINE_EXCEEDED, decoded.message);
      assert.equal(decoded.code, 'DEADLINE_EXCEEDED');

      // The CLI's --timeout is the same deadline: exit 5 (link or adapter problem, timeouts).
      const stdout = new PassThrough();
      let out = '';
      stdout.on('data', (d: Buffer) => (out += d.toString()));
      const code = await runCli(['--server', `127.0.0.1:${port}`, '--json', '--timeout', '0.2', 'adapters'], {
        io: { stdout, stderr: new PassThrough() },
        env: {},
        readFile: async () => new Uint8Array(),
        writeFile: async () => undefined,
        interrupted: new AbortController().signal,
        forced: new AbortController().signal,
      });
      assert.equal(code, EXIT.linkOrAdapter);
      assert.equal((JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { code?: string }).code, 'DEADLINE_EXCEEDED');
    } finally {
      client.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('the TypeScript client: a Scan with a deadline ends with DEADLINE_EXCEEDED and the scan stops', { timeout: 30_000 }, async () => {
    const s = await startSimServer();
    const client = s.newClient();
    try {
      const seen: unknown[] = [];
      let error: unknown;
      try {
        for await (const r of client.scan(SCAN_FOREVER, { deadline: new Date(Date.now() + 300) })) seen.push(r);
      } catch (e) {
        error = e;
      }
      assert.deepEqual(seen, [], 'nothing matched the filter');
      assert.equal(decodeError(error).grpcCode, Status.DEADLINE_EXCEEDED, String(error));
      assert.ok(s.air.scans >= 1, 'the scan reached the controller');
      await s.scanStopped();
      assert.equal(s.air.scanning, false);
    } finally {
      await s.close();
    }
  });
});
