import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AuditResult } from '../../../proto/gen/bledfu/v1/audit.js';
import { ImageType } from '../../../proto/gen/bledfu/v1/dfu.js';
import { AuditLog } from '../../../server/audit/log.js';
import { isBledfuError } from '../../../server/common/errors.js';
import { listAuditRecords } from '../../../server/rpc/audit.js';

const dir = mkdtempSync(join(tmpdir(), 'bledfu-audit-rpc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function filledLog(): AuditLog {
  const { log } = AuditLog.open(join(dir, `${Math.random()}.jsonl`));
  for (let i = 0; i < 3; i++) {
    log.append({ v: 1, type: 'start', time: `2026-01-0${i + 1}T00:00:00.000Z`, jobId: `j${i}`, adapterId: 'sim0', deviceAddress: 'AA:00:00:00:00:01', packageSha256: 'ab', packageBytes: 10, images: [{ kind: 'application', size: 10, fwVersion: 7, sdReq: [0x100], sha256: 'cd' }] });
  }
  log.append({ v: 1, type: 'end', time: '2026-01-01T00:00:09.000Z', jobId: 'j0', result: 'failed', durationMs: 9000, bytesSent: 4, bytesTotal: 10, errorCode: 'DFU_REMOTE_ERROR', errorMessage: 'refused', dfuResult: 'EXTENDED_ERROR', dfuExtendedError: 'FW_VERSION_FAILURE' });
  return log;
}

const request = { deviceAddress: '', since: undefined, result: AuditResult.AUDIT_RESULT_UNSPECIFIED, pageSize: 0, pageToken: '', labels: {}, targetName: '', campaignId: '' };

describe('ListAuditRecords', () => {
  it('maps records to proto, pages with tokens until the last page, and filters by result', async () => {
    const log = filledLog();
    const first = await listAuditRecords(log, { ...request, pageSize: 2 });
    assert.deepEqual(first.records.map((r) => r.jobId), ['j0', 'j1']);
    const second = await listAuditRecords(log, { ...request, pageSize: 2, pageToken: first.nextPageToken });
    assert.deepEqual([second.records.map((r) => r.jobId), second.nextPageToken], [['j2'], '']);
    const j0 = first.records[0];
    assert.deepEqual(
      [j0?.result, j0?.images[0]?.type, j0?.images[0]?.fwVersion, j0?.images[0]?.hwVersion, j0?.duration, j0?.bytesSent, j0?.dfuExtendedError, j0?.startedAt?.toISOString()],
      [AuditResult.AUDIT_RESULT_FAILED, ImageType.IMAGE_TYPE_APPLICATION, 7, undefined, { seconds: 9, nanos: 0 }, 4, 'FW_VERSION_FAILURE', '2026-01-01T00:00:00.000Z'],
    );
    assert.equal(first.records[1]?.result, AuditResult.AUDIT_RESULT_RUNNING);
    const running = await listAuditRecords(log, { ...request, result: AuditResult.AUDIT_RESULT_RUNNING, since: new Date('2026-01-03T00:00:00Z') });
    assert.deepEqual(running.records.map((r) => r.jobId), ['j2']);
    log.close();
  });

  it('refuses a page token it did not hand out', async () => {
    const log = filledLog();
    await assert.rejects(listAuditRecords(log, { ...request, pageToken: 'abc' }), (e: unknown) => isBledfuError(e) && e.code === 'INVALID_ARGUMENT');
    log.close();
  });
});
