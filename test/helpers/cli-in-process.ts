/**
 * The CLI in this process, on the real file system (the writeFile main.ts gives it), with its
 * output captured: for commands that need no server (pkg, keys) and quick checks of a command line.
 */
import { PassThrough } from 'node:stream';
import { readLocalFile, writeLocalFile } from '../../clients/cli/files.js';
import { runCli } from '../../clients/cli/program.js';

export interface InProcessRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout as NDJSON records (--json runs); empty otherwise. */
  readonly records: Record<string, unknown>[];
}

export async function cliInProcess(argv: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<InProcessRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await runCli(argv, {
    io: { stdout, stderr },
    env,
    readFile: readLocalFile,
    writeFile: writeLocalFile,
    interrupted: new AbortController().signal,
    forced: new AbortController().signal,
  });
  const records = argv.includes('--json')
    ? out
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
  return { code, stdout: out, stderr: err, records };
}
