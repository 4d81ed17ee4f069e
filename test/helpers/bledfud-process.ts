/**
 * bledfud as its own process (bin/bledfud.js), for tests that drive a real server from outside
 * the test's process: a consumer of the packaged clients, a script in another language.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const BLEDFUD = fileURLToPath(new URL('../../bin/bledfud.js', import.meta.url));

export interface Daemon {
  /** "127.0.0.1:port", as the server logged it. */
  readonly address: string;
  /** Everything it logged so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts bledfud on a free loopback port with `args` (e.g. --adapters, --data-dir); resolves once
 * it logs the address it listens on, rejects if it exits first or is not listening within 20 s.
 */
export function startBledfud(args: readonly string[]): Promise<Daemon> {
  const child: ChildProcess = spawn(process.execPath, [BLEDFUD, '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop().then(() => reject(new Error(`bledfud did not start listening within 20 s:\n${log}`)));
    }, 20_000);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`bledfud exited before listening:\n${log}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      log += `${line}\n`;
      try {
        const record = JSON.parse(line) as { msg?: unknown; address?: unknown };
        if (record.msg === 'listening' && typeof record.address === 'string') {
          clearTimeout(timer);
          resolve({ address: record.address, log: () => log, stop });
        }
      } catch {
        // not a log record
      }
    });
  });
}
