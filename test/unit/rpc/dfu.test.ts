import assert from 'node:assert/strict';
import { realClock } from '../../../server/common/clock.js';
import { describe, it } from 'node:test';
import { AddressType } from '../../../proto/gen/bledfu/v1/common.js';
import type { StartDfuRequest } from '../../../proto/gen/bledfu/v1/dfu.js';
import { hasCode } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';
import { JobManager } from '../../../server/jobs/manager.js';
import { PackageStore } from '../../../server/jobs/packageStore.js';
import type { ServiceDeps } from '../../../server/rpc/deps.js';
import { startDfu } from '../../../server/rpc/dfu.js';
import { ControlledRunner, fakePackageBytes, fakeReadPackage } from '../../helpers/fake-adapter-runner.js';
import { FakeAdapterDirectory } from '../../helpers/fake-adapter.js';
import { fakeFindDevice } from '../../helpers/rpc-harness.js';

const REQUEST: StartDfuRequest = {
  package: { $case: 'packageData', packageData: Buffer.from(fakePackageBytes()) },
  target: { selector: { $case: 'address', address: { value: 'F0:12:34:56:78:9A', type: AddressType.ADDRESS_TYPE_RANDOM } } },
  adapterId: '',
  options: undefined,
  captureHci: false,
};

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
    const deps: ServiceDeps = {
      adapters: new FakeAdapterDirectory(),
      jobs,
      packages: new PackageStore({ readPackage, maxTotalBytes: 1 << 20 }),
      readPackage,
      findDevice: fakeFindDevice,
      listSerialPorts: async () => [],
      logger: silentLogger(),
      clock: realClock,
      maxPackageBytes: 1 << 20,
      stopping: new AbortController().signal,
    };
    await assert.rejects(
      (async () => {
        for await (const _ of startDfu(deps, REQUEST, call.signal)) void _;
      })(),
      (e: unknown) => hasCode(e, 'CANCELLED'),
    );
    assert.deepEqual(jobs.list(), [], 'a job nobody knows the id of would update the device anyway');
    assert.equal(runner.calls.length, 0);
  });
});
