/**
 * A DFU of a device this same server holds for an open Connect call: refused at once with
 * DEVICE_CONNECTED (FAILED_PRECONDITION), naming the Connect call's peer and since when, with a
 * remedy, and without scanning for a device that cannot advertise. Once the Connect call ends,
 * the same DFU runs to its end. Through gRPC, on the accelerated simulator.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeError, startDfu, type ConnectResponse } from '../../clients/ts/index.js';
import { projectZip } from '../helpers/project-packages.js';
import { addressTarget, drain, finished, startSimServer } from '../helpers/sim-server.js';

const DEVICE = { name: 'held-1', address: 'F0:00:00:00:CC:01' };

describe('StartDfu of a device held by a Connect call (simulator, gRPC)', () => {
  it('fails at once with DEVICE_CONNECTED naming the Connect call; after that call ends the DFU succeeds', { timeout: 30_000 }, async () => {
    const s = await startSimServer({ devices: [DEVICE] });
    try {
      const zip = await projectZip('app');
      const leave = new AbortController();
      const connectClient = s.newClient();
      const stream = connectClient
        .connect({ adapterId: '', target: addressTarget(DEVICE.address), scanTimeout: undefined, mtu: 0 }, { signal: leave.signal })
        [Symbol.asyncIterator]();
      const first: ConnectResponse['event'] = (await stream.next()).value?.event;
      assert.equal(first?.$case, 'connected');
      const scansBefore = s.air.scans;

      for (const target of [addressTarget(DEVICE.address), { selector: { $case: 'name' as const, name: DEVICE.name } }]) {
        const refused = await drain(startDfu(s.client, { package: { data: zip }, target }, { signal: AbortSignal.timeout(20_000) }));
        assert.deepEqual(refused.events, [], 'no job was created');
        const e = decodeError(refused.error);
        assert.equal(e.code, 'DEVICE_CONNECTED', e.message);
        assert.equal(e.grpcCodeName, 'FAILED_PRECONDITION');
        assert.match(e.message, new RegExp(`${DEVICE.address}.* is connected through this server: a Connect call from 127\\.0\\.0\\.1:\\d+ on adapter sim0 has held its link since \\d{4}-\\d\\d-\\d\\dT`));
        assert.match(e.remedy ?? '', /close that Connect call \(end the `bledfu connect` session/);
        assert.equal(e.metadata['context_address'], DEVICE.address);
        assert.equal(e.metadata['context_method'], 'Connect');
        assert.match(e.metadata['context_peer'] ?? '', /^127\.0\.0\.1:\d+$/);
        assert.ok(!Number.isNaN(Date.parse(e.metadata['context_since'] ?? '')), 'since is an ISO time');
      }
      assert.equal(s.air.scans, scansBefore, 'refused without scanning');
      assert.deepEqual((await s.client.listJobs({})).jobs, []);

      const gone = s.nextDisconnection();
      leave.abort();
      await assert.rejects(stream.next());
      await gone;
      connectClient.close();

      const done = await drain(startDfu(s.client, { package: { data: zip }, target: addressTarget(DEVICE.address) }, { signal: AbortSignal.timeout(20_000) }));
      assert.equal(done.error, undefined, String(done.error));
      const end = finished(done.events);
      assert.equal(end?.type === 'finished' ? end.result.success : undefined, true);
    } finally {
      await s.close();
    }
  });
});
