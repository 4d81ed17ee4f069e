/** Issue 16: the bounds on labels (StartDfuRequest.labels and the ListAuditRecords label filter). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuditResult } from '../../../proto/gen/bledfu/v1/audit.js';
import type { StartDfuRequest } from '../../../proto/gen/bledfu/v1/dfu.js';
import { isBledfuError } from '../../../server/common/errors.js';
import { LABEL_LIMITS, validateRequest } from '../../../server/rpc/validate.js';

const dfu = (labels: Record<string, string>): StartDfuRequest => ({
  package: { $case: 'packageId', packageId: 'ab' },
  target: undefined,
  adapterId: '',
  options: undefined,
  captureHci: false,
  labels,
});

function refused(labels: Record<string, string>, message: RegExp): void {
  assert.throws(
    () => validateRequest.startDfu(dfu(labels)),
    (e: unknown) => isBledfuError(e) && e.code === 'INVALID_ARGUMENT' && message.test(e.message) && /at most 16 labels/.test(e.remedy ?? ''),
    JSON.stringify(labels).slice(0, 80),
  );
}

describe('label bounds', () => {
  it('accepts up to 16 labels with 64-character keys and 256-byte values, empty values included', () => {
    const many = Object.fromEntries(Array.from({ length: LABEL_LIMITS.count }, (_, i) => [`k${i}`, 'v']));
    assert.doesNotThrow(() => validateRequest.startDfu(dfu(many)));
    assert.doesNotThrow(() => validateRequest.startDfu(dfu({ ['a'.repeat(64)]: 'é'.repeat(128), 'Work_order.v-2': '' })));
  });

  it('refuses a 17th label, a bad key, a long value and a control character, naming the label', () => {
    refused(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])), /^labels has 17 labels; the limit is 16$/);
    refused({ '': 'x' }, /^labels key "" is not 1 to 64 characters/);
    refused({ ['a'.repeat(65)]: 'x' }, /^labels key "a+"… is not 1 to 64 characters/);
    refused({ 'serial number': 'x' }, /^labels key "serial number" is not/);
    refused({ 'sérial': 'x' }, /^labels key "sérial" is not/);
    refused({ serial: 'é'.repeat(129) }, /^labels\[serial\] is 258 bytes long .*; the limit is 256 bytes$/);
    refused({ serial: 'SN-1\nforged,line' }, /^labels\[serial\] holds a control character/);
  });

  it('bounds the ListAuditRecords label filter and target name the same way', () => {
    const request = { deviceAddress: '', since: undefined, result: AuditResult.AUDIT_RESULT_UNSPECIFIED, pageSize: 0, pageToken: '', labels: {}, targetName: '', campaignId: '' };
    assert.doesNotThrow(() => validateRequest.listAuditRecords({ ...request, labels: { serial: 'SN-1' }, targetName: 'SENSOR-1' }));
    assert.throws(() => validateRequest.listAuditRecords({ ...request, labels: { 'a b': '1' } }), (e: unknown) => isBledfuError(e) && e.code === 'INVALID_ARGUMENT');
    assert.throws(() => validateRequest.listAuditRecords({ ...request, targetName: 'n'.repeat(249) }), (e: unknown) => isBledfuError(e) && /^target_name is 249 bytes/.test(e.message));
  });
});
