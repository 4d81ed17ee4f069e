import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ButtonlessMode } from '../../../proto/gen/bledfu/v1/dfu.js';
import { parseAddress } from '../../../server/ble/address.js';
import type { Advertisement } from '../../../server/ble/types.js';
import { hasCode } from '../../../server/common/errors.js';
import { DEFAULT_DFU_OPTIONS } from '../../../server/dfu/types.js';
import { dfuOptionsFromProto } from '../../../server/rpc/mapJobs.js';
import { targetFromProto } from '../../../server/rpc/mapBle.js';
import { compileFilter } from '../../../server/rpc/scan.js';
import { DURATION_RANGES, msFromDuration, retriesFromProto, RETRIES_MAX } from '../../../server/rpc/validate.js';

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
      retries: undefined,
      buttonless: ButtonlessMode.BUTTONLESS_MODE_UNSPECIFIED,
      scanTimeout: undefined,
      requestTimeout: undefined,
      disableResume: false,
      skipIfFirmwareRevision: '',
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
      skipIfFirmwareRevision: '',
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
  const range = { field: 'timeout', minMs: 100, maxMs: 2_000 };
  const refused = (d: { seconds: number; nanos: number }, message: RegExp) =>
    assert.throws(
      () => msFromDuration(d, 7, range),
      (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && message.test(e.message) && /100 ms to 2 s/.test(e.message),
      JSON.stringify(d),
    );

  it('takes the fallback for unset or zero, and milliseconds within the range', () => {
    assert.equal(msFromDuration(undefined, 7, range), 7);
    assert.equal(msFromDuration({ seconds: 0, nanos: 0 }, 7, range), 7);
    assert.equal(msFromDuration({ seconds: 0, nanos: 100_000_000 }, 7, range), 100);
    assert.equal(msFromDuration({ seconds: 1, nanos: 500_000_000 }, 7, range), 1_500);
    assert.equal(msFromDuration({ seconds: 2, nanos: 0 }, 7, range), 2_000);
  });

  it('refuses negative, malformed and out-of-range durations, naming the field and the range', () => {
    refused({ seconds: -5, nanos: 0 }, /^timeout of -5 s is negative/);
    refused({ seconds: 0, nanos: -1 }, /^timeout of -0\.000000001 s is negative/);
    refused({ seconds: 0, nanos: 1 }, /^timeout of 0\.000000001 s is out of range/);
    refused({ seconds: 0, nanos: 99_999_999 }, /out of range/);
    refused({ seconds: 2, nanos: 1_000_000 }, /^timeout of 2\.001 s is out of range/);
    refused({ seconds: 1, nanos: 1_000_000_000 }, /not a valid duration/);
    refused({ seconds: 1.5, nanos: 0 }, /not a valid duration/);
    refused({ seconds: Number.MAX_SAFE_INTEGER + 2, nanos: 0 }, /not a valid duration/);
  });

  it('bounds the request durations of the contract', () => {
    assert.deepEqual(
      [DURATION_RANGES.scanDuration, DURATION_RANGES.scanTimeout, DURATION_RANGES.requestTimeout].map((r) => [r.minMs, r.maxMs]),
      [
        [10, 86_400_000],
        [100, 3_600_000],
        [1_000, 600_000],
      ],
    );
    // Every maximum stays below what a Node timer can wait (2^31-1 ms); a longer one fires at once.
    for (const r of Object.values(DURATION_RANGES)) assert.ok(r.maxMs < 2 ** 31 - 1, r.field);
    assert.throws(
      () => dfuOptionsFromProto({ ...DEFAULTS, scanTimeout: { seconds: 30 * 86_400, nanos: 0 } }),
      (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /scan_timeout/.test(e.message),
    );
    assert.throws(
      () => dfuOptionsFromProto({ ...DEFAULTS, requestTimeout: { seconds: 0, nanos: 1 } }),
      (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /request_timeout/.test(e.message),
    );
  });

  it('bounds retries to 0..RETRIES_MAX, unset meaning the default and 0 meaning no retries', () => {
    assert.equal(retriesFromProto(undefined, 3), 3);
    assert.equal(retriesFromProto(0, 3), 0);
    assert.equal(dfuOptionsFromProto({ ...DEFAULTS, retries: 0 }).retries, 0);
    assert.equal(dfuOptionsFromProto({ ...DEFAULTS, retries: undefined }).retries, DEFAULT_DFU_OPTIONS.retries);
    assert.equal(retriesFromProto(RETRIES_MAX, 3), RETRIES_MAX);
    assert.throws(() => retriesFromProto(RETRIES_MAX + 1, 3), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /0 to 100/.test(e.message));
    assert.throws(() => dfuOptionsFromProto({ ...DEFAULTS, retries: 4_294_967_295 }), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'));
  });

  it('skip_if_firmware_revision: empty never skips; a revision up to 64 bytes is kept as given; longer is INVALID_ARGUMENT', () => {
    assert.equal(dfuOptionsFromProto({ ...DEFAULTS }).skipIfFirmwareRevision, undefined);
    assert.equal(dfuOptionsFromProto({ ...DEFAULTS, skipIfFirmwareRevision: ' app v2 ' }).skipIfFirmwareRevision, ' app v2 ');
    assert.equal(dfuOptionsFromProto({ ...DEFAULTS, skipIfFirmwareRevision: 'r'.repeat(64) }).skipIfFirmwareRevision, 'r'.repeat(64));
    // 22 three-byte characters: 66 bytes.
    assert.throws(
      () => dfuOptionsFromProto({ ...DEFAULTS, skipIfFirmwareRevision: '€'.repeat(22) }),
      (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /skip_if_firmware_revision/.test(e.message),
    );
  });
});

const DEFAULTS = {
  prn: 0,
  mtu: 0,
  retries: undefined,
  buttonless: ButtonlessMode.BUTTONLESS_MODE_UNSPECIFIED,
  scanTimeout: undefined,
  requestTimeout: undefined,
  disableResume: false,
  skipIfFirmwareRevision: '',
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
