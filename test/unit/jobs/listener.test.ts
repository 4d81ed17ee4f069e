/**
 * JobManager.onEvent: every job's events in order with the job they belong to; a listener that
 * throws is logged and changes nothing for the job; unsubscribing stops delivery.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../server/ble/address.js';
import { silentLogger } from '../../../server/common/logger.js';
import { DEFAULT_DFU_OPTIONS } from '../../../server/dfu/types.js';
import { JobManager } from '../../../server/jobs/manager.js';
import type { JobEvent, JobRef } from '../../../server/jobs/types.js';
import { FakeAdapter } from '../../helpers/fake-adapter.js';
import { ControlledRunner, fakePackage, progress } from '../../helpers/fake-adapter-runner.js';

function setup() {
  const runner = new ControlledRunner();
  let n = 0;
  const jobs = new JobManager({ runner: runner.run, logger: silentLogger(), maxConcurrentPerAdapter: 2, retainFinished: 10, newId: () => `job-${++n}` });
  const adapter = new FakeAdapter('fake0');
  // Each job for its own device (jobs for one device wait for each other).
  let device = 0;
  const create = () =>
    jobs.create({ pkg: fakePackage(), target: { kind: 'address', address: parseAddress(`F0:12:34:56:78:${(++device).toString(16).padStart(2, '0')}`) }, options: DEFAULT_DFU_OPTIONS, adapter });
  return { runner, jobs, create };
}

describe('JobManager.onEvent', () => {
  it('hears every job, each event with its job, adapter and state after it', async () => {
    const { runner, jobs, create } = setup();
    const heard: [JobEvent['kind'], JobRef][] = [];
    jobs.onEvent((e, ref) => heard.push([e.kind, ref]));
    const a = create();
    const b = create();
    const ra = await runner.call(0);
    const rb = await runner.call(1);
    ra.emit({ kind: 'phase', phase: 'transferring', detail: 'sending' });
    ra.emit(progress(10, 100));
    rb.fail(new Error('boom'));
    ra.succeed();
    await Promise.all([jobs.whenDone(a.id), jobs.whenDone(b.id)]);
    const of = (id: string) => heard.filter(([, ref]) => ref.id === id).map(([kind, ref]) => `${kind}:${ref.state}:${ref.adapterId}`);
    assert.deepEqual(of(a.id), ['state:connecting:fake0', 'state:transferring:fake0', 'progress:transferring:fake0', 'state:succeeded:fake0', 'finished:succeeded:fake0']);
    assert.deepEqual(of(b.id), ['state:connecting:fake0', 'state:failed:fake0', 'finished:failed:fake0']);
  });

  it('a listener that throws does not disturb the job or the other listeners; unsubscribed ones hear nothing more', async () => {
    const { runner, jobs, create } = setup();
    let others = 0;
    let late = 0;
    jobs.onEvent(() => {
      throw new Error('listener bug');
    });
    jobs.onEvent(() => others++);
    const stop = jobs.onEvent(() => late++);
    stop();
    const job = create();
    (await runner.call(0)).succeed();
    await jobs.whenDone(job.id);
    assert.equal(jobs.get(job.id).state, 'succeeded');
    assert.equal(others, 3, 'connecting, succeeded, finished');
    assert.equal(late, 0);
  });
});
