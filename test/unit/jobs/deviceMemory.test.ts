import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { parseAddress } from '../../../server/ble/address.js';
import { silentLogger, type Logger } from '../../../server/common/logger.js';
import { DEVICE_MEMORY_FILE, FileDeviceMemory, InMemoryDeviceMemory } from '../../../server/jobs/deviceMemory.js';

const APP = parseAddress('F0:0D:C0:DE:00:05');
const BL = parseAddress('F0:0D:C0:DE:00:06');

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function memoryFile(): string {
  const d = mkdtempSync(join(tmpdir(), 'bledfu-devices-'));
  dirs.push(d);
  return join(d, 'data', DEVICE_MEMORY_FILE);
}

function captureLogs(): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString());
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines: () => out.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('device memory', () => {
  it('recalls a device by its application name or address and by its bootloader name or address, never by "DfuTarg"', () => {
    const m = new InMemoryDeviceMemory({ now: () => 1 });
    m.remember({ appAddress: APP, appName: 'bledfu-sim-3', bootloaderAddress: BL, bootloaderName: 'Dfu12345' });
    m.remember({ appAddress: parseAddress('F0:0D:C0:DE:00:07'), appName: 'other', bootloaderAddress: parseAddress('F0:0D:C0:DE:00:08'), bootloaderName: 'DfuTarg' });
    for (const target of [
      { kind: 'name', name: 'bledfu-sim-3' },
      { kind: 'name', name: 'Dfu12345' },
      { kind: 'address', address: APP },
      { kind: 'address', address: BL },
    ] as const) {
      const found = m.recall(target);
      assert.equal(found.length, 1, JSON.stringify(target));
      assert.equal(found[0]?.bootloaderAddress.value, BL.value);
    }
    assert.equal(m.recall({ kind: 'name', name: 'DfuTarg' }).length, 0, 'the shared default name identifies no device');
    assert.equal(m.recall({ kind: 'name', name: 'nobody' }).length, 0);
  });

  it('a new entry for the same device replaces the old one and keeps what it does not know', () => {
    let now = 1;
    const m = new InMemoryDeviceMemory({ now: () => now });
    m.remember({ appAddress: APP, appName: 'bledfu-sim-3', bootloaderAddress: BL, bootloaderName: 'Dfu11111' });
    now = 2;
    // Met again in its bootloader by its address: the application is not known this time.
    m.remember({ appAddress: undefined, appName: undefined, bootloaderAddress: BL, bootloaderName: 'Dfu22222' });
    assert.equal(m.size, 1);
    const [e] = m.all();
    assert.deepEqual(e, { appAddress: APP, appName: 'bledfu-sim-3', bootloaderAddress: BL, bootloaderName: 'Dfu22222', at: 2 });
    assert.equal(m.recall({ kind: 'name', name: 'Dfu11111' }).length, 0, 'the old random name is forgotten');
  });

  it('keeps only the most recent entries', () => {
    let now = 0;
    const m = new InMemoryDeviceMemory({ maxEntries: 3, now: () => ++now });
    for (let i = 1; i <= 5; i++) {
      const hex = (2 * i + 1).toString(16).padStart(2, '0').toUpperCase();
      const app = parseAddress(`F0:0D:C0:DE:00:${hex}`);
      m.remember({ appAddress: app, appName: `dev-${i}`, bootloaderAddress: parseAddress(`F0:0D:C0:DE:01:${hex}`), bootloaderName: undefined });
    }
    assert.equal(m.size, 3);
    assert.deepEqual(
      m.all().map((e) => e.appName),
      ['dev-5', 'dev-4', 'dev-3'],
    );
    assert.equal(m.recall({ kind: 'name', name: 'dev-1' }).length, 0);
  });

  it('persists across a restart (temp file and rename, no temp file left), bounded on load too', () => {
    const file = memoryFile();
    const m = FileDeviceMemory.open(file, silentLogger(), { now: () => 42 });
    m.remember({ appAddress: APP, appName: 'bledfu-sim-3', bootloaderAddress: BL, bootloaderName: 'Dfu12345' });
    assert.ok(existsSync(file), 'written (its directory created)');
    assert.ok(!existsSync(`${file}.tmp`), 'the temp file was renamed into place');
    const again = FileDeviceMemory.open(file, silentLogger());
    assert.deepEqual(again.recall({ kind: 'name', name: 'bledfu-sim-3' }), [
      { appAddress: APP, appName: 'bledfu-sim-3', bootloaderAddress: BL, bootloaderName: 'Dfu12345', at: 42 },
    ]);
    again.remember({ appAddress: parseAddress('F0:0D:C0:DE:00:07'), appName: 'b', bootloaderAddress: parseAddress('F0:0D:C0:DE:00:08'), bootloaderName: undefined });
    const small = FileDeviceMemory.open(file, silentLogger(), { maxEntries: 1 });
    assert.equal(small.size, 1, 'the bound holds for what is loaded');
    assert.equal(small.all()[0]?.appName, 'b', 'the most recent entry is kept');
  });

  it('a damaged file is logged and ignored (never fatal), and replaced on the next change', () => {
    const file = memoryFile();
    FileDeviceMemory.open(file, silentLogger()).remember({ appAddress: APP, appName: 'x', bootloaderAddress: BL, bootloaderName: undefined });
    writeFileSync(file, '{"version":1,"devices":[{"bootloaderAddr');
    const logs = captureLogs();
    const m = FileDeviceMemory.open(file, logs.logger);
    assert.equal(m.size, 0);
    assert.ok(logs.lines().some((l) => l['level'] === 40 && String(l['msg']).includes('damaged')), 'a warning says so');
    m.remember({ appAddress: APP, appName: 'y', bootloaderAddress: BL, bootloaderName: undefined });
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { devices: unknown[] };
    assert.equal(doc.devices.length, 1);
  });

  it('unreadable entries are skipped, the rest loaded', () => {
    const file = memoryFile();
    FileDeviceMemory.open(file, silentLogger()).remember({ appAddress: APP, appName: 'x', bootloaderAddress: BL, bootloaderName: undefined });
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { version: number; devices: unknown[] };
    doc.devices.push({ bootloaderAddress: { value: 'not an address', type: 'random' }, at: 1 }, 17, { at: 'x' });
    writeFileSync(file, JSON.stringify(doc));
    const logs = captureLogs();
    const m = FileDeviceMemory.open(file, logs.logger);
    assert.equal(m.size, 1);
    assert.ok(logs.lines().some((l) => l['skipped'] === 3));
  });

  it('a write that fails is logged; the memory carries on in RAM', () => {
    const d = mkdtempSync(join(tmpdir(), 'bledfu-devices-'));
    dirs.push(d);
    // The "directory" is a file: nothing can be written below it.
    writeFileSync(join(d, 'blocker'), '');
    const logs = captureLogs();
    const m = FileDeviceMemory.open(join(d, 'blocker', DEVICE_MEMORY_FILE), logs.logger);
    m.remember({ appAddress: APP, appName: 'x', bootloaderAddress: BL, bootloaderName: undefined });
    assert.equal(m.recall({ kind: 'name', name: 'x' }).length, 1);
    assert.ok(logs.lines().some((l) => l['level'] === 40 && String(l['msg']).includes('cannot write')));
  });
});
