/**
 * Acceptance: a device that already holds the package's version ends its job UP_TO_DATE — not
 * FAILED — through every layer: the job's result (success, the refused image, the device back in
 * its application, nothing sent), the audit record, the jobs-by-result metric, and the CLI's text
 * and exit code. Only a version refusal of a one-image package counts: a debug package to a debug
 * bootloader skips the check and updates, and other refusals (hardware version; a version refusal
 * inside a multi-image package) stay failures.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditResult, decodeError, DeviceState, ImageType, JobState, startDfu } from '../../clients/ts/index.js';
import { EXIT } from '../../clients/cli/exitCodes.js';
import { AuditLog } from '../../server/audit/log.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { scrape } from '../helpers/prom-text.js';
import { projectImage, projectZip } from '../helpers/project-packages.js';
import { addressTarget, drain, finished, startSimServer, type SimServer } from '../helpers/sim-server.js';

const APP = await projectImage('app');
const APP_VERSION = APP.fwVersion;

/** A unit already updated on the line: a release bootloader that holds the package's version and refuses it again. */
const ALREADY_THERE = { debugBootloader: false, appVersion: APP_VERSION, acceptSameAppVersion: false } as const;

describe('a device already on the version: UP_TO_DATE (simulator)', () => {
  let s: SimServer;
  let dir: string;
  let audit: AuditLog;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-up-to-date-'));
    audit = AuditLog.open(join(dir, 'audit.jsonl')).log;
    s = await startSimServer(
      {
        devices: [
          ALREADY_THERE,
          // A debug bootloader holding a newer version: the (is_debug) project package skips the check.
          { debugBootloader: true, appVersion: APP_VERSION + 4 },
          // Same, but built for another board: a refusal that is not about the version.
          { ...ALREADY_THERE, hwVersion: 51 },
          // A release bootloader with a newer application: the bl-app package's bootloader goes in, its application is refused.
          { debugBootloader: false, appVersion: APP_VERSION + 4 },
          ALREADY_THERE,
        ],
      },
      { metricsListen: '127.0.0.1:0' },
      { kind: 'hci' },
      { audit },
    );
  });

  after(async () => {
    await s?.close();
    audit?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (index: number, zip: Uint8Array) =>
    drain(startDfu(s.client, { package: { data: zip }, target: addressTarget(s.device(index).address.value) }, { signal: AbortSignal.timeout(30_000) }));

  it('the job ends UP_TO_DATE with success, the refused image and the device back in its untouched application; audit and metrics say so', { timeout: 60_000 }, async () => {
    const before = s.device(0).images();
    const revisionBefore = s.device(0).firmwareRevision();
    const d = await run(0, await projectZip('app'));
    assert.equal(d.error, undefined, 'an up-to-date job is not an error for the client');
    const end = finished(d.events);
    assert.ok(end !== undefined);
    const r = end.result;
    assert.equal(r.state, JobState.JOB_STATE_UP_TO_DATE);
    assert.equal(r.success, true);
    assert.equal(r.error, undefined);
    assert.equal(r.refusedImage?.type, ImageType.IMAGE_TYPE_APPLICATION);
    assert.equal(r.refusedImage?.fwVersion, APP_VERSION);
    assert.equal(r.refusedImage?.sha256, APP.sha256);
    assert.equal(r.deviceState, DeviceState.DEVICE_STATE_APPLICATION, 'the Abort sent it back to its application');
    assert.equal(r.firmwareRevision, revisionBefore, 'it reports the firmware it kept');
    // Nothing half-done: no firmware byte went out, the application and its version are as they were.
    assert.equal(s.observed(0).dataBytes, 0);
    assert.equal(s.device(0).mode(), 'application');
    assert.deepEqual(s.device(0).images().application, before.application);
    assert.equal(s.device(0).images().appVersion, APP_VERSION);

    const records = (await s.client.listAuditRecords({ deviceAddress: s.device(0).address.value, result: AuditResult.AUDIT_RESULT_UNSPECIFIED, pageSize: 0, pageToken: '' })).records;
    assert.equal(records.length, 1);
    assert.equal(records[0]?.result, AuditResult.AUDIT_RESULT_UP_TO_DATE);
    assert.equal(records[0]?.errorCode, '');
    const filtered = (await s.client.listAuditRecords({ deviceAddress: '', result: AuditResult.AUDIT_RESULT_UP_TO_DATE, pageSize: 0, pageToken: '' })).records;
    assert.deepEqual(
      filtered.map((x) => x.jobId),
      [end.jobId],
    );

    assert.ok(s.metricsAddress !== undefined);
    const m = await scrape(s.metricsAddress);
    assert.equal(m.value('bledfu_dfu_jobs_total', { adapter: 'sim0', result: 'up-to-date', protocol: 'secure' }), 1);
    assert.equal(m.value('bledfu_dfu_jobs_total', { adapter: 'sim0', result: 'failed', protocol: 'secure' }), 0);
  });

  it('a debug package to a debug bootloader skips the version check and updates', { timeout: 60_000 }, async () => {
    const d = await run(1, await projectZip('app'));
    assert.equal(d.error, undefined);
    const r = finished(d.events)?.result;
    assert.equal(r?.state, JobState.JOB_STATE_SUCCEEDED);
    assert.equal(r?.refusedImage, undefined);
    assert.equal(s.device(1).images().application?.sha256, APP.sha256);
  });

  it('other refusals stay failures: a wrong hardware version, a version refusal inside a multi-image package', { timeout: 90_000 }, async () => {
    const hw = await run(2, await projectZip('app'));
    assert.equal(finished(hw.events)?.result.state, JobState.JOB_STATE_FAILED);
    const hwError = decodeError(hw.error);
    assert.equal(hwError.code, 'DFU_REMOTE_ERROR');
    assert.match(hwError.message, /HW_VERSION_FAILURE/);

    const multi = await run(3, await projectZip('bl-app'));
    const r = finished(multi.events)?.result;
    assert.equal(r?.state, JobState.JOB_STATE_FAILED);
    assert.equal(r?.refusedImage, undefined);
    const multiError = decodeError(multi.error);
    assert.equal(multiError.code, 'DFU_REMOTE_ERROR');
    assert.match(multiError.message, /FW_VERSION_FAILURE/);
  });

  it('bledfu dfu prints "already up to date" and exits 10; jobs show and --json say UP_TO_DATE', { timeout: 60_000 }, async () => {
    const zip = join(dir, 'app.zip');
    await writeFile(zip, await projectZip('app'));
    const address = s.device(4).address.value;
    const text = await cliInProcess(['--server', s.address, 'dfu', zip, '--address', address], { BLEDFU_SERVER: '' });
    assert.equal(text.code, EXIT.upToDate, text.stderr);
    assert.equal(EXIT.upToDate, 10);
    assert.match(text.stdout, /already up to date: the device refused the application image \(fw_version \d+\) as not newer than its own; application running/);
    assert.equal(text.stderr.includes('error'), false, text.stderr);

    const json = await cliInProcess(['--json', '--server', s.address, 'dfu', zip, '--address', address], { BLEDFU_SERVER: '' });
    assert.equal(json.code, EXIT.upToDate, json.stderr);
    const fin = json.records.find((x) => x['type'] === 'finished');
    assert.equal(fin?.['success'], true);
    const result = fin?.['result'] as Record<string, unknown> | undefined;
    assert.equal(result?.['state'], 'JOB_STATE_UP_TO_DATE');
    assert.equal((result?.['refusedImage'] as Record<string, unknown> | undefined)?.['type'], 'IMAGE_TYPE_APPLICATION');

    const jobId = String(fin?.['jobId']);
    const show = await cliInProcess(['--server', s.address, 'jobs', 'show', jobId], { BLEDFU_SERVER: '' });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /UP_TO_DATE/);
    assert.match(show.stdout, /already up to date/);
    const list = await cliInProcess(['--server', s.address, 'jobs', 'list'], { BLEDFU_SERVER: '' });
    assert.match(list.stdout, new RegExp(`${jobId}\\s+UP_TO_DATE`));
    const auditRun = await cliInProcess(['--server', s.address, 'audit', '--result', 'up-to-date'], { BLEDFU_SERVER: '' });
    assert.equal(auditRun.code, 0, auditRun.stderr);
    assert.equal(auditRun.stdout.trim().split('\n').filter((l) => l.includes('up-to-date')).length, 3, auditRun.stdout);
  });
});
