/**
 * The TypeScript client as another repository gets it: `npm pack` in clients/ts (its prepack
 * builds the package), `npm install <tarball>` into a scratch project in the system's temporary
 * directory, outside this repository. There a plain Node ESM script (no tsx) updates a simulated
 * device through a real bledfud process, and the repository's tsc checks a consumer .ts file
 * against the package's declarations.
 *
 * The install resolves the package's dependencies through npm (--prefer-offline: from npm's
 * cache where it can). Without npm, or offline with an empty cache, the test skips, except under
 * CI. It packs and installs once for the whole file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startBledfud, type Daemon } from '../helpers/bledfud-process.js';
import { projectFacts, projectPackageFile } from '../helpers/project-packages.js';
import { runProcess, type ProcessRun } from '../helpers/run-process.js';
import { revisionOf } from '../helpers/sim-server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT_DIR = join(ROOT, 'clients', 'ts');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const ROOT_PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
const PACKAGE = await projectPackageFile('app');
const APP = await projectFacts('app');
const NEW_REVISION = revisionOf(APP.fwVersion, APP.sha256);

function npmMissing(): string | undefined {
  const r = spawnSync('npm', ['--version'], { encoding: 'utf8' });
  return r.error !== undefined || r.status !== 0 ? 'npm is not on PATH' : undefined;
}
const missing = npmMissing();
if (missing !== undefined && process.env['CI']) throw new Error(`the TypeScript client package test needs npm under CI: ${missing}`);

/** npm's own words for "could not reach the registry" (the only failure that may skip outside CI). */
const OFFLINE = /\b(ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH)\b/;

const explain = (r: ProcessRun): string => `exit ${String(r.code)}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

/** The consumer: a program of another repository, ESM, run by plain Node. */
const CONSUMER_MJS = `import { readFileSync } from 'node:fs';
import { createBledfuClient, decodeError, startDfu } from '@bledfu/client';

const [server, packageFile, name, scanSeconds] = process.argv.slice(2);
console.log('client ' + import.meta.resolve('@bledfu/client'));
const client = createBledfuClient(server);
try {
  const events = startDfu(client, {
    package: { data: readFileSync(packageFile) },
    target: { selector: { $case: 'name', name } },
    options: scanSeconds === undefined ? {} : { scanTimeout: { seconds: Number(scanSeconds), nanos: 0 } },
  });
  let last;
  for await (const e of events) {
    if (e.type === 'state') console.log('state ' + e.stateName);
    else if (e.type === 'progress') last = e.progress;
    else if (e.type === 'finished') {
      if (last !== undefined) console.log('progress ' + last.totalBytesSent + '/' + last.totalBytesTotal);
      console.log(e.result.success ? 'finished: success, firmware revision ' + e.result.firmwareRevision : 'finished: failed: ' + e.error?.code);
    }
  }
} catch (err) {
  const d = decodeError(err);
  console.error('error: ' + d.code + ' (' + d.grpcCodeName + '): ' + d.message + (d.remedy === undefined ? '' : '; remedy: ' + d.remedy));
  process.exitCode = 1;
} finally {
  client.close();
}
`;

/** A consumer's TypeScript: what it uses must be typed, and a wrong call must be refused. */
const CONSUMER_TS = `import { createBledfuClient, decodeError, jobStateName, startDfu, JobState, type DecodedError, type DfuEvent } from '@bledfu/client';

const client = createBledfuClient('127.0.0.1:50051', { token: 't' });
export async function update(data: Uint8Array): Promise<string | undefined> {
  for await (const e of startDfu(client, { package: { data }, target: { selector: { $case: 'name', name: 'x' } } })) {
    const event: DfuEvent = e;
    if (event.type === 'finished') return event.result.firmwareRevision;
  }
  return undefined;
}
export const succeeded: string = jobStateName(JobState.JOB_STATE_SUCCEEDED);
export const decoded: DecodedError = decodeError(new Error('x'));
// @ts-expect-error a job id is a string: the declarations must refuse a number (they would not if they were any)
void client.getJob({ jobId: 42 });
`;

describe('the TypeScript client as an npm package, installed outside the repository', { skip: missing ?? false }, () => {
  let work: string;
  let scratch: string;
  let installed: string;
  let offline: string | undefined;
  let server: Daemon;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'bledfu-ts-package-'));
    assert.ok(!work.startsWith(ROOT), `the scratch project must be outside the repository (${work})`);
    const packed = await runProcess('npm', ['pack', '--pack-destination', work], { cwd: CLIENT_DIR, timeoutMs: 120_000 });
    assert.equal(packed.code, 0, `npm pack in clients/ts:\n${explain(packed)}`);
    const tarballs = readdirSync(work).filter((f) => f.endsWith('.tgz'));
    assert.deepEqual(tarballs, [`bledfu-client-${ROOT_PKG.version}.tgz`]);
    scratch = join(work, 'consumer');
    mkdirSync(scratch);
    writeFileSync(join(scratch, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2)}\n`);
    const install = await runProcess('npm', ['install', join(work, tarballs[0] ?? ''), '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: scratch,
      timeoutMs: 180_000,
    });
    if (install.code !== 0 && OFFLINE.test(install.stderr) && !process.env['CI']) {
      offline = `npm could not fetch the package's dependencies (offline, and not in npm's cache): ${OFFLINE.exec(install.stderr)?.[0]}`;
      return;
    }
    assert.equal(install.code, 0, `npm install <tarball>:\n${explain(install)}`);
    installed = join(scratch, 'node_modules', '@bledfu', 'client');
    server = await startBledfud(['--adapters', 'sim:', '--data-dir', work]);
  });
  after(async () => {
    await server?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });
  const needInstall = (t: TestContext): boolean => {
    if (offline !== undefined) t.skip(offline);
    return offline === undefined;
  };

  it('is a public package versioned with the contract, with runtime dependencies only', (t) => {
    if (!needInstall(t)) return;
    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(pkg['name'], '@bledfu/client');
    assert.equal(pkg['private'], undefined, 'not private');
    assert.equal(pkg['version'], ROOT_PKG.version);
    assert.equal(pkg['devDependencies'], undefined);
    const deps = pkg['dependencies'] as Record<string, string>;
    assert.ok(Object.keys(deps).includes('nice-grpc') && Object.keys(deps).includes('@bufbuild/protobuf'), JSON.stringify(deps));
    for (const [name, range] of Object.entries(deps)) assert.equal(range, ROOT_PKG.dependencies[name], `${name}: the range the repository is tested with`);
  });

  it('carries built JavaScript with declarations, the generated protocol code among them, and no sources', (t) => {
    if (!needInstall(t)) return;
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [relative(installed, join(dir, e.name)).split(sep).join('/')]));
    const files = walk(installed);
    const odd = files.filter((f) => !/^dist\/.*\.(js|d\.ts)$/.test(f) && !['package.json', 'README.md'].includes(f));
    assert.deepEqual(odd, [], 'only built code, package.json and README.md');
    for (const f of ['dist/clients/ts/index.js', 'dist/clients/ts/index.d.ts', 'dist/proto/gen/bledfu/v1/service.js', 'dist/proto/gen/bledfu/v1/dfu.d.ts', 'README.md']) {
      assert.ok(files.includes(f), `${f} is in the package`);
    }
    // Each .js has its declarations, so no import resolves to an untyped module.
    const js = files.filter((f) => f.endsWith('.js'));
    assert.deepEqual(js.filter((f) => !files.includes(f.replace(/\.js$/, '.d.ts'))), []);
    // The server stays behind gRPC: only the pure package codec and the error type come along.
    assert.deepEqual(files.filter((f) => f.startsWith('dist/server/') && !/^dist\/server\/(common|dfu\/package)\/|^dist\/server\/dfu\/errors\./.test(f)), []);
  });

  it('a plain Node ESM program imports it and updates a simulated device through bledfud', async (t) => {
    if (!needInstall(t)) return;
    writeFileSync(join(scratch, 'update.mjs'), CONSUMER_MJS);
    const r = await runProcess(process.execPath, ['update.mjs', server.address, PACKAGE, 'bledfu-sim-1'], { cwd: scratch, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `${explain(r)}\nserver log:\n${server.log()}`);
    const resolved = /^client (.*)$/m.exec(r.stdout)?.[1] ?? '';
    assert.ok(fileURLToPath(resolved).startsWith(installed), `the installed package, not the repository's sources: ${resolved}`);
    assert.match(r.stdout, /^state TRANSFERRING$/m);
    assert.match(r.stdout, new RegExp(`^progress ${APP.size}/${APP.size}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^finished: success, firmware revision ${NEW_REVISION}$`, 'm'));
  });

  it("decodes the server's error details (reason and remedy) for a device that is not there", async (t) => {
    if (!needInstall(t)) return;
    writeFileSync(join(scratch, 'update.mjs'), CONSUMER_MJS);
    const r = await runProcess(process.execPath, ['update.mjs', server.address, PACKAGE, 'no-such-device', '1'], { cwd: scratch, timeoutMs: 60_000 });
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stdout, /^finished: failed: DEVICE_NOT_FOUND$/m);
    assert.match(r.stderr, /^error: DEVICE_NOT_FOUND \(NOT_FOUND\): .*no-such-device.*; remedy: \S/m, explain(r));
  });

  it("a consumer's TypeScript checks against the declarations, and a wrong call in it is refused", async (t) => {
    if (!needInstall(t)) return;
    // One tsc run over two files: the consumer as written must check clean; the same code without
    // the @ts-expect-error marker must fail at that line, which it would not if the types were any.
    writeFileSync(join(scratch, 'consumer.ts'), CONSUMER_TS);
    const wrongLine = CONSUMER_TS.split('\n').findIndex((l) => l.startsWith('// @ts-expect-error')) + 1;
    writeFileSync(join(scratch, 'wrong.ts'), CONSUMER_TS.replace(/^\/\/ @ts-expect-error.*$/m, '//'));
    // skipLibCheck keeps the check quick (not every declaration of @types/node); that the package's
    // declarations import only its declared dependencies, the build checks (build-ts-client.mjs).
    const tsconfig = {
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
      files: ['consumer.ts', 'wrong.ts'],
    };
    writeFileSync(join(scratch, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
    const r = await runProcess(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: scratch, timeoutMs: 120_000 });
    assert.equal(r.code, 2, explain(r));
    const errors = r.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
    assert.equal(errors.length, 1, explain(r));
    assert.match(errors[0] ?? '', new RegExp(`^wrong\\.ts\\(${wrongLine + 1},\\d+\\): error TS2322: Type 'number' is not assignable to type 'string'`));
  });
});
