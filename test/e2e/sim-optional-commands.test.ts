/**
 * Acceptance (issue 13, item 2): a controller that advertises LE Set PHY and LE Set Data Length
 * but never answers them. Through gRPC on the accelerated simulator: the DFU completes, each
 * command goes to that dongle once (one command timeout), and later connections and jobs no
 * longer send it. A controller whose Supported_Commands lacks LE Set PHY never gets it. The
 * commands are counted in the jobs' own HCI captures, not taken from the server's word.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { downloadJobCapture, startDfu } from '../../clients/ts/index.js';
import { HCI_COMMANDS } from '../../server/host/hci/commands.js';
import type { SimConfig } from '../../server/sim/world.js';
import { parseBtsnoop } from '../helpers/btsnoop.js';
import { projectZip } from '../helpers/project-packages.js';
import { addressTarget, drain, finished, startSimServer, type SimServer } from '../helpers/sim-server.js';

const SMALL = await projectZip('app-small');
const TEST_TIMEOUT_MS = 60_000;
const H4_COMMAND = 0x01;
const SET_PHY = HCI_COMMANDS.leSetPhy.opcode;
const SET_DATA_LENGTH = HCI_COMMANDS.leSetDataLength.opcode;
const CREATE_CONNECTION = HCI_COMMANDS.leCreateConnection.opcode;

/** Runs one DFU of the small package with a capture; returns how often each opcode was sent in it. */
async function dfuCountingCommands(s: SimServer): Promise<Map<number, number>> {
  const r = await drain(
    startDfu(s.client, { package: { data: SMALL }, target: addressTarget(s.device().address.value), captureHci: true }, { signal: AbortSignal.timeout(30_000) }),
  );
  const f = finished(r.events);
  assert.equal(f?.result.success, true, String(r.error));
  const file = parseBtsnoop(await downloadJobCapture(s.client, f?.jobId ?? ''));
  const counts = new Map<number, number>();
  for (const record of file.records) {
    if (!record.sent || record.data[0] !== H4_COMMAND) continue;
    const opcode = (record.data[1] ?? 0) | ((record.data[2] ?? 0) << 8);
    counts.set(opcode, (counts.get(opcode) ?? 0) + 1);
  }
  return counts;
}

async function withServer(sim: Partial<SimConfig>, body: (s: SimServer) => Promise<void>): Promise<void> {
  const s = await startSimServer(sim);
  try {
    await body(s);
  } finally {
    await s.close();
  }
}

describe('optional HCI commands the controller advertises but does not answer (simulator, gRPC)', () => {
  it('LE Set PHY and LE Set Data Length unanswered: DFUs complete, each command is sent once on that dongle', { timeout: TEST_TIMEOUT_MS }, async () => {
    await withServer({ unansweredCommands: [SET_PHY, SET_DATA_LENGTH] }, async (s) => {
      const first = await dfuCountingCommands(s);
      // Buttonless DFU: the application's connection, then the bootloader's.
      assert.ok((first.get(CREATE_CONNECTION) ?? 0) >= 2, 'the job connected more than once');
      assert.equal(first.get(SET_PHY), 1);
      assert.equal(first.get(SET_DATA_LENGTH), 1);
      const second = await dfuCountingCommands(s);
      assert.ok((second.get(CREATE_CONNECTION) ?? 0) >= 2);
      assert.equal(second.get(SET_PHY) ?? 0, 0, 'not sent again on that dongle');
      assert.equal(second.get(SET_DATA_LENGTH) ?? 0, 0, 'not sent again on that dongle');
      // ListAdapters says so, in words a person can act on.
      const workarounds = (await s.client.listAdapters({})).adapters[0]?.workarounds ?? [];
      assert.equal(workarounds.length, 2, workarounds.join('\n'));
      assert.match(workarounds.join('\n'), /HCI_LE_Set_PHY: the controller advertises it but never answered it; no longer sent \(links stay on the PHY/);
      assert.match(workarounds.join('\n'), /HCI_LE_Set_Data_Length: the controller advertises it but never answered it/);
    });
  });

  it('a controller whose Supported_Commands lacks LE Set PHY never gets it; LE Set Data Length still goes out', { timeout: TEST_TIMEOUT_MS }, async () => {
    await withServer({ withheldCommands: [SET_PHY] }, async (s) => {
      const counts = await dfuCountingCommands(s);
      assert.ok((counts.get(CREATE_CONNECTION) ?? 0) >= 2);
      assert.equal(counts.get(SET_PHY) ?? 0, 0);
      assert.equal(counts.get(SET_DATA_LENGTH), counts.get(CREATE_CONNECTION), 'once per connection');
    });
  });

  it('the default controller answers both, and gets them on every connection', { timeout: TEST_TIMEOUT_MS }, async () => {
    await withServer({}, async (s) => {
      const counts = await dfuCountingCommands(s);
      assert.ok((counts.get(CREATE_CONNECTION) ?? 0) >= 2);
      assert.equal(counts.get(SET_PHY), counts.get(CREATE_CONNECTION));
      assert.equal(counts.get(SET_DATA_LENGTH), counts.get(CREATE_CONNECTION));
    });
  });
});
