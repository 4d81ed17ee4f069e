/**
 * Faults set in the `sim:` adapter spec, as a user would rehearse them against bledfud
 * (`--adapters 'sim:?fault=…'`): the spec goes through the adapter registry exactly as the
 * server's config hands it over, and a gRPC client runs the update. Each fault shows in what the
 * DFU does (resumes, resends, fails with the device's error, cannot find the device) and in what
 * the simulated device ends up holding, not only in the job's own account.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startDfu, type BledfuClient } from '../../clients/ts/index.js';
import { openAdapters } from '../../server/backends/registry.js';
import type { SimWorld } from '../../server/sim/world.js';
import { serveRegistry, testLogger } from '../helpers/app-server.js';
import { addressTarget, drain, finished, journey, revisionOf, type Drained } from '../helpers/job-events.js';
import { projectFacts } from '../helpers/project-packages.js';

const APP = await projectFacts('app');
const NEW_REVISION = revisionOf(APP.fwVersion, APP.sha256);

interface SpecServer {
  readonly world: SimWorld;
  readonly client: BledfuClient;
  close(): Promise<void>;
}

const open: SpecServer[] = [];
after(async () => {
  for (const s of open.splice(0)) await s.close();
});

/** A server on the one adapter `spec` (accelerated simulator), with a client. */
async function serve(spec: string): Promise<SpecServer> {
  const logger = testLogger();
  const registry = await openAdapters([spec], logger, {});
  const world = registry.simWorld('sim0');
  assert.ok(world !== undefined && registry.list()[0]?.info().state === 'ready', `${spec} opened`);
  const served = await serveRegistry(registry, logger);
  const s = {
    world,
    client: served.client,
    close: async () => {
      await served.close();
      await registry.close();
    },
  };
  open.push(s);
  return s;
}

function update(s: SpecServer, device = 0): Promise<Drained> {
  const view = s.world.devices[device];
  assert.ok(view !== undefined);
  return drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(view.address.value) }, { signal: AbortSignal.timeout(30_000) }));
}

describe('faults from the sim: spec, through gRPC', () => {
  it('fault=droplink:BYTES cuts the link mid-transfer; the update resumes and the device boots the new image', { timeout: 60_000 }, async () => {
    const s = await serve('sim:?fault=droplink:10000');
    assert.deepEqual(s.world.faults.active, [{ kind: 'dropLinkAfterDataBytes', bytes: 10_000 }], 'armed from the spec');
    const r = await update(s);
    assert.equal(r.error, undefined, String(r.error));
    assert.equal(finished(r.events)?.result.success, true);
    assert.deepEqual(journey(r.events), ['CONNECTING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'RESUMING', 'ACTIVATING', 'SUCCEEDED']);
    assert.deepEqual(s.world.faults.active, [], 'the fault fired (and only once)');
    assert.equal(s.world.devices[0]?.firmwareRevision(), NEW_REVISION);
  });

  it("fault=refuse:execute:ext-hw-version-failure fails the update with the device's own error; the old firmware stays", { timeout: 60_000 }, async () => {
    const s = await serve('sim:?fault=refuse:execute:ext-hw-version-failure');
    const before = s.world.devices[0]?.firmwareRevision();
    const r = await update(s);
    const f = finished(r.events);
    assert.equal(f?.result.success, false);
    assert.equal(f?.error?.code, 'DFU_REMOTE_ERROR');
    assert.match(f?.error?.message ?? '', /HW_VERSION_FAILURE/);
    assert.equal(journey(r.events).at(-1), 'FAILED');
    assert.notEqual(before, NEW_REVISION);
    assert.equal(s.world.devices[0]?.firmwareRevision(), before, 'nothing was installed');
  });

  it('fault=refuse:execute:ext-fw-version-failure (the init packet refused as not newer): the job ends UP_TO_DATE, the old firmware stays and runs', { timeout: 60_000 }, async () => {
    const s = await serve('sim:?fault=refuse:execute:ext-fw-version-failure');
    const before = s.world.devices[0]?.firmwareRevision();
    const r = await update(s);
    assert.equal(r.error, undefined, String(r.error));
    const f = finished(r.events);
    assert.equal(f?.result.success, true);
    assert.equal(f?.error, undefined);
    assert.equal(journey(r.events).at(-1), 'UP_TO_DATE');
    assert.equal(f?.result.firmwareRevision, before);
    assert.equal(s.world.devices[0]?.firmwareRevision(), before, 'nothing was installed');
    assert.equal(s.world.devices[0]?.mode(), 'application');
  });

  it('fault=corrupt:N spoils one data packet; the CRC check catches it and the object is sent again', { timeout: 60_000 }, async () => {
    const s = await serve('sim:?fault=corrupt:5');
    const r = await update(s);
    assert.equal(finished(r.events)?.result.success, true, String(r.error));
    assert.deepEqual(s.world.faults.active, [], 'the packet was corrupted');
    assert.equal(s.world.devices[0]?.images().application?.sha256, APP.sha256, 'what was installed is the image, intact');
  });

  it('fault=absent@NAME hides that device only: its update fails DEVICE_NOT_FOUND, the other device updates', { timeout: 60_000 }, async () => {
    const s = await serve('sim:?devices=2&fault=absent@bledfu-sim-2');
    const [hidden, visible] = await Promise.all([update(s, 1), update(s, 0)]);
    assert.equal(finished(hidden.events)?.error?.code, 'DEVICE_NOT_FOUND');
    assert.equal(finished(visible.events)?.result.success, true, String(visible.error));
    assert.equal(s.world.devices[0]?.firmwareRevision(), NEW_REVISION);
    assert.notEqual(s.world.devices[1]?.firmwareRevision(), NEW_REVISION);
  });
});
