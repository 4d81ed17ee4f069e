/**
 * The virtual HCI controller's UART has a speed (`sim:?baud=N`, docs/sim-model.md): through the
 * whole server on the accelerated simulator, a DFU over a slow line still succeeds, takes at least
 * the time its bytes need on the line, and takes longer than over the default 1 Mbaud line.
 * Modelled times only (deterministic), never real time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startDfu } from '../../clients/ts/index.js';
import { addressTarget, drain, finished, revisionOf, startSimServer } from '../helpers/sim-server.js';
import { projectFacts } from '../helpers/project-packages.js';

const APP = await projectFacts('app');
const SLOW_BAUD = 115_200;

const ms = (d: { readonly seconds: number; readonly nanos: number } | undefined): number => (d === undefined ? Number.NaN : d.seconds * 1000 + d.nanos / 1e6);

/** One DFU of the application package on a fresh server whose HCI UART runs at `baud`; its modelled duration. */
async function modelledDfuMs(baud: number | undefined): Promise<number> {
  const s = await startSimServer(baud === undefined ? {} : { baud });
  try {
    const r = await drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(s.device().address.value) }, { signal: AbortSignal.timeout(60_000) }));
    const f = finished(r.events);
    assert.equal(f?.result.success, true, String(r.error));
    assert.equal(s.device().firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
    return ms(f?.result.duration);
  } finally {
    await s.close();
  }
}

describe("the simulated HCI dongle's UART speed", () => {
  it('a DFU over a 115 200-baud line succeeds, needs at least its bytes × 10 / baud, and takes longer than at 1 Mbaud', { timeout: 60_000 }, async () => {
    const slow = await modelledDfuMs(SLOW_BAUD);
    const fast = await modelledDfuMs(undefined);
    // Every image byte crosses the line towards the controller at least once (with H4 and ACL headers on top).
    const lineFloorMs = (APP.size * 10 * 1000) / SLOW_BAUD;
    assert.ok(slow >= lineFloorMs, `modelled ${slow} ms, the line alone needs ${lineFloorMs} ms`);
    assert.ok(slow > fast + lineFloorMs / 4, `at ${SLOW_BAUD} baud ${slow} ms, at 1 Mbaud ${fast} ms`);
  });
});
