/**
 * What an operator's controls do in the spawned CLI: Ctrl-C in `jobs watch` and `dfu`, `jobs
 * cancel` of an ended job, and the exit codes and remedies when every dongle has failed.
 *
 * Ctrl-C tests run on the rpc harness (a real server whose DFU runner the test drives): the job
 * waits at a known step while the signal arrives, so nothing depends on how fast the CLI starts.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { AddressType, jobStateName, startDfu, type BledfuClient, type DfuEvent } from '../../clients/ts/index.js';
import { openAdapters, type AdapterRegistry } from '../../server/backends/registry.js';
import { BledfuError } from '../../server/common/errors.js';
import { serveRegistry, testLogger, type ServedApp } from '../helpers/app-server.js';
import { fakePackageBytes } from '../helpers/fake-adapter-runner.js';
import { projectPackageFile } from '../helpers/project-packages.js';
import { DEVICE, startHarness, type Harness } from '../helpers/rpc-harness.js';
import { CLI_BIN, ndjson, runProcess, type CliRun } from '../helpers/run-process.js';

/** The CLI, with no server from the caller's environment; `records` only with --json. */
async function cli(args: readonly string[], onSpawn?: (child: ChildProcess) => void): Promise<CliRun> {
  const run = await runProcess(process.execPath, [CLI_BIN, ...args], {
    env: { ...process.env, BLEDFU_SERVER: '' },
    timeoutMs: 20_000,
    ...(onSpawn === undefined ? {} : { onSpawn }),
  });
  return { ...run, records: args.includes('--json') ? ndjson(run.stdout) : [] };
}

/** Resolves once `stream` has printed text matching `pattern` (what a person would wait to see). */
function printed(stream: Readable, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer): void => {
      text += d.toString();
      if (pattern.test(text)) {
        stream.off('data', onData);
        resolve();
      }
    };
    stream.on('data', onData);
    stream.once('end', () => (pattern.test(text) ? resolve() : reject(new Error(`never printed ${String(pattern)}; printed: ${text}`))));
  });
}

/** A spawned CLI and its process, to signal it while it runs. */
function spawnCli(args: readonly string[]): { readonly run: Promise<CliRun>; readonly child: Promise<ChildProcess> } {
  let resolveChild!: (c: ChildProcess) => void;
  const child = new Promise<ChildProcess>((resolve) => (resolveChild = resolve));
  return { run: cli(args, resolveChild), child };
}

/** Starts a job through the client library, as another user's script would; resolves with its id. */
async function startJob(client: BledfuClient): Promise<{ readonly jobId: string; readonly events: AsyncGenerator<DfuEvent> }> {
  const events = startDfu(client, {
    package: { data: fakePackageBytes(2048) },
    target: { selector: { $case: 'address', address: { value: DEVICE.value, type: AddressType.ADDRESS_TYPE_UNSPECIFIED } } },
  });
  const first = await events.next();
  assert.ok(first.done !== true && first.value.type === 'snapshot');
  return { jobId: first.value.jobId, events };
}

/** Reads a job stream to its end, keeping whatever error ends it (a failed job's status today). */
async function drainQuietly(events: AsyncGenerator<DfuEvent>): Promise<void> {
  try {
    for await (const _ of events);
  } catch {
    // the job's outcome is read with GetJob
  }
}

describe('bledfu CLI controls (spawned) against a real server', () => {
  let h: Harness;
  let dir: string;
  let pkgFile: string;
  before(async () => {
    h = await startHarness();
    dir = await mkdtemp(join(tmpdir(), 'bledfu-cli-control-'));
    pkgFile = join(dir, 'app.zip');
    await writeFile(pkgFile, fakePackageBytes(2048));
  });
  after(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('jobs cancel of a job that has ended says so with its final state and exits 9, in text and in --json', async () => {
    const n = h.runner.calls.length;
    const { jobId, events } = await startJob(h.client);
    (await h.runner.call(n)).succeed();
    await drainQuietly(events);

    const text = await cli(['--server', h.address, 'jobs', 'cancel', jobId]);
    assert.equal(text.code, 9, text.stderr);
    assert.match(text.stderr, new RegExp(`JOB_ALREADY_ENDED: job ${jobId} had already ended \\(SUCCEEDED\\); nothing was cancelled`));
    assert.match(text.stderr, new RegExp(`remedy: see bledfu jobs show ${jobId}`));
    assert.match(text.stdout, new RegExp(`^${jobId} +SUCCEEDED`, 'm'));
    assert.doesNotMatch(text.stdout, /cancel requested/);

    const json = await cli(['--server', h.address, '--json', 'jobs', 'cancel', jobId]);
    assert.equal(json.code, 9, json.stderr);
    assert.equal((json.records[0]?.['job'] as Record<string, unknown>)['state'], 'JOB_STATE_SUCCEEDED');
    const error = json.records.at(-1);
    assert.equal(error?.['type'], 'error');
    assert.equal(error?.['code'], 'JOB_ALREADY_ENDED');
    assert.equal(error?.['exitCode'], 9);

    const { job } = await h.client.getJob({ jobId });
    assert.equal(jobStateName(job?.state ?? 0), 'SUCCEEDED', 'the job is as it was');
  });

  it('jobs cancel of a running job cancels it (exit 0); cancelling it again says it had ended CANCELLED (exit 9)', async () => {
    const n = h.runner.calls.length;
    const { jobId, events } = await startJob(h.client);
    const run = await h.runner.call(n);
    const first = await cli(['--server', h.address, 'jobs', 'cancel', jobId]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`^cancel requested: ${jobId}`, 'm'));
    assert.equal(run.context.signal.aborted, true);
    await drainQuietly(events);
    const again = await cli(['--server', h.address, 'jobs', 'cancel', jobId]);
    assert.equal(again.code, 9, again.stderr);
    assert.match(again.stderr, /had already ended \(CANCELLED\); nothing was cancelled/);
  });

  it('jobs show prints a failed job\'s remedy in text mode, an adapter\'s included', async () => {
    const n = h.runner.calls.length;
    const { jobId, events } = await startJob(h.client);
    (await h.runner.call(n)).fail(
      new BledfuError('ADAPTER_UNAVAILABLE', 'dongle fake0 went away (unplugged?)', { layer: 'backend', remedy: 'plug it back in, then start the job again' }),
    );
    await drainQuietly(events);
    const r = await cli(['--server', h.address, 'jobs', 'show', jobId]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${jobId} +FAILED .* ADAPTER_UNAVAILABLE: dongle fake0 went away \\(unplugged\\?\\)\n`, 'm'));
    assert.match(r.stdout, /^remedy: plug it back in, then start the job again$/m);
  });

  it('Ctrl-C in jobs watch stops watching and never cancels: someone else\'s job runs on and succeeds', async () => {
    const n = h.runner.calls.length;
    const { jobId, events } = await startJob(h.client);
    const run = await h.runner.call(n);

    const text = spawnCli(['--server', h.address, 'jobs', 'watch', jobId]);
    const textChild = await text.child;
    await printed(textChild.stdout as Readable, new RegExp(`^job ${jobId} on adapter`, 'm'));
    textChild.kill('SIGINT');
    const stopped = await text.run;
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.equal(
      stopped.stderr,
      `stopped watching; job ${jobId} continues on the server (follow it again with: bledfu jobs watch ${jobId})\n`,
    );

    const json = spawnCli(['--server', h.address, '--json', 'jobs', 'watch', jobId]);
    const jsonChild = await json.child;
    await printed(jsonChild.stdout as Readable, /"type":"snapshot"/);
    jsonChild.kill('SIGINT');
    const stoppedJson = await json.run;
    assert.equal(stoppedJson.code, 130, stoppedJson.stderr);
    assert.match(stoppedJson.stderr, new RegExp(`^stopped watching; job ${jobId} continues on the server`));
    const last = stoppedJson.records.at(-1);
    assert.equal(last?.['type'], 'error');
    assert.equal(last?.['code'], 'INTERRUPTED');
    assert.equal(last?.['exitCode'], 130);

    assert.equal(run.context.signal.aborted, false, 'watching never cancels the job');
    run.succeed();
    await drainQuietly(events);
    const { job } = await h.client.getJob({ jobId });
    assert.equal(jobStateName(job?.state ?? 0), 'SUCCEEDED');
  });

  it('the first Ctrl-C in dfu says it cancels the job, then cancels it and waits for its end: exit 6, job CANCELLED', async () => {
    const n = h.runner.calls.length;
    const dfu = spawnCli(['--server', h.address, 'dfu', pkgFile, '--address', DEVICE.value]);
    const child = await dfu.child;
    const run = await h.runner.call(n);
    await printed(child.stdout as Readable, /^job \S+ on adapter/m);
    const jobId = h.app.jobs.list({ activeOnly: true })[0]?.id;
    assert.ok(jobId !== undefined);
    child.kill('SIGINT');
    const r = await dfu.run;
    assert.equal(r.code, 6, r.stderr);
    const notice = `Ctrl-C: cancelling job ${jobId} and waiting for it to end (the device is left able to resume); Ctrl-C again to stop waiting\n`;
    assert.ok(r.stderr.startsWith(notice), `said before doing it: ${r.stderr}`);
    assert.match(r.stderr, /^error: CANCELLED: job cancelled by a CancelJob request$/m);
    assert.doesNotMatch(r.stderr, /continues on the server/);
    assert.equal(run.context.signal.aborted, true);
    const { job } = await h.client.getJob({ jobId });
    assert.equal(jobStateName(job?.state ?? 0), 'CANCELLED');
  });

  it('a second Ctrl-C in dfu stops waiting at once (exit 130) and says the cancel was requested, never that the job continues', async () => {
    h.runner.holdCancel = true;
    try {
      const n = h.runner.calls.length;
      const dfu = spawnCli(['--server', h.address, '--json', 'dfu', pkgFile, '--address', DEVICE.value]);
      const child = await dfu.child;
      const run = await h.runner.call(n);
      await printed(child.stdout as Readable, /"type":"snapshot"/);
      const jobId = h.app.jobs.list({ activeOnly: true })[0]?.id;
      assert.ok(jobId !== undefined);
      const cancelled = new Promise<void>((resolve) => run.context.signal.addEventListener('abort', () => resolve(), { once: true }));
      child.kill('SIGINT');
      await printed(child.stderr as Readable, /Ctrl-C: cancelling job/);
      await cancelled;
      child.kill('SIGINT');
      const r = await dfu.run;
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, new RegExp(`^stopped waiting; job ${jobId} was asked to cancel and ends on the server \\(see how it ended with: bledfu jobs show ${jobId}\\)$`, 'm'));
      assert.doesNotMatch(r.stderr, /continues on the server/);
      const last = r.records.at(-1);
      assert.equal(last?.['code'], 'INTERRUPTED');
      assert.equal(last?.['exitCode'], 130);
      assert.ok(!r.records.some((x) => x['type'] === 'finished'), 'it stopped before the job ended');
      // The job ends as the server finishes cancelling it.
      run.fail(new BledfuError('CANCELLED', 'job cancelled by request', { layer: 'jobs' }));
      await h.app.jobs.whenDone(jobId);
      const { job } = await h.client.getJob({ jobId });
      assert.equal(jobStateName(job?.state ?? 0), 'CANCELLED');
    } finally {
      h.runner.holdCancel = false;
    }
  });
});

describe('bledfu CLI with every dongle failed', () => {
  let registry: AdapterRegistry;
  let served: ServedApp;
  let dir: string;
  let remedy: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-cli-no-dongle-'));
    // A serial port that does not exist: the server's only adapter cannot open.
    registry = await openAdapters([`nrf:${join(dir, 'no-such-dongle')}`], testLogger());
    const info = registry.list()[0]?.info();
    assert.equal(info?.state, 'failed');
    remedy = info.error?.remedy ?? '';
    assert.notEqual(remedy, '', 'the failed adapter has a remedy');
    served = await serveRegistry(registry, testLogger());
  });
  after(async () => {
    await served.close();
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('scan and dfu exit 5 (ADAPTER_UNAVAILABLE), not 3, and print the adapter\'s remedy in text mode', async () => {
    const pkg = await projectPackageFile('app');
    for (const args of [
      ['scan', '--duration', '1'],
      ['dfu', pkg, '--address', DEVICE.value],
    ]) {
      const text = await cli(['--server', served.address, ...args]);
      assert.equal(text.code, 5, `${args[0]}: ${text.stderr}`);
      assert.match(text.stderr, /error: ADAPTER_UNAVAILABLE: no adapter is ready: nrf0 failed \(/, args[0]);
      assert.ok(text.stderr.includes(`remedy: nrf0: ${remedy}`), `${args[0]} shows the dongle's remedy: ${text.stderr}`);

      const json = await cli(['--server', served.address, '--json', ...args]);
      assert.equal(json.code, 5, `${args[0]} --json: ${json.stderr}`);
      const error = json.records.at(-1);
      assert.equal(error?.['code'], 'ADAPTER_UNAVAILABLE');
      assert.equal(error?.['exitCode'], 5);
      assert.equal(error?.['remedy'], `nrf0: ${remedy}`);
    }
  });

  it('adapters shows the failed adapter\'s error and its remedy in text mode', async () => {
    const r = await cli(['--server', served.address, 'adapters']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^nrf0 .* failed .*SERIAL_PORT_NOT_FOUND: /m);
    assert.ok(r.stdout.includes(`\n  remedy: ${remedy}\n`), r.stdout);
  });
});
