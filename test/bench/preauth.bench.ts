/**
 * `npm run bench`: what requests from nobody cost the server (issue 12, item 2). bledfud runs in
 * a child process with a tokens file and the simulator; 24 concurrent StartDfu calls without a
 * token each send a 60 MiB message, then 24 concurrent reflection calls (no token needed) each
 * send a 50 MiB one. Prints the server's resident memory before and its peak growth during each
 * wave (goal: under 100 MB), and how every call ended. Linux only (reads /proc/<pid>/status).
 * Asserts nothing (speed and memory goals are not tests).
 *
 * BENCH_PREAUTH_CALLS and BENCH_PREAUTH_MIB size a wave; BENCH_BLEDFUD runs another bledfud.js
 * (e.g. an older checkout's, for a before/after figure).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const calls = Number(env('BENCH_PREAUTH_CALLS', '24'));
const mib = Number(env('BENCH_PREAUTH_MIB', '60'));
const bledfud = env('BENCH_BLEDFUD', fileURLToPath(new URL('../../bin/bledfud.js', import.meta.url)));
const MiB = 1024 * 1024;

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** Starts bledfud; resolves with its pid and address once it logs "listening". */
async function startServer(dir: string): Promise<{ pid: number; address: string; stop: () => Promise<void> }> {
  writeFileSync(join(dir, 'tokens'), 'operate bench-operate-token-0123456789abcdef\n');
  const child = spawn(
    process.execPath,
    [bledfud, '--listen', '127.0.0.1:0', '--adapters', 'sim:', '--tokens-file', join(dir, 'tokens'), '--data-dir', dir, '--log-level', 'info'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  const address = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"msg":"listening"[^\n]*"address":"([^"]+)"|"address":"([^"]+)"[^\n]*"msg":"listening"/.exec(out);
      if (m !== null) resolve((m[1] ?? m[2]) as string);
      // Keep only the tail: the log is not needed beyond the address.
      if (out.length > 1 << 16) out = out.slice(-4096);
    });
    child.once('exit', (code) => reject(new Error(`bledfud exited ${code}`)));
  });
  const stop = async (): Promise<void> => {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  return { pid: child.pid as number, address, stop };
}

/** Sends one message of `size` bytes on `path` (no token); resolves with the call's grpc-status or how it broke. */
async function bigCall(address: string, path: string, size: number, piece: Buffer): Promise<string> {
  const session = connect(`http://${address}`);
  session.on('error', () => undefined);
  try {
    return await new Promise<string>((resolve) => {
      const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
      const done = (h: Record<string, unknown>): void => {
        if (h['grpc-status'] !== undefined) resolve(`status ${String(h['grpc-status'])}`);
      };
      req.on('response', done);
      req.on('trailers', done);
      req.on('data', () => undefined);
      req.on('error', (e) => resolve(`stream error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      req.on('close', () => resolve(`closed (rst ${req.rstCode})`));
      const header = Buffer.alloc(5);
      header.writeUInt32BE(size, 1);
      req.write(header);
      let sent = 0;
      const pump = (): void => {
        while (sent < size && !req.destroyed && !req.closed) {
          const n = Math.min(piece.length, size - sent);
          sent += n;
          if (!req.write(n === piece.length ? piece : piece.subarray(0, n))) return void req.once('drain', pump);
        }
        if (sent >= size && !req.closed) req.end();
      };
      pump();
    });
  } finally {
    session.destroy();
  }
}

async function wave(pid: number, address: string, label: string, path: string, size: number): Promise<void> {
  const before = rssBytes(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 10);
  const piece = Buffer.alloc(MiB);
  const t0 = performance.now();
  const outcomes = await Promise.all(Array.from({ length: calls }, () => bigCall(address, path, size, piece)));
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 200));
  clearInterval(sampler);
  peak = Math.max(peak, rssBytes(pid));
  const tally = new Map<string, number>();
  for (const o of outcomes) tally.set(o, (tally.get(o) ?? 0) + 1);
  console.log(`  ${label.padEnd(44)} RSS ${(before / MiB).toFixed(0)} MB → peak +${((peak - before) / MiB).toFixed(1)} MB (goal < 100 MB) in ${(ms / 1000).toFixed(1)} s; ended: ${[...tally].map(([k, v]) => `${v}× ${k}`).join(', ')}`);
}

const dir = mkdtempSync(join(tmpdir(), 'bledfu-preauth-'));
const server = await startServer(dir);
try {
  // Let startup allocation settle before the baseline.
  await new Promise((r) => setTimeout(r, 1000));
  console.log(`\npre-authentication memory: ${calls} concurrent calls of ${mib} MiB, no token (${bledfud})`);
  await wave(server.pid, server.address, `StartDfu ×${calls}, ${mib} MiB each`, '/bledfu.v1.BledfuService/StartDfu', mib * MiB);
  await wave(server.pid, server.address, `reflection ×${calls}, ${Math.min(mib, 50)} MiB each`, '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', Math.min(mib, 50) * MiB);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
