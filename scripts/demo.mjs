// The quick-start demo: writes the project's demo firmware (a ~100 KB application .hex, as a
// build would leave it), packages and signs it with `bledfu pkg generate` and the published demo
// key (demo/bledfu-demo-key.pem, which the simulator trusts by default), starts bledfud on the
// built-in simulator (paced to real time), then uses the bledfu CLI to scan and to
// firmware-update a simulated nRF52840 with that package. Needs nothing but a clone and npm install
// (which also compiles the server and the CLI into dist/, what bin/ runs).
// Usage: npm run demo [-- <package.zip> [<device name>]]
import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledProblem } from '../bin/compiled.js';
import { writeDemoHex } from './demo-package.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
// The server and the CLI run compiled (dist/, which `npm install` builds). Checked here once, so a
// missing or stale build is one clear line rather than a server that never comes up.
for (const entry of ['server/main', 'clients/cli/main']) {
  const problem = compiledProblem(entry);
  if (problem !== undefined) {
    console.error(`demo: ${problem}`);
    process.exit(1);
  }
}
const device = process.argv[3] ?? 'bledfu-sim-1';
mkdirSync(new URL('../.bledfu', import.meta.url), { recursive: true });

/** Runs the bledfu CLI with `args`, its output on ours; resolves to its exit code. */
const cli = (args) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/bledfu.js', ...args], { cwd: root, stdio: 'inherit' });
    child.on('exit', (code) => resolve(code ?? 1));
  });

/** The demo firmware's .hex, and its package made the way a user makes one: `bledfu pkg generate`. */
async function makeDemoPackage() {
  const hexPath = relative(root, await writeDemoHex(fileURLToPath(new URL('../.bledfu', import.meta.url))));
  const zipPath = '.bledfu/bledfu_demo_app.zip';
  const args = ['pkg', 'generate', '--application', hexPath, '--application-version', '2', '--hw-version', '52', '--sd-req', '0x0100', '--key-file', 'demo/bledfu-demo-key.pem', zipPath];
  console.log(`wrote ${hexPath} (the demo application, version 2); packaging it:\n$ bledfu ${args.join(' ')}`);
  const code = await cli(args);
  if (code !== 0) process.exit(code);
  console.log('');
  return zipPath;
}

const pkg = process.argv[2] ?? (await makeDemoPackage());

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const run = (args) => cli(['--server', server, ...args]);

const port = await freePort();
const server = `127.0.0.1:${port}`;
const logPath = '.bledfu/demo-server.log';
const log = openSync(new URL(`../${logPath}`, import.meta.url), 'w');
const daemon = spawn(process.execPath, ['bin/bledfud.js', '--listen', server, '--adapters', 'sim:?speed=1', '--data-dir', '.bledfu'], {
  cwd: root,
  stdio: ['ignore', log, log],
});
const stop = () => daemon.kill('SIGTERM');
process.on('SIGINT', stop);

let code = 1;
try {
  console.log(`bledfud is starting on ${server} with the simulator (server log: ${logPath})\n`);
  // The CLI fails fast (exit 7) while the server is not listening yet; retry for a few seconds.
  for (let i = 0; i < 50; i++) {
    code = await new Promise((resolve) => {
      const c = spawn(process.execPath, ['bin/bledfu.js', '--server', server, 'adapters'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('exit', (status) => {
        if (status === 0) process.stdout.write(`adapters:\n${out}\n`);
        resolve(status ?? 1);
      });
    });
    if (code === 0) break;
    if (daemon.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (code !== 0) throw new Error(`the server did not come up; see ${logPath}`);
  console.log('scanning for 2 s:');
  await run(['scan', '--duration', '2']);
  console.log(`\nupdating "${device}" with ${pkg} (buttonless entry, Secure DFU, real-time pace):`);
  code = await run(['dfu', pkg, '--name', device]);
} catch (e) {
  console.error(String(e));
} finally {
  stop();
}
process.exitCode = code;
