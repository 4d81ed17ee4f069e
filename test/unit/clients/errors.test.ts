/**
 * The TS client's decodeError reads what a server puts in a failed call's google.rpc.Status: the
 * full bledfu.v1.ErrorDetail when present (reason, message, remedy, protocol codes as numbers),
 * with the layer and every metadata entry from the ErrorInfo beside it; an ErrorInfo alone still
 * decodes (a server from before ErrorDetail was in the status).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Status } from 'nice-grpc';
import { Any, ErrorInfo, RichClientError } from 'nice-grpc-error-details';
import { ErrorDetail } from '../../../proto/gen/bledfu/v1/common.js';
import { decodeError } from '../../../clients/ts/errors.js';

const PATH = '/bledfu.v1.BledfuService/StartDfu';

const info = ErrorInfo.fromPartial({
  reason: 'DFU_REMOTE_ERROR',
  domain: 'bledfu',
  metadata: { remedy: 'sign the package', layer: 'dfu', dfu_result: '11', dfu_result_name: 'EXT_ERROR', context_opcode: 'EXECUTE' },
});

const detailAny = (detail: Partial<ErrorDetail>): Any =>
  Any.fromPartial({ typeUrl: 'type.googleapis.com/bledfu.v1.ErrorDetail', value: ErrorDetail.encode(ErrorDetail.fromPartial(detail)).finish() });

describe('decodeError (TS client)', () => {
  it('prefers the ErrorDetail in the status and keeps the ErrorInfo layer and metadata', () => {
    const e = new RichClientError(PATH, Status.FAILED_PRECONDITION, 'status text', [
      info,
      detailAny({
        reason: 'DFU_REMOTE_ERROR',
        message: 'the device refused the init packet',
        remedy: 'sign the package with the key the bootloader holds',
        dfuResult: 11,
        dfuResultName: 'EXT_ERROR',
        dfuExtendedError: 12,
        dfuExtendedErrorName: 'SIGNATURE_MISSING',
      }),
    ]);
    const d = decodeError(e);
    assert.equal(d.code, 'DFU_REMOTE_ERROR');
    assert.equal(d.grpcCode, Status.FAILED_PRECONDITION);
    assert.equal(d.grpcCodeName, 'FAILED_PRECONDITION');
    assert.equal(d.message, 'the device refused the init packet');
    assert.equal(d.remedy, 'sign the package with the key the bootloader holds', 'the remedy comes from the ErrorDetail');
    assert.equal(d.layer, 'dfu');
    assert.equal(d.dfuResult, 11);
    assert.equal(d.dfuExtended, 12, 'a fact only the ErrorDetail carried');
    assert.equal(d.dfuExtendedName, 'SIGNATURE_MISSING');
    assert.equal(d.metadata['context_opcode'], 'EXECUTE');
  });

  it('decodes an ErrorInfo alone as before', () => {
    const d = decodeError(new RichClientError(PATH, Status.FAILED_PRECONDITION, 'rejected', [info]));
    assert.equal(d.code, 'DFU_REMOTE_ERROR');
    assert.equal(d.message, 'rejected');
    assert.equal(d.remedy, 'sign the package');
    assert.equal(d.dfuResult, 11);
    assert.equal(d.dfuExtended, undefined);
  });

  it('ignores an Any of another type', () => {
    const other = Any.fromPartial({ typeUrl: 'type.googleapis.com/example.v1.Other', value: new Uint8Array([8, 1]) });
    const d = decodeError(new RichClientError(PATH, Status.NOT_FOUND, 'no job', [other, ErrorInfo.fromPartial({ reason: 'JOB_NOT_FOUND', domain: 'bledfu' })]));
    assert.equal(d.code, 'JOB_NOT_FOUND');
  });
});
