import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ButtonlessMode } from '../../../proto/gen/bledfu/v1/dfu.js';
import { parseAddress } from '../../../server/ble/address.js';
import type { Advertisement } from '../../../server/ble/types.js';
import { hasCode } from '../../../server/common/errors.js';
import { DEFAULT_DFU_OPTIONS } from '../../../server/dfu/types.js';
import { msFromDuration } from '../../../server/rpc/duration.js';
import { dfuOptionsFromProto } from '../../../server/rpc/mapJobs.js';
import { targetFromProto } from '../../../server/rpc/mapBle.js';
import { compileFilter } from '../../../server/rpc/scan.js';

const ad = (over: Partial<Advertisement>): Advertisement => ({
  address: parseAddress('F0:00:00:00:00:01'),
  rssi: -60,
  name: 'DfuTarg',
  serviceUuids: ['FE59'],
  manufacturerData: [],
  connectable: true,
  data: new Uint8Array(),
  receivedAt: 0,
  ...over,
});

describe('DFU options from proto', () => {
  it('takes DEFAULT_DFU_OPTIONS for unset fields', () => {
    assert.deepEqual(dfuOptionsFromProto(undefined), DEFAULT_DFU_OPTIONS);
    const o = dfuOptionsFromProto({
      prn: 0,
      mtu: 0,
      retries: 0,
      buttonless: ButtonlessMode.BUTTONLESS_MODE_UNSPECIFIED,
      scanTimeout: undefined,
      requestTimeout: undefined,
      disableResume: false,
    });
    assert.deepEqual(o, DEFAULT_DFU_OPTIONS);
  });

  it('maps set fields and rejects an impossible MTU', () => {
    const o = dfuOptionsFromProto({
      prn: 8,
      mtu: 100,
      retries: 5,
      buttonless: ButtonlessMode.BUTTONLESS_MODE_OFF,
      scanTimeout: { seconds: 2, nanos: 500_000_000 },
      requestTimeout: { seconds: 1, nanos: 0 },
      disableResume: true,
    });
    assert.deepEqual(
      { prn: o.prn, mtu: o.mtu, retries: o.retries, buttonless: o.buttonless, scan: o.scanTimeoutMs, req: o.requestTimeoutMs, noResume: o.disableResume },
      { prn: 8, mtu: 100, retries: 5, buttonless: 'off', scan: 2500, req: 1000, noResume: true },
    );
    assert.throws(
      () => dfuOptionsFromProto({ ...DEFAULTS, mtu: 1000 }),
      (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'),
    );
  });
});

describe('durations from proto', () => {
  it('refuses a duration longer than a timer can wait (2^31-1 ms) instead of letting it fire at once', () => {
    assert.equal(msFromDuration({ seconds: 2_147_483, nanos: 0 }, 7), 2_147_483_000);
    for (const seconds of [2_147_484, 30 * 86_400, Number.MAX_SAFE_INTEGER]) {
      assert.throws(
        () => msFromDuration({ seconds, nanos: 0 }, 7),
        (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /24 days/.test(e.message),
        String(seconds),
      );
    }
    assert.throws(
      () => dfuOptionsFromProto({ ...DEFAULTS, scanTimeout: { seconds: 30 * 86_400, nanos: 0 } }),
      (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'),
    );
  });
});

const DEFAULTS = {
  prn: 0,
  mtu: 0,
  retries: 0,
  buttonless: ButtonlessMode.BUTTONLESS_MODE_UNSPECIFIED,
  scanTimeout: undefined,
  requestTimeout: undefined,
  disableResume: false,
};

describe('targets', () => {
  it('requires a target and validates addresses', () => {
    assert.throws(() => targetFromProto(undefined), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'));
    assert.throws(() => targetFromProto({ selector: { $case: 'name', name: '  ' } }), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'));
    assert.throws(
      () => targetFromProto({ selector: { $case: 'address', address: { value: 'nope', type: 0 } } }),
      (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'),
    );
    assert.deepEqual(targetFromProto({ selector: { $case: 'address', address: { value: 'f0-00-00-00-00-01', type: 0 } } }), {
      kind: 'address',
      address: { value: 'F0:00:00:00:00:01', type: 'random' },
    });
  });
});

describe('scan filter', () => {
  const base = { name: '', namePrefix: '', address: '', serviceUuid: '', minRssi: undefined, dfuBootloaderOnly: false };
  it('requires every set field to match', () => {
    assert.equal(compileFilter(undefined)(ad({})), true);
    assert.equal(compileFilter({ ...base, name: 'DfuTarg' })(ad({})), true);
    assert.equal(compileFilter({ ...base, name: 'Dfu' })(ad({})), false);
    assert.equal(compileFilter({ ...base, namePrefix: 'Dfu' })(ad({})), true);
    assert.equal(compileFilter({ ...base, address: 'f0:00:00:00:00:01' })(ad({})), true);
    assert.equal(compileFilter({ ...base, serviceUuid: '0000fe59-0000-1000-8000-00805f9b34fb' })(ad({})), true);
    assert.equal(compileFilter({ ...base, minRssi: -50 })(ad({})), false);
    assert.equal(compileFilter({ ...base, dfuBootloaderOnly: true })(ad({ serviceUuids: ['180D'] })), false);
  });
  it('rejects a malformed address or UUID up front', () => {
    assert.throws(() => compileFilter({ ...base, address: 'xx' }), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'));
    assert.throws(() => compileFilter({ ...base, serviceUuid: 'zz' }), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'));
  });
});
