/**
 * Issue 13, the controller's own link limit: a controller with fewer link contexts than the
 * adapter's max= (Zephyr's CONFIG_BT_MAX_CONN; here 2, with max=4) refuses LE Create Connection
 * with Memory Capacity Exceeded while its links are up. Four parallel DFUs through gRPC still all
 * complete: the refused attempt waits for a link like any other, and the dongle is used with the
 * links it has from then on (ListAdapters shows 2). The refusals are read from the jobs' own HCI
 * captures, not from the server's word.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { downloadJobCapture, startDfu } from '../../clients/ts/index.js';
import { HCI_COMMANDS } from '../../server/host/hci/commands.js';
import { parseBtsnoop } from '../helpers/btsnoop.js';
import { projectFacts } from '../helpers/project-packages.js';
import { addressTarget, drain, finished, revisionOf, startSimServer } from '../helpers/sim-server.js';

const APP = await projectFacts('app-small');
const DEVICES = 4;
const CONTROLLER_LINKS = 2;
const H4_EVENT = 0x04;
const COMMAND_STATUS = 0x0f;
const MEMORY_CAPACITY_EXCEEDED = 0x07;
const CREATE_CONNECTION = HCI_COMMANDS.leCreateConnection.opcode;

/** Command Status events refusing LE Create Connection with Memory Capacity Exceeded, in a capture. */
function refusals(capture: Uint8Array): number {
  return parseBtsnoop(capture).records.filter(
    (r) =>
      !r.sent &&
      r.data[0] === H4_EVENT &&
      r.data[1] === COMMAND_STATUS &&
      r.data[3] === MEMORY_CAPACITY_EXCEEDED &&
      ((r.data[5] ?? 0) | ((r.data[6] ?? 0) << 8)) === CREATE_CONNECTION,
  ).length;
}

describe('a controller that holds fewer links than max= (simulator, gRPC)', () => {
  it('four DFUs on a 2-link controller with max=4 all complete; the dongle is then used with 2 links', { timeout: 60_000 }, async () => {
    const s = await startSimServer(
      { devices: Array.from({ length: DEVICES }, () => ({})), linkLimit: CONTROLLER_LINKS },
      { maxConcurrentDfus: DEVICES },
      { kind: 'hci' },
      {},
      { maxConnections: 4 },
    );
    try {
      assert.equal((await s.client.listAdapters({})).adapters[0]?.maxConnections, 4, 'max= until the controller says otherwise');
      const devices = Array.from({ length: DEVICES }, (_, i) => s.device(i));
      const runs = await Promise.all(
        devices.map((dev) =>
          drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(dev.address.value), captureHci: true }, { signal: AbortSignal.timeout(55_000) })),
        ),
      );
      let refused = 0;
      for (const [i, r] of runs.entries()) {
        assert.equal(r.error, undefined, `device ${i + 1}: ${String(r.error)}`);
        const f = finished(r.events);
        assert.equal(f?.result.success, true, `device ${i + 1}: ${f?.error?.message ?? ''}`);
        assert.equal(devices[i]?.firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
        refused += refusals(await downloadJobCapture(s.client, f?.jobId ?? ''));
      }
      assert.ok(refused >= 1, 'the controller refused a third link at least once');
      const [after] = (await s.client.listAdapters({})).adapters;
      assert.equal(after?.maxConnections, CONTROLLER_LINKS, 'the dongle is used with the links it has');
      assert.deepEqual(after?.workarounds, ['the controller holds 2 links (it refused one more); used with 2 instead of max=4']);
    } finally {
      await s.close();
    }
  });

  it('links= is a simulator knob of the HCI controller only, and controller=zephyr holds 16 links', async () => {
    const { parseSimSpec, CONTROLLER_PROFILES } = await import('../../server/sim/world.js');
    assert.equal(parseSimSpec('sim:?links=3').linkLimit, 3);
    assert.equal(CONTROLLER_PROFILES.zephyr.linkLimit, 16);
    assert.equal(parseSimSpec('sim:?controller=zephyr').linkLimit, 16);
    assert.throws(() => parseSimSpec('sim:?links=0'), /bad value "0" for links/);
    assert.throws(() => parseSimSpec('sim:?dongle=nrf&links=2'), /links= applies only to the HCI controller/);
  });
});
