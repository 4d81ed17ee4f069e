import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import {
  decodeL2capFrame,
  decodeSignalingCommand,
  encodeL2capFrame,
  encodeSignalingCommand,
  encodeSmpPairingFailed,
  L2CAP_CID,
  l2capFrameLength,
  type SignalingCommand,
} from '../../../../server/host/l2cap/frames.js';

describe('L2CAP frames', () => {
  it('prefixes the payload with length and CID, little-endian', () => {
    const bytes = encodeL2capFrame({ cid: L2CAP_CID.att, payload: fromHex('02f700') });
    assert.equal(toHex(bytes, ' '), '03 00 04 00 02 f7 00');
    assert.deepEqual(decodeL2capFrame(bytes), { cid: 4, payload: fromHex('02f700') });
    assert.equal(l2capFrameLength(bytes.subarray(0, 2)), 7);
    assert.equal(l2capFrameLength(bytes.subarray(0, 1)), undefined);
  });

  it('rejects a frame whose length disagrees with its payload', () => {
    assert.throws(() => decodeL2capFrame(fromHex('0400040002f700')), (e: unknown) => hasCode(e, 'MALFORMED_PACKET') && e.layer === 'l2cap');
  });

  it('codes the Connection Parameter Update Request and Response (Vol 3, Part A, 4.20/4.21)', () => {
    const request = decodeSignalingCommand(fromHex('12 01 08 00 06 00 0c 00 00 00 f4 01'));
    assert.deepEqual(request, {
      kind: 'connectionParameterUpdateRequest',
      identifier: 1,
      intervalMin: 6,
      intervalMax: 12,
      latency: 0,
      timeout: 500,
    });
    assert.equal(toHex(encodeSignalingCommand(request), ' '), '12 01 08 00 06 00 0c 00 00 00 f4 01');
    const response: SignalingCommand = { kind: 'connectionParameterUpdateResponse', identifier: 1, result: 0 };
    assert.equal(toHex(encodeSignalingCommand(response), ' '), '13 01 02 00 00 00');
  });

  it('codes Command Reject and keeps unknown commands for rejecting', () => {
    const reject: SignalingCommand = { kind: 'commandReject', identifier: 7, reason: 0, data: new Uint8Array() };
    assert.equal(toHex(encodeSignalingCommand(reject), ' '), '01 07 02 00 00 00');
    assert.deepEqual(decodeSignalingCommand(fromHex('14 03 02 00 aa bb')), {
      kind: 'unknown',
      code: 0x14,
      identifier: 3,
      data: fromHex('aabb'),
    });
  });

  it('Pairing Failed with Pairing Not Supported is 05 05', () => {
    assert.equal(toHex(encodeSmpPairingFailed(0x05)), '0505');
  });
});
