/**
 * One clock for the whole server (issue 10, problem 6): on the accelerated simulator the jobs,
 * the engine, the host stack and its timeouts run on the simulator's modelled time, so a job's
 * modelled air time is its duration in modelled time — a 10 s scan timeout counts 10 s, not
 * the minutes of advertising a racing simulator went through while the host waited in real
 * time — and the same jobs give the same modelled times and the same event order on every run.
 * Through gRPC, on both simulated dongle kinds. Asserts modelled values, never real time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startDfu, uploadPackage, type DfuEvent, type Target } from '../../clients/ts/index.js';
import { CONTROLLER_PROFILES } from '../../server/sim/world.js';
import { InMemoryDeviceMemory } from '../../server/jobs/deviceMemory.js';
import { addressTarget, drain, finished, SIM_DONGLES, startSimServer, type SimServer } from '../helpers/sim-server.js';
import { projectZip } from '../helpers/project-packages.js';

/** The project's ~100 KB application package (demo key, the simulator's default). */
const APP = await projectZip('app');
const SCAN_TIMEOUT_MS = 10_000;
const TEST_TIMEOUT_MS = 60_000;

const ms = (d: { readonly seconds: number; readonly nanos: number } | undefined): number => (d === undefined ? Number.NaN : d.seconds * 1000 + d.nanos / 1e6);
const byName = (name: string): Target => ({ selector: { $case: 'name', name } });

interface JobTimeline {
  readonly modelledAirMs: number;
  readonly durationMs: number;
  /** Each state with its detail and when it came, in modelled ms since the job's first event. */
  readonly states: readonly string[];
  readonly success: boolean;
}

function timeline(events: readonly DfuEvent[]): JobTimeline {
  const f = finished(events);
  assert.ok(f, 'no finished event');
  const t0 = events[0]?.time?.getTime() ?? Number.NaN;
  return {
    modelledAirMs: ms(f.result.modelledAirTime),
    durationMs: ms(f.result.duration),
    states: events.flatMap((e) => (e.type === 'state' ? [`${e.stateName} "${e.detail}" +${(e.time?.getTime() ?? Number.NaN) - t0}`] : [])),
    success: f.result.success,
  };
}

async function dfu(s: SimServer, target: Target): Promise<JobTimeline> {
  const r = await drain(startDfu(s.client, { package: { data: APP }, target }, { signal: AbortSignal.timeout(TEST_TIMEOUT_MS) }));
  return timeline(r.events);
}

for (const dongle of SIM_DONGLES) {
  describe(`one clock: modelled time through gRPC on the accelerated simulator (${dongle.label})`, () => {
    it('a job whose device is absent fails DEVICE_NOT_FOUND after the scan timeout in modelled time, not minutes', { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const before = s.registry.clock.now();
        const r = await drain(startDfu(s.client, { package: { data: APP }, target: byName('not-here') }, { signal: AbortSignal.timeout(TEST_TIMEOUT_MS) }));
        const f = finished(r.events);
        assert.ok(f, 'no finished event');
        assert.equal(f.result.success, false);
        assert.equal(f.error?.code, 'DEVICE_NOT_FOUND');
        const air = ms(f.result.modelledAirTime);
        assert.ok(air >= SCAN_TIMEOUT_MS && air <= SCAN_TIMEOUT_MS + 2_000, `modelled air time ${air} ms, expected the 10 s scan timeout`);
        assert.ok(Math.abs(ms(f.result.duration) - air) < 1, 'duration and modelled air time come from the one clock');
        const elapsed = s.registry.clock.now() - before;
        assert.ok(elapsed >= SCAN_TIMEOUT_MS && elapsed <= SCAN_TIMEOUT_MS + 2_000, `the server's clock moved ${elapsed} ms`);
      } finally {
        await s.close();
      }
    });

    it('four DFUs in parallel give the same modelled times and event sequences in two fresh servers', { timeout: TEST_TIMEOUT_MS }, async () => {
      const runOnce = async (): Promise<{ jobs: JobTimeline[]; bootloaderNames: string[] }> => {
        const devices = new InMemoryDeviceMemory();
        const s = await startSimServer({ devices: [{}, {}, {}, {}] }, { maxConcurrentDfus: 4 }, dongle, { devices });
        try {
          const jobs = await Promise.all([0, 1, 2, 3].map((i) => dfu(s, addressTarget(s.device(i).address.value))));
          // The random name each application was asked to give its bootloader: drawn from the
          // server clock's random(), seeded on the simulator. A Math.random name changed the
          // frames' bytes, and on the nRF dongle's serial line a byte needing SLIP escaping costs
          // 10 µs: modelled times differed by 0.01 ms now and then.
          const bootloaderNames = devices
            .all()
            .map((e) => `${e.appAddress?.value ?? '?'} → ${e.bootloaderName ?? '?'}`)
            .sort();
          return { jobs, bootloaderNames };
        } finally {
          await s.close();
        }
      };
      const firstRun = await runOnce();
      const secondRun = await runOnce();
      const first = firstRun.jobs;
      const second = secondRun.jobs;
      assert.equal(firstRun.bootloaderNames.length, 4, firstRun.bootloaderNames.join('\n'));
      assert.deepEqual(secondRun.bootloaderNames, firstRun.bootloaderNames);
      for (const job of first) {
        assert.equal(job.success, true, job.states.join('\n'));
        assert.ok(Math.abs(job.durationMs - job.modelledAirMs) < 1, 'duration and modelled air time come from the one clock');
        // A DFU of 99 kB takes seconds of air time, nothing like the minutes a racing clock gave.
        assert.ok(job.modelledAirMs > 1_000 && job.modelledAirMs < 60_000, `modelled ${job.modelledAirMs} ms`);
      }
      assert.deepEqual(second, first);
    });

    it('a job started after a scan wait reports its own modelled time; a wait inside the job counts', { timeout: TEST_TIMEOUT_MS }, async () => {
      const plain = await (async () => {
        const s = await startSimServer({}, {}, dongle);
        try {
          return await dfu(s, addressTarget(s.device().address.value));
        } finally {
          await s.close();
        }
      })();
      assert.equal(plain.success, true, plain.states.join('\n'));

      const afterScan = await (async () => {
        const s = await startSimServer({}, {}, dongle);
        try {
          // A client scans for 5 s first (modelled: the Scan's own timer pulls the clock).
          for await (const _ of s.client.scan({ duration: { seconds: 5, nanos: 0 }, active: true })) void _;
          return await dfu(s, addressTarget(s.device().address.value));
        } finally {
          await s.close();
        }
      })();
      assert.equal(afterScan.success, true, afterScan.states.join('\n'));
      assert.ok(Math.abs(afterScan.modelledAirMs - plain.modelledAirMs) < 1_000, `after a scan: ${afterScan.modelledAirMs} ms, without: ${plain.modelledAirMs} ms`);

      const WAIT_MS = 3_000;
      const waited = await (async () => {
        const s = await startSimServer({}, {}, dongle);
        try {
          // The device is out of range when the job starts and comes back 3 s (modelled) later.
          const absent = s.world.faults.inject({ kind: 'absent' });
          s.registry.clock.setTimer(WAIT_MS, () => absent.remove());
          return await dfu(s, addressTarget(s.device().address.value));
        } finally {
          await s.close();
        }
      })();
      assert.equal(waited.success, true, waited.states.join('\n'));
      const extra = waited.modelledAirMs - plain.modelledAirMs;
      assert.ok(extra >= WAIT_MS - 500 && extra <= WAIT_MS + 1_000, `the job waited ${extra} ms more than without the wait`);
    });
  });
}

describe('one clock: a station\'s parallel DFUs on a Zephyr-like controller (7 × 27-byte ACL buffers shared by the links)', () => {
  // The parallel bench (test/bench/parallel.bench.ts) as a test of the clock, not of speed: the
  // package uploaded once and four jobs started on its package_id at once, their fragments
  // competing for the controller's few buffers. Which link gets a freed buffer must depend on
  // modelled time only, never on how fast the host ran.
  it('two fresh servers give the same modelled per-job durations and state times', { timeout: TEST_TIMEOUT_MS }, async () => {
    const runOnce = async (): Promise<JobTimeline[]> => {
      const s = await startSimServer({ ...CONTROLLER_PROFILES.zephyr, devices: [{}, {}, {}, {}] }, { maxConcurrentDfus: 4, maxConcurrentUploads: 4 });
      try {
        const { packageId } = await uploadPackage(s.client, APP);
        return await Promise.all(
          [0, 1, 2, 3].map(async (i) => {
            const r = await drain(startDfu(s.client, { package: { packageId }, target: addressTarget(s.device(i).address.value) }, { signal: AbortSignal.timeout(TEST_TIMEOUT_MS) }));
            return timeline(r.events);
          }),
        );
      } finally {
        await s.close();
      }
    };
    const first = await runOnce();
    const second = await runOnce();
    for (const job of first) assert.equal(job.success, true, job.states.join('\n'));
    // The transfers really ran side by side: every one started before any ended.
    const at = (job: JobTimeline, state: string): number => Number(/\+(\d+)$/.exec(job.states.find((x) => x.startsWith(`${state} `)) ?? '')?.[1]);
    const lastStart = Math.max(...first.map((j) => at(j, 'TRANSFERRING')));
    const firstEnd = Math.min(...first.map((j) => at(j, 'ACTIVATING')));
    assert.ok(lastStart < firstEnd, `transfers did not overlap: last started at +${lastStart} ms, first ended at +${firstEnd} ms`);
    assert.deepEqual(second, first);
  });
});
