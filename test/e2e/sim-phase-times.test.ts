/**
 * Per-phase accounting (issue 14): a job's result says where its time went — scan, connect,
 * buttonless entry, reboot waits, init packet, data transfer, flash waits, activation, final read,
 * other — on the server's one clock, and the phases add up to the job's duration. Through gRPC on
 * the accelerated simulator (modelled time), on both simulated dongle kinds, for a plain DFU and
 * for one that resumes after the simulator breaks its link.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startDfu, type PhaseTimes } from '../../clients/ts/index.js';
import { addressTarget, drain, finished, SIM_DONGLES, startSimServer, type SimServer } from '../helpers/sim-server.js';
import { projectZip } from '../helpers/project-packages.js';

/** The project's ~100 KB application package (demo key, the simulator's default). */
const APP = await projectZip('app');
const TEST_TIMEOUT_MS = 60_000;
const OBJECT = 4096;

const ms = (d: { readonly seconds: number; readonly nanos: number } | undefined): number => (d === undefined ? Number.NaN : d.seconds * 1000 + d.nanos / 1e6);

const PHASES = ['scan', 'connect', 'buttonlessEntry', 'rebootWaits', 'initPacket', 'dataTransfer', 'flashWaits', 'activation', 'finalRead', 'other'] as const;
/** What a buttonless update of an application goes through, each taking modelled time. */
const EXPECTED = ['scan', 'connect', 'buttonlessEntry', 'rebootWaits', 'initPacket', 'dataTransfer', 'flashWaits', 'activation', 'finalRead'] as const;

interface Finished {
  readonly durationMs: number;
  readonly phases: Record<(typeof PHASES)[number], number>;
  readonly states: readonly string[];
}

async function dfu(s: SimServer): Promise<Finished> {
  const r = await drain(startDfu(s.client, { package: { data: APP }, target: addressTarget(s.device(0).address.value) }, { signal: AbortSignal.timeout(TEST_TIMEOUT_MS) }));
  const f = finished(r.events);
  assert.ok(f, 'no finished event');
  const states = r.events.flatMap((e) => (e.type === 'state' ? [`${e.stateName}: ${e.detail}`] : []));
  assert.equal(f.result.success, true, states.join('\n'));
  const p: PhaseTimes | undefined = f.result.phaseTimes;
  assert.ok(p !== undefined, 'the result has phase times');
  const phases = Object.fromEntries(PHASES.map((k) => [k, ms(p[k])])) as Finished['phases'];
  return { durationMs: ms(f.result.duration), phases, states };
}

function assertAccounted(f: Finished): void {
  const text = PHASES.map((k) => `${k} ${f.phases[k].toFixed(3)}`).join(', ');
  const sum = PHASES.reduce((n, k) => n + f.phases[k], 0);
  assert.ok(Math.abs(sum - f.durationMs) <= 1, `phases add up to ${sum} ms, the job took ${f.durationMs} ms: ${text}`);
  for (const k of EXPECTED) assert.ok(f.phases[k] > 0, `${k} took no time: ${text}`);
  for (const k of PHASES) assert.ok(f.phases[k] >= 0, `${k} is negative: ${text}`);
  // Nothing of note happens outside the engine's phases.
  assert.ok(f.phases.other < 10, `other: ${f.phases.other} ms: ${text}`);
}

for (const dongle of SIM_DONGLES) {
  describe(`per-phase times of a job (${dongle.label})`, () => {
    it('a buttonless DFU: every phase took time, and the phases add up to the duration', { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const f = await dfu(s);
        assertAccounted(f);
        // The firmware's bytes dominate: streaming and flash take more than the init packet.
        assert.ok(f.phases.dataTransfer > f.phases.initPacket, `data transfer ${f.phases.dataTransfer} ms, init packet ${f.phases.initPacket} ms`);
      } finally {
        await s.close();
      }
    });

    it('a DFU resumed after a lost link still adds up; the reconnect shows as scan and connect time', { timeout: TEST_TIMEOUT_MS }, async () => {
      const plain = await startSimServer({}, {}, dongle);
      let base: Finished;
      try {
        base = await dfu(plain);
      } finally {
        await plain.close();
      }
      const s = await startSimServer({}, {}, dongle);
      try {
        s.world.faults.inject({ kind: 'dropLinkAfterDataBytes', bytes: 2 * OBJECT + 1_808 });
        const f = await dfu(s);
        assert.ok(f.states.some((t) => t.startsWith('RESUMING')), `no resume:\n${f.states.join('\n')}`);
        assertAccounted(f);
        assert.ok(f.phases.scan > base.phases.scan, `scan ${f.phases.scan} ms after a lost link, ${base.phases.scan} ms without`);
        assert.ok(f.phases.connect > base.phases.connect, `connect ${f.phases.connect} ms after a lost link, ${base.phases.connect} ms without`);
      } finally {
        await s.close();
      }
    });
  });
}
