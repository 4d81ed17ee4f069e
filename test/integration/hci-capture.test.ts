/**
 * HCI capture on the real host stack against the simulator: the adapter's btsnoop file and an
 * in-memory recording, checked with our own reader and with BlueZ's btmon.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createHciAdapter } from '../../server/backends/hci/adapter.js';
import type { Adapter } from '../../server/ble/types.js';
import { silentLogger, type Logger } from '../../server/common/logger.js';
import { createSimWorld, type SimWorld } from '../../server/sim/world.js';
import { btmonDecode, hex, parseBtsnoop, type BtsnoopFile } from '../helpers/btsnoop.js';

const H4_ACL = 0x02;

async function withAdapter<T>(capture: string | undefined, fn: (adapter: Adapter, world: SimWorld) => Promise<T>, logger: Logger = silentLogger()): Promise<T> {
  const world = createSimWorld({});
  try {
    const adapter = await createHciAdapter(world.openHostTransport(), {
      id: 'sim0',
      spec: 'sim:',
      kind: 'simulated',
      logger,
      ...(capture === undefined ? {} : { capture }),
    });
    try {
      return await fn(adapter, world);
    } finally {
      await adapter.close();
    }
  } finally {
    await world.close();
  }
}

/** Connects to the first simulated device (MTU exchange, discovery: ATT both ways) and disconnects. */
async function exchangeSomeAtt(adapter: Adapter, world: SimWorld): Promise<void> {
  const device = world.devices[0];
  assert.ok(device);
  const conn = await adapter.connect(device.address, { mtu: 247 });
  await conn.discoverServices();
  await conn.disconnect();
}

function assertLooksLikeASession(file: BtsnoopFile): void {
  assert.equal(file.version, 1);
  assert.equal(file.datalink, 1002);
  const first = file.records[0];
  assert.ok(first);
  assert.equal(first.sent, true);
  assert.equal(hex(first.data), '01030c00', 'the first packet sent is HCI Reset');
  assert.ok(file.records.some((r) => r.sent && r.data[0] === H4_ACL), 'ACL sent');
  assert.ok(file.records.some((r) => !r.sent && r.data[0] === H4_ACL), 'ACL received');
  for (const r of file.records) {
    assert.equal(r.originalLength, r.data.length);
    assert.equal((r.flags & 2) !== 0, r.data[0] === 0x01 || r.data[0] === 0x04, 'bit 1 marks commands and events');
  }
}

describe('HCI capture (simulator)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-capture-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('capture=<file>: a btsnoop file of the whole session that btmon decodes', async () => {
    const path = join(dir, 'adapter.btsnoop');
    await withAdapter(path, exchangeSomeAtt);
    const bytes = await readFile(path);
    const file = parseBtsnoop(bytes);
    assertLooksLikeASession(file);
    // The last thing before closing: the Disconnect and its completion are in the file.
    assert.ok(file.records.some((r) => hex(r.data).startsWith('010604')), 'HCI Disconnect sent');
    const decoded = await btmonDecode(path);
    if (decoded === undefined) return;
    assert.match(decoded, /HCI Command: Reset \(0x03\|0x0003\)/);
    assert.match(decoded, /LE Create Connection/);
    assert.match(decoded, /LE Connection Complete/);
    assert.match(decoded, /ATT: Exchange MTU Request/);
    assert.match(decoded, /ATT: Read By Group Type Response/);
  });

  it('an in-memory recording begins with the setup exchange and holds the traffic while it runs', async () => {
    const bytes = await withAdapter(undefined, async (adapter, world) => {
      const capture = adapter.captureHci?.({ maxBytes: 1 << 20 });
      assert.ok(capture);
      await exchangeSomeAtt(adapter, world);
      capture.stop();
      assert.equal(capture.truncated, false);
      const out = Buffer.concat(capture.chunks());
      assert.equal(out.length, capture.size);
      return out;
    });
    assertLooksLikeASession(parseBtsnoop(bytes));
    const path = join(dir, 'memory.btsnoop');
    await writeFile(path, bytes);
    const decoded = await btmonDecode(path);
    if (decoded !== undefined) assert.match(decoded, /ATT: Exchange MTU Response/);
  });

  it('a recording stops at its size limit and says so', async () => {
    await withAdapter(undefined, async (adapter, world) => {
      // The setup exchange heads every recording: room for it and a few packets more.
      const probe = adapter.captureHci?.({ maxBytes: 1 << 20 });
      assert.ok(probe);
      probe.stop();
      const limit = probe.size + 200;
      const capture = adapter.captureHci?.({ maxBytes: limit });
      assert.ok(capture);
      await exchangeSomeAtt(adapter, world);
      assert.equal(capture.truncated, true);
      assert.equal(capture.recording, false);
      assert.ok(capture.size <= limit && capture.size > probe.size);
      parseBtsnoop(Buffer.concat(capture.chunks()));
    });
  });

  it('an unwritable capture path is logged once; the adapter works as without capture', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) });
    const path = join(dir, 'no-such-dir', 'x.btsnoop');
    await withAdapter(
      path,
      async (adapter, world) => {
        assert.equal(adapter.info().state, 'ready');
        await exchangeSomeAtt(adapter, world);
        await exchangeSomeAtt(adapter, world);
      },
      logger,
    );
    const failures = lines.map((l) => JSON.parse(l) as { msg: string }).filter((l) => /HCI capture stopped/.test(l.msg));
    assert.equal(failures.length, 1);
  });
});
