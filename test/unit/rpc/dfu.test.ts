import assert from 'node:assert/strict';
import { realClock } from '../../../server/common/clock.js';
import { describe, it } from 'node:test';
import { AddressType } from '../../../proto/gen/bledfu/v1/common.js';
import type { StartDfuRequest } from '../../../proto/gen/bledfu/v1/dfu.js';
import { hasCode } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';
import { CampaignManager } from '../../../server/campaigns/manager.js';
import { JobManager } from '../../../server/jobs/manager.js';
import { PackageStore } from '../../../server/jobs/packageStore.js';
import { parseAddress } from '../../../server/ble/address.js';
import { ConnectSessions, type ConnectSession } from '../../../server/rpc/connectSessions.js';
import type { ServiceDeps } from '../../../server/rpc/deps.js';
import { BledfuError } from '../../../server/common/errors.js';
import type { JobEvent } from '../../../server/jobs/types.js';
import { startDfu, streamJob } from '../../../server/rpc/dfu.js';
import { ControlledRunner, fakePackageBytes, fakeReadPackage } from '../../helpers/fake-adapter-runner.js';
import { FakeAdapterDirectory } from '../../helpers/fake-adapter.js';
import { fakeFindDevice } from '../../helpers/rpc-harness.js';

const REQUEST: StartDfuRequest = {
  package: { $case: 'packageData', packageData: Buffer.from(fakePackageBytes()) },
  target: { selector: { $case: 'address', address: { value: 'F0:12:34:56:78:9A', type: AddressType.ADDRESS_TYPE_RANDOM } } },
  adapterId: '',
  options: undefined,
  captureHci: false,
  labels: {},
};

function depsWith(jobs: JobManager, readPackage: ServiceDeps['readPackage']): ServiceDeps {
  const adapters = new FakeAdapterDirectory();
  return {
      adapters,
      jobs,
      // Unused here (and some tests pass a partial job manager): campaigns over a job manager of their own.
      campaigns: new CampaignManager({ jobs: new JobManager({ runner: new ControlledRunner().run, logger: silentLogger(), maxConcurrentPerAdapter: 1, retainFinished: 1 }), adapters, logger: silentLogger() }),
      packages: new PackageStore({ readPackage, maxTotalBytes: 1 << 20 }),
      readPackage,
      findDevice: fakeFindDevice,
      listSerialPorts: async () => [],
      logger: silentLogger(),
      clock: realClock,
      maxPackageBytes: 1 << 20,
      stopping: new AbortController().signal,
      connections: new ConnectSessions(),
  };
}

describe('StartDfu handler', () => {
  it('starts no job when its call went away while the package was being checked', async () => {
    const call = new AbortController();
    const reader = fakeReadPackage();
    const runner = new ControlledRunner();
    const jobs = new JobManager({ runner: runner.run, logger: silentLogger(), maxConcurrentPerAdapter: 1, retainFinished: 10 });
    // The client gives up while the server is still reading its (large) package.
    const readPackage: ServiceDeps['readPackage'] = async (bytes) => {
      call.abort();
      return reader.read(bytes);
    };
    const deps = depsWith(jobs, readPackage);
    await assert.rejects(
      (async () => {
        for await (const _ of startDfu(deps, REQUEST, call.signal)) void _;
      })(),
      (e: unknown) => hasCode(e, 'CANCELLED'),
    );
    assert.deepEqual(jobs.list(), [], 'a job nobody knows the id of would update the device anyway');
    assert.equal(runner.calls.length, 0);
  });

  it('refuses a device an open Connect call holds, by address or by name, before reading the package or creating a job', { timeout: 10_000 }, async () => {
    const runner = new ControlledRunner();
    const jobs = new JobManager({ runner: runner.run, logger: silentLogger(), maxConcurrentPerAdapter: 1, retainFinished: 10 });
    let packagesRead = 0;
    const reader = fakeReadPackage();
    const readPackage: ServiceDeps['readPackage'] = async (bytes) => {
      packagesRead++;
      return reader.read(bytes);
    };
    const connections = new ConnectSessions();
    const link = new AbortController();
    const session: ConnectSession = {
      adapterId: 'sim0',
      address: parseAddress('F0:12:34:56:78:9A'),
      name: 'thermo-7',
      peer: '10.0.0.7:41000',
      identity: 'alice',
      since: Date.parse('2026-01-02T03:04:05.000Z'),
      closed: link.signal,
    };
    const forget = connections.add(session);
    const clock = { ...realClock, now: () => session.since + 42_000 };
    const deps: ServiceDeps = { ...depsWith(jobs, readPackage), clock, connections };
    const run = async (request: StartDfuRequest): Promise<void> => {
      for await (const _ of startDfu(deps, request, new AbortController().signal)) void _;
    };
    const byName: StartDfuRequest = { ...REQUEST, target: { selector: { $case: 'name', name: 'thermo-7' } } };
    for (const request of [REQUEST, byName]) {
      await assert.rejects(run(request), (e: unknown) => {
        assert.ok(hasCode(e, 'DEVICE_CONNECTED'), String(e));
        assert.match(e.message, /is connected through this server: a Connect call from alice at 10\.0\.0\.7:41000 on adapter sim0 has held its link since 2026-01-02T03:04:05\.000Z \(42 s\)/);
        assert.match(e.remedy ?? '', /close that Connect call \(end the `bledfu connect` session/);
        assert.deepEqual(e.facts.context, {
          address: 'F0:12:34:56:78:9A',
          adapterId: 'sim0',
          method: 'Connect',
          peer: '10.0.0.7:41000',
          identity: 'alice',
          since: '2026-01-02T03:04:05.000Z',
        });
        return true;
      });
    }
    assert.equal(packagesRead, 0, 'refused before the package is read');
    assert.deepEqual(jobs.list(), []);

    // Another device, a link that went down, a session that ended: no refusal.
    const other: StartDfuRequest = { ...REQUEST, target: { selector: { $case: 'name', name: 'thermo-8' } } };
    const firstJob = run(other);
    (await runner.call(0)).succeed({});
    await firstJob;
    link.abort();
    const afterLinkDown = run(REQUEST);
    (await runner.call(1)).succeed({});
    await afterLinkDown;
    forget();
    assert.equal(connections.size, 0);
    assert.equal(jobs.list().length, 2);
  });
});

describe('the end of a job stream (streamJob)', () => {
  it('a failed job: the stream yields `finished` (FAILED, its reason, its status) and ends without an error', async () => {
    const runner = new ControlledRunner();
    const jobs = new JobManager({ runner: runner.run, logger: silentLogger(), maxConcurrentPerAdapter: 1, retainFinished: 10 });
    const events = startDfu(depsWith(jobs, fakeReadPackage().read), REQUEST, new AbortController().signal);
    const seen: string[] = [];
    const draining = (async () => {
      for await (const e of events) seen.push(e.kind?.$case === 'finished' ? `finished ${e.kind.finished.state} ${e.kind.finished.error?.reason} ${e.kind.finished.errorStatus}` : String(e.kind?.$case));
    })();
    (await runner.call(0)).fail(new BledfuError('DFU_REMOTE_ERROR', 'refused', { layer: 'dfu' }));
    await draining; // would reject with the job's error under the old contract
    assert.equal(seen.at(0), 'snapshot');
    // JOB_STATE_FAILED = 8; FAILED_PRECONDITION = 9.
    assert.equal(seen.at(-1), 'finished 8 DFU_REMOTE_ERROR 9');
  });

  it('events that stop before `finished` while the caller is there: STREAM_ENDED, never a silent OK', async () => {
    const runner = new ControlledRunner();
    const real = new JobManager({ runner: runner.run, logger: silentLogger(), maxConcurrentPerAdapter: 1, retainFinished: 10 });
    const read = fakeReadPackage().read;
    const started = startDfu(depsWith(real, read), REQUEST, new AbortController().signal);
    const jobId = (await started.next()).value?.jobId ?? '';
    // A job manager whose watch ends after the snapshot (as a watcher closed for another reason would).
    const cut = {
      watch: (id: string, signal: AbortSignal): AsyncIterable<JobEvent> => ({
        async *[Symbol.asyncIterator]() {
          for await (const e of real.watch(id, signal)) {
            yield e;
            return;
          }
        },
      }),
    } as unknown as JobManager;
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const e of streamJob(depsWith(cut, read), jobId, new AbortController().signal)) seen.push(String(e.kind?.$case));
      })(),
      (e: unknown) => hasCode(e, 'STREAM_ENDED') && /stopped before the job ended/.test(e.message),
    );
    assert.deepEqual(seen, ['snapshot']);
    (await runner.call(0)).succeed();
    await started.return(undefined);
  });
});
