import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { BledfuError, hasCode } from '../../../../server/common/errors.js';
import { LE_FEATURE_BITS, maskOf } from '../../../../server/host/hci/commands.js';
import { hciError, hciTimeout, HCI_STATUS } from '../../../../server/host/hci/errors.js';
import { OptionalCommands, type OptionalCommand } from '../../../../server/host/hci/optionalCommands.js';
import { SUPPORTED_COMMAND_BITS, supportedCommandsBitmapOf, type AdvertisedCommandName } from '../../../../server/host/hci/supportedCommands.js';
import { settle } from '../../../helpers/manualClock.js';

const SET_PHY: OptionalCommand = { name: 'leSetPhy', leFeature: LE_FEATURE_BITS.le2mPhy, withoutIt: 'stays on 1M' };
const SET_DATA_LENGTH: OptionalCommand = { name: 'leSetDataLength', leFeature: LE_FEATURE_BITS.dataPacketLengthExtension, withoutIt: '27-byte packets' };
const ALL = Object.keys(SUPPORTED_COMMAND_BITS) as AdvertisedCommandName[];
const BOTH_FEATURES = maskOf([LE_FEATURE_BITS.le2mPhy, LE_FEATURE_BITS.dataPacketLengthExtension]);

function recordingLogger(): { logger: pino.Logger; warnings: () => string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  return {
    logger,
    warnings: () =>
      lines
        .map((l) => JSON.parse(l) as { level: number; msg: string })
        .filter((l) => l.level === 40)
        .map((l) => l.msg),
  };
}

/** `null`: the controller would not list its commands. */
function optional(supported: Uint8Array | 'all' | null = 'all', leFeatures = BOTH_FEATURES) {
  const log = recordingLogger();
  const commands = new OptionalCommands(log.logger);
  commands.configure({ leFeatures, supportedCommands: supported === 'all' ? supportedCommandsBitmapOf(ALL) : (supported ?? undefined) });
  return { commands, warnings: log.warnings };
}

/** A send that counts its calls and answers as told. */
function sender(answer: () => Promise<unknown>) {
  const counted = { calls: 0, send: () => (counted.calls++, answer()) };
  return counted;
}

describe('optional HCI commands', () => {
  it('sends a command only when both its LE feature and its Supported_Commands bit are set', async () => {
    const cases: { supported: Uint8Array | null; features: bigint; sent: boolean }[] = [
      { supported: supportedCommandsBitmapOf(ALL), features: BOTH_FEATURES, sent: true },
      { supported: supportedCommandsBitmapOf(ALL.filter((n) => n !== 'leSetPhy')), features: BOTH_FEATURES, sent: false },
      { supported: supportedCommandsBitmapOf(ALL), features: maskOf([LE_FEATURE_BITS.dataPacketLengthExtension]), sent: false },
      { supported: null, features: BOTH_FEATURES, sent: false },
    ];
    for (const c of cases) {
      const { commands } = optional(c.supported, c.features);
      const s = sender(() => Promise.resolve({}));
      assert.equal(await commands.run(SET_PHY, s.send), c.sent);
      assert.equal(s.calls, c.sent ? 1 : 0);
      assert.equal(commands.usable(SET_PHY), c.sent);
    }
  });

  it('gives up an unanswered command on that controller, warns once and never sends it again', async () => {
    const { commands, warnings } = optional();
    const phy = sender(() => Promise.reject(hciTimeout('HCI_LE_Set_PHY', 5000)));
    const dle = sender(() => Promise.resolve({ handle: 1 }));
    assert.equal(await commands.run(SET_PHY, phy.send), false);
    assert.equal(await commands.run(SET_PHY, phy.send), false);
    assert.equal(await commands.run(SET_DATA_LENGTH, dle.send), true);
    assert.equal(await commands.run(SET_DATA_LENGTH, dle.send), true);
    assert.equal(phy.calls, 1);
    assert.equal(dle.calls, 2, 'another command is not affected');
    assert.deepEqual([...commands.givenUp], [['leSetPhy', 'unanswered']]);
    assert.equal(warnings().length, 1);
    assert.match(warnings()[0] ?? '', /HCI_LE_Set_PHY.*never answered.*stays on 1M/);
    // Another controller (another instance) still gets it.
    const other = optional();
    const fine = sender(() => Promise.resolve({}));
    assert.equal(await other.commands.run(SET_PHY, fine.send), true);
  });

  it('holds parallel first sends until the first is answered, so silence costs one timeout', async () => {
    const { commands, warnings } = optional();
    let answer!: (ok: boolean) => void;
    const first = new Promise<boolean>((resolve) => (answer = resolve));
    const s = sender(() => first.then((ok) => (ok ? {} : Promise.reject(hciTimeout('HCI_LE_Set_PHY', 5000)))));
    const runs = [commands.run(SET_PHY, s.send), commands.run(SET_PHY, s.send), commands.run(SET_PHY, s.send)];
    await settle();
    assert.equal(s.calls, 1, 'the others wait for the first answer');
    answer(false);
    assert.deepEqual(await Promise.all(runs), [false, false, false]);
    assert.equal(s.calls, 1);
    assert.equal(warnings().length, 1);

    // Once answered, sends go in parallel.
    const ok = optional();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const p = sender(() => gate);
    const firstRun = ok.commands.run(SET_PHY, p.send);
    await settle();
    release();
    assert.equal(await firstRun, true);
    let hold!: () => void;
    const held = new Promise<void>((resolve) => (hold = resolve));
    const q = sender(() => held);
    const parallel = [ok.commands.run(SET_PHY, q.send), ok.commands.run(SET_PHY, q.send)];
    await settle();
    assert.equal(q.calls, 2);
    hold();
    assert.deepEqual(await Promise.all(parallel), [true, true]);
  });

  it('skips a refusal for this time only, but gives up a command the controller calls unknown', async () => {
    const { commands, warnings } = optional();
    const refused = sender(() => Promise.reject(hciError('HCI_LE_Set_PHY', HCI_STATUS.unsupportedFeature)));
    assert.equal(await commands.run(SET_PHY, refused.send), false);
    assert.equal(await commands.run(SET_PHY, refused.send), false);
    assert.equal(refused.calls, 2, 'a per-link refusal does not stop the next link trying');
    const unknown = sender(() => Promise.reject(hciError('HCI_LE_Set_Data_Length', HCI_STATUS.unknownCommand)));
    assert.equal(await commands.run(SET_DATA_LENGTH, unknown.send), false);
    assert.equal(await commands.run(SET_DATA_LENGTH, unknown.send), false);
    assert.equal(unknown.calls, 1);
    assert.deepEqual(commands.givenUp.get('leSetDataLength'), 'unknown-command');
    assert.equal(warnings().length, 1);
  });

  it('passes other failures (the link going down) through and keeps the command', async () => {
    const { commands } = optional();
    const lost = new BledfuError('LINK_LOST', 'link lost', { layer: 'hci' });
    await assert.rejects(commands.run(SET_PHY, () => Promise.reject(lost)), (e: unknown) => hasCode(e, 'LINK_LOST'));
    assert.equal(commands.usable(SET_PHY), true);
    assert.equal(commands.givenUp.size, 0);
  });
});
