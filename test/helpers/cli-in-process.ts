/**
 * The CLI in this process, on the real file system (the writeFile main.ts gives it), with its
 * output captured: for commands that need no server (pkg, keys) and quick checks of a command line.
 */
import { PassThrough } from 'node:stream';
import { readLocalFile, writeLocalFile } from '../../clients/cli/files.js';
import { runCli, type CliEnvironment } from '../../clients/cli/program.js';

export interface InProcessRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout as NDJSON records (--json runs); empty otherwise. */
  readonly records: Record<string, unknown>[];
}

/** Where the in-process CLI reads and writes files: the real file system unless a test fakes it. */
export interface InProcessFiles {
  readonly readFile?: CliEnvironment['readFile'];
  readonly writeFile?: CliEnvironment['writeFile'];
  /** The user's first and second Ctrl-C (default: never pressed). */
  readonly interrupted?: AbortSignal;
  readonly forced?: AbortSignal;
  /** Called with each chunk the CLI writes to stdout (e.g. to press Ctrl-C once something was shown). */
  readonly onStdout?: (text: string) => void;
}

export async function cliInProcess(argv: readonly string[], env: Readonly<Record<string, string>> = {}, files: InProcessFiles = {}): Promise<InProcessRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => {
    out += d.toString();
    files.onStdout?.(out);
  });
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await runCli(argv, {
    io: { stdout, stderr },
    env,
    readFile: files.readFile ?? readLocalFile,
    writeFile: files.writeFile ?? writeLocalFile,
    interrupted: files.interrupted ?? new AbortController().signal,
    forced: files.forced ?? new AbortController().signal,
  });
  const records = argv.includes('--json')
    ? out
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
  return { code, stdout: out, stderr: err, records };
}
