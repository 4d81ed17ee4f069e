/**
 * The Python client (clients/python) and its example script against real servers: a scan and a
 * DFU of a simulated device, DEVICE_NOT_FOUND for an unknown name, start_dfu's retries (0: none;
 * None: the default) with a failed job raised after its `finished`, and a bledfud process with TLS,
 * mutual TLS and tokens refusing the example without a token (UNAUTHENTICATED) or with a
 * read-only one (PERMISSION_DENIED), and updating the device with an operate token.
 *
 * The client's code is generated into a temporary copy of the package, so the test does not
 * depend on a prior `pip install`. It needs Debian's Python 3 with python3-grpcio and
 * python3-protobuf, and protoc with grpc_python_plugin (protobuf-compiler-grpc, libprotobuf-dev);
 * BLEDFU_PYTHON picks another interpreter. Without them the test skips, except under CI.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startBledfud, type Daemon } from '../helpers/bledfud-process.js';
import { runProcess, type ProcessRun } from '../helpers/run-process.js';
import { revisionOf, startSimServer, type SimServer } from '../helpers/sim-server.js';
import { projectFacts, projectPackageFile } from '../helpers/project-packages.js';
import { makeTestPki, opensslMissing, type TestPki } from '../helpers/tls-certs.js';

const PYTHON = process.env['BLEDFU_PYTHON'] || '/usr/bin/python3';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT_DIR = join(ROOT, 'clients', 'python');
const EXAMPLE = join(CLIENT_DIR, 'examples', 'update_device.py');
/** The project's ~100 KB application package (demo key, the simulator's default), as a file the script reads. */
const PACKAGE = await projectPackageFile('app');
const APP = await projectFacts('app');
/** What the simulated device reports after installing PACKAGE (its version and image's SHA-256 prefix). */
const NEW_REVISION = revisionOf(APP.fwVersion, APP.sha256);
const OBSERVE_TOKEN = 'observe-token-python-0123456789';
const OPERATE_TOKEN = 'operate-token-python-0123456789';

function pythonMissing(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import grpc, google.protobuf'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    return `${PYTHON} cannot import grpc and google.protobuf (Debian: apt-get install python3-grpcio python3-protobuf)`;
  }
  for (const tool of ['protoc', 'grpc_python_plugin']) {
    if (spawnSync(tool, ['--version']).error !== undefined) {
      return `${tool} is not installed (Debian: apt-get install protobuf-compiler-grpc libprotobuf-dev)`;
    }
  }
  return undefined;
}

const missing = pythonMissing();
// Under CI a missing Python toolchain is a broken setup, not a reason to skip.
if (missing !== undefined && process.env['CI']) throw new Error(`the Python client tests need Python's gRPC under CI: ${missing}`);
const skip = missing ?? false;
const sslMissing = opensslMissing();
if (missing === undefined && sslMissing !== undefined && process.env['CI']) throw new Error(`the Python TLS tests need openssl under CI: ${sslMissing}`);
const skipTls = missing ?? (sslMissing === undefined ? false : `${sslMissing}; install it (Debian: apt-get install openssl)`);

/** A copy of the bledfu_client package with freshly generated code; its parent goes on PYTHONPATH. */
function generateClient(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bledfu-py-'));
  try {
    cpSync(join(CLIENT_DIR, 'bledfu_client'), join(dir, 'bledfu_client'), {
      recursive: true,
      filter: (src) => !['_gen', '__pycache__'].includes(basename(src)),
    });
    execFileSync(PYTHON, [join(CLIENT_DIR, 'generate.py'), '--out', join(dir, 'bledfu_client', '_gen')], { stdio: ['ignore', 'ignore', 'pipe'] });
    return dir;
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Runs the example script with the generated client on PYTHONPATH. */
function example(pythonPath: string, args: readonly string[]): Promise<ProcessRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: pythonPath, PYTHONDONTWRITEBYTECODE: '1' };
  // The script reads these as defaults; the caller's own settings must not leak into a test.
  for (const k of ['BLEDFU_SERVER', 'BLEDFU_TOKEN', 'BLEDFU_CA', 'BLEDFU_CERT', 'BLEDFU_KEY']) delete env[k];
  return runProcess(PYTHON, [EXAMPLE, ...args], { env, timeoutMs: 60_000 });
}

const explain = (r: ProcessRun): string => `exit ${String(r.code)}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

describe('Python client example against the simulator', { skip }, () => {
  let s: SimServer;
  let pythonPath: string;
  before(async () => {
    pythonPath = generateClient();
    s = await startSimServer();
  });
  after(async () => {
    await s?.close();
    if (pythonPath !== undefined) rmSync(pythonPath, { recursive: true, force: true });
  });

  it('scans, then updates the device by name: exit 0, the new firmware revision printed and installed', async () => {
    assert.notEqual(s.device().firmwareRevision(), NEW_REVISION);
    const r = await example(pythonPath, ['--server', s.address, '--scan-seconds', '0.5', '--name', 'bledfu-sim-1', PACKAGE]);
    assert.equal(r.code, 0, explain(r));
    assert.match(r.stdout, /^ {2}F0:0D:C0:DE:00:01 +-?\d+ dBm {2}bledfu-sim-1$/m, 'the scan lists the device');
    assert.match(r.stdout, /^state TRANSFERRING: /m);
    assert.match(r.stdout, new RegExp(`^progress image 1/1: ${APP.size}/${APP.size} bytes \\(100%\\)`, 'm'));
    assert.match(r.stdout, new RegExp(`^finished: success in [\\d.]+ s, firmware revision ${NEW_REVISION}$`, 'm'));
    assert.equal(s.device().firmwareRevision(), NEW_REVISION, 'the device runs the new image');
    assert.equal(s.observed().dataBytes, APP.size, 'the whole image reached the device');
  });

  it('an unknown device name: non-zero exit and the DEVICE_NOT_FOUND reason', async () => {
    const r = await example(pythonPath, ['--server', s.address, '--scan-seconds', '0', '--scan-timeout', '0.5', '--name', 'no-such-device', PACKAGE]);
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stderr, /^error: DEVICE_NOT_FOUND: device named "no-such-device" not found/m, explain(r));
    assert.match(r.stdout, /^finished: failed in [\d.]+ s: DEVICE_NOT_FOUND: /m);
  });

  it('start_dfu retries=0: a damaged packet fails the job, raised after `finished` with the status a call would have; retries=None retries', async () => {
    const snippet = [
      'import sys',
      'from bledfu_client import BledfuError, connect, start_dfu',
      'retries = None if sys.argv[3] == "unset" else int(sys.argv[3])',
      'with connect(sys.argv[1]) as stub:',
      '    try:',
      '        for event in start_dfu(stub, sys.argv[2], address=sys.argv[4], retries=retries):',
      '            if event.HasField("finished"):',
      '                print("finished", event.finished.success)',
      '    except BledfuError as e:',
      '        print("raised", e.reason, e.status.name if e.status else None, e.metadata.get("layer"), e.metadata.get("context_image"))',
    ].join('\n');
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: pythonPath, PYTHONDONTWRITEBYTECODE: '1' };
    const run = (retries: string): Promise<ProcessRun> =>
      runProcess(PYTHON, ['-c', snippet, s.address, PACKAGE, retries, s.device().address.value], { env, timeoutMs: 60_000 });
    s.world.faults.inject({ kind: 'corruptDataPacket', packet: 5 });
    const none = await run('0');
    assert.equal(none.code, 0, explain(none));
    assert.match(none.stdout, /^finished False\nraised DFU_CRC_MISMATCH DATA_LOSS dfu application$/m, explain(none));
    s.world.faults.inject({ kind: 'corruptDataPacket', packet: 5 });
    const unset = await run('unset');
    assert.equal(unset.code, 0, explain(unset));
    assert.match(unset.stdout, /^finished True$/m, explain(unset));
    assert.doesNotMatch(unset.stdout, /raised/, explain(unset));
  });

  it('a device that refuses the package as not newer: the job is UP_TO_DATE, not raised; the example says "already up to date" and exits 0', async () => {
    const before = s.device().firmwareRevision();
    // The init packet's Execute (0x04) answered EXT_ERROR FW_VERSION_FAILURE, as by a release bootloader already on the version.
    s.world.faults.inject({ kind: 'refuseControlPoint', opcode: 0x04, result: 0x0b, extended: 0x05 });
    const r = await example(pythonPath, ['--server', s.address, '--scan-seconds', '0', '--name', 'bledfu-sim-1', PACKAGE]);
    assert.equal(r.code, 0, explain(r));
    assert.match(r.stdout, /^state UP_TO_DATE: already up to date/m, explain(r));
    assert.match(r.stdout, new RegExp(`^finished: already up to date in [\\d.]+ s, firmware revision ${before ?? ''}$`, 'm'), explain(r));
    assert.equal(r.stderr.includes('error'), false, explain(r));
    assert.equal(s.device().firmwareRevision(), before, 'nothing was installed');
  });

  it('start_dfu skip_if_firmware_revision= the device\'s own revision: UP_TO_DATE, skipped, not raised, nothing written; dfu_protocol_name names the result\'s protocol', async () => {
    const before = s.device().firmwareRevision();
    assert.ok(before !== undefined && before !== '', 'the simulated application reports a firmware revision');
    const snippet = [
      'import sys',
      'from bledfu_client import connect, dfu_protocol_name, start_dfu',
      'from bledfu_client.pb import dfu as dfu_pb2',
      'with connect(sys.argv[1]) as stub:',
      '    for event in start_dfu(stub, sys.argv[2], address=sys.argv[3], skip_if_firmware_revision=sys.argv[4]):',
      '        if event.HasField("finished"):',
      '            r = event.finished',
      '            print(dfu_pb2.JobState.Name(r.state), dfu_pb2.SkipReason.Name(r.skipped), r.success, dfu_protocol_name(r.protocol), repr(dfu_protocol_name(0)))',
    ].join('\n');
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: pythonPath, PYTHONDONTWRITEBYTECODE: '1' };
    const r = await runProcess(PYTHON, ['-c', snippet, s.address, PACKAGE, s.device().address.value, before], { env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, explain(r));
    assert.equal(r.stdout, "JOB_STATE_UP_TO_DATE SKIP_REASON_FIRMWARE_REVISION True secure ''\n", explain(r));
    assert.equal(s.device().firmwareRevision(), before, 'nothing was installed');
  });

  it('start_dfu labels=: the job carries them (its snapshot event) and GetJob shows them', async () => {
    const snippet = [
      'import sys',
      'from bledfu_client import connect, start_dfu',
      'from bledfu_client.pb import dfu as dfu_pb2',
      'with connect(sys.argv[1]) as stub:',
      '    for event in start_dfu(stub, sys.argv[2], address=sys.argv[3], labels={"serial": "SN-PY-1", "work_order": "WO 9"}):',
      '        if event.HasField("snapshot"):',
      '            print("snapshot", sorted(event.snapshot.labels.items()))',
      '        if event.HasField("finished"):',
      '            job = stub.GetJob(dfu_pb2.GetJobRequest(job_id=event.job_id)).job',
      '            print("job", sorted(job.labels.items()))',
    ].join('\n');
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: pythonPath, PYTHONDONTWRITEBYTECODE: '1' };
    const r = await runProcess(PYTHON, ['-c', snippet, s.address, PACKAGE, s.device().address.value], { env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, explain(r));
    const want = "[('serial', 'SN-PY-1'), ('work_order', 'WO 9')]";
    assert.equal(r.stdout, `snapshot ${want}\njob ${want}\n`, explain(r));
  });

  it('inventory(probe=True): the simulated application is a buttonless one, with its serial number; a bad duration raises INVALID_ARGUMENT', async () => {
    const snippet = [
      'import sys',
      'from bledfu_client import BledfuError, connect, device_kind_name, inventory',
      'with connect(sys.argv[1]) as stub:',
      '    r = inventory(stub, seconds=0.5, probe=True)',
      '    for d in r.devices:',
      '        print(d.address.value, device_kind_name(d), d.device_info.serial_number, r.truncated)',
      '    try:',
      '        inventory(stub, seconds=0.05)',
      '    except BledfuError as e:',
      '        print("raised", e.reason)',
    ].join('\n');
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: pythonPath, PYTHONDONTWRITEBYTECODE: '1' };
    const r = await runProcess(PYTHON, ['-c', snippet, s.address], { env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, explain(r));
    const address = s.device().address.value;
    assert.equal(r.stdout, `${address} buttonless SIM-${address.replace(/:/g, '')} False\nraised INVALID_ARGUMENT\n`, explain(r));
  });

  it('campaigns: start_campaign, watch_campaign to `ended`, get_campaign, list_campaigns, stop_campaign of an ended one, and CAMPAIGN_NOT_FOUND', async () => {
    const snippet = [
      'import sys',
      'from bledfu_client import BledfuError, connect, get_campaign, list_campaigns, start_campaign, stop_campaign, watch_campaign',
      'from bledfu_client.pb import campaign as campaign_pb2',
      'with connect(sys.argv[1]) as stub:',
      '    c = start_campaign(stub, sys.argv[2], name_prefix="bledfu-sim-", max_devices=1, max_attempts=1, retry_delay=0.5,',
      '                       labels={"work_order": "WO-PY"}, campaign_name="py line")',
      '    print("started", campaign_pb2.CampaignState.Name(c.state), c.name, c.retry.max_attempts)',
      '    kinds = [e.WhichOneof("kind") for e in watch_campaign(stub, c.campaign_id)]',
      '    print("events", kinds[0], kinds[-1], "device" in kinds)',
      '    got = get_campaign(stub, c.campaign_id)',
      '    done = got.counts.succeeded + got.counts.up_to_date',
      '    print("ended", campaign_pb2.CampaignState.Name(got.state), got.counts.found, done, len(got.devices), dict(got.labels))',
      '    print("listed", [x.campaign_id for x in list_campaigns(stub)].count(c.campaign_id), len(list_campaigns(stub, active_only=True)))',
      '    print("stop", campaign_pb2.CampaignState.Name(stop_campaign(stub, c.campaign_id).state))',
      '    try:',
      '        get_campaign(stub, "no-such-campaign")',
      '    except BledfuError as e:',
      '        print("unknown", e.reason)',
    ].join('\n');
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: pythonPath, PYTHONDONTWRITEBYTECODE: '1' };
    const r = await runProcess(PYTHON, ['-c', snippet, s.address, PACKAGE], { env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, explain(r));
    assert.equal(
      r.stdout,
      [
        'started CAMPAIGN_STATE_RUNNING py line 1',
        'events snapshot ended True',
        "ended CAMPAIGN_STATE_ENDED 1 1 1 {'work_order': 'WO-PY'}",
        'listed 1 0',
        'stop CAMPAIGN_STATE_ENDED',
        'unknown CAMPAIGN_NOT_FOUND',
        '',
      ].join('\n'),
      explain(r),
    );
  });

  it('no server: non-zero exit and SERVER_UNREACHABLE', async () => {
    const r = await example(pythonPath, ['--server', '127.0.0.1:1', '--scan-seconds', '0', '--name', 'bledfu-sim-1', PACKAGE]);
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stderr, /^error: SERVER_UNREACHABLE: /m);
  });
});

describe('Python client example against bledfud with mutual TLS and tokens', { skip: skipTls }, () => {
  let pythonPath: string;
  let dir: string;
  let pki: TestPki;
  let server: Daemon;
  let tls: string[];
  before(async () => {
    pythonPath = generateClient();
    pki = makeTestPki();
    dir = mkdtempSync(join(tmpdir(), 'bledfu-py-server-'));
    const tokens = join(dir, 'tokens');
    writeFileSync(tokens, `observe ${OBSERVE_TOKEN}\noperate ${OPERATE_TOKEN}\n`);
    const f = pki.files;
    server = await startBledfud(['--adapters', 'sim:',
      '--data-dir', dir, '--tokens-file', tokens,
      '--tls-cert', f.serverCert, '--tls-key', f.serverKey, '--tls-client-ca', f.ca,
    ]);
    tls = ['--server', server.address, '--ca', f.ca, '--cert', f.clientCert, '--key', f.clientKey];
  });
  after(async () => {
    await server?.stop();
    if (pythonPath !== undefined) rmSync(pythonPath, { recursive: true, force: true });
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    pki?.remove();
  });

  it('refuses the example without a token: exit 1, UNAUTHENTICATED', async () => {
    const r = await example(pythonPath, [...tls, '--scan-seconds', '0', '--name', 'bledfu-sim-1', PACKAGE]);
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stderr, /^error: UNAUTHENTICATED: /m, explain(r));
  });

  it('lets an observe token scan but not update: exit 1, PERMISSION_DENIED', async () => {
    const r = await example(pythonPath, [...tls, '--token', OBSERVE_TOKEN, '--scan-seconds', '0.5', '--name', 'bledfu-sim-1', PACKAGE]);
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stdout, /^ {2}F0:0D:C0:DE:00:01 .* bledfu-sim-1$/m, 'the scan went through');
    assert.match(r.stderr, /^error: PERMISSION_DENIED: /m, explain(r));
  });

  it('updates the device with an operate token over mutual TLS', async () => {
    const r = await example(pythonPath, [...tls, '--token', OPERATE_TOKEN, '--wait', '10', '--scan-seconds', '0', '--name', 'bledfu-sim-1', PACKAGE]);
    assert.equal(r.code, 0, `${explain(r)}\nserver log:\n${server.log()}`);
    assert.match(r.stdout, new RegExp(`^finished: success in [\\d.]+ s, firmware revision ${NEW_REVISION}$`, 'm'));
  });
});
