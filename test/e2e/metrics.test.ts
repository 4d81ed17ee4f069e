/**
 * Acceptance: GET /metrics of a server on the simulator, as a Prometheus scraper sees it — DFUs
 * that succeed, fail with the device's reason, are cancelled and resumed; the simulated dongle
 * unplugged and replugged; gRPC calls by status; and bledfud itself serving metrics, or refusing
 * to start when their port is taken.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { decodeError, startDfu, Status, type DfuEvent } from '../../clients/ts/index.js';
import { bootloaderAddress } from '../../server/ble/address.js';
import { hasCode } from '../../server/common/errors.js';
import { scrape, type Exposition } from '../helpers/prom-text.js';
import { addressTarget, drain, finished, startSimServer, until, type SimServer } from '../helpers/sim-server.js';
import { projectFacts, projectZip } from '../helpers/project-packages.js';

const BLEDFUD = fileURLToPath(new URL('../../bin/bledfud.js', import.meta.url));
/** The project's ~100 KB application package (demo key, the simulator's default); facts computed from its bytes. */
const APP = await projectFacts('app');
const SIM = { adapter: 'sim0' };
/** The job counter's and duration's labels for the project's (Secure DFU) packages. */
const SECURE = { ...SIM, protocol: 'secure' };
const START_DFU = 'bledfu.v1.BledfuService/StartDfu';

function metricsOf(s: SimServer): string {
  assert.ok(s.metricsAddress !== undefined, 'the server serves metrics');
  return s.metricsAddress;
}

/** Scrapes until `done` holds: the supervisor reopens the dongle on its own clock (bounded, real time). */
async function scrapeUntil(address: string, done: (m: Exposition) => boolean, what: string): Promise<Exposition> {
  const deadline = AbortSignal.timeout(10_000);
  for (;;) {
    const m = await scrape(address);
    if (done(m)) return m;
    if (deadline.aborted) throw new Error(`metrics never showed ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function holdPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, port: address.port };
}

describe('Prometheus metrics on the simulator', () => {
  it('DFUs that succeed, fail, are cancelled and resume: counts, reasons, bytes, durations, gRPC codes', { timeout: 60_000 }, async () => {
    // Device 1 trusts only Nordic's SDK 17.0.2 key: a project package (demo key) is refused as INVALID_OBJECT.
    const s = await startSimServer({ devices: [{}, { key: 'sdk17.0.2' }, {}] }, { metricsListen: '127.0.0.1:0' });
    const address = metricsOf(s);
    try {
      let m = await scrape(address);
      assert.equal(m.value('bledfu_adapter_up', { ...SIM, kind: 'simulated' }), 1);
      for (const protocol of ['secure', 'legacy']) {
        for (const result of ['succeeded', 'failed', 'cancelled']) assert.equal(m.value('bledfu_dfu_jobs_total', { ...SIM, result, protocol }), 0, `${result} ${protocol}`);
      }
      assert.ok((m.value('process_cpu_seconds_total') ?? 0) > 0, "prom-client's process metrics are served too");
      assert.ok(!m.samples.some((x) => Object.entries(x.labels).some(([, v]) => /[0-9A-F]{2}(:[0-9A-F]{2}){5}/i.test(v))), 'no device address is a label');

      // 1. A DFU that succeeds: every byte of the image counted once.
      const ok = await drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(s.device(0).address.value) }, { signal: AbortSignal.timeout(20_000) }));
      assert.equal(ok.error, undefined, String(ok.error));
      m = await scrape(address);
      assert.equal(m.value('bledfu_dfu_jobs_total', { ...SECURE, result: 'succeeded' }), 1);
      assert.equal(m.value('bledfu_dfu_jobs_total', { ...SIM, result: 'succeeded', protocol: 'legacy' }), 0, 'a Secure DFU package is counted as secure only');
      assert.equal(m.value('bledfu_dfu_bytes_total', { ...SIM, image_type: 'application' }), APP.size);
      assert.equal(m.value('bledfu_dfu_duration_seconds_count', { ...SECURE, result: 'succeeded' }), 1);
      assert.ok((m.value('bledfu_dfu_duration_seconds_sum', { ...SECURE, result: 'succeeded' }) ?? 0) > 0);
      assert.equal(m.value('bledfu_dfu_duration_seconds_bucket', { ...SECURE, result: 'succeeded', le: '+Inf' }), 1);
      assert.equal(m.value('bledfu_grpc_requests_total', { method: START_DFU, code: 'OK' }), 1);

      // 2. A DFU the device refuses: counted by our code and the device's result name; no data byte went out.
      const refused = await drain(startDfu(s.client, { package: { data: await projectZip('app-small') }, target: addressTarget(s.device(1).address.value) }, { signal: AbortSignal.timeout(20_000) }));
      assert.equal(decodeError(refused.error).dfuResultName, 'INVALID_OBJECT');
      m = await scrape(address);
      assert.equal(m.value('bledfu_dfu_jobs_total', { ...SECURE, result: 'failed' }), 1);
      assert.equal(m.value('bledfu_dfu_failures_total', { ...SIM, reason: 'DFU_REMOTE_ERROR', dfu_result: 'INVALID_OBJECT' }), 1);
      assert.equal(m.sum('bledfu_dfu_failures_total'), 1);
      assert.equal(m.value('bledfu_dfu_duration_seconds_count', { ...SECURE, result: 'failed' }), 1);
      assert.equal(m.sum('bledfu_dfu_bytes_total'), APP.size, 'refused at the init packet: no firmware bytes');
      // The job failed, the call did not: its stream ended OK after `finished` (service.proto).
      assert.equal(m.value('bledfu_grpc_requests_total', { method: START_DFU, code: 'FAILED_PRECONDITION' }), undefined);
      assert.equal(m.value('bledfu_grpc_requests_total', { method: START_DFU, code: 'OK' }), 2);

      // 3. A DFU cancelled mid-transfer: seen as transferring, then counted cancelled with the bytes the device confirmed.
      const dev = s.device(2);
      const seen: DfuEvent[] = [];
      const it3 = startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(dev.address.value) }, { signal: AbortSignal.timeout(20_000) })[Symbol.asyncIterator]();
      const snapshot = await until(it3, (e) => e.type === 'snapshot', seen);
      await until(it3, (e) => e.type === 'progress' && e.progress.imageBytesSent > 0, seen);
      m = await scrape(address);
      assert.equal(m.value('bledfu_dfu_jobs', { ...SIM, state: 'transferring' }), 1);
      assert.equal(m.sum('bledfu_dfu_jobs'), 1);
      const disconnected = s.nextDisconnection(2);
      await s.client.cancelJob({ jobId: snapshot.jobId });
      await assert.rejects(
        (async () => {
          for (let r = await it3.next(); r.done !== true; r = await it3.next()) seen.push(r.value);
        })(),
        (e: unknown) => decodeError(e).grpcCode === Status.CANCELLED,
      );
      await disconnected;
      const held = s.observed(2).dataBytes;
      assert.ok(held > 0 && held < APP.size, `the device holds part of the image (${held} bytes)`);
      m = await scrape(address);
      assert.equal(m.value('bledfu_dfu_jobs_total', { ...SECURE, result: 'cancelled' }), 1);
      assert.equal(m.value('bledfu_dfu_duration_seconds_count', { ...SECURE, result: 'cancelled' }), 1);
      const cancelledBytes = (m.value('bledfu_dfu_bytes_total', { ...SIM, image_type: 'application' }) ?? 0) - APP.size;
      assert.ok(cancelledBytes > 0 && cancelledBytes <= held, `the cancelled job counts the bytes the device confirmed (${cancelledBytes} of ${held} received)`);
      assert.equal(m.sum('bledfu_dfu_failures_total'), 1, 'a cancel is not a failure');
      assert.equal(m.value('bledfu_grpc_requests_total', { method: 'bledfu.v1.BledfuService/CancelJob', code: 'OK' }), 1);
      // Cancelled by CancelJob, not by its caller: the call ends OK after `finished` (CANCELLED).
      assert.equal(m.value('bledfu_grpc_requests_total', { method: START_DFU, code: 'CANCELLED' }), undefined);
      assert.equal(m.value('bledfu_grpc_requests_total', { method: START_DFU, code: 'OK' }), 3);
      assert.equal(m.sum('bledfu_dfu_jobs'), 0);

      // 4. The same package again, to the bootloader it stayed in: the resumed job counts only what it sent.
      const again = await drain(
        startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(bootloaderAddress(dev.address).value) }, { signal: AbortSignal.timeout(20_000) }),
      );
      assert.equal(again.error, undefined, String(again.error));
      assert.equal(finished(again.events)?.result.success, true);
      assert.equal(s.observed(2).dataBytes, APP.size, 'the device got the rest only');
      m = await scrape(address);
      const resumedBytes = (m.value('bledfu_dfu_bytes_total', { ...SIM, image_type: 'application' }) ?? 0) - APP.size - cancelledBytes;
      assert.equal(resumedBytes, APP.size - held, 'the resumed job counts the bytes it sent, not those the device kept');
      assert.equal(m.value('bledfu_dfu_jobs_total', { ...SECURE, result: 'succeeded' }), 2);
      assert.equal(m.value('bledfu_dfu_duration_seconds_count', { ...SECURE, result: 'succeeded' }), 2);
      assert.equal(m.value('bledfu_grpc_requests_total', { method: START_DFU, code: 'OK' }), 4);

      // 5. Calls that fail before any job: counted by status.
      await assert.rejects(s.client.getJob({ jobId: 'no-such-job' }), (e: unknown) => decodeError(e).grpcCode === Status.NOT_FOUND);
      m = await scrape(address);
      assert.equal(m.value('bledfu_grpc_requests_total', { method: 'bledfu.v1.BledfuService/GetJob', code: 'NOT_FOUND' }), 1);
    } finally {
      await s.close();
    }
  });

  it('the adapter gauges follow the simulated dongle being unplugged and replugged', { timeout: 30_000 }, async () => {
    const s = await startSimServer({}, { metricsListen: '127.0.0.1:0' });
    const address = metricsOf(s);
    try {
      let m = await scrape(address);
      assert.equal(m.value('bledfu_adapter_up', SIM), 1);
      assert.equal(m.value('bledfu_adapter_state', { ...SIM, state: 'ready' }), 1);
      assert.equal(m.value('bledfu_adapter_reopens_total', SIM), 0);

      s.world.unplugDongle();
      m = await scrapeUntil(address, (x) => x.value('bledfu_adapter_up', SIM) === 0, 'the adapter down');
      assert.equal(m.value('bledfu_adapter_state', { ...SIM, state: 'failed' }), 1);
      assert.equal(m.value('bledfu_adapter_state', { ...SIM, state: 'ready' }), 0);
      assert.equal(m.value('bledfu_adapter_links', SIM), 0);

      s.world.replugDongle();
      m = await scrapeUntil(address, (x) => x.value('bledfu_adapter_up', SIM) === 1, 'the adapter back');
      assert.equal(m.value('bledfu_adapter_state', { ...SIM, state: 'ready' }), 1);
      assert.equal(m.value('bledfu_adapter_reopens_total', SIM), 1);
    } finally {
      await s.close();
    }
  });

  it('only GET /metrics: other paths 404, other methods 405; nothing listens once the server stopped', { timeout: 30_000 }, async () => {
    const s = await startSimServer({}, { metricsListen: '127.0.0.1:0' });
    const address = metricsOf(s);
    try {
      assert.equal((await fetch(`http://${address}/`)).status, 404);
      assert.equal((await fetch(`http://${address}/healthz`)).status, 404);
      const post = await fetch(`http://${address}/metrics`, { method: 'POST', body: '' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
    } finally {
      await s.close();
    }
    await assert.rejects(fetch(`http://${address}/metrics`));
  });

  it('a metrics port in use: the server does not start, and says why', { timeout: 30_000 }, async () => {
    const held = await holdPort();
    try {
      await assert.rejects(
        startSimServer({}, { metricsListen: `127.0.0.1:${held.port}` }),
        (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && e.message === `cannot serve metrics on 127.0.0.1:${held.port}: the address is already in use`,
      );
    } finally {
      await new Promise((resolve) => held.server.close(resolve));
    }
  });
});

describe('bledfud --metrics-listen', () => {
  it('serves metrics where it logs that it does, until SIGTERM', { timeout: 40_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'bledfu-metrics-'));
    const child = spawn(process.execPath, [BLEDFUD, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--log-level', 'info', '--adapters', 'sim:', '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const address = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "listening" within 30 s; stderr: ${stderr}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          const at = /"address":"([^"]+)","path":"\/metrics","msg":"serving Prometheus metrics"/.exec(stdout);
          if (at !== null && /"msg":"listening"/.test(stdout)) {
            clearTimeout(timer);
            resolve(at[1] as string);
          }
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`bledfud exited ${code}; stderr: ${stderr}`));
        });
      });
      const m = await scrape(address);
      assert.equal(m.value('bledfu_adapter_up', { adapter: 'sim0' }), 1);
      assert.ok(m.value('process_start_time_seconds') !== undefined);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, `stderr: ${stderr}`);
      await assert.rejects(fetch(`http://${address}/metrics`), 'closed on shutdown');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('exits 1 with one clear line when the metrics port is in use', { timeout: 40_000 }, async () => {
    const held = await holdPort();
    const dataDir = mkdtempSync(join(tmpdir(), 'bledfu-metrics-'));
    try {
      const r = spawnSync(process.execPath, [BLEDFUD, '--listen', '127.0.0.1:0', '--metrics-listen', `127.0.0.1:${held.port}`, '--log-level', 'silent', '--adapters', 'sim:', '--data-dir', dataDir], {
        encoding: 'utf8',
        timeout: 30_000,
        killSignal: 'SIGKILL',
      });
      assert.equal(r.status, 1, `stderr: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^bledfud: cannot start: cannot serve metrics on 127\\.0\\.0\\.1:${held.port}: the address is already in use \\(choose another --metrics-listen`, 'm'));
    } finally {
      await new Promise((resolve) => held.server.close(resolve));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
