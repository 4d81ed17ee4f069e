/**
 * `sim:?fault=…`: the simulator's faults set from an adapter spec, parsed into the same SimFault
 * values the tests arm through world.faults, refused with INVALID_ARGUMENT and the grammar when
 * malformed, and armed when the world is created.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { checkAdapterSpecs } from '../../../server/backends/registry.js';
import { hasCode } from '../../../server/common/errors.js';
import { EXT_ERROR, OPCODE, RESULT } from '../../../server/dfu/secure/controlPoint.js';
import { FAULT_SPEC_KINDS, parseFaultSpec } from '../../../server/sim/faultSpec.js';
import { createSimWorld, parseSimSpec } from '../../../server/sim/world.js';

/** INVALID_ARGUMENT whose message matches `pattern` and whose remedy teaches the grammar. */
const refused = (pattern: RegExp, remedy = /fault=KIND\[:ARG…\]\[@DEVICE\]/) => (e: unknown) =>
  hasCode(e, 'INVALID_ARGUMENT') && pattern.test(e.message) && remedy.test(e.remedy ?? '');

describe('parseFaultSpec', () => {
  it('reads every kind into the fault the simulator models', () => {
    assert.deepEqual(parseFaultSpec('droplink:10000'), { kind: 'dropLinkAfterDataBytes', bytes: 10_000 });
    assert.deepEqual(parseFaultSpec('droplink-after:execute-data:2'), { kind: 'dropLinkAfterRequest', op: 'execute', objectType: 'data', occurrence: 2 });
    assert.deepEqual(parseFaultSpec('droplink-after:create-command'), { kind: 'dropLinkAfterRequest', op: 'create', objectType: 'command' });
    assert.deepEqual(parseFaultSpec('droplink-after:crc'), { kind: 'dropLinkAfterRequest', op: 'calcChecksum' });
    assert.deepEqual(parseFaultSpec('droplink-after:prn:3'), { kind: 'dropLinkAfterRequest', op: 'setPrn', occurrence: 3 });
    assert.deepEqual(parseFaultSpec('corrupt:7'), { kind: 'corruptDataPacket', packet: 7 });
    assert.deepEqual(parseFaultSpec('slow:250'), { kind: 'delayControlPoint', ms: 250, times: Number.POSITIVE_INFINITY });
    assert.deepEqual(parseFaultSpec('slow:250:4'), { kind: 'delayControlPoint', ms: 250, times: 4 });
    assert.deepEqual(parseFaultSpec('refuse:create:insufficient-resources'), { kind: 'refuseControlPoint', opcode: OPCODE.CREATE, result: RESULT.INSUFFICIENT_RESOURCES });
    assert.deepEqual(parseFaultSpec('refuse:execute:ext-fw-version-failure:2'), {
      kind: 'refuseControlPoint',
      opcode: OPCODE.EXECUTE,
      result: RESULT.EXT_ERROR,
      extended: EXT_ERROR.FW_VERSION_FAILURE,
      times: 2,
    });
    assert.deepEqual(parseFaultSpec('refuse:crc:0x0a'), { kind: 'refuseControlPoint', opcode: OPCODE.CALC_CHECKSUM, result: RESULT.OPERATION_FAILED });
    assert.deepEqual(parseFaultSpec('unanswered'), { kind: 'frame', direction: 'toCentral', action: 'drop', cid: 4, firstByte: 0x1b, times: 1, after: 0 });
    assert.deepEqual(parseFaultSpec('unanswered:2:5'), { kind: 'frame', direction: 'toCentral', action: 'drop', cid: 4, firstByte: 0x1b, times: 2, after: 5 });
    assert.deepEqual(parseFaultSpec('drop:to-device'), { kind: 'frame', direction: 'toPeripheral', action: 'drop', times: 1, after: 0 });
    assert.deepEqual(parseFaultSpec('drop:from-device:3:10'), { kind: 'frame', direction: 'toCentral', action: 'drop', times: 3, after: 10 });
    assert.deepEqual(parseFaultSpec('absent'), { kind: 'absent' });
  });

  it('aims a fault at one device with @NAME or @ADDRESS', () => {
    assert.deepEqual(parseFaultSpec('absent@bledfu-sim-2'), { kind: 'absent', device: 'bledfu-sim-2' });
    assert.deepEqual(parseFaultSpec('corrupt:3@F0:0D:C0:DE:00:01'), { kind: 'corruptDataPacket', packet: 3, device: 'F0:0D:C0:DE:00:01' });
  });

  it('refuses what it cannot read, saying what is wrong and how to write it', () => {
    assert.throws(() => parseFaultSpec('explode'), refused(/unknown fault "explode"/));
    assert.throws(() => parseFaultSpec(''), refused(/unknown fault ""/));
    assert.throws(() => parseFaultSpec('droplink'), refused(/BYTES must be a whole number from 1 to 4294967295, not ""/));
    assert.throws(() => parseFaultSpec('droplink:0'), refused(/BYTES must be a whole number/));
    assert.throws(() => parseFaultSpec('droplink:1.5'), refused(/BYTES must be a whole number/));
    assert.throws(() => parseFaultSpec('droplink:-3'), refused(/BYTES must be a whole number/));
    assert.throws(() => parseFaultSpec('droplink:1e3'), refused(/BYTES must be a whole number/));
    assert.throws(() => parseFaultSpec('droplink:100:2'), refused(/too many arguments \(2, at most 1\)/));
    assert.throws(() => parseFaultSpec('droplink-after:write'), refused(/unknown request "write"; requests: create, execute, select, crc, prn/));
    assert.throws(() => parseFaultSpec('droplink-after:crc-data'), refused(/unknown request "crc-data"|only create, execute and select take/));
    assert.throws(() => parseFaultSpec('corrupt:0'), refused(/N must be a whole number from 1/));
    assert.throws(() => parseFaultSpec('slow:0'), refused(/MS must be a whole number from 1 to 3600000/));
    assert.throws(() => parseFaultSpec('refuse:create'), refused(/give the error to answer with/));
    assert.throws(() => parseFaultSpec('refuse:create:nope'), refused(/unknown result "nope"; results: invalid, success, .*insufficient-resources.*, or ext-NAME/));
    assert.throws(() => parseFaultSpec('refuse:create:success'), refused(/success is not a fault/));
    assert.throws(() => parseFaultSpec('refuse:create:0x0b'), refused(/name the extended error/));
    assert.throws(() => parseFaultSpec('refuse:create:ext-nope'), refused(/unknown extended error "nope"; extended errors: no-error, .*insufficient-space/));
    assert.throws(() => parseFaultSpec('refuse:create:ext-0x100'), refused(/an extended error must be a whole number from 1 to 255/));
    assert.deepEqual(parseFaultSpec('refuse:create:ext-13'), { kind: 'refuseControlPoint', opcode: OPCODE.CREATE, result: RESULT.EXT_ERROR, extended: 13 });
    assert.throws(() => parseFaultSpec('drop:sideways'), refused(/say which way: drop:to-device or drop:from-device, not "sideways"/));
    assert.throws(() => parseFaultSpec('absent:1'), refused(/too many arguments/));
    assert.throws(() => parseFaultSpec('absent@'), refused(/name a device after @/));
  });

  it('echoes only a short prefix of what it was given', () => {
    const huge = `explode${'x'.repeat(100_000)}`;
    assert.throws(
      () => parseFaultSpec(huge),
      (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && e.message.length < 400,
    );
  });

  it("lists every kind it reads, and the README's table says what each one does", () => {
    const kinds = FAULT_SPEC_KINDS.map(([syntax]) => /^[a-z-]+/.exec(syntax)?.[0]);
    assert.deepEqual(kinds, ['droplink', 'droplink-after', 'corrupt', 'slow', 'refuse', 'unanswered', 'drop', 'absent']);
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('#### Simulator faults'));
    for (const [syntax, meaning] of FAULT_SPEC_KINDS) {
      const row = `| \`${syntax.replace(/\|/g, '\\|')}\` | ${meaning.replace(/\|/g, '\\|')} |`;
      assert.ok(section.includes(row), `README's Simulator faults table has: ${row}`);
    }
  });
});

describe('sim:?fault= in an adapter spec', () => {
  it('collects repeated fault= parameters in order', () => {
    const c = parseSimSpec('sim:?devices=2&fault=droplink:5000&fault=absent@bledfu-sim-2');
    assert.deepEqual(c.faults, [
      { kind: 'dropLinkAfterDataBytes', bytes: 5_000 },
      { kind: 'absent', device: 'bledfu-sim-2' },
    ]);
    assert.equal(parseSimSpec('sim:?devices=2').faults, undefined);
  });

  it("refuses a fault aimed at a device the spec does not have (it would never fire), naming the spec's devices", () => {
    assert.throws(
      () => parseSimSpec('sim:?devices=2&fault=absent@bledfu-sim-3'),
      refused(/a fault names device "bledfu-sim-3", which this simulator does not have/, /bledfu-sim-1, bledfu-sim-2/),
    );
    // Numbered from first=: devices 3 and 4, by name and by address.
    assert.deepEqual(parseSimSpec('sim:?devices=2&first=3&fault=absent@bledfu-sim-4').faults, [{ kind: 'absent', device: 'bledfu-sim-4' }]);
    assert.deepEqual(parseSimSpec('sim:?fault=absent@f0:0d:c0:de:00:01').faults, [{ kind: 'absent', device: 'f0:0d:c0:de:00:01' }]);
  });

  it('stops the server at startup on a malformed fault, like any other spec typo', async () => {
    await assert.rejects(checkAdapterSpecs(['sim:?fault=droplink:lots']), refused(/fault="droplink:lots": BYTES must be a whole number/));
  });

  it('arms the faults when the world is created: an absent device does not advertise, the other does', async () => {
    const world = createSimWorld(parseSimSpec('sim:?devices=2&fault=absent@bledfu-sim-2&fault=corrupt:3'));
    try {
      assert.deepEqual(
        world.faults.active.map((f) => f.kind),
        ['absent', 'corruptDataPacket'],
      );
      assert.notEqual(world.devices[0]?.device.advertising(), undefined, 'bledfu-sim-1 advertises');
      assert.equal(world.devices[1]?.device.advertising(), undefined, 'bledfu-sim-2 is absent');
    } finally {
      await world.close();
    }
  });
});
