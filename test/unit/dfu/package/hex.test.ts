import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBledfuError } from '../../../../server/common/errors.js';
import { encodeIntelHex, parseIntelHex, type HexSegment } from '../../../../server/dfu/package/hex.js';
import { NEEDS_NORDIC_PACKAGES, sharedFixture } from '../../../helpers/shared-packages.js';

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

/** Asserts that `fn` throws INVALID_ARGUMENT whose message matches `re`. */
function refuses(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isBledfuError(e), `not a BledfuError: ${String(e)}`);
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.match(e.message, re);
    assert.ok(e.remedy !== undefined && e.remedy.length > 0, 'has a remedy');
    return true;
  });
}

describe('Intel HEX', () => {
  it('round-trips segments across 64 KiB boundaries, far addresses and odd lengths', () => {
    const segments: HexSegment[] = [
      { address: 0x1000, data: bytes(1508, 1) },
      { address: 0x2fff0, data: bytes(0x25, 2) }, // crosses 0x30000
      { address: 0xff000, data: bytes(92, 3) },
      { address: 0x10001014, data: bytes(8, 4) },
    ];
    const text = encodeIntelHex(segments);
    assert.deepEqual(parseIntelHex(text), segments);
    for (const line of text.trimEnd().split('\n')) assert.ok(line.length <= 1 + 2 * (5 + 16), `record too long: ${line}`);
    assert.ok(text.endsWith(':00000001FF\n'));
    assert.ok(text.includes(':020000040003F7\n'), 'type 04 record for 0x0003xxxx');
    assert.ok(!text.startsWith(':02000004'), 'no type 04 record while the upper address bits are 0');
  });

  it('writes records byte for byte as nrfutil-made hex files have them', () => {
    const text = encodeIntelHex([{ address: 0x1000, data: Uint8Array.from(Buffer.from('10200020151200001d1200001f120000', 'hex')) }]);
    assert.equal(text.split('\n')[0], ':1010000010200020151200001D1200001F12000009'); // line 2 of the blinky hex
  });

  it('sorts and merges records written out of order, with type 02 segment addresses', () => {
    const text = [
      ':020000021000EC', // segment base 0x10000
      ':0400040005060708DE',
      ':0400000001020304F2',
      ':020000020000FC',
      ':020000009988DD', // 0x0000
      ':00000001FF',
    ].join('\r\n');
    assert.deepEqual(parseIntelHex(text), [
      { address: 0, data: Uint8Array.of(0x99, 0x88) },
      { address: 0x10000, data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) },
    ]);
  });

  it("reads the shared DK image into the segments its README lists (MBR, S140, app, bootloader, settings, UICR)", NEEDS_NORDIC_PACKAGES, () => {
    const name = 'sdk17.0.2_sd_s140_bootloader_buttonless_with_setting_page_dfu_secure_ble_debug_without_bonds.hex';
    const segs = parseIntelHex(new TextDecoder().decode(sharedFixture(name)), name);
    assert.deepEqual(
      segs.map((s) => [s.address, s.address + s.data.length]),
      [
        [0x0, 0xb00],
        [0x1000, 0x26634],
        [0x27000, 0x33f90],
        [0xf1000, 0xfd174],
        [0xfe000, 0xfe05c],
        [0xff000, 0xff05c],
        [0x10001014, 0x1000101c],
      ],
    );
    // parse ∘ encode is the identity on what the parser produced
    assert.deepEqual(parseIntelHex(encodeIntelHex(segs)), segs);
  });

  describe('refuses, naming the file and line', () => {
    it('a bad checksum', () => {
      refuses(() => parseIntelHex(':020000040000FA\n:1010000010200020151200001D1200001F12000008\n:00000001FF\n', 'app.hex'), /^app\.hex:2: bad checksum 0x08 \(the record's bytes need 0x09\)/);
    });
    it('overlapping records', () => {
      const text = [':0400000001020304F2', ':0400020005060708E0', ':00000001FF'].join('\n');
      refuses(() => parseIntelHex(text, 'o.hex'), /^o\.hex:2: record at 0x00000002 overlaps bytes already written by line 1 \(up to 0x00000003\)/);
      // the very same byte twice is an overlap too
      refuses(() => parseIntelHex([':0100000001FE', ':0100000001FE', ':00000001FF'].join('\n'), 'd.hex'), /^d\.hex:2: .*overlaps/);
    });
    it('a record whose length disagrees with its count', () => {
      refuses(() => parseIntelHex(':0500000001020304F2\n:00000001FF\n', 'l.hex'), /^l\.hex:1: record announces 5 data bytes but holds 4/);
    });
    it('lines that are not records', () => {
      refuses(() => parseIntelHex('hello\n', 'n.hex'), /^n\.hex:1: record does not start with ':'/);
      refuses(() => parseIntelHex(':0400000001020304FZ\n', 'n.hex'), /^n\.hex:1: record is not an even number/);
    });
    it('an unknown record type', () => {
      refuses(() => parseIntelHex(':00000006FA\n:00000001FF\n', 't.hex'), /^t\.hex:1: unknown record type 0x06/);
    });
    it('a file without end-of-file record, and data after it', () => {
      refuses(() => parseIntelHex(':0400000001020304F2\n', 'cut.hex'), /^cut\.hex: ends without an end-of-file record/);
      refuses(() => parseIntelHex(':00000001FF\n:0400000001020304F2\n', 'e.hex'), /^e\.hex:2: data after the end-of-file record/);
    });
  });

  it('encode refuses overlapping segments', () => {
    refuses(() => encodeIntelHex([{ address: 0, data: bytes(4, 0) }, { address: 2, data: bytes(4, 0) }]), /overlap at 0x00000002/);
  });
});
