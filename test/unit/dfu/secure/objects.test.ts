import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32 } from '../../../../server/common/crc32.js';
import { judgeChecksum, objectAt, objectEndPrn, objectSpans, packetSizeForMtu, packets, planCommand, planData, PrefixCrc } from '../../../../server/dfu/secure/objects.js';
import { imageFiles, KNOWN_IMAGES } from '../../../helpers/dfu-fixtures.js';
import { NEEDS_NORDIC_PACKAGES } from '../../../helpers/shared-packages.js';

const blinky = KNOWN_IMAGES.find((k) => k.zip.startsWith('nrfutil_blinky'))!;
const hrs = KNOWN_IMAGES.find((k) => k.zip.startsWith('sdk17.0.2_hrs'))!;

describe('chunking', NEEDS_NORDIC_PACKAGES, () => {
  it('hrs app: 24 objects of 4096 and a last one of 640', () => {
    const spans = objectSpans(98944, 4096);
    assert.equal(spans.length, 25);
    assert.ok(spans.slice(0, 24).every((s) => s.end - s.start === 4096));
    assert.deepEqual(spans[24], { index: 24, start: 98304, end: 98944 });
  });
  it('blinky: one object; 139-byte init packet in 7 packets at MTU 23 (6×20 + 19), 1508 B in 76', async () => {
    const { bin, dat } = await imageFiles(blinky);
    assert.deepEqual(objectSpans(bin.length, 4096), [{ index: 0, start: 0, end: 1508 }]);
    const p = [...packets(dat, 0, dat.length, packetSizeForMtu(23))];
    assert.deepEqual(p.map((x) => x.bytes.length), [20, 20, 20, 20, 20, 20, 19]);
    assert.equal([...packets(bin, 0, bin.length, 20)].length, 76);
    assert.equal([...packets(bin, 0, bin.length, 244)].length, 7);
    assert.equal(packetSizeForMtu(247), 244);
  });
  it('objectAt puts a boundary offset in the next object', () => {
    assert.deepEqual(objectAt(4096, 98944, 4096), { index: 1, start: 4096, end: 8192 });
    assert.deepEqual(objectAt(98400, 98944, 4096), { index: 24, start: 98304, end: 98944 });
  });
});

describe('command resume (spec §3.2)', NEEDS_NORDIC_PACKAGES, () => {
  it('plans create / continue / execute from Select', async () => {
    const { dat } = await imageFiles(blinky);
    assert.deepEqual(planCommand(dat, { maxSize: 512, offset: 0, crc: 0 }, true), { action: 'create' });
    assert.deepEqual(planCommand(dat, { maxSize: 512, offset: 139, crc: 0x4f468c46 }, true), { action: 'execute' });
    assert.deepEqual(planCommand(dat, { maxSize: 512, offset: 40, crc: crc32(dat.subarray(0, 40)) }, true), { action: 'continue', offset: 40 });
    assert.deepEqual(planCommand(dat, { maxSize: 512, offset: 40, crc: 1234 }, true), { action: 'create' });
    assert.deepEqual(planCommand(dat, { maxSize: 512, offset: 200, crc: 0 }, true), { action: 'create' });
    assert.deepEqual(planCommand(dat, { maxSize: 512, offset: 139, crc: 0x4f468c46 }, false), { action: 'create' });
  });
});

describe('data resume (spec §3.3)', NEEDS_NORDIC_PACKAGES, () => {
  it('plans every case on the hrs image', async () => {
    const { bin } = await imageFiles(hrs);
    const at = (offset: number, crc = crc32(bin.subarray(0, offset))) => planData(bin, { maxSize: 4096, offset, crc }, true);
    assert.deepEqual(at(0), { action: 'create', from: 0 });
    // inside an object, CRC matches: send the rest of object 2 without Create
    assert.deepEqual(at(10000), { action: 'continue', offset: 10000, object: { index: 2, start: 8192, end: 12288 } });
    // on a boundary: Execute (0x08 counts as executed), then go on
    assert.deepEqual(at(8192), { action: 'execute', offset: 8192 });
    // whole image: the final Execute
    assert.deepEqual(at(98944), { action: 'execute', offset: 98944 });
    // inside the short last object
    assert.deepEqual(at(98500), { action: 'continue', offset: 98500, object: { index: 24, start: 98304, end: 98944 } });
    // mismatch inside an object: back to its start
    assert.deepEqual(at(10000, 1), { action: 'create', from: 8192 });
    // mismatch on a boundary: one whole object back
    assert.deepEqual(at(8192, 1), { action: 'create', from: 4096 });
    assert.deepEqual(at(4096, 1), { action: 'create', from: 0 });
    // more than the image: start over
    assert.deepEqual(at(200000, 0), { action: 'create', from: 0 });
    // resume disabled
    assert.deepEqual(planData(bin, { maxSize: 4096, offset: 8192, crc: crc32(bin.subarray(0, 8192)) }, false), { action: 'create', from: 0 });
  });
});

describe('PrefixCrc and judgeChecksum', NEEDS_NORDIC_PACKAGES, () => {
  it('matches the PRN of spec §2.2 (offset 200, CRC 0xDC150A3C) and the final CRC', async () => {
    const { bin } = await imageFiles(blinky);
    const p = new PrefixCrc(bin);
    for (let o = 0; o <= 1508; o += 20) p.advanceTo(Math.min(o, 1508));
    assert.equal(p.at(200), 0xdc150a3c);
    assert.equal(p.at(1508), 0x3477e14c);
    assert.equal(p.at(7), crc32(bin.subarray(0, 7)));
    assert.deepEqual(judgeChecksum(p, { offset: 1508, crc: 0x3477e14c }, 1508), { ok: true });
    assert.deepEqual(judgeChecksum(p, { offset: 200, crc: 0xdc150a3c }, 1508, 0), { ok: false, reason: 'short', offset: 200 });
    const bad = judgeChecksum(p, { offset: 1508, crc: 0 }, 1508);
    assert.equal(bad.ok, false);
    assert.match(!bad.ok && bad.reason === 'mismatch' ? bad.detail : '', /expected offset 1508 crc 0x3477e14c/);
    assert.equal(judgeChecksum(p, { offset: 200, crc: 0xdc150a3c }, 1508, 400).ok, false);
  });
});

describe('objectEndPrn', () => {
  it("is the count of a full object's packets, so its last packet is the PRN's N-th since the Create", () => {
    for (const [maxSize, mtu] of [[4096, 247], [4096, 23], [4096, 185], [4096, 4099], [1024, 247]] as const) {
      const size = packetSizeForMtu(mtu);
      const n = [...packets(new Uint8Array(maxSize), 0, maxSize, size)].length;
      assert.equal(objectEndPrn(maxSize, size), n, `${maxSize} B at MTU ${mtu}`);
    }
    assert.equal(objectEndPrn(4096, packetSizeForMtu(247)), 17);
    // The Set PRN field is 16 bits.
    assert.equal(objectEndPrn(1 << 24, 20), 0xffff);
  });
});
