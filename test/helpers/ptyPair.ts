/**
 * Two pseudo-terminals joined by socat, as a stand-in for a serial cable: the test plays "the
 * device" on one end and the code under test opens the other like a dongle. Killing socat is
 * what a USB unplug looks like to the port (reads fail with EIO).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PtyPair {
  /** Temporary directory holding the two links (world-readable, for tests running as another user). */
  readonly dir: string;
  /** The end the code under test opens (a symlink to /dev/pts/N). */
  readonly a: string;
  /** The end the test plays the device on. */
  readonly b: string;
  readonly socatPid: number;
  /** Ends socat (the cable is cut) and waits for it to exit. */
  kill(): Promise<void>;
  /** kill() plus removing the directory. Idempotent. */
  close(): Promise<void>;
}

const READY_TIMEOUT_MS = 5_000;

/**
 * Why to skip pty tests, or undefined to run them. Skipping is allowed only outside CI: under CI
 * a missing socat throws, so the suite fails instead of passing without testing anything.
 */
export function ptySkipReason(): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v socat'], { stdio: 'ignore' }).status === 0) return undefined;
  const message = 'serial port tests need socat (apt-get install socat)';
  if (process.env.CI !== undefined && process.env.CI !== '') throw new Error(`${message}; CI must not skip them`);
  return message;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startPtyPair(): Promise<PtyPair> {
  const dir = await mkdtemp(join(tmpdir(), 'bledfu-pty-'));
  await chmod(dir, 0o755);
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  let stderr = '';
  const socat = spawn('socat', ['-d', '-d', `PTY,link=${a},rawer`, `PTY,link=${b},rawer`], { stdio: ['ignore', 'ignore', 'pipe'] });
  socat.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const spawned = new Promise<void>((resolve, reject) => {
    socat.once('spawn', resolve);
    socat.once('error', reject);
  });
  const kill = async (): Promise<void> => {
    const gone = exited(socat);
    socat.kill('SIGTERM');
    const hard = setTimeout(() => socat.kill('SIGKILL'), 2_000);
    await gone;
    clearTimeout(hard);
  };
  const close = async (): Promise<void> => {
    await kill();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await spawned;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(existsSync(a) && existsSync(b))) {
      if (socat.exitCode !== null) throw new Error(`socat exited (${socat.exitCode}): ${stderr}`);
      if (Date.now() > deadline) throw new Error(`socat did not create its ptys within ${READY_TIMEOUT_MS} ms: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { dir, a, b, socatPid: socat.pid as number, kill, close };
}
