/**
 * DfuOptions.retries has presence (issue 15): 0 means no retries, so the first damaged object
 * ends the job; left unset, the server's default resends it. On the accelerated simulator, with a
 * data packet damaged on its way into the bootloader; what reached the device is counted there.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeError, JobState, startDfu, type DfuOptions } from '../../clients/ts/index.js';
import { DEFAULT_DFU_OPTIONS } from '../../server/dfu/types.js';
import { projectFacts } from '../helpers/project-packages.js';
import { addressTarget, drain, finished, startSimServer, type Drained, type SimServer } from '../helpers/sim-server.js';

/** The project's ~100 KB application package. */
const APP = await projectFacts('app');

/** A DFU of APP whose 5th data packet the device receives damaged (its object's CRC then mismatches). */
async function dfuWithDamagedPacket(s: SimServer, options: Partial<DfuOptions>): Promise<Drained> {
  s.world.faults.inject({ kind: 'corruptDataPacket', packet: 5 });
  return drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(s.device().address.value), options }, { signal: AbortSignal.timeout(30_000) }));
}

describe('DfuOptions.retries on a device that receives a damaged packet (simulator, gRPC)', () => {
  it('retries 0: the first damaged object ends the job, DFU_CRC_MISMATCH after 1 attempt, nothing sent again', { timeout: 30_000 }, async () => {
    const s = await startSimServer();
    try {
      const before = s.device().firmwareRevision();
      const { events, error } = await dfuWithDamagedPacket(s, { retries: 0 });
      const f = finished(events);
      assert.equal(f?.result.state, JobState.JOB_STATE_FAILED);
      assert.equal(f?.error?.code, 'DFU_CRC_MISMATCH');
      assert.match(f?.error?.message ?? '', /after 1 attempt\b/);
      assert.equal(decodeError(error).code, 'DFU_CRC_MISMATCH');
      // The damaged object was the first and was not sent again: less than the image reached the device.
      assert.ok(s.observed().dataBytes < APP.size, `data bytes sent: ${s.observed().dataBytes} of ${APP.size}`);
      assert.equal(s.device().firmwareRevision(), before, 'the device still runs what it had');
    } finally {
      await s.close();
    }
  });

  it('retries unset: the server default resends the damaged object and the job succeeds', { timeout: 30_000 }, async () => {
    assert.ok(DEFAULT_DFU_OPTIONS.retries > 0);
    const s = await startSimServer();
    try {
      const { events, error } = await dfuWithDamagedPacket(s, {});
      assert.equal(error, undefined, String(error));
      const f = finished(events);
      assert.equal(f?.result.state, JobState.JOB_STATE_SUCCEEDED);
      // The damaged object crossed the air twice: more than the image in all.
      assert.ok(s.observed().dataBytes > APP.size, `data bytes sent: ${s.observed().dataBytes} of ${APP.size}`);
    } finally {
      await s.close();
    }
  });
});
