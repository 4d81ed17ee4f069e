/**
 * A legacy DFU job names its protocol everywhere a user or a script looks (issue 17): the CLI's
 * `dfu` header line and --json records, `jobs list`/`jobs show`, ListJobs, the audit records (file,
 * ListAuditRecords, `audit` text and CSV) and the DFU job metrics. The whole server runs on the
 * accelerated simulator with an Adafruit-style legacy device; the package is the project's own
 * application image made into an adafruit-nrfutil style package with makeLegacyPackage.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditResult, DfuProtocol } from '../../clients/ts/index.js';
import { AuditLog } from '../../server/audit/log.js';
import { makeLegacyPackage } from '../../server/dfu/package/legacyGenerate.js';
import { ADAFRUIT } from '../../server/dfu/package/legacyInitPacket.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { projectImage } from '../helpers/project-packages.js';
import { scrape } from '../helpers/prom-text.js';
import { startSimServer, type SimServer } from '../helpers/sim-server.js';

type Json = Record<string, unknown>;

describe('a legacy DFU job names its protocol (CLI, ListJobs, audit, metrics on the simulator)', { timeout: 120_000 }, () => {
  let s: SimServer;
  let dir: string;
  let auditPath: string;
  let audit: AuditLog;
  let zip: string;
  let jobId: string;
  let dfuText: string;
  const cli = (...args: string[]) => cliInProcess(['--server', s.address, ...args], { BLEDFU_SERVER: '' });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-legacy-naming-'));
    auditPath = join(dir, 'audit.jsonl');
    audit = AuditLog.open(auditPath).log;
    s = await startSimServer({ devices: [{ kind: 'legacy-adafruit' }] }, { metricsListen: '127.0.0.1:0' }, { kind: 'hci' }, { audit });
    const app = await projectImage('app');
    zip = join(dir, 'adafruit-app.zip');
    await writeFile(zip, await makeLegacyPackage({ application: app.bin, deviceType: ADAFRUIT.DEVICE_TYPE, applicationVersion: 7 }));
    const run = await cli('dfu', zip, '--address', s.device().address.value);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    dfuText = run.stdout;
    jobId = /^job (\S+) on adapter/m.exec(dfuText)?.[1] ?? '';
    assert.notEqual(jobId, '', dfuText);
  });

  after(async () => {
    await s?.close();
    audit?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('bledfu dfu says legacy DFU in its header line; jobs list and jobs show say protocol=legacy; ListJobs says DFU_PROTOCOL_LEGACY', async () => {
    assert.match(dfuText, new RegExp(`^job ${jobId} on adapter sim0: legacy DFU \\(SDK ≤ 11 / Adafruit\\), 1 image\\(s\\)$`, 'm'));
    assert.match((await cli('jobs', 'list')).stdout, new RegExp(`^${jobId} +SUCCEEDED .* adapter=sim0 protocol=legacy `, 'm'));
    assert.match((await cli('jobs', 'show', jobId)).stdout, new RegExp(`^${jobId} .* protocol=legacy `, 'm'));
    const { jobs } = await s.client.listJobs({ activeOnly: false, campaignId: '' });
    assert.deepEqual(
      jobs.map((j) => [j.jobId, j.protocol, j.result?.protocol]),
      [[jobId, DfuProtocol.DFU_PROTOCOL_LEGACY, DfuProtocol.DFU_PROTOCOL_LEGACY]],
    );
    const shown = (await cliInProcess(['--json', '--server', s.address, 'jobs', 'show', jobId], { BLEDFU_SERVER: '' })).records[0] as Json;
    assert.equal((shown['job'] as Json)['protocol'], 'DFU_PROTOCOL_LEGACY');
  });

  it("the audit log's start and end records, ListAuditRecords, bledfu audit and its CSV say legacy", async () => {
    const lines = (await readFile(auditPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Json);
    assert.deepEqual(
      lines.map((r) => [r['type'], r['jobId'], r['protocol']]),
      [
        ['start', jobId, 'legacy'],
        ['end', jobId, 'legacy'],
      ],
    );
    const { records } = await s.client.listAuditRecords({ pageSize: 0, pageToken: '', deviceAddress: '', result: AuditResult.AUDIT_RESULT_UNSPECIFIED, labels: {}, targetName: '', campaignId: '' });
    assert.deepEqual(
      records.map((r) => [r.jobId, r.result, r.protocol]),
      [[jobId, AuditResult.AUDIT_RESULT_SUCCEEDED, DfuProtocol.DFU_PROTOCOL_LEGACY]],
    );
    assert.match((await cli('audit')).stdout, new RegExp(`job=${jobId} adapter=sim0 protocol=legacy `));
    const [header, line] = (await cli('audit', '--csv')).stdout.trim().split('\n');
    assert.equal(line?.split(',')[header?.split(',').indexOf('protocol') ?? -1], 'legacy');
  });

  it('the DFU job counter and duration histogram count it under protocol="legacy", none under "secure"', async () => {
    assert.ok(s.metricsAddress !== undefined);
    const m = await scrape(s.metricsAddress);
    const legacy = { adapter: 'sim0', protocol: 'legacy' };
    assert.equal(m.value('bledfu_dfu_jobs_total', { ...legacy, result: 'succeeded' }), 1);
    assert.equal(m.value('bledfu_dfu_jobs_total', { adapter: 'sim0', protocol: 'secure', result: 'succeeded' }), 0);
    assert.equal(m.value('bledfu_dfu_duration_seconds_count', { ...legacy, result: 'succeeded' }), 1);
  });
});
