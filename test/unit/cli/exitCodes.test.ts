import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXIT, exitCodeFor } from '../../../clients/cli/exitCodes.js';
import { Status, type DecodedError } from '../../../clients/ts/index.js';

function status(grpcCode: Status, code = Status[grpcCode] ?? 'X'): DecodedError {
  return { code, grpcCode, grpcCodeName: Status[grpcCode] ?? 'X', message: 'm', metadata: {} };
}

describe('CLI exit codes', () => {
  it('refused credentials have their own code, 8, apart from other failures (1)', () => {
    assert.equal(exitCodeFor(status(Status.UNAUTHENTICATED)), EXIT.notAuthorised);
    assert.equal(exitCodeFor(status(Status.PERMISSION_DENIED)), EXIT.notAuthorised);
    assert.equal(EXIT.notAuthorised, 8);
    assert.equal(exitCodeFor(status(Status.INTERNAL)), EXIT.other);
  });
  it('a device no server of a fleet sees is "not found" (3), like one a single server does not see', () => {
    assert.equal(exitCodeFor(status(Status.NOT_FOUND, 'DEVICE_NOT_FOUND')), EXIT.notFound);
  });
  it('the CLI\'s own outcomes have their own codes: an ended job to cancel (9), Ctrl-C before the end (130)', () => {
    assert.equal(exitCodeFor(status(Status.FAILED_PRECONDITION, 'JOB_ALREADY_ENDED')), EXIT.alreadyEnded);
    assert.equal(EXIT.alreadyEnded, 9);
    assert.equal(exitCodeFor(status(Status.CANCELLED, 'INTERRUPTED')), EXIT.interrupted);
    assert.equal(EXIT.interrupted, 130);
    // A cancelled job is still 6, whoever cancelled it.
    assert.equal(exitCodeFor(status(Status.CANCELLED)), EXIT.cancelled);
  });
});
