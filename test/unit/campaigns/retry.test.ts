import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRetryable } from '../../../server/campaigns/retry.js';
import { BledfuError, type ErrorCode, type ErrorFacts } from '../../../server/common/errors.js';
import { EXT_ERROR, RESULT } from '../../../server/dfu/secure/controlPoint.js';

const err = (code: ErrorCode, facts?: ErrorFacts): BledfuError => new BledfuError(code, 'x', { layer: 'dfu', ...(facts === undefined ? {} : { facts }) });
const remote = (dfuResult: number, dfuExtended?: number): BledfuError => err('DFU_REMOTE_ERROR', { dfuResult, ...(dfuExtended === undefined ? {} : { dfuExtended }) });

describe('campaign retry classification', () => {
  it('retries what the air or the moment caused', () => {
    for (const code of ['LINK_LOST', 'CONNECT_FAILED', 'DEVICE_NOT_FOUND', 'ADAPTER_UNAVAILABLE', 'DFU_TIMEOUT', 'ATT_TIMEOUT', 'TIMEOUT'] as const) {
      assert.equal(isRetryable(err(code)), true, code);
    }
  });

  it('does not retry a device refusing the package: signature, key, hash, SoftDevice, hardware, type', () => {
    assert.equal(isRetryable(remote(RESULT.INVALID_OBJECT)), false, 'INVALID_OBJECT (wrong key)');
    assert.equal(isRetryable(remote(RESULT.INVALID_SIGNATURE)), false);
    assert.equal(isRetryable(remote(RESULT.UNSUPPORTED_TYPE)), false);
    for (const ext of [EXT_ERROR.SIGNATURE_MISSING, EXT_ERROR.WRONG_SIGNATURE_TYPE, EXT_ERROR.WRONG_HASH_TYPE, EXT_ERROR.SD_VERSION_FAILURE, EXT_ERROR.HW_VERSION_FAILURE, EXT_ERROR.INIT_COMMAND_INVALID]) {
      assert.equal(isRetryable(remote(RESULT.EXT_ERROR, ext)), false, `extended 0x${ext.toString(16)}`);
    }
  });

  it('retries a bootloader answer about the transfer, not the package', () => {
    assert.equal(isRetryable(remote(RESULT.OPERATION_NOT_PERMITTED)), true);
    assert.equal(isRetryable(remote(RESULT.INVALID_PARAMETER)), true);
    assert.equal(isRetryable(remote(RESULT.EXT_ERROR, EXT_ERROR.VERIFICATION_FAILED)), true);
    // SDK 15–17 answer OPERATION_FAILED for passing trouble (a flash operation that failed).
    assert.equal(isRetryable(remote(RESULT.OPERATION_FAILED)), true);
  });

  it('does not retry package errors, cancellations or internal errors', () => {
    for (const code of ['PACKAGE_INVALID', 'PACKAGE_LEGACY', 'PACKAGE_TOO_LARGE', 'CANCELLED', 'INTERNAL', 'GATT_SERVICE_MISSING'] as const) {
      assert.equal(isRetryable(err(code)), false, code);
    }
  });
});
