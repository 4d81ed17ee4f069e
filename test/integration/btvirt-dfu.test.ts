/**
 * Secure DFU of the hrs application through the serial transport → pty → btvirt into simulated
 * nRF5 devices that run as peripherals on their own emulated controllers: buttonless entry, the
 * bootloader at address + 1, 25 data objects over 192-byte ACL buffers, activation, and the new
 * firmware revision read back. Link drops mid-object and at an object boundary are resumed. Three
 * devices are updated at once through one emulated dongle. The devices run in a separate process
 * where noted, as a benchmark would run them.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { silentLogger } from '../../server/common/logger.js';
import type { SimFault } from '../../server/sim/faults.js';
import { openCentral } from '../helpers/btvirt/central.js';
import { dfu, APP_PACKAGE, phases } from '../helpers/btvirt/dfu.js';
import { btvirtSkipReason, startEmulator } from '../helpers/btvirt/emulator.js';
import { startSimPeripherals, type SimPeripherals } from '../helpers/btvirt/peripherals.js';

const skip = btvirtSkipReason();
const logger = silentLogger();
const TIMEOUT = { timeout: 120_000 };
const APP = 'F0:0D:C0:DE:00:01';

interface Bench {
  readonly central: Awaited<ReturnType<typeof openCentral>>;
  readonly devices: SimPeripherals;
}

/** An emulator, our adapter on a pty controller, and `count` devices (the default demo key). */
async function withBench(count: number, outOfProcess: boolean, body: (b: Bench) => Promise<void>): Promise<void> {
  const emu = await startEmulator();
  try {
    // The central first: it takes btvirt's slot 0, the devices' controllers the next ones.
    const central = await openCentral(emu, logger);
    try {
      const devices = await startSimPeripherals(emu, { devices: Array.from({ length: count }, () => ({})), outOfProcess, logger });
      try {
        await body({ central, devices });
      } finally {
        await devices.close();
      }
    } finally {
      await central.close();
    }
  } catch (e) {
    throw new Error(`${String(e)}\nbtvirt log:\n${await emu.log()}`, { cause: e });
  } finally {
    await emu.stop();
  }
}

async function resumesAfter(t: TestContext, fault: SimFault, what: string, outOfProcess: boolean): Promise<void> {
  await withBench(1, outOfProcess, async ({ central, devices }) => {
    const disarm = await devices.inject(fault);
    const run = await dfu(central.adapter, APP, logger);
    const fired = await disarm();
    assert.equal(fired, 1, 'the link was dropped once');
    assert.ok(phases(run.events).includes('resuming'), `resumed (${phases(run.events).join(' → ')})`);
    // Both data objects executed before the drop were kept: the transfer went on from there.
    const resumedAt = run.events.findIndex((e) => e.kind === 'phase' && e.phase === 'resuming');
    const next = run.events.slice(resumedAt).find((e) => e.kind === 'progress');
    assert.ok(next?.kind === 'progress' && next.totalBytesSent >= 8192, `first progress after resuming: ${next?.kind === 'progress' ? next.totalBytesSent : 'none'}`);
    assert.equal(run.outcome.firmwareRevision, APP_PACKAGE.revision);
    const [status] = await devices.status();
    assert.equal(status?.firmwareRevision, APP_PACKAGE.revision);
    assert.equal(status?.mode, 'application');
    t.diagnostic(`DFU with a drop ${what}: ${run.wallMs.toFixed(0)} ms wall`);
  });
}

describe('Secure DFU over btvirt', { skip }, () => {
  it('hrs application via buttonless entry; the device reports the new revision (devices out of process)', TIMEOUT, async (t) => {
    await withBench(1, true, async ({ central, devices }) => {
      const [before] = await devices.status();
      assert.equal(before?.mode, 'application');
      assert.notEqual(before?.firmwareRevision, APP_PACKAGE.revision);
      const cpuBefore = await devices.cpuUsage();
      const run = await dfu(central.adapter, APP, logger);
      const cpu = await devices.cpuUsage();
      assert.deepEqual(phases(run.events), ['connecting', 'entering-bootloader', 'transferring', 'activating']);
      assert.equal(run.outcome.address.value, APP);
      assert.equal(run.outcome.firmwareRevision, APP_PACKAGE.revision);
      const last = run.events.filter((e) => e.kind === 'progress').at(-1);
      assert.equal(last?.kind === 'progress' ? last.totalBytesSent : 0, APP_PACKAGE.size);
      const [after] = await devices.status();
      assert.equal(after?.firmwareRevision, APP_PACKAGE.revision);
      assert.equal(after?.mode, 'application');
      assert.equal(after?.currentAddress, APP);
      // Buttonless jump, then activation.
      assert.equal((after?.resets ?? 0) - (before?.resets ?? 0), 2);
      const deviceCpuMs = (cpu.user + cpu.system - cpuBefore.user - cpuBefore.system) / 1000;
      t.diagnostic(`DFU ${APP_PACKAGE.size} B: ${run.wallMs.toFixed(0)} ms wall, transfer ${run.transferMs.toFixed(0)} ms; device process CPU ${deviceCpuMs.toFixed(0)} ms`);
    });
  });

  it('resumes after the peripheral drops the link mid-object (devices out of process, fault armed over their control channel)', TIMEOUT, async (t) => {
    // 10 000 bytes: inside the third 4 KiB data object.
    await resumesAfter(t, { kind: 'dropLinkAfterDataBytes', bytes: 10_000 }, 'mid-object', true);
  });

  it('resumes after the peripheral drops the link at an object boundary', TIMEOUT, async (t) => {
    await resumesAfter(t, { kind: 'dropLinkAfterRequest', op: 'execute', objectType: 'data', occurrence: 2 }, 'after the 2nd data Execute', false);
  });

  it('updates three devices in parallel through one emulated dongle (devices out of process)', TIMEOUT, async (t) => {
    await withBench(3, true, async ({ central, devices }) => {
      const before = await devices.status();
      assert.deepEqual(before.map((d) => d.address), ['F0:0D:C0:DE:00:01', 'F0:0D:C0:DE:00:03', 'F0:0D:C0:DE:00:05']);
      const t0 = performance.now();
      const runs = await Promise.all(before.map((d) => dfu(central.adapter, d.address, logger)));
      const wallMs = performance.now() - t0;
      for (const [i, run] of runs.entries()) {
        assert.equal(run.outcome.address.value, before[i]?.address);
        assert.equal(run.outcome.firmwareRevision, APP_PACKAGE.revision);
      }
      const after = await devices.status();
      assert.deepEqual(after.map((d) => [d.mode, d.firmwareRevision]), before.map(() => ['application', APP_PACKAGE.revision]));
      t.diagnostic(`3 parallel DFUs: ${wallMs.toFixed(0)} ms wall (each ${runs.map((r) => r.wallMs.toFixed(0)).join(', ')} ms)`);
    });
  });
});
