/**
 * gRPC call counts through a real server built by createApp: the metrics middleware runs
 * outermost, so calls the token check refuses are counted with their status, as are calls the
 * handlers fail and streams the client walks away from.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServerCredentials } from '@grpc/grpc-js';
import { createChannel, createClient } from 'nice-grpc';
import { decodeError, startDfu, Status, uploadPackage, watchJob } from '../../../clients/ts/index.js';
import { silentLogger } from '../../../server/common/logger.js';
import { parseTokens } from '../../../server/rpc/auth.js';
import { HealthDefinition } from '../../../server/rpc/health.js';
import { fakePackageBytes } from '../../helpers/fake-adapter-runner.js';
import { DEVICE, startHarness } from '../../helpers/rpc-harness.js';
import { scrape, type Exposition } from '../../helpers/prom-text.js';

const OPERATE = 'operate-token-0123456789';
const OBSERVE = 'observe-token-0123456789';
const SVC = 'bledfu.v1.BledfuService';

async function scrapeUntil(address: string, done: (m: Exposition) => boolean): Promise<Exposition> {
  const deadline = AbortSignal.timeout(10_000);
  for (;;) {
    const m = await scrape(address);
    if (done(m) || deadline.aborted) return m;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('gRPC metrics', () => {
  it('count calls by method and status: refused by the token check, failed by the handler, abandoned streams, other services', { timeout: 20_000 }, async () => {
    const h = await startHarness(
      { metricsListen: '127.0.0.1:0', maxConcurrentDfus: 1, jobRetention: 10, shutdownGraceMs: 2_000 },
      silentLogger(),
      {
        security: { credentials: ServerCredentials.createInsecure(), tokens: parseTokens(`operate ${OPERATE}\nobserve ${OBSERVE}\n`, 'tokens') },
        processMetrics: false,
      },
    );
    const { address, metricsAddress, runner } = h;
    assert.ok(metricsAddress !== undefined);
    const anonymous = h.newClient();
    const observer = h.newClient({ token: OBSERVE });
    const operator = h.newClient({ token: OPERATE });
    const channel = createChannel(address);
    try {
      await assert.rejects(anonymous.listAdapters({}), (e: unknown) => decodeError(e).grpcCode === Status.UNAUTHENTICATED);
      await assert.rejects(observer.cancelJob({ jobId: 'x' }), (e: unknown) => decodeError(e).grpcCode === Status.PERMISSION_DENIED);
      // Refused by the transport gate from its headers, before any middleware: counted all the same.
      await assert.rejects(uploadPackage(anonymous, fakePackageBytes()), (e: unknown) => decodeError(e).grpcCode === Status.UNAUTHENTICATED);
      await observer.listAdapters({});
      await observer.listAdapters({});
      await assert.rejects(observer.getJob({ jobId: 'no-such-job' }), (e: unknown) => decodeError(e).grpcCode === Status.NOT_FOUND);
      await createClient(HealthDefinition, channel).check({ service: '' });

      // A job that stays running; its watcher leaves.
      const started = startDfu(operator, { package: { data: fakePackageBytes() }, target: { selector: { $case: 'address', address: { value: DEVICE.value, type: 0 } } } })[Symbol.asyncIterator]();
      const first = await started.next();
      assert.ok(first.done !== true && first.value.type === 'snapshot');
      const leave = new AbortController();
      const watching = watchJob(observer, first.value.jobId, { signal: leave.signal })[Symbol.asyncIterator]();
      await watching.next();
      leave.abort();
      await assert.rejects(watching.next());

      const m = await scrapeUntil(metricsAddress, (x) => x.value('bledfu_grpc_requests_total', { method: `${SVC}/WatchJob` }) !== undefined);
      assert.equal(m.value('bledfu_grpc_requests_total', { method: `${SVC}/ListAdapters`, code: 'UNAUTHENTICATED' }), 1);
      assert.equal(m.value('bledfu_grpc_requests_total', { method: `${SVC}/CancelJob`, code: 'PERMISSION_DENIED' }), 1);
      assert.equal(m.value('bledfu_grpc_requests_total', { method: `${SVC}/UploadPackage`, code: 'UNAUTHENTICATED' }), 1);
      assert.equal(m.value('bledfu_grpc_requests_total', { method: `${SVC}/ListAdapters`, code: 'OK' }), 2);
      assert.equal(m.value('bledfu_grpc_requests_total', { method: `${SVC}/GetJob`, code: 'NOT_FOUND' }), 1);
      assert.equal(m.value('bledfu_grpc_requests_total', { method: 'grpc.health.v1.Health/Check', code: 'OK' }), 1);
      assert.equal(m.value('bledfu_grpc_requests_total', { method: `${SVC}/WatchJob`, code: 'CANCELLED' }), 1);
      assert.equal(m.value('bledfu_grpc_requests_total', { method: `${SVC}/StartDfu` }), undefined, 'a stream still open is not counted yet');

      (await runner.call(0)).succeed();
      for (let r = await started.next(); r.done !== true; r = await started.next());
      const after = await scrapeUntil(metricsAddress, (x) => x.value('bledfu_grpc_requests_total', { method: `${SVC}/StartDfu` }) !== undefined);
      assert.equal(after.value('bledfu_grpc_requests_total', { method: `${SVC}/StartDfu`, code: 'OK' }), 1);
    } finally {
      channel.close();
      await h.close();
    }
  });
});
