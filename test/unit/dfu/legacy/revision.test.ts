/**
 * The legacy DFU Revision characteristic (0x1534): a little-endian u16, major in the high byte
 * (nRF5 SDK 11.0.0 ble_dfu.c dfu_rev_char_add; DFU_REVISION = (DFU_REV_MAJOR << 8) | DFU_REV_MINOR
 * in SDK 11's bootloader_dfu/dfu_transport_ble.c and the Adafruit nRF52 bootloader's copy of it,
 * DFU_REV_MINOR 0x08), with
 * the meanings of Android-DFU-Library LegacyButtonlessDfuImpl.java getVersionFeatures.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../../../../server/common/errors.js';
import { decodeLegacyRevision, encodeLegacyRevision, LEGACY_APPLICATION_REVISION } from '../../../../server/dfu/legacy/revision.js';

describe('legacy DFU Revision (0x1534)', () => {
  it('01 00 is 0.1: an application with legacy buttonless DFU (it only jumps)', () => {
    const r = decodeLegacyRevision(Uint8Array.of(0x01, 0x00));
    assert.equal(r.value, LEGACY_APPLICATION_REVISION);
    assert.equal(r.text, '0.1');
    assert.equal(r.role, 'application');
    assert.equal(r.initPacketRequired, false);
  });

  for (const [bytes, text, meaning] of [
    [[0x05, 0x00], '0.5', /SDK 7\.0/],
    [[0x06, 0x00], '0.6', /SDK 8\.0/],
    [[0x07, 0x00], '0.7', /SHA-256/],
    [[0x08, 0x00], '0.8', /SDK 9\.0 or later/],
  ] as const) {
    it(`${Buffer.from(bytes).toString('hex')} is bootloader revision ${text}, init packet required`, () => {
      const r = decodeLegacyRevision(Uint8Array.from(bytes));
      assert.equal(r.text, text);
      assert.equal(r.role, 'bootloader');
      assert.equal(r.initPacketRequired, true);
      assert.match(r.meaning, meaning);
    });
  }

  it('reads the major from the high byte: 00 01 is 1.0, an unknown bootloader revision', () => {
    const r = decodeLegacyRevision(Uint8Array.of(0x00, 0x01));
    assert.equal(r.text, '1.0');
    assert.equal(r.role, 'bootloader');
    assert.match(r.meaning, /unknown DFU revision 1\.0/);
  });

  it('encodes little-endian and refuses a value of another length', () => {
    assert.deepEqual(encodeLegacyRevision(0x0008), Uint8Array.of(0x08, 0x00));
    assert.throws(() => decodeLegacyRevision(Uint8Array.of(0x08)), (e: unknown) => hasCode(e, 'DFU_PROTOCOL_ERROR') && /1 bytes, expected 2/.test(e.message));
  });
});
