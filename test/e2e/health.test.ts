/**
 * The standard gRPC health service through a real gRPC client: SERVING while the simulated dongle
 * is plugged in, NOT_SERVING once it is pulled out, SERVING again when it is back — by Check and
 * as a Watch stream.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createChannel, createClient, Status, type Client } from 'nice-grpc';
import { BLEDFU_SERVICE_NAME, HealthDefinition, ServingStatus, type HealthCheckResponse } from '../../server/rpc/health.js';
import { startSimServer } from '../helpers/sim-server.js';

type HealthClient = Client<typeof HealthDefinition>;

async function next(it: AsyncIterator<HealthCheckResponse>): Promise<ServingStatus> {
  const r = await it.next();
  assert.notEqual(r.done, true, 'the Watch stream ended early');
  return (r.value as HealthCheckResponse).status;
}

/** Polls Check until it answers `status` (the supervisor reopens the dongle on its own clock). */
async function checkUntil(client: HealthClient, service: string, status: ServingStatus, signal: AbortSignal): Promise<void> {
  while ((await client.check({ service })).status !== status) {
    signal.throwIfAborted();
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('grpc.health.v1.Health', () => {
  it('follows the simulated dongle being unplugged and replugged (Check and Watch)', { timeout: 30_000 }, async () => {
    const s = await startSimServer();
    const channel = createChannel(s.address);
    const health = createClient(HealthDefinition, channel);
    const stop = new AbortController();
    try {
      for (const service of ['', BLEDFU_SERVICE_NAME]) {
        assert.equal((await health.check({ service })).status, ServingStatus.SERVING, `Check "${service}" with the dongle in`);
      }
      const watchAll = health.watch({ service: '' }, { signal: stop.signal })[Symbol.asyncIterator]();
      const watchSvc = health.watch({ service: BLEDFU_SERVICE_NAME }, { signal: stop.signal })[Symbol.asyncIterator]();
      assert.equal(await next(watchAll), ServingStatus.SERVING);
      assert.equal(await next(watchSvc), ServingStatus.SERVING);

      s.world.unplugDongle();
      assert.equal(await next(watchAll), ServingStatus.NOT_SERVING);
      assert.equal(await next(watchSvc), ServingStatus.NOT_SERVING);
      for (const service of ['', BLEDFU_SERVICE_NAME]) {
        assert.equal((await health.check({ service })).status, ServingStatus.NOT_SERVING, `Check "${service}" with the dongle out`);
      }

      s.world.replugDongle();
      assert.equal(await next(watchAll), ServingStatus.SERVING);
      assert.equal(await next(watchSvc), ServingStatus.SERVING);
      await checkUntil(health, '', ServingStatus.SERVING, AbortSignal.timeout(10_000));
      assert.equal((await health.check({ service: BLEDFU_SERVICE_NAME })).status, ServingStatus.SERVING);
    } finally {
      stop.abort();
      channel.close();
      await s.close();
    }
  });

  it('Check of an unknown service is NOT_FOUND; Watch of it says SERVICE_UNKNOWN', { timeout: 30_000 }, async () => {
    const s = await startSimServer();
    const channel = createChannel(s.address);
    const health = createClient(HealthDefinition, channel);
    const stop = new AbortController();
    try {
      await assert.rejects(health.check({ service: 'no.such.Service' }), (e: unknown) => (e as { code?: unknown }).code === Status.NOT_FOUND);
      const watch = health.watch({ service: 'no.such.Service' }, { signal: stop.signal })[Symbol.asyncIterator]();
      assert.equal(await next(watch), ServingStatus.SERVICE_UNKNOWN);
    } finally {
      stop.abort();
      channel.close();
      await s.close();
    }
  });
});
