/**
 * `bledfu health` as a probe runs it: the spawned CLI binary against a server on the simulator.
 * The exit code is the answer (0 SERVING, 1 NOT_SERVING, 7 no server), so the container image's
 * HEALTHCHECK and a shell script can rely on it.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { EXIT } from '../../clients/cli/exitCodes.js';
import { ServingStatus } from '../../clients/ts/index.js';
import { CLI_BIN, runProcess, type ProcessRun } from '../helpers/run-process.js';
import { startSimServer } from '../helpers/sim-server.js';


/** The CLI, with none of the caller's server settings. */
function bledfu(args: readonly string[]): Promise<ProcessRun> {
  return runProcess(process.execPath, [CLI_BIN, ...args], {
    env: { ...process.env, BLEDFU_SERVER: '', BLEDFU_TOKEN: '', BLEDFU_CA: '' },
    timeoutMs: 20_000,
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  assert.ok(a !== null && typeof a === 'object');
  return `127.0.0.1:${a.port}`;
}

async function close(server: Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('bledfu health (spawned CLI)', () => {
  it('SERVING exits 0; with the dongle unplugged NOT_SERVING exits 1', { timeout: 60_000 }, async () => {
    const s = await startSimServer();
    try {
      const up = await bledfu(['--server', s.address, 'health']);
      assert.equal(up.code, EXIT.ok, up.stderr);
      assert.equal(up.stdout, 'SERVING\n');
      const svc = await bledfu(['--server', s.address, '--json', 'health', '--service', 'bledfu.v1.BledfuService']);
      assert.equal(svc.code, EXIT.ok, svc.stderr);
      assert.deepEqual(JSON.parse(svc.stdout), { type: 'health', service: 'bledfu.v1.BledfuService', status: 'SERVING' });

      s.world.unplugDongle();
      // The registry notices the unplug on its own clock: wait until the server says so in-process,
      // so the spawned CLI asks a server that has settled.
      const settled = AbortSignal.timeout(10_000);
      while ((await s.client.health.check({ service: '' })).status !== ServingStatus.NOT_SERVING) {
        settled.throwIfAborted();
        await new Promise((r) => setTimeout(r, 50));
      }
      const down = await bledfu(['--server', s.address, '--json', 'health']);
      assert.equal(down.code, EXIT.other, down.stderr);
      assert.deepEqual(JSON.parse(down.stdout), { type: 'health', service: '', status: 'NOT_SERVING' });
      const text = await bledfu(['--server', s.address, 'health']);
      assert.equal(text.code, EXIT.other);
      assert.equal(text.stdout, 'NOT_SERVING\n');
    } finally {
      await s.close();
    }
  });

  it('an unknown service is "not found" (exit 3)', { timeout: 60_000 }, async () => {
    const s = await startSimServer();
    try {
      const r = await bledfu(['--server', s.address, 'health', '--service', 'no.such.Service']);
      assert.equal(r.code, EXIT.notFound, r.stderr);
      assert.match(r.stderr, /unknown service/);
    } finally {
      await s.close();
    }
  });

  it('nothing listening: the no-server exit code (7)', { timeout: 30_000 }, async () => {
    // A port that was just free: bound, then closed, so nothing listens on it.
    const probe = createServer();
    const address = await listen(probe);
    await close(probe);
    const r = await bledfu(['--server', address, '--json', 'health']);
    assert.equal(r.code, EXIT.serverUnreachable, r.stdout + r.stderr);
    const record = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(record['type'], 'error');
    assert.equal(record['code'], 'SERVER_UNREACHABLE');
  });

  it('a listener that never answers: no server (7) once --timeout has passed, not "cancelled"', { timeout: 30_000 }, async () => {
    // Accepts TCP connections and says nothing, like a wedged process: the gRPC channel never
    // becomes ready, so only the command's own deadline ends the call.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    const address = await listen(silent);
    try {
      const r = await bledfu(['--server', address, '--json', 'health', '--timeout', '0.3']);
      assert.equal(r.code, EXIT.serverUnreachable, r.stdout + r.stderr);
      const record = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(record['grpcCodeName'], 'DEADLINE_EXCEEDED');
      assert.match(String(record['message']), /no answer from .* within 0\.3s/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await close(silent);
    }
  });

  it('a malformed --timeout is a usage error (2)', async () => {
    const r = await bledfu(['health', '--timeout', 'soon']);
    assert.equal(r.code, EXIT.usage);
    assert.match(r.stderr, /--timeout/);
  });
});
