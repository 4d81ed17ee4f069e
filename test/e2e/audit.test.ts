/**
 * The audit log survives what it is for: a real bledfud (bin/bledfud.js) on a real-time simulator
 * is SIGKILLed mid-transfer, restarted on the same audit file, and `bledfu audit` shows the job
 * as INTERRUPTED; a DFU that runs to its end is recorded with the package's hash, the image
 * versions from its init packet, and SUCCEEDED.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import JSZip from 'jszip';
import { createBledfuClient } from '../../clients/ts/index.js';
import { projectZip } from '../helpers/project-packages.js';
import { runCli, type CliRun } from '../helpers/run-process.js';

const BLEDFUD = fileURLToPath(new URL('../../bin/bledfud.js', import.meta.url));
const DEVICE = 'F0:0D:C0:DE:00:01';

interface Server {
  readonly child: ChildProcess;
  readonly address: string;
  readonly exited: Promise<void>;
}

const children = new Set<ChildProcess>();
const dirs: string[] = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Spawns bledfud; resolves once it logs the address it listens on. */
function startServer(auditLog: string, adapters: string): Promise<Server> {
  const child = spawn(process.execPath, [BLEDFUD, '--listen', '127.0.0.1:0', '--adapters', adapters, '--audit-log', auditLog, '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    children.delete(child);
    resolve();
  }));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`bledfud did not start: ${out}${err}`)), 20_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"address":"([^"]+)","msg":"listening"/.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve({ child, address: m[1], exited });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bledfud exited (${String(code)}) before listening: ${out}${err}`));
    });
  });
}

async function stop(s: Server, signal: NodeJS.Signals): Promise<void> {
  s.child.kill(signal);
  await s.exited;
}

function cli(server: string, args: readonly string[], timeoutMs = 60_000): Promise<CliRun> {
  return runCli(['--server', server, '--json', ...args], {
    timeoutMs,
    onSpawn: (child: ChildProcess) => {
      children.add(child);
      child.once('close', () => children.delete(child));
    },
  });
}

type AuditJson = Record<string, unknown> & { images: Record<string, unknown>[] };
const auditRecords = (run: { records: Record<string, unknown>[] }): AuditJson[] =>
  run.records.filter((r) => r['type'] === 'audit').map((r) => r['record'] as AuditJson);

describe('audit log (spawned bledfud)', () => {
  it('records a job cut off by SIGKILL as INTERRUPTED after a restart, and a finished DFU with its hash, versions and result', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bledfu-audit-e2e-'));
    dirs.push(dir);
    const auditLog = join(dir, 'state', 'audit.jsonl');
    const zip = await projectZip('app');
    const zipFile = join(dir, 'app.zip');
    await writeFile(zipFile, zip);
    const packageSha256 = createHash('sha256').update(zip).digest('hex');
    const entries = await JSZip.loadAsync(zip);
    const bin = Object.keys(entries.files).find((n) => n.endsWith('.bin'));
    assert.ok(bin !== undefined);
    const imageSha256 = createHash('sha256').update(await entries.file(bin)!.async('uint8array')).digest('hex');

    // 1. Real-time simulator: the transfer takes long enough to be killed in the middle.
    const first = await startServer(auditLog, 'sim:?speed=1');
    const started = await cli(first.address, ['dfu', zipFile, '--address', DEVICE, '--detach']);
    assert.equal(started.code, 0, started.stderr);
    const client = createBledfuClient(first.address);
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const { jobs } = await client.listJobs({});
        const sent = jobs[0]?.progress?.totalBytesSent ?? 0;
        if (sent > 0) break;
        assert.ok(Date.now() < deadline, 'the transfer never started');
        await new Promise((r) => setTimeout(r, 100));
      }
      const { jobs } = await client.listJobs({});
      assert.notEqual(jobs[0]?.progress?.totalBytesSent, jobs[0]?.progress?.totalBytesTotal, 'killed mid-transfer');
    } finally {
      client.close();
    }
    const beforeKill = (await readFile(auditLog, 'utf8')).trim().split('\n');
    assert.equal(beforeKill.length, 1, 'only the start record: the job has not ended');
    await stop(first, 'SIGKILL');

    // 2. Restart on the same log (accelerated this time) and run a DFU to its end.
    const second = await startServer(auditLog, 'sim:?speed=max');
    try {
      const afterRestart = auditRecords(await cli(second.address, ['audit']));
      assert.equal(afterRestart.length, 1);
      assert.equal(afterRestart[0]?.['result'], 'AUDIT_RESULT_INTERRUPTED');
      assert.equal(afterRestart[0]?.['deviceAddress'], DEVICE);

      const done = await cli(second.address, ['dfu', zipFile, '--address', DEVICE]);
      assert.equal(done.code, 0, done.stderr);

      const all = auditRecords(await cli(second.address, ['audit', '--device', DEVICE.toLowerCase()]));
      assert.deepEqual(all.map((r) => r['result']), ['AUDIT_RESULT_INTERRUPTED', 'AUDIT_RESULT_SUCCEEDED']);
      const ok = all[1] as AuditJson;
      assert.equal(ok['packageSha256'], packageSha256);
      assert.equal(ok['deviceAddress'], DEVICE);
      assert.deepEqual(
        ok.images.map((i) => [i['type'], i['fwVersion'], i['sha256']]),
        [['IMAGE_TYPE_APPLICATION', 1, imageSha256]],
      );
      assert.equal(ok['bytesSent'], ok['bytesTotal']);
      assert.equal(ok['protocol'], 'DFU_PROTOCOL_SECURE', 'the package\'s DFU protocol');
      assert.match(String(ok['requester']), /127\.0\.0\.1/, 'the caller\'s peer address');
      assert.match(String(ok['duration']), /^\d+(\.\d{3}|\.\d{6}|\.\d{9})?s$/, 'a finished job has a duration (protobuf JSON: "1.240s")');
      assert.equal(afterRestart[0]?.['duration'], undefined, 'an interrupted job has none: its end was not seen');

      const since = auditRecords(await cli(second.address, ['audit', '--since', String(ok['startedAt']), '--result', 'succeeded']));
      assert.deepEqual(since.map((r) => r['jobId']), [ok['jobId']]);
    } finally {
      await stop(second, 'SIGTERM');
    }
    const text = await readFile(auditLog, 'utf8');
    assert.equal(text.trim().split('\n').length, 4, 'start, interrupted end, start, end');
    // Both of the finished job's records name its package's DFU protocol, as does ListAuditRecords (above: DFU_PROTOCOL_SECURE).
    const [, , start, end] = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual([start?.['protocol'], end?.['protocol']], ['secure', 'secure']);
  });
});
