/**
 * A third party's client, from the contract alone: Python code generated from proto/ with the
 * distribution's protoc and grpc_python_plugin (no project helper, no googleapis, no
 * grpcio-status), and a script written only against that code (test/e2e/third-party-python/
 * client.py), talking to the whole server on the accelerated simulator. It runs a DFU to its
 * end, a job that fails (the device refuses the package's signature), a job cancelled at its
 * first event, and calls that fail for their own reasons; every failed status is decoded from
 * `grpc-status-details-bin` as google.rpc.Status → google.rpc.ErrorInfo + bledfu.v1.ErrorDetail.
 *
 * Needs Debian's python3-grpcio and python3-protobuf, and protoc with grpc_python_plugin
 * (protobuf-compiler-grpc, libprotobuf-dev); BLEDFU_PYTHON picks another interpreter. Without
 * them the test skips, except under CI.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Status } from 'nice-grpc-common';
import { ERROR_CODES, type ErrorCode } from '../../server/common/errors.js';
import { STATUS_BY_CODE } from '../../server/rpc/status.js';
import { isVirtualClock } from '../../server/sim/clock.js';
import { projectFacts, projectPackageFile } from '../helpers/project-packages.js';
import { revisionOf, startSimServer, type SimServer } from '../helpers/sim-server.js';

const PYTHON = process.env['BLEDFU_PYTHON'] || '/usr/bin/python3';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROTO = join(ROOT, 'proto');
const SCRIPT = join(ROOT, 'test', 'e2e', 'third-party-python', 'client.py');
const PACKAGE = await projectPackageFile('app');
const APP = await projectFacts('app');
const NEW_REVISION = revisionOf(APP.fwVersion, APP.sha256);
/** Device 2 trusts Nordic's SDK 17.0.2 key, so it refuses the project's demo-signed package. */
const SIM = { devices: [{}, { key: 'sdk17.0.2' }] };

function onPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function toolchainMissing(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import grpc, google.protobuf'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    return `${PYTHON} cannot import grpc and google.protobuf (Debian: apt-get install python3-grpcio python3-protobuf)`;
  }
  for (const tool of ['protoc', 'grpc_python_plugin']) {
    if (onPath(tool) === undefined) return `${tool} is not installed (Debian: apt-get install protobuf-compiler-grpc libprotobuf-dev)`;
  }
  return undefined;
}

const missing = toolchainMissing();
// Under CI a missing Python toolchain is a broken setup, not a reason to skip.
if (missing !== undefined && process.env['CI']) throw new Error(`the third-party Python client test needs Python's gRPC under CI: ${missing}`);

/** Every .proto under proto/ (not the generated TypeScript), relative to it. */
function protoFiles(dir = PROTO): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return path === join(PROTO, 'gen') ? [] : protoFiles(path);
    return name.endsWith('.proto') ? [relative(PROTO, path)] : [];
  });
}

/** Generates the Python modules from proto/ into a fresh directory, as a third party would. */
function generate(): string {
  const out = mkdtempSync(join(tmpdir(), 'bledfu-thirdparty-'));
  const r = spawnSync(
    'protoc',
    [`-I${PROTO}`, `--python_out=${out}`, `--plugin=protoc-gen-grpc_python=${onPath('grpc_python_plugin')}`, `--grpc_python_out=${out}`, ...protoFiles()],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) {
    rmSync(out, { recursive: true, force: true });
    throw new Error(`protoc failed: ${r.stderr}`);
  }
  return out;
}

/** A record the script prints (one JSON object per line). */
type Rec = Record<string, unknown>;

interface DecodedStatus {
  readonly grpc_code: string;
  readonly grpc_message: string;
  readonly detail_types: readonly string[];
  readonly status_code?: number;
  readonly status_message?: string;
  readonly info?: { readonly reason: string; readonly domain: string; readonly metadata: Record<string, string> };
  readonly detail?: Record<string, string | number>;
}

interface Run {
  readonly code: number | null;
  readonly records: readonly Rec[];
  readonly stderr: string;
}

/**
 * Runs the script with the generated code on PYTHONPATH; `onRecord` sees each record as it is
 * printed (the cancel scenario acts on one while the script runs).
 */
function script(generated: string, args: readonly string[], onRecord?: (r: Rec) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, PYTHONPATH: generated, PYTHONDONTWRITEBYTECODE: '1' };
    const child = spawn(PYTHON, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    // A hang fails this test, not the suite.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const records: Rec[] = [];
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const record = JSON.parse(line) as Rec;
      records.push(record);
      onRecord?.(record);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, records, stderr });
    });
  });
}

const explain = (r: Run): string => `exit ${String(r.code)}\n${r.records.map((x) => JSON.stringify(x)).join('\n')}\nstderr:\n${r.stderr}`;

/** A status as the contract says a bledfu handler sends it, for `reason`. */
function assertBledfuStatus(status: DecodedStatus, reason: ErrorCode, context: string): void {
  assert.equal(status.grpc_code, Status[STATUS_BY_CODE[reason]], `${context}: gRPC status of ${reason}`);
  assert.equal(status.status_code, STATUS_BY_CODE[reason], `${context}: google.rpc.Status.code repeats the call's`);
  assert.equal(status.status_message, status.grpc_message, `${context}: google.rpc.Status.message repeats the call's`);
  assert.deepEqual(status.detail_types, ['google.rpc.ErrorInfo', 'bledfu.v1.ErrorDetail'], `${context}: the details, in order`);
  assert.equal(status.info?.domain, 'bledfu', context);
  assert.equal(status.info?.reason, reason, context);
  assert.ok((status.info?.metadata['layer'] ?? '').length > 0, `${context}: metadata names the layer`);
  assert.equal(status.detail?.['reason'], reason, context);
  assert.equal(status.detail?.['message'], status.grpc_message, `${context}: ErrorDetail.message is the status message`);
  assert.equal(status.detail?.['remedy'], status.info?.metadata['remedy'] ?? '', `${context}: one remedy in both`);
}

/** The job's end, as the script saw it: its `finished` event and how the stream closed. */
function jobEnd(r: Run): { readonly finished: Rec; readonly end: Rec } {
  const end = r.records.findIndex((x) => 'end' in x);
  assert.ok(end > 0, `the stream ended: ${explain(r)}`);
  const finished = r.records[end - 1] as Rec;
  assert.equal(finished['event'], 'finished', `the last event is \`finished\`: ${explain(r)}`);
  return { finished, end: r.records[end] as Rec };
}

/**
 * A failed or cancelled job's stream (service.proto): the `finished` event carries the outcome —
 * the reason, the status and ErrorInfo metadata a call failing with it would have — and the
 * stream then ends OK: a non-OK status would be the call's own failure.
 */
function assertFailedEnd(r: Run, reason: ErrorCode): Record<string, string | number> {
  const { finished, end } = jobEnd(r);
  assert.equal(finished['success'], false);
  assert.equal(end['end'], 'OK', `a job's stream ends OK after \`finished\`: ${explain(r)}`);
  const error = finished['error'] as Record<string, string | number> | null;
  assert.equal(error?.['reason'], reason, explain(r));
  assert.equal(finished['state'], reason === 'CANCELLED' ? 'JOB_STATE_CANCELLED' : 'JOB_STATE_FAILED');
  assert.equal(finished['error_status'], STATUS_BY_CODE[reason], 'error_status is the status a call failing so would carry');
  const metadata = finished['error_metadata'] as Record<string, string>;
  assert.ok(typeof metadata['layer'] === 'string' && metadata['layer'] !== '', `error_metadata names the layer: ${JSON.stringify(metadata)}`);
  return error ?? {};
}

describe('a third-party Python client generated from proto/ alone', { skip: missing ?? false }, () => {
  let generated: string;
  let s: SimServer;
  let succeededJob: string | undefined;
  before(async () => {
    generated = generate();
    s = await startSimServer(SIM);
  });
  after(async () => {
    await s?.close();
    if (generated !== undefined) rmSync(generated, { recursive: true, force: true });
  });

  it('protoc compiles every file under proto/, the google.rpc messages included', () => {
    const files = protoFiles();
    for (const f of ['google/rpc/status.proto', 'google/rpc/error_details.proto', 'bledfu/v1/service.proto']) assert.ok(files.includes(f), f);
    for (const m of ['google/rpc/status_pb2.py', 'google/rpc/error_details_pb2.py', 'bledfu/v1/service_pb2_grpc.py']) {
      assert.ok(statSync(join(generated, m)).isFile(), m);
    }
  });

  it('runs a DFU to its end: events, `finished` with success, the stream ends OK, the device runs the new image', async () => {
    assert.notEqual(s.device().firmwareRevision(), NEW_REVISION);
    const r = await script(generated, [s.address, 'dfu', PACKAGE, 'bledfu-sim-1']);
    assert.equal(r.code, 0, explain(r));
    assert.equal(r.records[0]?.['event'], 'snapshot');
    const states = r.records.filter((x) => x['event'] === 'state_changed').map((x) => x['state']);
    assert.ok(states.includes('JOB_STATE_TRANSFERRING'), `states: ${states.join(' ')}`);
    const last = r.records.filter((x) => x['event'] === 'progress').at(-1);
    assert.deepEqual([last?.['image_bytes_sent'], last?.['image_bytes_total']], [APP.size, APP.size]);
    const { finished, end } = jobEnd(r);
    assert.equal(finished['success'], true);
    assert.equal(finished['error'], null);
    assert.equal(finished['firmware_revision'], NEW_REVISION);
    assert.deepEqual(end, { end: 'OK' });
    assert.equal(r.records.at(-1)?.['state'], 'JOB_STATE_SUCCEEDED', 'GetJob agrees');
    assert.equal(s.device().firmwareRevision(), NEW_REVISION);
    succeededJob = finished['job_id'] as string;
  });

  it('a job the device refuses: `finished` names DFU_REMOTE_ERROR INVALID_OBJECT, the ErrorInfo metadata has it as decimal strings', async () => {
    const r = await script(generated, [s.address, 'dfu', PACKAGE, 'bledfu-sim-2']);
    assert.equal(r.code, 0, explain(r));
    const error = assertFailedEnd(r, 'DFU_REMOTE_ERROR');
    assert.equal(error['dfu_result'], 5);
    assert.equal(error['dfu_result_name'], 'INVALID_OBJECT');
    const { end } = jobEnd(r);
    if (end['end'] !== 'OK') {
      const metadata = (end['status'] as DecodedStatus).info?.metadata ?? {};
      assert.equal(metadata['dfu_result'], '5');
      assert.equal(metadata['dfu_result_name'], 'INVALID_OBJECT');
      assert.equal(metadata['layer'], 'dfu');
    }
    assert.equal(r.records.at(-1)?.['state'], 'JOB_STATE_FAILED', 'GetJob agrees');
    assert.equal(s.observed(1).dataBytes, 0, 'refused at the init packet: no firmware byte reached the device');
  });

  it('a job cancelled at its first event: `finished` names CANCELLED', async () => {
    const clock = s.clock;
    assert.ok(isVirtualClock(clock), 'the simulated server runs on a virtual clock');
    // Modelled time stands still until the script has asked to cancel, so the job cannot end
    // first (the script's calls take real time; the accelerated simulator's DFU does not).
    const hold = clock.hold();
    let released = false;
    const release = (): void => {
      if (!released) clock.release(hold);
      released = true;
    };
    try {
      const r = await script(generated, [s.address, 'cancel', PACKAGE, 'bledfu-sim-1'], (record) => {
        if ('cancel_requested' in record) release();
      });
      assert.equal(r.code, 0, explain(r));
      assert.ok(r.records.some((x) => 'cancel_requested' in x), explain(r));
      assertFailedEnd(r, 'CANCELLED');
    } finally {
      release();
    }
  });

  it('a job whose device never shows: `finished` says DEVICE_NOT_FOUND (status NOT_FOUND), the stream ends OK', async () => {
    const r = await script(generated, [s.address, 'not-found', PACKAGE]);
    assert.equal(r.code, 0, explain(r));
    const error = assertFailedEnd(r, 'DEVICE_NOT_FOUND');
    assert.match(String(error['remedy']), /./, 'with a remedy');
  });

  it('decodes ErrorInfo and ErrorDetail from the status of each reason it provokes', async () => {
    assert.ok(succeededJob !== undefined, 'the DFU above gave a job without a capture');
    const r = await script(generated, [s.address, 'errors', succeededJob, PACKAGE]);
    assert.equal(r.code, 0, explain(r));
    const cases = r.records.map((x) => x['case']);
    assert.deepEqual(cases, ['JOB_NOT_FOUND', 'INVALID_ARGUMENT', 'PACKAGE_INVALID', 'PACKAGE_NOT_FOUND', 'ADAPTER_NOT_FOUND', 'CAPTURE_NOT_FOUND', 'INVALID_ARGUMENT']);
    for (const record of r.records) {
      const reason = record['case'] as ErrorCode;
      assert.ok((ERROR_CODES as readonly string[]).includes(reason));
      assert.ok(record['status'] !== null, `${reason}: the call failed`);
      assertBledfuStatus(record['status'] as DecodedStatus, reason, reason);
    }
  });
});
