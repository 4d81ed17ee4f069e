/**
 * The evidence behind the station's no-retries invariant: the simulated board reports every data
 * packet its bootloader stores (NrfDevice.onDataWrite), and ResentBytes counts those stored a
 * second time within one job. With the server's default retries a damaged object is sent again,
 * and the board shows it; with retries 0 the job fails at once and the board shows nothing sent
 * twice. On the accelerated simulator, through gRPC.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startDfu, type DfuOptions } from '../../clients/ts/index.js';
import { ResentBytes } from '../../server/station/noRetries.js';
import { projectFacts } from '../helpers/project-packages.js';
import { addressTarget, drain, finished, startSimServer } from '../helpers/sim-server.js';

const APP = await projectFacts('app');

async function damagedDfu(options: Partial<DfuOptions>): Promise<{ readonly succeeded: boolean | undefined; readonly resent: number; readonly stored: number }> {
  const s = await startSimServer();
  try {
    const resent = new ResentBytes();
    let stored = 0;
    const stop = s.device().device.onDataWrite((w) => {
      stored += w.length;
      resent.write(w);
    });
    s.world.faults.inject({ kind: 'corruptDataPacket', packet: 30 });
    const { events } = await drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(s.device().address.value), options }, { signal: AbortSignal.timeout(30_000) }));
    stop();
    const f = finished(events);
    return { succeeded: f?.type === 'finished' ? f.result.success : undefined, resent: resent.bytes, stored };
  } finally {
    await s.close();
  }
}

describe('the board tells an object sent twice (station evidence, simulator)', () => {
  it('default retries: the damaged object is stored again, the job succeeds', { timeout: 30_000 }, async () => {
    const r = await damagedDfu({});
    assert.equal(r.succeeded, true);
    assert.ok(r.resent > 0 && r.resent <= 4096, `${r.resent} bytes stored twice`);
    assert.equal(r.stored, APP.size + r.resent, 'every byte of the image once, plus the object sent again');
  });

  it('retries 0: the job fails at its damaged object and nothing is stored twice', { timeout: 30_000 }, async () => {
    const r = await damagedDfu({ retries: 0 });
    assert.equal(r.succeeded, false);
    assert.equal(r.resent, 0);
    assert.ok(r.stored > 0 && r.stored < APP.size, `${r.stored} of ${APP.size} bytes stored`);
  });
});
