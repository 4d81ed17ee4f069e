#!/usr/bin/env node
// Replays the Dockerfile's two stages on this machine, without a Docker engine (CI has none, and
// no base image could be pulled anyway), as far as that is possible:
//
//   build stage: copies exactly the files its COPY instructions name (minus .dockerignore) into a
//     temporary directory standing for /app and runs its RUN commands there, verbatim;
//   final stage: copies what its `COPY --from=build` instructions name into a second directory,
//     then checks that no dev dependency is left in it, runs `--help` from it, checks that the
//     default command (ENTRYPOINT, CMD, ENV) refuses to serve without TLS or tokens, starts the
//     server as the simulator demo does (--insecure; loopback ports, a temporary data dir for the VOLUME), and runs
//     the HEALTHCHECK command verbatim until it reports healthy; as root, all of that runs as
//     the image's USER (uid:gid, through setpriv).
//
// Not replayed: the base image itself and the final stage's RUN (useradd, and removing npm from
// the base image: that would change this machine). Run by .ci/run before `npm test` (whose summary
// should be the last thing CI prints); exits non-zero
// on the first failure. Usage: node scripts/container-replay.mjs [--keep]
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register();
const { healthcheckCommand, instructionsOf, readDockerfile } = await import('../test/helpers/dockerfile.ts');

const root = fileURLToPath(new URL('..', import.meta.url));
const keep = process.argv.includes('--keep');
const exercised = [];
const notExercised = [
  'the base image (node:20-bookworm-slim) and its packages: this machine stands in for it',
  "the final stage's RUN (useradd, removing npm/yarn/corepack from the image): not run here, it would change this machine",
  'docker build itself: layer caching, the build context upload, VOLUME and EXPOSE',
];

function step(message) {
  process.stdout.write(`container-replay: ${message}\n`);
}

function fail(message) {
  process.stderr.write(`container-replay: FAILED: ${message}\n`);
  process.exitCode = 1;
  throw new Error(message);
}

function check(condition, message) {
  if (!condition) fail(message);
  exercised.push(message);
}

const stages = readDockerfile(join(root, 'Dockerfile'));
const build = stages.find((s) => s.name === 'build');
const final = stages.at(-1);
if (build === undefined || final === undefined || build === final) fail('the Dockerfile needs a stage named build and a final stage');

const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
/** .dockerignore's entries as this Dockerfile uses them: exact paths and `*.ext` anywhere. */
function isIgnored(path) {
  return ignored.some((p) => (p.startsWith('*.') ? path.endsWith(p.slice(1)) : path === p || path.startsWith(`${p}/`)));
}

const asRoot = process.getuid?.() === 0;
const work = mkdtempSync(join(tmpdir(), 'bledfu-replay-'));
// The image's user must be able to reach the final directory and its files.
chmodSync(work, 0o755);
const buildDir = join(work, 'build');
const finalDir = join(work, 'final');
mkdirSync(buildDir);
mkdirSync(finalDir);
const children = new Set();

function run(command, args, options) {
  const r = spawnSync(command, args, { stdio: 'inherit', ...options });
  return r.status ?? 1;
}

try {
  // ---- build stage ----
  const env = { ...process.env };
  for (const i of build.instructions) {
    if (i.keyword === 'FROM' || i.keyword === 'WORKDIR') continue;
    if (i.keyword === 'ENV') {
      for (const a of i.args) {
        const [k, ...v] = a.split('=');
        env[k] = v.join('=');
      }
    } else if (i.keyword === 'COPY') {
      const [dest, ...sources] = [...i.args].reverse();
      for (const source of sources.reverse()) {
        if (isIgnored(source)) fail(`line ${i.line}: COPY ${source} is excluded by .dockerignore`);
        const target = dest.endsWith('/') ? join(buildDir, dest, source.split('/').at(-1)) : join(buildDir, dest);
        cpSync(join(root, source), target, { recursive: true, filter: (src) => !isIgnored(relative(root, src)) });
      }
      step(`build: COPY ${i.text}`);
    } else if (i.keyword === 'RUN') {
      step(`build: RUN ${i.text}`);
      // The registry is reached as usual; npm's cache makes a repeat run quick.
      const status = run('sh', ['-c', i.text], { cwd: buildDir, env: { ...env, npm_config_prefer_offline: 'true' } });
      if (status !== 0) fail(`build stage, line ${i.line}: RUN exited ${status}`);
    } else {
      fail(`build stage, line ${i.line}: ${i.keyword} is not replayed; teach scripts/container-replay.mjs about it`);
    }
  }
  exercised.push("build stage: every COPY and RUN, verbatim, in a copy of the build context");

  // ---- final stage ----
  let user;
  const finalEnv = { ...process.env };
  for (const i of final.instructions) {
    if (i.keyword === 'COPY') {
      const from = i.flags['from'];
      if (from !== 'build') fail(`final stage, line ${i.line}: COPY without --from=build`);
      const [source, dest] = i.args;
      const path = source.replace(/^\/app\//, '');
      const target = dest.endsWith('/') ? join(finalDir, dest, path.split('/').at(-1)) : join(finalDir, dest);
      cpSync(join(buildDir, path), target, { recursive: true });
      step(`final: COPY --from=build ${i.text}`);
    } else if (i.keyword === 'ENV') {
      for (const a of i.args) {
        const [k, ...v] = a.split('=');
        finalEnv[k] = v.join('=');
      }
    } else if (i.keyword === 'USER') {
      user = i.args[0];
    }
  }
  finalEnv.BLEDFU_SERVER = '';
  finalEnv.BLEDFU_TOKEN = '';

  // No build tool in the final image: the named ones, and every package the lockfile marks as
  // needed only for development (a devDependency that a runtime package also needs, such as
  // @types/node for protobufjs, is not dev-only and stays).
  const buildTools = ['typescript', '@bufbuild/buf', 'ts-proto', 'tsx', 'esbuild', 'dependency-cruiser'];
  const foundTools = buildTools.filter((d) => existsSync(join(finalDir, 'node_modules', d)));
  check(foundTools.length === 0, `final image: no build tools in node_modules (${buildTools.join(', ')})${foundTools.length ? `; found ${foundTools.join(', ')}` : ''}`);
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages ?? {};
  const devOnly = Object.entries(lock).filter(([path, p]) => path.startsWith('node_modules/') && p.dev === true).map(([path]) => path);
  const leftOver = devOnly.filter((path) => existsSync(join(finalDir, path)));
  check(leftOver.length === 0, `final image: none of the ${devOnly.length} dev-only packages of package-lock.json${leftOver.length ? `; found ${leftOver.join(', ')}` : ''}`);
  check(!existsSync(join(finalDir, 'node_modules', '.bin', 'tsc')), 'final image: no tsc in node_modules/.bin');
  const top = readdirSync(finalDir).sort().join(' ');
  check(top === 'dist node_modules package.json', `final image: /app holds dist, node_modules and package.json only (got ${top})`);

  const [uid, gid] = (user ?? '').split(':');
  if (asRoot && uid !== undefined && gid !== undefined) {
    check(Number(uid) !== 0, `final image: USER ${user} is not root`);
  }
  const asUser = (command, args) =>
    asRoot && uid !== undefined ? ['setpriv', [`--reuid=${uid}`, `--regid=${gid ?? uid}`, '--clear-groups', command, ...args]] : [command, args];
  const whoRuns = asRoot ? `as uid ${uid} gid ${gid} (the image's USER, via setpriv)` : 'as the current (non-root) user';
  if (!asRoot) notExercised.push("running as the image's USER: needs root for setpriv");

  const entrypoint = instructionsOf(final, 'ENTRYPOINT').at(-1)?.args ?? [];
  const cmd = instructionsOf(final, 'CMD').at(-1)?.args ?? [];
  const [exe, ...entryArgs] = entrypoint;
  if (exe !== 'node') fail(`ENTRYPOINT should start node, got ${entrypoint.join(' ')}`);

  // --help from the final directory: every runtime import resolves without the dev dependencies.
  const [helpCmd, helpArgs] = asUser(process.execPath, [...entryArgs, '--help']);
  const helpRun = spawnSync(helpCmd, helpArgs, { cwd: finalDir, env: finalEnv, encoding: 'utf8' });
  check(
    helpRun.status === 0 && helpRun.stdout.includes('bledfu server'),
    `final image: node ${entryArgs.join(' ')} --help works ${whoRuns}${helpRun.status === 0 ? '' : `: ${helpRun.stderr}`}`,
  );
  const help = helpRun.stdout;

  // The image's default command (ENTRYPOINT, CMD and its ENV) must not serve without TLS or
  // tokens: bledfud refuses before binding anything, saying how to fix it.
  const [dc, da] = asUser(process.execPath, [...entryArgs, ...cmd]);
  const refused = spawnSync(dc, da, { cwd: finalDir, env: finalEnv, encoding: 'utf8', timeout: 30_000 });
  check(
    refused.status === 2 && /refusing to listen on 0\.0\.0\.0:\d+/.test(refused.stderr) && /--tokens-file/.test(refused.stderr) && /--insecure/.test(refused.stderr),
    `the default command refuses to listen on 0.0.0.0 without TLS or tokens, saying how (exit ${refused.status}: ${refused.stderr.trim()})`,
  );

  // The server as the simulator demo starts it (the default command plus --insecure), the ports
  // moved to loopback and free ones (other things may use 50051).
  const freePort = () =>
    new Promise((resolve, reject) => {
      const s = createServer();
      s.on('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
  const grpcPort = await freePort();
  const args = [...cmd, '--insecure'];
  if (!/^0\.0\.0\.0:50051$/.test(finalEnv.BLEDFU_LISTEN ?? '')) fail(`the image sets BLEDFU_LISTEN=0.0.0.0:50051 (got ${finalEnv.BLEDFU_LISTEN})`);
  finalEnv.BLEDFU_LISTEN = `127.0.0.1:${grpcPort}`;
  let metricsPort;
  if (finalEnv.BLEDFU_METRICS_LISTEN) {
    metricsPort = await freePort();
    finalEnv.BLEDFU_METRICS_LISTEN = `127.0.0.1:${metricsPort}`;
  }
  // The VOLUME, writable by the image's user only.
  const dataDir = join(work, 'data');
  mkdirSync(dataDir, { mode: 0o750 });
  if (asRoot) chownSync(dataDir, Number(uid), Number(gid));
  args.push('--data-dir', dataDir);

  const healthEnv = { ...finalEnv, BLEDFU_SERVER: `127.0.0.1:${grpcPort}` };
  const hc = healthcheckCommand(instructionsOf(final, 'HEALTHCHECK').at(-1));
  const [hcCmd, hcArgs] = 'shell' in hc ? ['sh', ['-c', hc.shell]] : [hc.exec[0], hc.exec.slice(1)];
  const healthcheck = () => {
    const [c, a] = asUser(hcCmd, hcArgs);
    return spawnSync(c, a, { cwd: finalDir, env: healthEnv, encoding: 'utf8' });
  };

  const before = healthcheck();
  check(before.status === 1, `HEALTHCHECK before the server is up: exit 1 (unhealthy), got ${before.status}`);

  step(`final: ${exe} ${[...entryArgs, ...args].join(' ')} ${whoRuns}`);
  const [sc, sa] = asUser(process.execPath, [...entryArgs, ...args]);
  const server = spawn(sc, sa, { cwd: finalDir, env: finalEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(server);
  let serverLog = '';
  server.stdout.on('data', (d) => (serverLog += d));
  server.stderr.on('data', (d) => (serverLog += d));
  const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));

  // Docker's start period: try until healthy, a bounded number of times.
  let healthy;
  for (let attempt = 0; attempt < 60; attempt++) {
    if (server.exitCode !== null) break;
    healthy = healthcheck();
    if (healthy.status === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  check(healthy?.status === 0 && healthy.stdout.trim() === 'SERVING', `HEALTHCHECK (${'shell' in hc ? hc.shell : hc.exec.join(' ')}) run verbatim from the final directory: exit 0, SERVING${healthy?.status === 0 ? '' : `; got ${healthy?.status}: ${healthy?.stdout}${healthy?.stderr}\n${serverLog}`}`);

  if (metricsPort !== undefined) {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    check(res.status === 200, `BLEDFU_METRICS_LISTEN: GET /metrics answers 200 (got ${res.status})`);
  }

  server.kill('SIGTERM');
  const end = await exited;
  children.delete(server);
  check(end.code === 0, `the server stops cleanly on SIGTERM (exit ${end.code}, signal ${end.signal})`);
  if (asRoot) {
    const audit = readdirSync(dataDir);
    const owned = audit.every((f) => statSync(join(dataDir, f)).uid === Number(uid));
    check(owned, `files in the data directory belong to uid ${uid} (${audit.join(', ') || 'none'})`);
  }

  step('exercised:');
  for (const e of exercised) step(`  ok   ${e}`);
  step('not exercised here:');
  for (const n of notExercised) step(`  --   ${n}`);
  step(`done: all ${exercised.length} checks held`);
} catch (e) {
  if (process.exitCode !== 1) {
    process.stderr.write(`container-replay: FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  }
} finally {
  for (const c of children) c.kill('SIGKILL');
  if (keep) step(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
