/** How a gRPC call ended, for tests that expect it to fail or only need it to end. */
import assert from 'node:assert/strict';
import { decodeError, type DecodedError } from '../../clients/ts/index.js';

/** Awaits a call that must fail and returns its decoded error (code, status, details). */
export async function failure(call: Promise<unknown>): Promise<DecodedError> {
  try {
    await call;
  } catch (e) {
    return decodeError(e);
  }
  assert.fail('the call succeeded');
}

/** Reads a server stream to its end, dropping what it carries. */
export async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) void _;
}
