/** Running the project's programs (the CLI, example scripts) as a user would, to their end. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The CLI's launcher, as installed (`bin/bledfu.js`). */
export const CLI_BIN = fileURLToPath(new URL('../../bin/bledfu.js', import.meta.url));

export interface ProcessRun {
  /** null: killed after the time limit. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** The whole environment of the process (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** Working directory (default: this process's). */
  readonly cwd?: string;
  /** Past this the process is killed and reported with code null: a hang fails its test, not the suite. */
  readonly timeoutMs?: number;
  /** Sees the child while it runs (e.g. to kill it when a test is torn down). */
  readonly onSpawn?: (child: ChildProcess) => void;
}

export function runProcess(command: string, args: readonly string[], options: RunOptions = {}): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    options.onSpawn?.(child);
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface CliRun extends ProcessRun {
  /** stdout as NDJSON records (the CLI's --json output). */
  readonly records: Record<string, unknown>[];
}

/** The CLI with `args` (include --json for records); `env` is added to this process's environment. */
export async function runCli(
  args: readonly string[],
  options: { readonly env?: Readonly<Record<string, string>>; readonly timeoutMs?: number; readonly onSpawn?: (child: ChildProcess) => void } = {},
): Promise<CliRun> {
  const run = await runProcess(process.execPath, [CLI_BIN, ...args], {
    env: { ...process.env, ...options.env },
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.onSpawn === undefined ? {} : { onSpawn: options.onSpawn }),
  });
  return { ...run, records: ndjson(run.stdout) };
}

/** Lines of JSON; anything else is an error quoting the output. */
export function ndjson(stdout: string): Record<string, unknown>[] {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  try {
    return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch (e) {
    throw new Error(`stdout is not NDJSON: ${stdout}\n${String(e)}`);
  }
}
