/**
 * First run as a user who cannot write the system data directory: a spawned bledfud without
 * --data-dir starts anyway, logs the per-user state directory it chose and why, and keeps its
 * audit log there; an explicit --data-dir it cannot write stops it with exit 2 and a remedy.
 * The system directory is moved (BLEDFU_SYSTEM_DATA_DIR) under a plain file, so it is unwritable
 * whoever runs the test, root included.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { projectZip } from '../helpers/project-packages.js';
import { runCli } from '../helpers/run-process.js';

const BLEDFUD = fileURLToPath(new URL('../../bin/bledfud.js', import.meta.url));
const DEVICE = 'F0:0D:C0:DE:00:01';

const children = new Set<ChildProcess>();
const dirs: string[] = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A scratch home, and a system directory under a regular file (mkdir fails ENOTDIR for anyone). */
async function scratch(): Promise<{ dir: string; home: string; system: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'bledfu-data-dir-'));
  dirs.push(dir);
  await writeFile(join(dir, 'not-a-dir'), '');
  return { dir, home: join(dir, 'home'), system: join(dir, 'not-a-dir', 'bledfu') };
}

function envFor(home: string, system: string, xdgStateHome?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, BLEDFU_SYSTEM_DATA_DIR: system };
  delete env['XDG_STATE_HOME'];
  delete env['BLEDFU_DATA_DIR'];
  delete env['BLEDFU_AUDIT_LOG'];
  if (xdgStateHome !== undefined) env['XDG_STATE_HOME'] = xdgStateHome;
  return env;
}

interface Started {
  readonly child: ChildProcess;
  readonly address: string;
  readonly log: () => string;
  readonly exited: Promise<number | null>;
}

function startServer(env: NodeJS.ProcessEnv): Promise<Started> {
  const child = spawn(process.execPath, [BLEDFUD, '--listen', '127.0.0.1:0', '--adapters', 'sim:?speed=max', '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  children.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"address":"([^"]+)","msg":"listening"/.exec(out);
      if (m?.[1] !== undefined) resolve({ child, address: m[1], log: () => out, exited });
    });
    void exited.then((code) => reject(new Error(`bledfud exited (${String(code)}) before listening: ${out}${err}`)));
  });
}

/** The startup log's data-directory record. */
function dataDirRecord(log: string): Record<string, unknown> {
  const line = log.split('\n').find((l) => l.includes('"msg":"data directory '));
  assert.ok(line !== undefined, `no data directory line in:\n${log}`);
  return JSON.parse(line) as Record<string, unknown>;
}

describe('bledfud data directory (spawned)', () => {
  it('starts without --data-dir when the system directory is unwritable: uses ~/.local/state/bledfu, says so, audits there', async () => {
    const { dir, home, system } = await scratch();
    const s = await startServer(envFor(home, system));
    const userDir = join(home, '.local', 'state', 'bledfu');
    try {
      const record = dataDirRecord(s.log());
      assert.equal(record['dataDir'], userDir);
      assert.equal(record['source'], 'user');
      assert.match(String(record['why']), new RegExp(`system directory ${system.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not writable by this user \\(ENOTDIR`));
      const zipFile = join(dir, 'app.zip');
      await writeFile(zipFile, await projectZip('app'));
      const done = await runCli(['--server', s.address, '--json', 'dfu', zipFile, '--address', DEVICE], { timeoutMs: 60_000 });
      assert.equal(done.code, 0, done.stderr);
    } finally {
      s.child.kill('SIGTERM');
      assert.equal(await s.exited, 0);
    }
    const audit = (await readFile(join(userDir, 'audit.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      audit.map((r) => [r['type'], r['deviceAddress'], r['result']]),
      [
        ['start', DEVICE, undefined],
        ['end', DEVICE, 'succeeded'],
      ],
      'the DFU\'s start and end records are in the per-user directory',
    );
  });

  it('uses $XDG_STATE_HOME/bledfu when set', async () => {
    const { dir, home, system } = await scratch();
    const xdg = join(dir, 'xdg-state');
    const s = await startServer(envFor(home, system, xdg));
    try {
      assert.equal(dataDirRecord(s.log())['dataDir'], join(xdg, 'bledfu'));
      await readFile(join(xdg, 'bledfu', 'audit.jsonl'));
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });

  it('refuses an explicit --data-dir it cannot write: exit 2, the directory and a remedy, no fallback', async () => {
    const { home, system } = await scratch();
    const r = spawnSync(process.execPath, [BLEDFUD, '--listen', '127.0.0.1:0', '--log-level', 'silent', '--data-dir', system], {
      encoding: 'utf8',
      env: envFor(home, join(home, 'system-would-do')),
      timeout: 20_000,
      killSignal: 'SIGKILL',
    });
    assert.equal(r.status, 2, `stderr: ${r.stderr}`);
    assert.match(r.stderr, /^bledfud: cannot write to the data directory .*not-a-dir\/bledfu \(--data-dir\): ENOTDIR/m);
    assert.match(r.stderr, /point --data-dir at a directory it can write/);
  });
});
