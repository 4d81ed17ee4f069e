/**
 * `bledfu --json` as a script reads it: the CLI (the DFU spawned) against the whole server on
 * the accelerated simulator, every kind of command, and each line held to the contract of
 * clients/cli/README.md — a documented record type, camelCase field names with one spelling per
 * field across record types, durations as protobuf JSON strings, no repeated progress record.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RECORD_TYPES } from '../../clients/cli/recordTypes.js';
import { AuditLog } from '../../server/audit/log.js';
import { projectZip } from '../helpers/project-packages.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { runCli, type CliRun } from '../helpers/run-process.js';
import { startSimServer, type SimServer } from '../helpers/sim-server.js';

type Json = Record<string, unknown>;

/** protobuf JSON's Duration: seconds with 0, 3, 6 or 9 fractional digits, then "s". */
const DURATION = /^-?\d+(\.\d{3}|\.\d{6}|\.\d{9})?s$/;

/** The DFU runs in a spawned CLI (its real stdout); the other commands in this process, for speed. */
function cli(args: readonly string[]): Promise<CliRun> {
  return runCli(['--json', ...args], { env: { BLEDFU_SERVER: '' }, timeoutMs: 60_000 });
}

/** Every field name in `value` with its path ("result.phaseTimes.scan"); ErrorInfo metadata keys are data, not fields. */
function fieldPaths(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => fieldPaths(v, `${path}[]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Json).flatMap(([key, v]) => {
    const here = path === '' ? key : `${path}.${key}`;
    return key === 'metadata' ? [here] : [here, ...fieldPaths(v, here)];
  });
}

/** Objects shaped like a google.protobuf.Duration message: a duration that was not turned into a string. */
function durationObjects(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => durationObjects(v, `${path}[]`));
  if (value === null || typeof value !== 'object') return [];
  const keys = Object.keys(value as Json);
  if (keys.length > 0 && keys.every((k) => k === 'seconds' || k === 'nanos')) return [path];
  return Object.entries(value as Json).flatMap(([k, v]) => durationObjects(v, path === '' ? k : `${path}.${k}`));
}

const at = (record: Json | undefined, path: string): unknown => path.split('.').reduce<unknown>((v, k) => (v as Json | undefined)?.[k], record);

describe('bledfu --json records (CLI against the simulator)', () => {
  let s: SimServer;
  let dir: string;
  let audit: AuditLog;
  const all: { command: string; records: Json[] }[] = [];
  let dfuRun: CliRun;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-cli-json-'));
    audit = AuditLog.open(join(dir, 'audit.jsonl')).log;
    s = await startSimServer({}, {}, { kind: 'hci' }, { audit });
    const zip = join(dir, 'sd-bl-app.zip');
    await writeFile(zip, await projectZip('sd-bl-app'));
    const address = s.device().address.value;
    dfuRun = await cli(['--server', s.address, 'dfu', zip, '--address', address, '--upload']);
    assert.equal(dfuRun.code, 0, dfuRun.stderr);
    const jobId = String(dfuRun.records.find((r) => r['type'] === 'snapshot')?.['jobId']);
    const runs: [string, readonly string[]][] = [
      ['jobs watch', ['--server', s.address, 'jobs', 'watch', jobId]],
      ['jobs list', ['--server', s.address, 'jobs', 'list']],
      ['jobs show', ['--server', s.address, 'jobs', 'show', jobId]],
      ['audit', ['--server', s.address, 'audit']],
      ['adapters', ['--server', s.address, 'adapters']],
      ['scan', ['--server', s.address, 'scan', '--duration', '0.5']],
      ['connect', ['--server', s.address, 'connect', '--address', address, '--once']],
      ['health', ['--server', s.address, 'health']],
      ['pkg display', ['pkg', 'display', zip]],
      ['keys generate', ['keys', 'generate', join(dir, 'key.pem')]],
      ['warning (one of two servers down)', ['--server', `${s.address},127.0.0.1:1`, 'adapters']],
      ['error', ['--server', s.address, 'jobs', 'watch', 'no-such-job']],
    ];
    all.push({ command: 'dfu', records: dfuRun.records });
    for (const [command, args] of runs) all.push({ command, records: (await cliInProcess(['--json', ...args], { BLEDFU_SERVER: '' })).records });
  });

  after(async () => {
    await s?.close();
    audit?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('every record has a documented type, and the commands together print most of them', () => {
    const seen = new Set<string>();
    for (const { command, records } of all) {
      assert.ok(records.length > 0, `${command} printed no record`);
      for (const r of records) {
        assert.ok((RECORD_TYPES as readonly unknown[]).includes(r['type']), `${command}: undocumented type ${String(r['type'])}`);
        seen.add(String(r['type']));
      }
    }
    for (const type of ['snapshot', 'state', 'progress', 'finished', 'deviceInfo', 'uploaded', 'job', 'audit', 'adapter', 'advertisement', 'connected', 'health', 'package', 'key', 'warning', 'error']) {
      assert.ok(seen.has(type), `no ${type} record seen (seen: ${[...seen].join(', ')})`);
    }
  });

  it('field names are camelCase, with one spelling of each across all record types', () => {
    const spellings = new Map<string, Set<string>>();
    for (const { command, records } of all) {
      for (const r of records) {
        for (const path of fieldPaths(r)) {
          const name = path.slice(path.lastIndexOf('.') + 1).replace(/\[\]/g, '');
          assert.match(name, /^[a-z][a-zA-Z0-9]*$/, `${command}: ${String(r['type'])} field ${path}`);
          const key = name.toLowerCase();
          spellings.set(key, (spellings.get(key) ?? new Set()).add(name));
        }
      }
    }
    for (const [, names] of spellings) assert.equal(names.size, 1, `one field, several spellings: ${[...names].join(', ')}`);
    // The device's codes are named as in bledfu.v1.ErrorDetail, so error records and a job's result.error agree.
    const error = all.find((c) => c.command === 'error')?.records.at(-1);
    assert.equal(error?.['type'], 'error');
    assert.equal(error?.['code'], 'JOB_NOT_FOUND');
    assert.equal(typeof error?.['exitCode'], 'number');
    const metadata = error?.['metadata'] as Json;
    for (const surfaced of ['remedy', 'layer']) assert.equal(metadata[surfaced], undefined, `${surfaced} twice in the error record`);
  });

  it("the device's Device Information: a deviceInfo record in dfu, in jobs show's job and result, in the audit record; jobs show prints it", async () => {
    const serial = s.device().serialNumber;
    const infos = dfuRun.records.filter((r) => r['type'] === 'deviceInfo');
    assert.equal(infos.length, 1);
    assert.equal(at(infos[0], 'deviceInfo.serialNumber'), serial);
    // Spelled out in full, so a script can rely on every field.
    assert.deepEqual(Object.keys((infos[0]?.['deviceInfo'] ?? {}) as Json).sort(), ['firmwareRevision', 'hardwareRevision', 'manufacturer', 'model', 'serialNumber', 'softwareRevision']);
    assert.equal(at(dfuRun.records.find((r) => r['type'] === 'finished'), 'result.deviceInfo.serialNumber'), serial);
    const shown = all.find((c) => c.command === 'jobs show')?.records[0];
    assert.equal(at(shown, 'job.deviceInfo.serialNumber'), serial);
    const auditRecord = all.find((c) => c.command === 'audit')?.records.find((r) => r['type'] === 'audit');
    assert.equal(at(auditRecord, 'record.deviceInfo.serialNumber'), serial);
    const jobId = String(dfuRun.records.find((r) => r['type'] === 'snapshot')?.['jobId']);
    const text = await cliInProcess(['--server', s.address, 'jobs', 'show', jobId], { BLEDFU_SERVER: '' });
    const auditText = await cliInProcess(['--server', s.address, 'audit'], { BLEDFU_SERVER: '' });
    assert.match(auditText.stdout, new RegExp(`job=${jobId} .* serial=${serial}`));
    assert.match(text.stdout, new RegExp(`^device: model [^\\n]*, serial ${serial}, hardware [^\\n]*, firmware app v[^\\n]*, software [^\\n]*, by [^\\n]+$`, 'm'));
  });

  it("the package's DFU protocol: in the uploaded, snapshot, finished, job, audit and package records, and in the text of dfu/jobs watch, jobs list, audit and pkg display", async () => {
    const record = (command: string, type: string): Json | undefined => all.find((c) => c.command === command)?.records.find((r) => r['type'] === type);
    const SECURE = 'DFU_PROTOCOL_SECURE';
    assert.equal(at(record('dfu', 'uploaded'), 'protocol'), SECURE);
    assert.equal(at(record('dfu', 'snapshot'), 'job.protocol'), SECURE);
    assert.equal(at(record('dfu', 'finished'), 'result.protocol'), SECURE);
    assert.equal(at(record('jobs list', 'job'), 'job.protocol'), SECURE);
    assert.equal(at(record('jobs show', 'job'), 'job.protocol'), SECURE);
    assert.equal(at(record('audit', 'audit'), 'record.protocol'), SECURE);
    assert.equal(at(record('pkg display', 'package'), 'protocol'), SECURE);
    const jobId = String(dfuRun.records.find((r) => r['type'] === 'snapshot')?.['jobId']);
    const text = async (...args: string[]): Promise<string> => (await cliInProcess(['--server', s.address, ...args], { BLEDFU_SERVER: '' })).stdout;
    assert.match(await text('jobs', 'watch', jobId), new RegExp(`^job ${jobId} on adapter sim0: Secure DFU, 2 image\\(s\\)$`, 'm'));
    assert.match(await text('jobs', 'list'), new RegExp(`^${jobId} .* adapter=sim0 protocol=secure `, 'm'));
    assert.match(await text('audit'), new RegExp(`job=${jobId} adapter=sim0 protocol=secure `));
    const [header, line] = (await text('audit', '--csv')).trim().split('\n');
    assert.equal(line?.split(',')[header?.split(',').indexOf('protocol') ?? -1], 'secure');
    const zip = join(dir, 'sd-bl-app.zip');
    assert.match((await cliInProcess(['pkg', 'display', zip], {})).stdout, /^protocol: Secure DFU /m);
  });

  it('durations are protobuf JSON strings ("1.240s") wherever they appear', () => {
    for (const { command, records } of all) {
      for (const r of records) assert.deepEqual(durationObjects(r), [], `${command}: ${JSON.stringify(r).slice(0, 300)}`);
    }
    const finished = dfuRun.records.find((r) => r['type'] === 'finished');
    for (const path of ['result.duration', 'result.modelledAirTime', 'result.phaseTimes.dataTransfer', 'result.phaseTimes.rebootWaits']) {
      assert.match(String(at(finished, path)), DURATION, path);
    }
    const etas = dfuRun.records.filter((r) => r['type'] === 'progress').map((r) => at(r, 'progress.eta')).filter((e) => e !== undefined);
    assert.ok(etas.length > 10);
    for (const eta of etas) assert.match(String(eta), DURATION);
    const shown = all.find((c) => c.command === 'jobs show')?.records[0];
    assert.match(String(at(shown, 'job.result.duration')), DURATION);
    const auditRecord = all.find((c) => c.command === 'audit')?.records.find((r) => r['type'] === 'audit');
    assert.match(String(at(auditRecord, 'record.duration')), DURATION);
  });

  it('no progress record repeats the one before it (dfu and jobs watch); both images are covered', () => {
    for (const command of ['dfu', 'jobs watch']) {
      const progress = (all.find((c) => c.command === command)?.records ?? []).filter((r) => r['type'] === 'progress').map((r) => JSON.stringify(r['progress']));
      for (let i = 1; i < progress.length; i++) assert.notEqual(progress[i], progress[i - 1], `${command}: progress record ${i} repeats ${i - 1}`);
    }
    const images = new Set(dfuRun.records.filter((r) => r['type'] === 'progress').map((r) => at(r, 'progress.imageIndex') ?? 0));
    assert.deepEqual([...images].sort(), [0, 1]);
    const states = dfuRun.records.filter((r) => r['type'] === 'state').map((r) => String(r['state']));
    assert.ok(states.every((x) => x.startsWith('JOB_STATE_')), states.join(', '));
    assert.equal(at(dfuRun.records.find((r) => r['type'] === 'snapshot'), 'job.state')?.toString().startsWith('JOB_STATE_'), true);
  });
});
