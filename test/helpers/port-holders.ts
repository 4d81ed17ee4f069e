/** Processes that hold a serial port open (the "port busy" cases), and failures expected of an open. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, readdir, readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { isBledfuError, type BledfuError } from '../../server/common/errors.js';

/**
 * Awaits `work`, which must fail with a BledfuError, and returns that error. Something it opened
 * by mistake (it has a close()) is closed before the test fails.
 */
export async function expectBledfuError(work: Promise<unknown>): Promise<BledfuError> {
  let opened: unknown;
  try {
    opened = await work;
  } catch (e) {
    assert.ok(isBledfuError(e), `expected a BledfuError, got ${String(e)}`);
    return e;
  }
  if (typeof opened === 'object' && opened !== null && 'close' in opened && typeof opened.close === 'function') {
    await (opened as { close(): Promise<void> }).close();
  }
  assert.fail('expected a failure');
}

/**
 * Spawns a process that holds the port and prints "ready" once it does. When `execs` is given
 * (the holders end in `exec sleep 60`), it also waits until a process of the holder's group runs
 * that command: "ready" is printed before the exec, and a test that names the holder must not see
 * the shell it replaces.
 */
export async function holdPort(command: string, args: readonly string[], execs?: string): Promise<ChildProcess> {
  // Its own process group, so that stopping it also stops what it started (flock forks sleep).
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${command} exited (${code}) before holding the port`)));
    child.stdout?.on('data', (c: Buffer) => {
      if (c.toString().includes('ready')) resolve();
    });
  });
  if (execs !== undefined) await groupRuns(child.pid as number, execs);
  return child;
}

/** Waits (up to 10 s) until a process of group `pgid` has `comm` as its command name (/proc/PID/stat). */
async function groupRuns(pgid: number, comm: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    for (const pid of await readdir('/proc').catch(() => [])) {
      if (!/^\d+$/.test(pid)) continue;
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      // pid (comm) state ppid pgrp …: comm may hold spaces, so split after its closing parenthesis
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      if (stat.slice(stat.indexOf('(') + 1, close) === comm && Number(fields[2]) === pgid) return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the port holder's group ${pgid} never ran ${comm}`);
}

/** Kills the child's process group (a holder and the processes it forked) and waits for the child. */
export async function stopHolder(child: ChildProcess): Promise<void> {
  const running = child.exitCode === null && child.signalCode === null;
  const gone = running ? new Promise((resolve) => child.once('exit', resolve)) : Promise.resolve();
  try {
    process.kill(-(child.pid as number), 'SIGKILL');
  } catch {
    // the group is gone already
  }
  await gone;
}

export interface OpenOutcome {
  /** The BledfuError code, or 'OPENED'. */
  readonly code?: string;
  readonly message?: string;
  readonly remedy?: string;
}

/**
 * Runs `open` in a child process as uid/gid (permission errors need a user that is not root)
 * and returns what happened. `open` is module code that may `await import(…)` and must bind
 * what it opened to `opened` (something with close()).
 */
export async function openAsUser(open: string, uid: number, gid: number): Promise<OpenOutcome> {
  const script =
    `try { ${open}; await opened.close(); console.log(JSON.stringify({ code: 'OPENED' })); }` +
    `catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, remedy: e.remedy })); }`;
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    uid,
    gid,
    env: { ...process.env, HOME: '/' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const line = out.trim().split('\n').pop() ?? '';
  assert.ok(line.startsWith('{'), `the child (uid ${uid}) printed no result (exit ${code}): ${err || out}`);
  return JSON.parse(line) as OpenOutcome;
}

/** The URL of a server module for `await import(…)` in openAsUser's code. */
export function serverModule(path: string): string {
  return JSON.stringify(new URL(`../../server/${path}`, import.meta.url).href);
}

/**
 * Makes `device` a node the opening side may not open, runs the opening, and puts the node back
 * as it was. As root (who opens anything) the opening runs as `nobody` through `asUser`, with
 * the node owned by a group nobody is not in, like /dev/ttyACM0 (root:dialout 0660) for a user
 * outside dialout; otherwise the node loses every permission and `here` opens it in this process.
 * Returns what the opening got and the group the error should name.
 */
export async function openWithoutPermission(
  device: string,
  open: { asUser: (uid: number, gid: number) => Promise<OpenOutcome>; here: () => Promise<unknown> },
): Promise<{ readonly outcome: OpenOutcome; readonly groupName: string }> {
  const original = await stat(device);
  const groups = (await readFile('/etc/group', 'utf8')).split('\n').map((l) => l.split(':'));
  try {
    if (process.getuid?.() === 0) {
      const passwd = (await readFile('/etc/passwd', 'utf8')).split('\n').map((l) => l.split(':'));
      const nobody = passwd.find((p) => p[0] === 'nobody');
      assert.ok(nobody !== undefined, 'this test needs the user nobody');
      const group = groups.find((g) => g[0] === 'dialout' && !(g[3] ?? '').split(',').includes('nobody')) ?? ['root', 'x', '0'];
      await chown(device, 0, Number(group[2]));
      await chmod(device, 0o660);
      return { outcome: await open.asUser(Number(nobody[2]), Number(nobody[3])), groupName: group[0] as string };
    }
    await chmod(device, 0o000);
    const groupName = groups.find((g) => Number(g[2]) === original.gid)?.[0] ?? String(original.gid);
    const e = await expectBledfuError(open.here());
    return { outcome: { code: e.code, message: e.message, ...(e.remedy === undefined ? {} : { remedy: e.remedy }) }, groupName };
  } finally {
    await chown(device, original.uid, original.gid).catch(() => undefined);
    await chmod(device, original.mode & 0o7777);
  }
}
