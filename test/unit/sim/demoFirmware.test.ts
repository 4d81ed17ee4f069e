import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { BledfuError } from '../../../server/common/errors.js';
import { LAYOUT, softDeviceMajorVersion } from '../../../server/sim/devices/chip.js';
import { demoApplication, demoBootloader, demoSoftDevice, type DemoImage } from '../../../server/sim/demoFirmware.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const u32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset).getUint32(at, true);

/** Reads Intel HEX back independently of the encoder: data records at absolute addresses, checksums checked. */
function hexToBytes(text: string): Map<number, number> {
  const out = new Map<number, number>();
  let upper = 0;
  let eof = false;
  for (const line of text.trim().split('\n')) {
    assert.match(line, /^:[0-9A-F]+$/);
    const b = Buffer.from(line.slice(1), 'hex');
    assert.equal(b.reduce((a, v) => a + v, 0) & 0xff, 0, `checksum of ${line}`);
    const [len = 0, hi = 0, lo = 0, type] = b;
    assert.equal(b.length, len + 5);
    if (type === 0x04) upper = b.readUInt16BE(4);
    else if (type === 0x00) for (let i = 0; i < len; i++) out.set(upper * 0x10000 + hi * 256 + lo + i, b[4 + i] ?? -1);
    else if (type === 0x01) eof = true;
    else assert.fail(`unexpected record type ${type}`);
  }
  assert.ok(eof, 'EOF record');
  return out;
}

function assertVectorTable(image: DemoImage): void {
  const sp = u32(image.bytes, 0);
  assert.ok(sp >= 0x2000_0000 && sp <= 0x2004_0000 && sp % 8 === 0, `initial SP 0x${sp.toString(16)} in RAM`);
  const reset = u32(image.bytes, 4);
  assert.equal(reset & 1, 1, 'Thumb bit');
  const handler = (reset & ~1) >>> 0;
  assert.ok(handler >= image.address && handler < image.address + image.bytes.length, 'reset handler inside the image');
  // Thumb `b .` at the handler: the code that is there is real.
  assert.deepEqual([...image.bytes.subarray(handler - image.address, handler - image.address + 2)], [0xfe, 0xe7]);
}

describe('demo firmware', () => {
  it('places the application, bootloader and SoftDevice where the simulated chip runs them', () => {
    const app = demoApplication();
    const bl = demoBootloader();
    const sd = demoSoftDevice();
    assert.equal(app.address, LAYOUT.appStart);
    assert.equal(bl.address, LAYOUT.bootloaderStart);
    assert.equal(sd.address, LAYOUT.softDeviceStart);
    assert.ok(bl.address + bl.bytes.length <= LAYOUT.bootloaderEnd);
    assert.ok(sd.address + sd.bytes.length <= LAYOUT.appStart);
    assert.ok(app.bytes.length > 90_000 && app.bytes.length < 110_000, 'about the size of the HRS example');
    for (const image of [app, bl, sd]) assertVectorTable(image);
  });

  it('gives the SoftDevice an info struct the bootloader reads: magic, end, FWID, version', () => {
    const sd = demoSoftDevice({ fwid: 0x0123, version: 7_003_000 });
    const at = LAYOUT.softDeviceInfoOffset;
    assert.equal(u32(sd.bytes, at + 4), LAYOUT.softDeviceInfoMagic);
    assert.equal(u32(sd.bytes, at + 8), LAYOUT.appStart);
    assert.equal(u32(sd.bytes, at + 0xc) & 0xffff, 0x0123);
    assert.equal(softDeviceMajorVersion(sd.bytes), 7);
    assert.equal(softDeviceMajorVersion(demoSoftDevice({ version: 6_001_001 }).bytes), 6);
    // absolute 0x3000, where the SDK's SD_INFO_STRUCT sits
    assert.equal(sd.address + at, 0x3000);
  });

  it('is deterministic, and the seed and size change the bytes', () => {
    assert.equal(sha(demoApplication().bytes), sha(demoApplication().bytes));
    assert.notEqual(sha(demoApplication().bytes), sha(demoApplication({ seed: 2 }).bytes));
    assert.equal(demoApplication({ size: 4096 }).bytes.length, 4096);
    const bytes = demoApplication({ size: 4096 }).bytes;
    assert.ok(bytes.some((b) => b !== 0xff) && new Set(bytes).size > 200, 'not erased flash, not a constant');
  });

  it('writes Intel HEX holding exactly the image bytes at their addresses', () => {
    for (const image of [demoApplication({ size: 70_000 + 4 }), demoBootloader(), demoSoftDevice()]) {
      const mem = hexToBytes(image.hex);
      assert.equal(mem.size, image.bytes.length);
      for (let i = 0; i < image.bytes.length; i += 997) assert.equal(mem.get(image.address + i), image.bytes[i]);
      assert.equal(mem.get(image.address + image.bytes.length - 1), image.bytes[image.bytes.length - 1]);
    }
  });

  it('refuses an image that does not fit its area, or a size that is not whole words', () => {
    const refuses = (fn: () => unknown, what: RegExp): void =>
      assert.throws(fn, (e: unknown) => e instanceof BledfuError && e.code === 'INVALID_ARGUMENT' && what.test(e.message) && e.remedy !== undefined);
    refuses(() => demoBootloader({ size: LAYOUT.bootloaderEnd - LAYOUT.bootloaderStart + 4 }), /ends beyond/);
    refuses(() => demoSoftDevice({ size: LAYOUT.appStart - LAYOUT.softDeviceStart + 4 }), /ends beyond/);
    refuses(() => demoApplication({ size: 1001 }), /multiple of 4/);
    refuses(() => demoSoftDevice({ fwid: 0x10000 }), /FWID/);
  });
});
