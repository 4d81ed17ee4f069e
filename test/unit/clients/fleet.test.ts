import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serverTargets } from '../../../clients/cli/program.js';
import { BledfuFleet, parseFleetTarget, parseJobRef } from '../../../clients/ts/index.js';
import { mergeProducers } from '../../../clients/ts/merge.js';

describe('fleet targets', () => {
  it('reads dns:///name:port as a name to resolve and anything else as one server', () => {
    assert.deepEqual(parseFleetTarget('dns:///bledfu.bledfu.svc.cluster.local:50051'), {
      kind: 'dns',
      text: 'dns:///bledfu.bledfu.svc.cluster.local:50051',
      host: 'bledfu.bledfu.svc.cluster.local',
      port: '50051',
    });
    assert.deepEqual(parseFleetTarget('dns:///[::1]:50051'), { kind: 'dns', text: 'dns:///[::1]:50051', host: '::1', port: '50051' });
    assert.deepEqual(parseFleetTarget(' 10.0.0.5:50051 '), { kind: 'direct', address: '10.0.0.5:50051' });
    assert.throws(() => parseFleetTarget('dns:///no-port'), /is not dns:\/\/\/name:port/);
  });

  it('the CLI keeps one plain server as it was, and makes a fleet of a list or a dns:/// name', () => {
    assert.deepEqual(serverTargets('127.0.0.1:50051'), { kind: 'single', address: '127.0.0.1:50051' });
    assert.deepEqual(serverTargets('a:1, b:2'), { kind: 'fleet', targets: ['a:1', 'b:2'] });
    assert.deepEqual(serverTargets('dns:///bledfu:50051'), { kind: 'fleet', targets: ['dns:///bledfu:50051'] });
    assert.throws(() => serverTargets('a:1,,b:2'), /empty entry/);
    assert.throws(() => serverTargets('a:1,b'), /must be host:port/);
  });

  it('job references: <server>/<id>, or a bare id', () => {
    assert.deepEqual(parseJobRef('10.0.0.5:50051/4f1c'), { server: '10.0.0.5:50051', jobId: '4f1c' });
    assert.deepEqual(parseJobRef('4f1c'), { jobId: '4f1c' });
  });
});

describe('fleet name resolution', () => {
  it('reuses a name\'s addresses within the TTL and retries a failed lookup at once', async () => {
    let calls = 0;
    let fail = true;
    const fleet = new BledfuFleet(['dns:///stations.test:50051', '127.0.0.1:1'], {
      resolveTtlMs: 60_000,
      resolve: async () => {
        calls++;
        if (fail) throw new Error('ENOTFOUND stations.test');
        return ['10.0.0.1', 'fd00::2'];
      },
    });
    try {
      const failed = await fleet.servers();
      assert.deepEqual(failed.servers.map((s) => s.server), ['127.0.0.1:1']);
      assert.deepEqual(failed.failures.map((f) => [f.server, f.error.code]), [['dns:///stations.test:50051', 'SERVER_UNREACHABLE']]);
      fail = false;
      const first = await fleet.servers();
      assert.deepEqual(first.servers.map((s) => s.server), ['10.0.0.1:50051', '[fd00::2]:50051', '127.0.0.1:1']);
      await fleet.servers();
      assert.equal(calls, 2, 'the failure was not cached; the success was');
      // One channel per server, reused.
      assert.equal((await fleet.client('10.0.0.1:50051')), first.servers[0]?.client);
      await assert.rejects(fleet.client('10.9.9.9:50051'), /not one of the servers/);
    } finally {
      fleet.close();
    }
  });
});

describe('mergeProducers', () => {
  it('yields every producer\'s items; one that rejects ends alone', async () => {
    let release: () => void = () => undefined;
    const later = new Promise<void>((resolve) => (release = resolve));
    const got: string[] = [];
    for await (const x of mergeProducers<string>([
      async (push) => {
        push('a1');
        await later;
        push('a2');
      },
      async (push) => {
        push('b1');
        release();
        throw new Error('b failed');
      },
    ])) {
      got.push(x);
    }
    assert.deepEqual(got.sort(), ['a1', 'a2', 'b1']);
  });
});
