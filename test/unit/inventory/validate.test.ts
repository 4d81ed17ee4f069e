/** InventoryRequest's bounds (rpc/validate.ts), checked before the handler listens. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InventoryRequest } from '../../../proto/gen/bledfu/v1/inventory.js';
import { hasCode } from '../../../server/common/errors.js';
import { validateRequest } from '../../../server/rpc/validate.js';

const BASE: InventoryRequest = { adapterIds: [], filter: undefined, duration: undefined, probe: false, maxDevices: 0 };
const FILTER = { name: '', namePrefix: '', address: '', serviceUuid: '', minRssi: undefined, dfuBootloaderOnly: false };

function refused(request: Partial<InventoryRequest>, message: RegExp): void {
  assert.throws(
    () => validateRequest.inventory({ ...BASE, ...request }),
    (e) => hasCode(e, 'INVALID_ARGUMENT') && message.test(e.message),
  );
}

describe('InventoryRequest bounds', () => {
  it('accepts the defaults and the edges: 100 ms, 60 s, 16 adapters, 1000 devices', () => {
    for (const r of [
      BASE,
      { ...BASE, duration: { seconds: 0, nanos: 100_000_000 } },
      { ...BASE, duration: { seconds: 60, nanos: 0 } },
      { ...BASE, adapterIds: Array.from({ length: 16 }, (_, i) => `hci${i}`) },
      { ...BASE, maxDevices: 1000 },
    ]) {
      assert.equal(validateRequest.inventory(r), r);
    }
  });
  it('refuses a duration under 100 ms, over 60 s or negative', () => {
    refused({ duration: { seconds: 0, nanos: 99_000_000 } }, /^duration of 0\.099 s is out of range: it must be 100 ms to 1 min$/);
    refused({ duration: { seconds: 61, nanos: 0 } }, /out of range: it must be 100 ms to 1 min/);
    refused({ duration: { seconds: -1, nanos: 0 } }, /negative/);
  });
  it('refuses more than 16 adapter ids, and an id over 64 bytes', () => {
    refused({ adapterIds: Array.from({ length: 17 }, (_, i) => `hci${i}`) }, /adapter_ids names 17 adapters; the limit is 16/);
    refused({ adapterIds: ['x'.repeat(65)] }, /adapter_ids is 65 bytes long/);
  });
  it('refuses max_devices over 1000, and a filter as Scan does', () => {
    refused({ maxDevices: 1001 }, /max_devices 1001 is out of range/);
    refused({ filter: { ...FILTER, namePrefix: 'n'.repeat(249) } }, /filter\.name_prefix is 249 bytes long/);
  });
});
