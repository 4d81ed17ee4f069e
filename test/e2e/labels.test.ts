/**
 * Issue 16, "who got what": labels given to StartDfu (by the CLI's --label and by the TS client)
 * go into the job (GetJob, ListJobs, `jobs show`), into the audit start and end records on disk,
 * are filtered on by ListAuditRecords and `bledfu audit --label`, and come out of
 * `bledfu audit --csv` as columns of a line report that parses back; they never show up in the
 * server's metrics. On the accelerated simulator with the project's own package.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDfu } from '../../clients/ts/index.js';
import { AuditResult } from '../../proto/gen/bledfu/v1/audit.js';
import { AuditLog } from '../../server/audit/log.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { projectZip } from '../helpers/project-packages.js';
import { scrape } from '../helpers/prom-text.js';
import { addressTarget, drain, startSimServer, type SimServer } from '../helpers/sim-server.js';

/** RFC 4180 CSV (quoted fields with doubled quotes, LF or CRLF line ends) into rows of fields. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  assert.equal(quoted, false, 'the CSV ends inside a quoted field');
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return rows;
}

/** The CSV's lines as objects keyed by its header. */
function csvRecords(text: string): { header: string[]; records: Record<string, string>[] } {
  const [header, ...rows] = parseCsv(text);
  assert.ok(header !== undefined, 'no header line');
  for (const r of rows) assert.equal(r.length, header.length, `a line with ${r.length} fields under a header of ${header.length}: ${r.join('|')}`);
  return { header, records: rows.map((r) => Object.fromEntries(header.map((h, k) => [h, r[k] as string]))) };
}

/** A value that needs every kind of CSV quoting, and is a valid label value (no control character). */
const NOTE = 'rack 3, slot "B"';
const FIRST = { serial: 'SN-0001', work_order: 'WO-7', note: NOTE };
const SECOND = { serial: 'SN-0002', work_order: 'WO-8', operator: 'ana' };

describe('labels: StartDfu → job → audit → ListAuditRecords → bledfu audit --csv', () => {
  let s: SimServer;
  let dir: string;
  let auditPath: string;
  let audit: AuditLog;
  let zipFile: string;
  let firstJob: string;
  let secondJob: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bledfu-labels-'));
    auditPath = join(dir, 'audit.jsonl');
    audit = AuditLog.open(auditPath).log;
    zipFile = join(dir, 'app.zip');
    writeFileSync(zipFile, await projectZip('app-small'));
    s = await startSimServer({ devices: [{}, {}] }, { metricsListen: '127.0.0.1:0' }, { kind: 'hci' }, { audit });
  });
  after(async () => {
    await s.close();
    audit.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => cliInProcess(['--server', s.address, ...args]);

  it('the CLI and the TS client start jobs with labels; GetJob, ListJobs and jobs show have them', { timeout: 60_000 }, async () => {
    const r = await cli('--json', 'dfu', zipFile, '--address', s.device(0).address.value, '--label', `serial=${FIRST.serial}`, '--label', `work_order=${FIRST.work_order}`, '--label', `note=${NOTE}`);
    assert.equal(r.code, 0, r.stderr);
    const snapshot = r.records.find((x) => x['type'] === 'snapshot' || x['jobId'] !== undefined);
    assert.ok(snapshot !== undefined, r.stdout);
    const second = await drain(startDfu(s.client, { package: { data: await projectZip('app-small') }, target: addressTarget(s.device(1).address.value), labels: SECOND }, { signal: AbortSignal.timeout(30_000) }));
    assert.equal(second.error, undefined, String(second.error));
    const { jobs } = await s.client.listJobs({ activeOnly: false });
    assert.equal(jobs.length, 2);
    const byDevice = (i: number) => jobs.find((j) => j.deviceAddress?.value === s.device(i).address.value);
    firstJob = byDevice(0)?.jobId ?? assert.fail('no job on device 0');
    secondJob = byDevice(1)?.jobId ?? assert.fail('no job on device 1');
    assert.deepEqual(byDevice(0)?.labels, FIRST);
    assert.deepEqual((await s.client.getJob({ jobId: secondJob })).job?.labels, SECOND);
    const shown = await cli('jobs', 'show', firstJob);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^labels: note="rack 3, slot \\"B\\"" serial=SN-0001 work_order=WO-7$/m);
  });

  it('writes the labels in both audit records on disk, and ListAuditRecords filters by them', async () => {
    const lines = readFileSync(auditPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; jobId: string; labels?: unknown });
    for (const [job, labels] of [[firstJob, FIRST], [secondJob, SECOND]] as const) {
      assert.deepEqual(lines.filter((l) => l.jobId === job).map((l) => [l.type, l.labels]), [['start', labels], ['end', labels]]);
    }
    const request = { deviceAddress: '', since: undefined, result: AuditResult.AUDIT_RESULT_UNSPECIFIED, pageSize: 0, pageToken: '', labels: {}, targetName: '' };
    const all = await s.client.listAuditRecords(request);
    assert.deepEqual(all.records.map((r) => [r.jobId, r.result, r.labels]), [[firstJob, AuditResult.AUDIT_RESULT_SUCCEEDED, FIRST], [secondJob, AuditResult.AUDIT_RESULT_SUCCEEDED, SECOND]]);
    const wo7 = await s.client.listAuditRecords({ ...request, labels: { work_order: 'WO-7' } });
    assert.deepEqual(wo7.records.map((r) => r.jobId), [firstJob]);
    const none = await s.client.listAuditRecords({ ...request, labels: { work_order: 'WO-7', serial: 'SN-0002' } });
    assert.deepEqual(none.records, []);
  });

  it('bledfu audit --csv writes one parseable line per job with a column per label; --label narrows it', async () => {
    const r = await cli('audit', '--csv');
    assert.equal(r.code, 0, r.stderr);
    const { header, records } = csvRecords(r.stdout);
    assert.deepEqual(header.slice(-4), ['label.note', 'label.operator', 'label.serial', 'label.work_order']);
    assert.deepEqual(
      records.map((x) => [x['job_id'], x['result'], x['device_address'], x['label.serial'], x['label.work_order'], x['label.note'], x['label.operator'], x['error_code']]),
      [
        [firstJob, 'succeeded', s.device(0).address.value, 'SN-0001', 'WO-7', NOTE, '', ''],
        [secondJob, 'succeeded', s.device(1).address.value, 'SN-0002', 'WO-8', '', 'ana', ''],
      ],
    );
    for (const x of records) {
      assert.ok(Date.parse(x['ended_at'] as string) >= Date.parse(x['started_at'] as string), JSON.stringify(x));
      assert.match(x['duration_s'] as string, /^\d+\.\d{3}$/);
      assert.match(x['images'] as string, /^application v\d+$/);
    }
    const narrowed = csvRecords((await cli('audit', '--csv', '--label', 'work_order=WO-8')).stdout);
    assert.deepEqual(narrowed.records.map((x) => x['job_id']), [secondJob]);
    assert.deepEqual(narrowed.header.filter((h) => h.startsWith('label.')), ['label.operator', 'label.serial', 'label.work_order'], 'label columns of the listed jobs only');
    const text = await cli('audit', '--label', 'serial=SN-0001');
    assert.equal(text.stdout.trim().split('\n').length, 1, text.stdout);
    assert.match(text.stdout, new RegExp(`job=${firstJob}.* labels: note=.* serial=SN-0001 work_order=WO-7$`, 'm'));
  });

  it('refuses --csv with --json, and a label that is not key=value, before asking the server', async () => {
    const both = await cli('--json', 'audit', '--csv');
    assert.equal(both.code, 2, both.stdout);
    const bad = await cli('dfu', zipFile, '--address', s.device(0).address.value, '--label', 'serial');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--label "serial" is not key=value/);
  });

  it('never puts a label value into the metrics', async () => {
    assert.ok(s.metricsAddress !== undefined);
    const m = await scrape(s.metricsAddress);
    assert.ok((m.value('bledfu_dfu_jobs_total', { adapter: 'sim0', result: 'succeeded', protocol: 'secure' }) ?? 0) >= 2, 'the jobs were counted');
    const values = new Set([...Object.values(FIRST), ...Object.values(SECOND)]);
    const leaked = m.samples.filter((x) => Object.entries(x.labels).some(([k, v]) => values.has(v) || ['serial', 'work_order', 'operator', 'note'].includes(k)));
    assert.deepEqual(leaked, []);
  });
});
