/**
 * The Python client as a wheel another project installs: built once from (a copy of) the checkout
 * with the distribution's protoc, it carries bledfu_client._gen, so it installs and runs where
 * there is no protoc. The test builds the wheel and the sdist, installs the wheel into a venv made
 * with --system-site-packages (Debian's grpcio and protobuf) with `pip install --no-deps
 * --no-index` and no protoc on PATH, and runs a DFU through a real bledfud from a script in a
 * scratch directory outside the repository. The sdist installs without protoc too.
 *
 * The build works on a copy of clients/python and proto/ in a temporary directory, so the test
 * writes nothing into the repository. It needs Debian's Python 3 with python3-grpcio,
 * python3-protobuf, python3-setuptools, python3-wheel and python3-venv, and protoc with
 * grpc_python_plugin (protobuf-compiler-grpc, libprotobuf-dev); BLEDFU_PYTHON picks another
 * interpreter. Without them the test skips, except under CI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import JSZip from 'jszip';
import { startBledfud, type Daemon } from '../helpers/bledfud-process.js';
import { projectFacts, projectPackageFile } from '../helpers/project-packages.js';
import { runProcess, type ProcessRun } from '../helpers/run-process.js';
import { revisionOf } from '../helpers/sim-server.js';

const PYTHON = process.env['BLEDFU_PYTHON'] || '/usr/bin/python3';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const PACKAGE = await projectPackageFile('app');
const APP = await projectFacts('app');
const NEW_REVISION = revisionOf(APP.fwVersion, APP.sha256);

function toolsMissing(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import grpc, google.protobuf, setuptools, wheel, ensurepip, venv'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    return `${PYTHON} cannot import grpc, google.protobuf, setuptools, wheel and venv (Debian: apt-get install python3-grpcio python3-protobuf python3-setuptools python3-wheel python3-venv)`;
  }
  for (const tool of ['protoc', 'grpc_python_plugin']) {
    if (spawnSync(tool, ['--version']).error !== undefined) return `${tool} is not installed (Debian: apt-get install protobuf-compiler-grpc libprotobuf-dev)`;
  }
  return undefined;
}
const missing = toolsMissing();
if (missing !== undefined && process.env['CI']) throw new Error(`the Python client package test needs Python's build tools under CI: ${missing}`);

const explain = (r: ProcessRun): string => `exit ${String(r.code)}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

/** Every .proto under proto/ (the generated TypeScript in proto/gen aside), relative to proto/. */
function repositoryProtos(): string[] {
  const protoRoot = join(ROOT, 'proto');
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? (e.name === 'gen' && dir === protoRoot ? [] : walk(join(dir, e.name))) : e.name.endsWith('.proto') ? [join(dir, e.name)] : [],
    );
  return walk(protoRoot).map((p) => relative(protoRoot, p).split(sep).join('/'));
}

/** The consumer: a script of another project, run from its own directory with the installed client. */
const CONSUMER_PY = `import sys

import bledfu_client
from bledfu_client import BledfuError, connect, pb, start_dfu

server, package, name = sys.argv[1:4]
scan_timeout = float(sys.argv[4]) if len(sys.argv) > 4 else None
print("client", bledfu_client.__file__)
try:
    with connect(server) as stub:
        last = None
        for event in start_dfu(stub, package, name=name, scan_timeout=scan_timeout):
            kind = event.WhichOneof("kind")
            if kind == "state_changed":
                print("state", pb.dfu.JobState.Name(event.state_changed.state).removeprefix("JOB_STATE_"))
            elif kind == "progress":
                last = event.progress
            elif kind == "finished":
                if last is not None:
                    print(f"progress {last.total_bytes_sent}/{last.total_bytes_total}")
                r = event.finished
                print(f"finished: success, firmware revision {r.firmware_revision}" if r.success else f"finished: failed: {r.error.reason}")
except BledfuError as e:
    print(f"error: {e.reason}: {e.message}; remedy: {e.remedy}", file=sys.stderr)
    sys.exit(1)
`;

describe('the Python client as a wheel with its generated code, installed outside the repository', { skip: missing ?? false }, () => {
  let work: string;
  let venv: string;
  let dist: string;
  let consumer: string;
  let server: Daemon;
  /** No protoc or grpc_python_plugin here: only the venv's own programs. */
  let noProtocEnv: NodeJS.ProcessEnv;
  const wheelName = `bledfu_client-${VERSION}-py3-none-any.whl`;
  const sdistName = `bledfu-client-${VERSION}.tar.gz`;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'bledfu-py-package-'));
    assert.ok(!work.startsWith(ROOT), `the scratch directory must be outside the repository (${work})`);
    // The checkout's layout (clients/python beside ../../proto), without anything built before.
    const src = join(work, 'src');
    cpSync(join(ROOT, 'proto'), join(src, 'proto'), { recursive: true, filter: (p) => relative(join(ROOT, 'proto'), p) !== 'gen' });
    cpSync(join(ROOT, 'clients', 'python'), join(src, 'clients', 'python'), {
      recursive: true,
      filter: (p) => !['_gen', '__pycache__', 'build', 'dist', '.venv'].includes(basename(p)) && !p.endsWith('.egg-info'),
    });
    venv = join(work, 'venv');
    const made = await runProcess(PYTHON, ['-m', 'venv', '--system-site-packages', venv], { timeoutMs: 120_000 });
    assert.equal(made.code, 0, explain(made));
    dist = join(work, 'dist');
    const pip = join(venv, 'bin', 'pip');
    const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
    const wheel = await runProcess(pip, ['wheel', '--no-deps', '--no-build-isolation', '--no-index', '-w', dist, join(src, 'clients', 'python')], { env, timeoutMs: 120_000 });
    assert.equal(wheel.code, 0, `pip wheel:\n${explain(wheel)}`);
    const sdist = await runProcess(join(venv, 'bin', 'python'), ['setup.py', '-q', 'sdist', '-d', dist], { env, cwd: join(src, 'clients', 'python'), timeoutMs: 120_000 });
    assert.equal(sdist.code, 0, `setup.py sdist:\n${explain(sdist)}`);
    // The source tree is gone before anything is installed: what works below came in the files.
    rmSync(src, { recursive: true, force: true });
    noProtocEnv = { PATH: join(venv, 'bin'), HOME: work, PYTHONDONTWRITEBYTECODE: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
    const install = await runProcess(pip, ['install', '--no-deps', '--no-index', join(dist, wheelName)], { env: noProtocEnv, timeoutMs: 120_000 });
    assert.equal(install.code, 0, `pip install <wheel>:\n${explain(install)}`);
    consumer = join(work, 'consumer');
    mkdirSync(consumer);
    writeFileSync(join(consumer, 'update.py'), CONSUMER_PY);
    server = await startBledfud(['--adapters', 'sim:', '--data-dir', work]);
  });
  after(async () => {
    await server?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it("builds a wheel and an sdist of the contract's version", () => {
    assert.deepEqual(readdirSync(dist).sort(), [sdistName, wheelName].sort());
  });

  it('the wheel carries the generated code of every bledfu .proto under proto/, and the vendored messages', async () => {
    const zip = await JSZip.loadAsync(readFileSync(join(dist, wheelName)));
    const names = Object.keys(zip.files);
    // proto/google/ (google.rpc for clients generated from proto/ alone) is not generated into the
    // package: it decodes those bytes with its renamed copies (vendored.proto), which cannot clash
    // with googleapis-common-protos in the same program (generate.py, SKIPPED_TOP_LEVELS).
    const all = repositoryProtos();
    const protos = all.filter((p) => !p.startsWith('google/'));
    assert.ok(protos.includes('bledfu/v1/service.proto'), protos.join(', '));
    assert.ok(all.some((p) => p.startsWith('google/rpc/')), 'proto/ ships google/rpc');
    assert.deepEqual(
      names.filter((n) => n.startsWith('bledfu_client/_gen/google/')),
      [],
      'no google.* modules of its own in the wheel',
    );
    for (const proto of [...protos, 'bledfu_client/vendored.proto']) {
      const module = `bledfu_client/_gen/${proto.replace(/\.proto$/, '_pb2.py')}`;
      assert.ok(names.includes(module), `${module} is in the wheel`);
    }
    assert.ok(names.includes('bledfu_client/_gen/bledfu/v1/service_pb2_grpc.py'));
    const metadata = await zip.file(`bledfu_client-${VERSION}.dist-info/METADATA`)?.async('string');
    assert.match(metadata ?? '', new RegExp(`^Version: ${VERSION.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(metadata ?? '', /^Requires-Dist: grpcio/m);
  });

  it('installed from the wheel without protoc, a script outside the repository updates a simulated device through bledfud', async () => {
    const r = await runProcess(join(venv, 'bin', 'python'), ['update.py', server.address, PACKAGE, 'bledfu-sim-1'], { env: noProtocEnv, cwd: consumer, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `${explain(r)}\nserver log:\n${server.log()}`);
    const file = /^client (.*)$/m.exec(r.stdout)?.[1] ?? '';
    assert.ok(file.startsWith(join(venv, 'lib')), `the installed client, not the repository's: ${file}`);
    assert.match(r.stdout, /^state TRANSFERRING$/m);
    assert.match(r.stdout, new RegExp(`^progress ${APP.size}/${APP.size}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^finished: success, firmware revision ${NEW_REVISION}$`, 'm'));
  });

  it("decodes the server's error details (reason and remedy) for a device that is not there", async () => {
    const r = await runProcess(join(venv, 'bin', 'python'), ['update.py', server.address, PACKAGE, 'no-such-device', '1'], { env: noProtocEnv, cwd: consumer, timeoutMs: 60_000 });
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stdout, /^finished: failed: DEVICE_NOT_FOUND$/m);
    assert.match(r.stderr, /^error: DEVICE_NOT_FOUND: .*no-such-device.*; remedy: (?!None)\S/m, explain(r));
  });

  it('the sdist installs without protoc or grpc_python_plugin: it carries the generated code', async () => {
    const target = join(work, 'from-sdist');
    const pip = join(venv, 'bin', 'pip');
    const r = await runProcess(pip, ['install', '--no-deps', '--no-index', '--no-build-isolation', '--target', target, join(dist, sdistName)], { env: noProtocEnv, timeoutMs: 120_000 });
    assert.equal(r.code, 0, `pip install <sdist>:\n${explain(r)}`);
    const use = await runProcess(join(venv, 'bin', 'python'), ['-c', 'import bledfu_client; print(bledfu_client.__file__); print(bledfu_client.pb.dfu.StartDfuRequest.DESCRIPTOR.full_name)'], {
      env: { ...noProtocEnv, PYTHONPATH: target },
      cwd: consumer,
    });
    assert.equal(use.code, 0, explain(use));
    assert.equal(use.stdout, `${join(target, 'bledfu_client', '__init__.py')}\nbledfu.v1.StartDfuRequest\n`);
  });
});
