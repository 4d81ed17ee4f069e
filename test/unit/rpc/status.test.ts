import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Status, ServerError } from 'nice-grpc-common';
import { Any, ErrorInfo, RichServerError } from 'nice-grpc-error-details';
import { pino } from 'pino';
import { BledfuError, ERROR_CODES } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';
import { ErrorDetail } from '../../../proto/gen/bledfu/v1/common.js';
import { Status as RpcStatus } from '../../../proto/gen/google/rpc/status.js';
import { encodeStatusDetails, errorDetailFor, statusForCode, STATUS_BY_CODE, toServerError } from '../../../server/rpc/status.js';

describe('error code → gRPC status', () => {
  it('maps every code, following the documented families', () => {
    for (const code of ERROR_CODES) assert.equal(typeof STATUS_BY_CODE[code], 'number', code);
    assert.equal(statusForCode('PACKAGE_INVALID'), Status.INVALID_ARGUMENT);
    assert.equal(statusForCode('PACKAGE_LEGACY'), Status.INVALID_ARGUMENT);
    assert.equal(statusForCode('DEVICE_NOT_FOUND'), Status.NOT_FOUND);
    assert.equal(statusForCode('JOB_NOT_FOUND'), Status.NOT_FOUND);
    assert.equal(statusForCode('DFU_REMOTE_ERROR'), Status.FAILED_PRECONDITION);
    assert.equal(statusForCode('CANCELLED'), Status.CANCELLED);
    assert.equal(statusForCode('ATT_TIMEOUT'), Status.DEADLINE_EXCEEDED);
    assert.equal(statusForCode('DFU_TIMEOUT'), Status.DEADLINE_EXCEEDED);
    assert.equal(statusForCode('SERIAL_PORT_BUSY'), Status.UNAVAILABLE);
    assert.equal(statusForCode('LINK_LOST'), Status.UNAVAILABLE);
    assert.equal(statusForCode('ADAPTER_BUSY'), Status.RESOURCE_EXHAUSTED);
    assert.equal(statusForCode('PACKAGE_READERS_BUSY'), Status.RESOURCE_EXHAUSTED);
  });

  it('puts the code, remedy, layer and protocol facts into ErrorInfo as decimal strings', () => {
    const e = new BledfuError('DFU_REMOTE_ERROR', 'rejected', {
      layer: 'dfu',
      remedy: 'sign the package',
      facts: { dfuResult: 0x0b, dfuResultName: 'EXT_ERROR', dfuExtended: 0x0c, dfuExtendedName: 'SIGNATURE_MISSING', attError: 0x80, hciStatus: 0x13, context: { port: 'ttyACM0' } },
    });
    const s = toServerError(e, silentLogger());
    assert.ok(s instanceof RichServerError);
    assert.equal(s.code, Status.FAILED_PRECONDITION);
    assert.equal(s.details, 'rejected');
    const [info] = s.extra;
    assert.ok(info !== undefined && info.$type === 'google.rpc.ErrorInfo');
    assert.equal(info.domain, 'bledfu');
    assert.equal(info.reason, 'DFU_REMOTE_ERROR');
    assert.deepEqual(info.metadata, {
      remedy: 'sign the package',
      layer: 'dfu',
      dfu_result: '11',
      dfu_result_name: 'EXT_ERROR',
      dfu_extended_error: '12',
      dfu_extended_error_name: 'SIGNATURE_MISSING',
      att_error: '128',
      hci_status: '19',
      context_port: 'ttyACM0',
    });
  });

  it('puts the full ErrorDetail after the ErrorInfo, as an Any of type bledfu.v1.ErrorDetail', () => {
    const e = new BledfuError('DFU_REMOTE_ERROR', 'rejected', {
      layer: 'dfu',
      remedy: 'sign the package',
      facts: { dfuResult: 0x0b, dfuResultName: 'EXT_ERROR', dfuExtended: 0x0c, dfuExtendedName: 'SIGNATURE_MISSING' },
    });
    const s = toServerError(e, silentLogger());
    assert.ok(s instanceof RichServerError);
    assert.deepEqual(
      s.extra.map((d) => d.$type),
      ['google.rpc.ErrorInfo', 'google.protobuf.Any'],
    );
    const any = s.extra[1];
    assert.ok(any !== undefined && any.$type === Any.$type);
    assert.equal(any.typeUrl, 'type.googleapis.com/bledfu.v1.ErrorDetail');
    assert.deepEqual(ErrorDetail.decode(any.value), errorDetailFor(e));
    assert.equal(ErrorDetail.decode(any.value).remedy, 'sign the package');
  });

  it('serializes the same google.rpc.Status for statuses sent below nice-grpc (the call gate)', () => {
    const e = new BledfuError('TOO_MANY_UPLOADS', 'busy', { layer: 'rpc', remedy: 'retry', facts: { context: { slots: '2' } } });
    const status = RpcStatus.decode(encodeStatusDetails(e));
    assert.equal(status.code, Status.RESOURCE_EXHAUSTED);
    assert.equal(status.message, 'busy');
    assert.deepEqual(
      status.details.map((d) => d.typeUrl),
      ['type.googleapis.com/google.rpc.ErrorInfo', 'type.googleapis.com/bledfu.v1.ErrorDetail'],
    );
    const [info, detail] = status.details;
    assert.ok(info !== undefined && detail !== undefined);
    assert.deepEqual(ErrorInfo.decode(info.value), ErrorInfo.fromPartial({ reason: 'TOO_MANY_UPLOADS', domain: 'bledfu', metadata: { remedy: 'retry', layer: 'rpc', context_slots: '2' } }));
    assert.deepEqual(ErrorDetail.decode(detail.value), errorDetailFor(e));
  });

  it('leaves absent facts out of the metadata', () => {
    const s = toServerError(new BledfuError('JOB_NOT_FOUND', 'no job', { layer: 'jobs' }), silentLogger());
    assert.ok(s instanceof RichServerError);
    assert.deepEqual(s.extra[0]?.$type === 'google.rpc.ErrorInfo' && s.extra[0].metadata, { layer: 'jobs' });
  });

  it('turns anything else into UNKNOWN "internal error" and logs it with its stack', () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    });
    const s = toServerError(new TypeError('x is undefined at secret.ts:42'), pino(sink));
    assert.equal(s.code, Status.UNKNOWN);
    assert.equal(s.details, 'internal error');
    const err = lines[0]?.['err'] as Record<string, unknown> | undefined;
    assert.match(String(err?.['stack']), /secret\.ts:42/);
  });

  it('passes a deliberate ServerError through', () => {
    const original = new ServerError(Status.PERMISSION_DENIED, 'no');
    assert.equal(toServerError(original, silentLogger()), original);
  });

  it('builds the proto ErrorDetail with zeros for absent facts', () => {
    const d = errorDetailFor(new BledfuError('ATT_ERROR', 'write refused', { layer: 'att', facts: { attError: 3 } }));
    assert.deepEqual(d, {
      reason: 'ATT_ERROR',
      message: 'write refused',
      remedy: '',
      dfuResult: 0,
      dfuResultName: '',
      dfuExtendedError: 0,
      dfuExtendedErrorName: '',
      attError: 3,
      hciStatus: 0,
    });
  });
});
