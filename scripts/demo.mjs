// The quick-start demo: makes the project's demo firmware and its DFU package (signed with the
// published demo key, demo/bledfu-demo-key.pem, which the simulator trusts by default), starts
// bledfud on the built-in simulator (paced to real time), then uses the bledfu CLI to scan and to
// firmware-update a simulated nRF52840 with that package. Needs nothing but a clone and npm install.
// Usage: npm run demo [-- <package.zip> [<device name>]]
import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDemoPackage as makeDemo } from './demo-package.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const device = process.argv[3] ?? 'bledfu-sim-1';
mkdirSync(new URL('../.bledfu', import.meta.url), { recursive: true });

/** The demo firmware's .hex and its package, into .bledfu/ (scripts/demo-package.mjs). */
async function makeDemoPackage() {
  const made = await makeDemo(fileURLToPath(new URL('../.bledfu', import.meta.url)));
  const hexPath = relative(root, made.hexPath);
  const zipPath = relative(root, made.zipPath);
  console.log(`made ${hexPath} (the demo application) and ${zipPath}, signed with demo/bledfu-demo-key.pem:`);
  console.log(`${made.description.trimEnd().replace(/^(?=.)/gm, '  ')}\n`);
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

const run = (args) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/bledfu.js', '--server', server, ...args], { cwd: root, stdio: 'inherit' });
    child.on('exit', (code) => resolve(code ?? 1));
  });

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
