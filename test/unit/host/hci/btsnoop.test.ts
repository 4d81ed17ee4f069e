import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { Logger } from '../../../../server/common/logger.js';
import { encodeBtsnoopHeader, encodeBtsnoopRecord, type HciTrafficPacket } from '../../../../server/host/hci/btsnoop.js';
import { BtsnoopFileWriter } from '../../../../server/host/hci/btsnoopFile.js';
import { BtsnoopRecording, CAPTURE_BLOCK_BYTES, HciCaptureHub } from '../../../../server/host/hci/capture.js';
import { hex, parseBtsnoop } from '../../../helpers/btsnoop.js';

/** 2023-11-14T22:13:20.123456Z */
const T = 1_700_000_000_123_456;
const reset: HciTrafficPacket = { direction: 'sent', packet: { type: 'command', bytes: Uint8Array.of(0x03, 0x0c, 0x00) }, timestampUs: T };
const resetComplete: HciTrafficPacket = {
  direction: 'received',
  packet: { type: 'event', bytes: Uint8Array.of(0x0e, 0x04, 0x01, 0x03, 0x0c, 0x00) },
  timestampUs: T + 250,
};
const aclOut: HciTrafficPacket = {
  direction: 'sent',
  packet: { type: 'acl', bytes: Uint8Array.of(0x40, 0x00, 0x05, 0x00, 0x01, 0x00, 0x04, 0x00, 0x0a) },
  timestampUs: T,
};
const aclIn: HciTrafficPacket = { ...aclOut, direction: 'received' };

function recordingLogger(): { logger: Logger; lines: () => { level: number; msg: string }[] } {
  const out: string[] = [];
  const logger: Logger = pino({ level: 'info' }, { write: (s: string) => void out.push(s) });
  return { logger, lines: () => out.map((l) => JSON.parse(l) as { level: number; msg: string }) };
}

describe('btsnoop format', () => {
  it('file header: "btsnoop\\0", version 1, datalink 1002 (HCI UART), big-endian', () => {
    assert.equal(hex(encodeBtsnoopHeader()), '6274736e6f6f7000' + '00000001' + '000003ea');
  });

  it('a sent HCI Reset: lengths 4, flags 2 (command, host → controller), no drops, time since year 0, then the H4 packet', () => {
    // (1700000000 - 946684800) * 10^6 + 123456 + 0x00E03AB44A676000 = 0x00E2E7D7274FA240 (BlueZ's derivation)
    assert.equal(
      hex(encodeBtsnoopRecord(reset)),
      '00000004' + '00000004' + '00000002' + '00000000' + '00e2e7d7274fa240' + '01030c00',
    );
  });

  it('flags: received event 3, sent ACL 0, received ACL 1; drops are written as given', () => {
    const flags = (r: Uint8Array): string => hex(r.subarray(8, 12));
    assert.equal(flags(encodeBtsnoopRecord(resetComplete)), '00000003');
    assert.equal(flags(encodeBtsnoopRecord(aclOut)), '00000000');
    assert.equal(flags(encodeBtsnoopRecord(aclIn)), '00000001');
    const withDrops = encodeBtsnoopRecord(aclIn, 0x01020304);
    assert.equal(hex(withDrops.subarray(12, 16)), '01020304');
    assert.equal(hex(withDrops.subarray(24)), '02' + '4000050001000400' + '0a');
    assert.equal(hex(withDrops.subarray(0, 8)), '0000000a0000000a');
  });
});

describe('BtsnoopRecording (in memory)', () => {
  it('keeps bytes in order across blocks and hands out pieces that stay valid', () => {
    const r = new BtsnoopRecording(1024 * 1024);
    const piece = new Uint8Array(1000).map((_, i) => i & 0xff);
    for (let i = 0; i < 100; i++) r.append(piece);
    const early = r.chunks();
    assert.equal(r.size, 100_000);
    assert.equal(early[0]?.length, CAPTURE_BLOCK_BYTES);
    r.append(piece);
    const all = Buffer.concat(r.chunks());
    assert.equal(all.length, 101_000);
    for (let i = 0; i < 101; i++) assert.equal(all.subarray(i * 1000, (i + 1) * 1000).compare(piece), 0);
    assert.equal(Buffer.concat(early).compare(all.subarray(0, 100_000)), 0);
  });

  it('a record that would pass the limit is not split: recording stops, truncated', () => {
    let stopped = 0;
    const r = new BtsnoopRecording(100, () => stopped++);
    r.append(new Uint8Array(60));
    r.append(new Uint8Array(30));
    r.append(new Uint8Array(11));
    assert.equal(r.size, 90);
    assert.equal(r.truncated, true);
    assert.equal(r.recording, false);
    assert.equal(stopped, 1);
    r.append(new Uint8Array(1));
    assert.equal(Buffer.concat(r.chunks()).length, 90);
  });
});

class FakeSource {
  readonly taps = new Set<(t: HciTrafficPacket) => void>();
  onTraffic(tap: (t: HciTrafficPacket) => void): () => void {
    this.taps.add(tap);
    return () => this.taps.delete(tap);
  }
  emit(t: HciTrafficPacket): void {
    for (const tap of this.taps) tap(t);
  }
}

describe('HciCaptureHub', () => {
  it('recordings start with the header and the setup exchange, then what comes while they run', () => {
    const source = new FakeSource();
    const hub = new HciCaptureHub(source, { logger: pino({ level: 'silent' }) });
    source.emit(reset);
    source.emit(resetComplete);
    hub.sealPrelude();
    // Nothing records now: the host is not tapped at all.
    assert.equal(source.taps.size, 0);
    const job = hub.record({ maxBytes: 1 << 20 });
    assert.equal(source.taps.size, 1);
    source.emit(aclOut);
    source.emit(aclIn);
    job.stop();
    source.emit(aclOut);
    assert.equal(source.taps.size, 0);
    const file = parseBtsnoop(Buffer.concat(job.chunks()));
    assert.equal(file.datalink, 1002);
    assert.deepEqual(
      file.records.map((r) => [r.flags, hex(r.data)]),
      [
        [2, '01030c00'],
        [3, '040e0401030c00'],
        [0, '024000050001000400' + '0a'],
        [1, '024000050001000400' + '0a'],
      ],
    );
    assert.equal(job.size, Buffer.concat(job.chunks()).length);
  });

  it('close() stops every recording', async () => {
    const source = new FakeSource();
    const hub = new HciCaptureHub(source, { logger: pino({ level: 'silent' }) });
    hub.sealPrelude();
    const job = hub.record({ maxBytes: 1 << 20 });
    await hub.close();
    assert.equal(job.recording, false);
    assert.equal(source.taps.size, 0);
    assert.throws(() => hub.record({ maxBytes: 1 << 20 }), /closed/);
  });
});

describe('BtsnoopFileWriter', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-btsnoop-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the header and every record, in order, byte for byte', async () => {
    const path = join(dir, 'a.btsnoop');
    const w = new BtsnoopFileWriter(path, { logger: pino({ level: 'silent' }) });
    for (const t of [reset, resetComplete, aclOut, aclIn]) w.write(t);
    await w.close();
    const bytes = await readFile(path);
    const expected = Buffer.concat([encodeBtsnoopHeader(), ...[reset, resetComplete, aclOut, aclIn].map((t) => encodeBtsnoopRecord(t))]);
    assert.equal(bytes.compare(expected), 0);
  });

  it('appends to an existing capture of the same format (a reopened dongle, a restarted server) and replaces anything else', async () => {
    const path = join(dir, 'again.btsnoop');
    for (const t of [reset, resetComplete]) {
      const w = new BtsnoopFileWriter(path, { logger: pino({ level: 'silent' }) });
      w.write(t);
      await w.close();
    }
    assert.deepEqual(
      parseBtsnoop(await readFile(path)).records.map((r) => r.flags),
      [2, 3],
    );
    const other = join(dir, 'other.btsnoop');
    await writeFile(other, 'not a capture at all');
    const w = new BtsnoopFileWriter(other, { logger: pino({ level: 'silent' }) });
    w.write(aclIn);
    await w.close();
    assert.deepEqual(
      parseBtsnoop(await readFile(other)).records.map((r) => r.flags),
      [1],
    );
  });

  it('a disk that falls behind costs records, counted in the drops field, not memory', async () => {
    const path = join(dir, 'b.btsnoop');
    const w = new BtsnoopFileWriter(path, { logger: pino({ level: 'silent' }), maxQueuedBytes: 64 });
    // All synchronous: nothing reaches the disk in between, so the queue fills at once.
    for (let i = 0; i < 20; i++) w.write(aclOut);
    assert.ok(w.drops > 0);
    const dropped = w.drops;
    await w.close();
    const file = parseBtsnoop(await readFile(path));
    assert.equal(file.records.length, 20 - dropped);
  });

  it('an unwritable path is logged once and ends the capture without throwing', async () => {
    const { logger, lines } = recordingLogger();
    const w = new BtsnoopFileWriter(join(dir, 'missing-dir', 'c.btsnoop'), { logger });
    w.write(reset);
    // The open fails asynchronously; wait for the writer to notice.
    for (let i = 0; i < 400 && w.active; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(w.active, false);
    for (let i = 0; i < 10; i++) w.write(aclOut);
    await w.close();
    const errors = lines().filter((l) => l.level >= 50);
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.msg ?? '', /HCI capture stopped/);
  });
});
