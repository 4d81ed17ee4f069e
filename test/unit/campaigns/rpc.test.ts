/** The campaign RPC handlers over a real campaign manager: who may stop a campaign, and the mapping of a start. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CampaignState, CampaignStopReason, type StartCampaignRequest } from '../../../proto/gen/bledfu/v1/campaign.js';
import { CampaignManager } from '../../../server/campaigns/manager.js';
import { hasCode } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';
import { JobManager } from '../../../server/jobs/manager.js';
import { PackageStore } from '../../../server/jobs/packageStore.js';
import type { Caller } from '../../../server/rpc/auth.js';
import { getCampaign, listCampaigns, startCampaign, stopCampaign } from '../../../server/rpc/campaigns.js';
import { ConnectSessions } from '../../../server/rpc/connectSessions.js';
import type { ServiceDeps } from '../../../server/rpc/deps.js';
import { realClock } from '../../../server/common/clock.js';
import { ControlledRunner, fakePackageBytes, fakeReadPackage } from '../../helpers/fake-adapter-runner.js';
import { FakeAdapterDirectory } from '../../helpers/fake-adapter.js';
import { fakeFindDevice } from '../../helpers/rpc-harness.js';

function deps(): ServiceDeps & { packages: PackageStore } {
  const adapters = new FakeAdapterDirectory();
  const jobs = new JobManager({ runner: new ControlledRunner().run, logger: silentLogger(), maxConcurrentPerAdapter: 2, retainFinished: 10 });
  const read = fakeReadPackage().read;
  return {
    adapters,
    jobs,
    campaigns: new CampaignManager({ jobs, adapters, logger: silentLogger() }),
    packages: new PackageStore({ readPackage: read, maxTotalBytes: 1 << 20 }),
    readPackage: read,
    findDevice: fakeFindDevice,
    listSerialPorts: async () => [],
    logger: silentLogger(),
    clock: realClock,
    maxPackageBytes: 1 << 20,
    stopping: new AbortController().signal,
    connections: new ConnectSessions(),
  };
}

const REQUEST: StartCampaignRequest = {
  package: { $case: 'packageData', packageData: Buffer.from(fakePackageBytes()) },
  filter: { name: '', namePrefix: 'S-', serviceUuid: '', manufacturerDataPrefix: Buffer.alloc(0), addresses: ['f0:00:00:00:00:01'] },
  adapterIds: [],
  parallelPerAdapter: 0,
  retry: undefined,
  maxDevices: 0,
  duration: undefined,
  includeBootloaders: true,
  options: undefined,
  labels: { line: '3' },
  name: 'line 3',
};

const caller = (identity: string | undefined, role: Caller['role']): Caller => ({ identity, role, peer: '127.0.0.1:1' });

describe('campaign RPC handlers', () => {
  it('start maps the request with its defaults, and the package stays leased in the store while the campaign runs', async () => {
    const d = deps();
    const c = (await startCampaign(d, REQUEST, new AbortController().signal, { identity: 'alice', peer: 'p' })).campaign;
    assert.equal(c?.state, CampaignState.CAMPAIGN_STATE_RUNNING);
    assert.equal(c?.parallelPerAdapter, 1, '0 means 1');
    assert.equal(c?.retry?.maxAttempts, 3);
    assert.deepEqual(c?.retry?.delay, { seconds: 5, nanos: 0 });
    assert.deepEqual(c?.filter?.addresses, ['F0:00:00:00:00:01']);
    assert.deepEqual(c?.adapterIds, ['fake0']);
    assert.equal(c?.requestedBy, 'alice');
    assert.deepEqual(c?.labels, { line: '3' });
    assert.equal(d.packages.usage().leases, 1);
    assert.equal((await listCampaigns(d, { activeOnly: true })).campaigns.length, 1);
    stopCampaign(d, { campaignId: c?.campaignId ?? '', cancelJobs: false }, caller('alice', 'operate'));
    assert.equal(getCampaign(d, { campaignId: c?.campaignId ?? '' }).campaign?.state, CampaignState.CAMPAIGN_STATE_ENDED);
    assert.equal(d.packages.usage().leases, 0, 'an ended campaign gives its package back');
  });

  it('with a tokens file, only its starter or an admin may stop a campaign; without one, anyone', async () => {
    const d = deps();
    const id = (await startCampaign(d, REQUEST, new AbortController().signal, { identity: 'alice', peer: 'p' })).campaign?.campaignId ?? '';
    assert.throws(() => stopCampaign(d, { campaignId: id, cancelJobs: false }, caller('bob', 'operate')), (e: unknown) => hasCode(e, 'PERMISSION_DENIED') && /alice/.test((e as Error).message));
    const byAdmin = stopCampaign(d, { campaignId: id, cancelJobs: false }, caller('root', 'admin')).campaign;
    assert.equal(byAdmin?.stopReason, CampaignStopReason.CAMPAIGN_STOP_REASON_STOPPED);
    assert.equal(byAdmin?.stoppedBy, 'root');

    const open = (await startCampaign(d, REQUEST, new AbortController().signal, { identity: 'alice', peer: 'p' })).campaign?.campaignId ?? '';
    assert.equal(stopCampaign(d, { campaignId: open, cancelJobs: false }, caller(undefined, undefined)).campaign?.state, CampaignState.CAMPAIGN_STATE_ENDED);
  });
});
