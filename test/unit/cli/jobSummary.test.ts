import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressType, Job, JobState } from '../../../clients/ts/index.js';
import { jobSummary } from '../../../clients/cli/commands/jobs.js';

describe('bledfu jobs: one line per job', () => {
  const base = Job.fromPartial({
    jobId: 'j1',
    state: JobState.JOB_STATE_TRANSFERRING,
    target: { selector: { $case: 'name', name: 'bledfu-sim-3' } },
    adapterId: 'sim0',
  });

  it('shows where the device’s bootloader was found, when it was', () => {
    const job = { ...base, bootloaderAddress: { value: 'F0:0D:C0:DE:00:06', type: AddressType.ADDRESS_TYPE_RANDOM } };
    assert.match(jobSummary(job), /name=bledfu-sim-3 {2}adapter=sim0 bootloader=F0:0D:C0:DE:00:06/);
    const json = Job.toJSON(job) as { bootloaderAddress?: { value?: string } };
    assert.equal(json.bootloaderAddress?.value, 'F0:0D:C0:DE:00:06', '--json carries it');
  });

  it('says nothing about a bootloader before one was found', () => {
    assert.doesNotMatch(jobSummary(base), /bootloader=/);
  });

  it('names who started the job when the server knows, and nothing when it authenticates nobody', () => {
    assert.match(jobSummary({ ...base, requestedBy: 'alice' }), /adapter=sim0 by=alice/);
    assert.doesNotMatch(jobSummary(base), /by=/);
    assert.equal((Job.toJSON({ ...base, requestedBy: 'cert:station-3' }) as { requestedBy?: string }).requestedBy, 'cert:station-3', '--json carries it');
  });
});
