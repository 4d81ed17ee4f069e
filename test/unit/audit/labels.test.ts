/**
 * Issue 16, labels in the audit log: start and end records carry a job's labels, records written
 * before labels existed still read (with no labels), and ListAuditRecords filters by label pairs
 * (all must match, exactly) and by target name, paging across many jobs that do not match.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AuditResult, type ListAuditRecordsRequest } from '../../../proto/gen/bledfu/v1/audit.js';
import { AuditLog } from '../../../server/audit/log.js';
import type { AuditStartRecord } from '../../../server/audit/records.js';
import { listAuditRecords } from '../../../server/rpc/audit.js';

const dir = mkdtempSync(join(tmpdir(), 'bledfu-audit-labels-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const request: ListAuditRecordsRequest = { deviceAddress: '', since: undefined, result: AuditResult.AUDIT_RESULT_UNSPECIFIED, pageSize: 0, pageToken: '', labels: {}, targetName: '', campaignId: '' };

function start(i: number, extra: Partial<AuditStartRecord> = {}): AuditStartRecord {
  return {
    v: 1,
    type: 'start',
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    jobId: `j${i}`,
    adapterId: 'sim0',
    packageSha256: 'ab',
    packageBytes: 10,
    images: [{ kind: 'application', size: 10, sdReq: [], sha256: 'cd' }],
    ...extra,
  };
}

describe('audit labels', () => {
  it('reads records written before labels existed, with no labels, beside records that have them', async () => {
    const path = join(dir, 'old.jsonl');
    // Lines exactly as a server before issue 16 wrote them.
    appendFileSync(
      path,
      '{"v":1,"type":"start","time":"2026-01-01T00:00:00.000Z","jobId":"old","adapterId":"sim0","deviceAddress":"AA:00:00:00:00:01","packageSha256":"ab","packageBytes":10,"images":[{"kind":"application","size":10,"sdReq":[],"sha256":"cd"}],"requester":"127.0.0.1:5000","peer":"127.0.0.1:5000"}\n' +
        '{"v":1,"type":"end","time":"2026-01-01T00:00:05.000Z","jobId":"old","result":"succeeded","deviceAddress":"AA:00:00:00:00:01","durationMs":5000,"bytesSent":10,"bytesTotal":10}\n',
    );
    const { log, recovery } = AuditLog.open(path);
    assert.equal(recovery.damagedCount, 0);
    log.append(start(1, { labels: { serial: 'SN-1' } }));
    log.append({ v: 1, type: 'end', time: '2026-01-01T00:00:09.000Z', jobId: 'j1', result: 'failed', bytesTotal: 10, labels: { serial: 'SN-1' } });
    const all = await listAuditRecords(log, request);
    assert.deepEqual(
      all.records.map((r) => [r.jobId, r.result, r.labels]),
      [
        ['old', AuditResult.AUDIT_RESULT_SUCCEEDED, {}],
        ['j1', AuditResult.AUDIT_RESULT_FAILED, { serial: 'SN-1' }],
      ],
    );
    const bySerial = await listAuditRecords(log, { ...request, labels: { serial: 'SN-1' } });
    assert.deepEqual(bySerial.records.map((r) => r.jobId), ['j1'], 'an old record never matches a label filter');
    log.close();
  });

  it('filters by every given label pair and by target name, exactly, with the other filters', async () => {
    const { log } = AuditLog.open(join(dir, 'filter.jsonl'));
    log.append(start(0, { labels: { serial: 'SN-1', work_order: 'WO-7' }, targetName: 'SENSOR-1' }));
    log.append(start(1, { labels: { serial: 'SN-2', work_order: 'WO-7' }, targetName: 'SENSOR-2' }));
    log.append(start(2, { labels: { serial: 'sn-1', work_order: 'WO-7' } }));
    log.append(start(3, { labels: { work_order: 'WO-7' } }));
    log.append({ v: 1, type: 'end', time: '2026-01-01T00:01:00.000Z', jobId: 'j1', result: 'succeeded', bytesTotal: 10 });
    const ids = async (r: Partial<ListAuditRecordsRequest>): Promise<string[]> => (await listAuditRecords(log, { ...request, ...r })).records.map((x) => x.jobId);
    assert.deepEqual(await ids({ labels: { work_order: 'WO-7' } }), ['j0', 'j1', 'j2', 'j3']);
    assert.deepEqual(await ids({ labels: { serial: 'SN-1' } }), ['j0'], 'values compare case sensitively');
    assert.deepEqual(await ids({ labels: { serial: 'SN-1', work_order: 'WO-8' } }), [], 'every pair must match');
    assert.deepEqual(await ids({ labels: { work_order: 'WO-7' }, result: AuditResult.AUDIT_RESULT_SUCCEEDED }), ['j1']);
    assert.deepEqual(await ids({ targetName: 'SENSOR-2' }), ['j1']);
    assert.deepEqual(await ids({ targetName: 'SENSOR' }), [], 'the name matches exactly, not as a prefix');
    assert.deepEqual(await ids({ labels: { toString: 'x' } }), [], 'a key is looked up as the record\'s own, never inherited');
    log.close();
  });

  it("an interrupted job's end record, written at the next start, carries the labels of its start", () => {
    const path = join(dir, 'interrupted.jsonl');
    const first = AuditLog.open(path).log;
    first.append(start(0, { labels: { serial: 'SN-9' } }));
    first.append(start(1));
    first.close();
    const { log, recovery } = AuditLog.open(path);
    assert.deepEqual(
      recovery.interrupted.map((r) => [r.jobId, r.result, r.labels]),
      [
        ['j0', 'interrupted', { serial: 'SN-9' }],
        ['j1', 'interrupted', undefined],
      ],
    );
    log.close();
  });

  it('pages a label filter across many jobs that do not match, with stable tokens and an empty token on the last page', async () => {
    const { log } = AuditLog.open(join(dir, 'pages.jsonl'));
    // 700 jobs, every 50th one of work order WO-1: the matches lie in more than one read batch (512 start records).
    for (let i = 0; i < 700; i++) log.append(start(i, { labels: { work_order: i % 50 === 0 ? 'WO-1' : 'WO-2' } }));
    const seen: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await listAuditRecords(log, { ...request, labels: { work_order: 'WO-1' }, pageSize: 4, pageToken });
      seen.push(...page.records.map((r) => r.jobId));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== '' && pages < 10);
    assert.deepEqual(seen, Array.from({ length: 14 }, (_, k) => `j${k * 50}`));
    assert.equal(pages, 4, '14 matches in pages of 4; the last page says it is the last');
    log.close();
  });
});
