/** The `bledfu` process: binds runCli to argv, stdio, the environment and Ctrl-C. */
import { readLocalFile, writeLocalFile } from './files.js';
import { runCli } from './program.js';

// A reader that stops early (`bledfu scan | head`) is not a failure of ours: end quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

const interrupted = new AbortController();
const forced = new AbortController();
process.on('SIGINT', () => {
  if (!interrupted.signal.aborted) interrupted.abort();
  else if (!forced.signal.aborted) forced.abort();
  else process.exit(130);
});

runCli(process.argv.slice(2), {
  io: { stdout: process.stdout, stderr: process.stderr },
  env: process.env,
  readFile: readLocalFile,
  writeFile: writeLocalFile,
  interrupted: interrupted.signal,
  forced: forced.signal,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bledfu: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
