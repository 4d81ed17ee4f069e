/**
 * Acceptance: a DFU job's HCI capture through every layer — StartDfu(capture_hci) → job →
 * the registry's supervised adapter → HCI adapter recording → GetJobCapture stream → client, and
 * the CLI's `dfu --capture` and `jobs capture`. The file is checked with our own btsnoop reader
 * and decoded by BlueZ's btmon.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CaptureState, decodeError, downloadJobCapture, startDfu, Status } from '../../clients/ts/index.js';
import { assertDfuCapture, attWriteCommandsSent, btmonDecode, hex, parseBtsnoop } from '../helpers/btsnoop.js';
import { runCli, type CliRun } from '../helpers/run-process.js';
import { addressTarget, drain, finished, startSimServer } from '../helpers/sim-server.js';
import { projectImage, projectZip } from '../helpers/project-packages.js';

/** The project's small application package (one data object; demo key, the simulator's default). */
const SMALL = await projectZip('app-small');
const SMALL_SIZE = (await projectImage('app-small')).size;
const TEST_TIMEOUT_MS = 60_000;
function cli(args: readonly string[], timeoutMs = 30_000): Promise<CliRun> {
  return runCli(['--json', ...args], { env: { BLEDFU_SERVER: '' }, timeoutMs });
}

describe('HCI capture of a DFU job over gRPC (simulator)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-job-capture-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('StartDfu(capture_hci) → GetJobCapture: a btsnoop file of the whole job that btmon decodes', { timeout: TEST_TIMEOUT_MS }, async () => {
    const s = await startSimServer();
    try {
      const r = await drain(
        startDfu(
          s.client,
          { package: { data: SMALL }, target: addressTarget(s.device().address.value), captureHci: true },
          { signal: AbortSignal.timeout(30_000) },
        ),
      );
      const f = finished(r.events);
      assert.equal(f?.result.success, true, String(r.error));
      const jobId = f?.jobId ?? '';
      const { job } = await s.client.getJob({ jobId });
      assert.equal(job?.capture?.state, CaptureState.CAPTURE_STATE_COMPLETE);
      assert.equal(job?.capture?.truncated, false);
      const bytes = await downloadJobCapture(s.client, jobId);
      assert.equal(bytes.length, job?.capture?.size);
      const file = parseBtsnoop(bytes);
      assertDfuCapture(file);
      // The image's bytes in Write Commands of at most 244 bytes: at least ⌈size / 244⌉ of them.
      assert.ok(SMALL_SIZE > 1_000);
      assert.ok(attWriteCommandsSent(file).length >= Math.ceil(SMALL_SIZE / 244));

      const path = join(dir, 'job.btsnoop');
      await writeFile(path, bytes);
      const decoded = await btmonDecode(path);
      if (decoded !== undefined) {
        assert.match(decoded, /HCI Command: Reset/);
        assert.match(decoded, /LE Create Connection/);
        assert.match(decoded, /ATT: Exchange MTU Request/);
      }
    } finally {
      await s.close();
    }
  });

  it('a failed job keeps its capture; a job started without one answers NOT_FOUND / CAPTURE_NOT_FOUND', { timeout: TEST_TIMEOUT_MS }, async () => {
    const s = await startSimServer();
    try {
      const nobody = addressTarget('F0:00:00:00:00:01');
      const failed = await drain(
        startDfu(s.client, { package: { data: SMALL }, target: nobody, captureHci: true, options: { scanTimeout: { seconds: 1, nanos: 0 } } }),
      );
      assert.equal(decodeError(failed.error).code, 'DEVICE_NOT_FOUND');
      const file = parseBtsnoop(await downloadJobCapture(s.client, finished(failed.events)?.jobId ?? ''));
      // It looked for the device: LE Set Scan Enable (opcode 0x200c) is in the capture.
      assert.ok(file.records.some((r) => r.sent && hex(r.data).startsWith('010c20')), 'LE Set Scan Enable sent');

      const plain = await drain(startDfu(s.client, { package: { data: SMALL }, target: nobody, options: { scanTimeout: { seconds: 1, nanos: 0 } } }));
      const plainId = finished(plain.events)?.jobId ?? '';
      assert.equal((await s.client.getJob({ jobId: plainId })).job?.capture, undefined);
      const e = decodeError(await downloadJobCapture(s.client, plainId).then(() => undefined, (x: unknown) => x));
      assert.equal(e.grpcCode, Status.NOT_FOUND);
      assert.equal(e.code, 'CAPTURE_NOT_FOUND');
    } finally {
      await s.close();
    }
  });

  it('CLI: dfu --capture saves the file when the job ends; jobs capture downloads the same bytes', { timeout: TEST_TIMEOUT_MS }, async () => {
    const s = await startSimServer();
    try {
      const pkg = join(dir, 'app-small.zip');
      await writeFile(pkg, SMALL);
      const saved = join(dir, 'cli.btsnoop');
      const run = await cli(['--server', s.address, 'dfu', pkg, '--address', s.device().address.value, '--capture', saved]);
      assert.equal(run.code, 0, run.stderr);
      const captureRecord = run.records.find((r) => r['type'] === 'capture');
      assert.ok(captureRecord, JSON.stringify(run.records.at(-1)));
      const jobId = String(captureRecord['jobId']);
      const bytes = await readFile(saved);
      assert.equal(captureRecord['size'], bytes.length);
      assertDfuCapture(parseBtsnoop(bytes));

      const again = join(dir, 'again.btsnoop');
      const dl = await cli(['--server', s.address, 'jobs', 'capture', jobId, again]);
      assert.equal(dl.code, 0, dl.stderr);
      assert.equal(Buffer.compare(await readFile(again), bytes), 0);

      // A failed job with --capture: the capture is saved, the exit code is the job's (3: not found).
      const failedFile = join(dir, 'failed.btsnoop');
      const failed = await cli(['--server', s.address, 'dfu', pkg, '--address', 'F0:00:00:00:00:01', '--scan-timeout', '1', '--capture', failedFile]);
      assert.equal(failed.code, 3, failed.stderr);
      assert.deepEqual(
        failed.records.slice(-2).map((r) => r['type']),
        ['capture', 'error'],
      );
      parseBtsnoop(await readFile(failedFile));
    } finally {
      await s.close();
    }
  });
});
