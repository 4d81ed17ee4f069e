import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BledfuError } from '../../server/common/errors.js';
import { fakePackageBytes, progress } from '../helpers/fake-adapter-runner.js';
import { DEVICE, startHarness, type Harness } from '../helpers/rpc-harness.js';
import { CLI_BIN, runCli, runProcess, type CliRun, type ProcessRun } from '../helpers/run-process.js';

/** The CLI with `env` added to the environment (default: no server from the caller's). */
function cli(args: readonly string[], env: Readonly<Record<string, string>> = { BLEDFU_SERVER: '' }, timeoutMs = 15_000): Promise<CliRun> {
  return runCli(args, { env, timeoutMs });
}

/** The CLI's text output (not NDJSON), no server from the caller's environment. */
function cliText(args: readonly string[]): Promise<ProcessRun> {
  return runProcess(process.execPath, [CLI_BIN, ...args], { env: { ...process.env, BLEDFU_SERVER: '' }, timeoutMs: 15_000 });
}

describe('bledfu CLI (spawned) against a real server', () => {
  let h: Harness;
  let dir: string;
  let pkgFile: string;
  let badFile: string;
  before(async () => {
    h = await startHarness();
    dir = await mkdtemp(join(tmpdir(), 'bledfu-cli-'));
    pkgFile = join(dir, 'app.zip');
    badFile = join(dir, 'bad.zip');
    await writeFile(pkgFile, fakePackageBytes(2048));
    await writeFile(badFile, 'not a zip');
  });
  after(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs a DFU with --json: NDJSON events ending in finished, exit 0', async () => {
    const n = h.runner.calls.length;
    const running = cli(['--server', h.address, '--json', 'dfu', pkgFile, '--address', DEVICE.value, '--prn', '12']);
    const run = await h.runner.call(n);
    assert.equal(run.options.prn, 12);
    run.emit({ kind: 'phase', phase: 'transferring', detail: 'sending' });
    run.emit(progress(1000, 1000));
    run.succeed();
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.records[0]?.['type'], 'snapshot');
    const last = r.records.at(-1);
    assert.equal(last?.['type'], 'finished');
    assert.equal(last?.['success'], true);
  });

  it('--retries 0 asks for no retries; without --retries the server\'s default (3) applies', async () => {
    for (const [flags, expected] of [[['--retries', '0'], 0], [['--retries', '7'], 7], [[], 3]] as const) {
      const n = h.runner.calls.length;
      const running = cli(['--server', h.address, '--json', 'dfu', pkgFile, '--address', DEVICE.value, ...flags]);
      const run = await h.runner.call(n);
      assert.equal(run.options.retries, expected, `retries with ${flags.join(' ') || 'no flag'}`);
      run.succeed();
      const r = await running;
      assert.equal(r.code, 0, r.stderr);
    }
    const refused = await cli(['--server', h.address, '--json', 'dfu', pkgFile, '--address', DEVICE.value, '--retries', '-1']);
    assert.equal(refused.code, 2);
  });

  it('shows a finished job with its time per phase (jobs show), in text and in --json', async () => {
    const n = h.runner.calls.length;
    const running = cliText(['--server', h.address, 'dfu', pkgFile, '--address', DEVICE.value]);
    const run = await h.runner.call(n);
    const jobId = h.app.jobs.list({ activeOnly: true })[0]?.id;
    assert.ok(jobId !== undefined);
    run.succeed();
    const done = await running;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /^time per phase: scan \d+\.\d\d s, connect .*, final read \d+\.\d\d s, other \d+\.\d\d s$/m, 'the dfu summary');
    const text = await cliText(['--server', h.address, 'jobs', 'show', jobId]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^${jobId} +SUCCEEDED`, 'm'));
    assert.match(text.stdout, /^took \d+\.\d\d s$/m);
    assert.match(text.stdout, /^time per phase: scan .* data transfer .* flash waits .* other \d+\.\d\d s$/m);
    const json = await cli(['--server', h.address, '--json', 'jobs', 'show', jobId]);
    assert.equal(json.code, 0, json.stderr);
    const result = (json.records[0]?.['job'] as Record<string, unknown>)['result'] as Record<string, unknown>;
    assert.ok(typeof result['phaseTimes'] === 'object', `result: ${JSON.stringify(result)}`);
  });

  it('exits 4 with the error record and remedy when the device rejects the update', async () => {
    const n = h.runner.calls.length;
    const running = cli(['--server', h.address, '--json', 'dfu', pkgFile, '--address', DEVICE.value, '--upload']);
    (await h.runner.call(n)).fail(
      new BledfuError('DFU_REMOTE_ERROR', 'init packet rejected', {
        layer: 'dfu',
        remedy: 'use a package signed with the bootloader\'s key',
        facts: { dfuResult: 11, dfuResultName: 'EXT_ERROR', dfuExtended: 3, dfuExtendedName: 'UNKNOWN_COMMAND' },
      }),
    );
    const r = await running;
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.records[0]?.['type'], 'uploaded');
    const kinds = r.records.map((x) => x['type']);
    assert.ok(kinds.includes('finished'));
    const error = r.records.at(-1);
    assert.equal(error?.['type'], 'error');
    assert.equal(error?.['code'], 'DFU_REMOTE_ERROR');
    assert.equal(error?.['remedy'], 'use a package signed with the bootloader\'s key');
    assert.equal(error?.['dfuExtendedErrorName'], 'UNKNOWN_COMMAND');
    assert.equal(error?.['dfuExtendedError'], 3);
    assert.equal(error?.['exitCode'], 4);
  });

  it('exits 2 for an invalid package and 2 for a command-line mistake', async () => {
    const calls = h.runner.calls.length;
    const bad = await cli(['--server', h.address, '--json', 'dfu', badFile, '--address', DEVICE.value]);
    assert.equal(bad.code, 2);
    assert.equal(bad.records.at(-1)?.['code'], 'PACKAGE_INVALID');
    assert.equal(h.runner.calls.length, calls);
    const usage = await cli(['--server', h.address, '--json', 'dfu', pkgFile]);
    assert.equal(usage.code, 2);
    assert.equal(usage.records.at(-1)?.['code'], 'USAGE');
  });

  it('with --json, a command line the parser refuses still ends stdout with an error record (exit 2)', async () => {
    for (const args of [['dfu'], ['dfu', pkgFile, '--address', DEVICE.value, '--buttonless', 'bogus'], ['frobnicate'], ['scan', '--nope']]) {
      const r = await cli(['--server', h.address, '--json', ...args]);
      assert.equal(r.code, 2, args.join(' '));
      const error = r.records.at(-1);
      assert.equal(error?.['type'], 'error', args.join(' '));
      assert.equal(error?.['code'], 'USAGE');
      assert.equal(error?.['exitCode'], 2);
      assert.ok(String(error?.['message']).length > 0);
    }
  });

  it('exits 2 for a package larger than the server accepts in one message, with a remedy', async () => {
    // The harness accepts 1 MiB packages; grpc-js refuses a message this size before any handler.
    const big = join(dir, 'big.zip');
    await writeFile(big, new Uint8Array(3 * 1024 * 1024));
    const calls = h.runner.calls.length;
    const r = await cli(['--server', h.address, '--json', 'dfu', big, '--address', DEVICE.value]);
    assert.equal(r.code, 2, r.stderr);
    const error = r.records.at(-1);
    assert.equal(error?.['code'], 'MESSAGE_TOO_LARGE');
    assert.match(String(error?.['remedy']), /BLEDFU_MAX_REQUEST_BYTES/);
    assert.equal(h.runner.calls.length, calls);
  });

  it('exits 3 for an unknown job and 5 when the device cannot be reached (link problem)', async () => {
    const watch = await cli(['--server', h.address, '--json', 'jobs', 'watch', 'no-such-job']);
    assert.equal(watch.code, 3);
    assert.equal(watch.records.at(-1)?.['code'], 'JOB_NOT_FOUND');

    const n = h.runner.calls.length;
    const running = cli(['--server', h.address, '--json', 'dfu', pkgFile, '--name', 'DfuTarg']);
    (await h.runner.call(n)).fail(new BledfuError('LINK_LOST', 'link lost (0x08)', { layer: 'ble', facts: { hciStatus: 8 } }));
    const r = await running;
    assert.equal(r.code, 5);
    assert.equal(r.records.at(-1)?.['hciStatus'], 8);
  });

  it('exits 6 when the job is cancelled', async () => {
    const n = h.runner.calls.length;
    const running = cli(['--server', h.address, '--json', 'dfu', pkgFile, '--address', DEVICE.value]);
    const run = await h.runner.call(n);
    const jobId = h.app.jobs.list({ activeOnly: true })[0]?.id;
    assert.ok(jobId !== undefined);
    const cancel = await cli(['--server', h.address, '--json', 'jobs', 'cancel', jobId]);
    assert.equal(cancel.code, 0);
    assert.equal(run.context.signal.aborted, true);
    const r = await running;
    assert.equal(r.code, 6);
    assert.equal(r.records.at(-1)?.['code'], 'CANCELLED');
  });

  it('lists adapters and jobs, and exits 7 when no server answers', async () => {
    const adapters = await cli(['--server', h.address, '--json', 'adapters']);
    assert.equal(adapters.code, 0);
    assert.equal((adapters.records[0]?.['adapter'] as Record<string, unknown>)['id'], 'fake0');
    const jobs = await cli(['--server', h.address, '--json', 'jobs', 'list']);
    assert.equal(jobs.code, 0);
    assert.ok(jobs.records.length >= 4);
    h.serialPorts = [{ path: '/dev/ttyACM0', vendorId: '1915', productId: 'c00a', known: { name: 'nRF connectivity', hint: 'nrf:' } }];
    const ports = await cli(['--server', h.address, '--json', 'ports']);
    assert.equal(ports.code, 0, ports.stderr);
    const port = ports.records[0]?.['port'] as Record<string, unknown>;
    assert.equal(port['path'], '/dev/ttyACM0');
    assert.equal(port['productId'], 'c00a');
    assert.equal(port['hint'], 'nrf:');
    const down = await cli(['--server', '127.0.0.1:1', '--json', 'adapters']);
    assert.equal(down.code, 7);
    assert.equal(down.records.at(-1)?.['code'], 'SERVER_UNREACHABLE');
  });

  it('takes the server from BLEDFU_SERVER, treats an empty one as unset, and refuses an empty --server with exit 2', async () => {
    const fromEnv = await cli(['--json', 'adapters'], { BLEDFU_SERVER: h.address });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.equal((fromEnv.records[0]?.['adapter'] as Record<string, unknown>)['id'], 'fake0');

    // Unset and empty are the same: the default address, answered one way or the other, never a hang.
    const empty = await cli(['--json', 'adapters'], { BLEDFU_SERVER: '' }, 8_000);
    assert.notEqual(empty.code, null, 'the CLI hung with BLEDFU_SERVER=""');
    if (empty.code !== 0) assert.match(String(empty.records.at(-1)?.['message']), /127\.0\.0\.1:50051/);

    for (const server of ['', '  ', ':50051', 'localhost:', 'localhost:99999']) {
      const r = await cli(['--server', server, '--json', 'adapters'], { BLEDFU_SERVER: '' }, 8_000);
      assert.equal(r.code, 2, `--server "${server}": ${r.stderr}`);
      assert.equal(r.records.at(-1)?.['code'], 'USAGE');
    }
  });
});
