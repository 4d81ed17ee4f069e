/**
 * The legacy init packet codec, byte for byte against public sources and the shared SDK 11
 * fixtures (read from ../shared at run time).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { crc16 } from '../../../../server/common/crc16.js';
import { hasCode } from '../../../../server/common/errors.js';
import {
  ADAFRUIT,
  decodeLegacyInitPacket,
  encodeLegacyInitPacket,
  LEGACY_ANY,
  legacyInitCrc16,
  legacyInitLayout,
  type LegacyInitPacket,
} from '../../../../server/dfu/package/legacyInitPacket.js';
import { zipEntries } from '../../../helpers/dfu-fixtures.js';
import { NEEDS_NORDIC_PACKAGES } from '../../../helpers/shared-packages.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('CRC-16/CCITT-FALSE', () => {
  it('check value crc16("123456789") = 0x29B1 (poly 0x1021, init 0xFFFF, spec §5 table)', () => {
    assert.equal(crc16(new TextEncoder().encode('123456789')), 0x29b1);
  });

  it('continues over split data: crc16(a‖b) = crc16(b, crc16(a))', () => {
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37) & 0xff);
    assert.equal(crc16(data.subarray(300), crc16(data.subarray(0, 300))), crc16(data));
  });
});

describe('legacy init packet: pc-nrfutil 0.5.x nordicsemi/dfu/tests/test_init_packet.py', () => {
  // test_generate_packet_c: device type 1, revision 2, app version 0xffeeffee, SoftDevices
  // [1111, 2222, 3333], ext packet id 0 (INIT_PACKET_USES_CRC16), CRC-16 0xfaae.
  const vectorC = hex('0100 0200 eeffeeff 0300 5704 ae08 050d 00000000 aefa');
  const packetC: LegacyInitPacket = {
    format: 'extended',
    deviceType: 1,
    deviceRevision: 2,
    applicationVersion: 0xffeeffee,
    softdeviceReq: [1111, 2222, 3333],
    integrity: { kind: 'ext-crc16', crc16: 0xfaae },
  };

  it('test_generate_packet_c encodes byte for byte (the 0.6 layout: ext id 0 + CRC-16)', () => {
    assert.equal(toHex(encodeLegacyInitPacket(packetC)), toHex(vectorC));
  });

  it('test_generate_packet_c decodes to its fields', () => {
    const p = decodeLegacyInitPacket(vectorC);
    assert.deepEqual(p, packetC);
    assert.equal(legacyInitLayout(p), '0.6');
    assert.equal(legacyInitCrc16(p), 0xfaae);
  });

  it('test_generate_packet_a/b are refused: they carry a hash without the image length package.py always writes', () => {
    // Vector b: ext id 1 then the 32-byte hash, no FIRMWARE_LENGTH (nrfutil's unit test sets only
    // the fields it checks). A real 0.7 packet (package.py dfu_ver 0.7) has the length too.
    const vectorB = hex('0100 0200 eeffeeff 0300 5704 ae08 050d 01000000' + 'c9d3bf69f21e88a0311e0dd242536112f842579bef265a24bd0255fd443f759e');
    assert.throws(() => decodeLegacyInitPacket(vectorB), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /extension 1 .* 36 bytes, expected 40/.test(e.message));
  });
});

describe('legacy init packet: adafruit-nrfutil (Adafruit_nRF52_nrfutil nordicsemi/dfu/package.py)', () => {
  it('the package tinyusb and the Arduino core make (--dev-type 0x0052 --sd-req 0xFFFE, dfu_ver 0.5) is header + CRC-16', () => {
    // hathach/tinyusb hw/bsp/nrf/boards/feather_nrf52840_express/board.mk: adafruit-nrfutil dfu
    // genpkg --dev-type 0x0052 --sd-req 0xFFFE --application …; package.py defaults: revision
    // 0xFFFF, application version 0xFFFFFFFF, DEFAULT_DFU_VER 0.5 → CRC-16 only.
    const bin = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) & 0xff);
    const crc = crc16(bin);
    const dat = encodeLegacyInitPacket({
      format: 'extended',
      deviceType: ADAFRUIT.DEVICE_TYPE,
      deviceRevision: LEGACY_ANY.DEVICE_REVISION,
      applicationVersion: LEGACY_ANY.APPLICATION_VERSION,
      softdeviceReq: [LEGACY_ANY.SOFTDEVICE],
      integrity: { kind: 'crc16', crc16: crc },
    });
    assert.equal(toHex(dat), '5200' + 'ffff' + 'ffffffff' + '0100' + 'feff' + crc.toString(16).padStart(4, '0').replace(/(..)(..)/, '$2$1'));
    const back = decodeLegacyInitPacket(dat);
    assert.equal(back.format === 'extended' && back.deviceType, 0x0052);
    assert.equal(legacyInitLayout(back), '0.5');
  });

  it('unlock revisions of the Adafruit bootloader (src/dfu_init.c): 0xADAF nRF52832, 52833, 52840', () => {
    assert.deepEqual(ADAFRUIT.UNLOCK_REVISION, { nrf52832: 0xadaf, nrf52833: 52833, nrf52840: 52840 });
  });
});

describe('legacy init packet: the shared nRF5 SDK 11.0.0 fixtures', NEEDS_NORDIC_PACKAGES, () => {
  const cases = [
    { zip: 'legacy_sdk11.0.0_dfu_test_app_hrm_s132.zip', dat: 'dfu_test_app_hrm_s132.dat', bin: 'dfu_test_app_hrm_s132.bin', key: 'application' },
    { zip: 'legacy_sdk11.0.0_dfu_test_softdevice_w_bootloader_b_s132.zip', dat: 'sd_bl.dat', bin: 'sd_bl.bin', key: 'softdevice_bootloader' },
  ] as const;
  for (const c of cases) {
    it(`${c.zip}: the .dat decodes to the manifest's init_packet_data and its CRC-16 is the image's`, async () => {
      const files = await zipEntries(c.zip);
      const dat = files.get(c.dat)!;
      const bin = files.get(c.bin)!;
      const manifest = JSON.parse(new TextDecoder().decode(files.get('manifest.json'))) as {
        manifest: Record<string, { init_packet_data: Record<string, unknown> } | number>;
      };
      const stated = (manifest.manifest[c.key] as { init_packet_data: Record<string, unknown> }).init_packet_data;
      const p = decodeLegacyInitPacket(dat);
      assert.equal(p.format, 'extended');
      assert.equal(legacyInitLayout(p), '0.5');
      if (p.format !== 'extended') return;
      assert.equal(p.deviceType, stated['device_type']);
      assert.equal(p.deviceRevision, stated['device_revision']);
      assert.equal(p.applicationVersion, stated['application_version']);
      assert.deepEqual(p.softdeviceReq, stated['softdevice_req']);
      assert.equal(legacyInitCrc16(p), stated['firmware_crc16']);
      assert.equal(crc16(bin), stated['firmware_crc16']);
      // Re-encoding gives the very bytes nrfutil 0.5 wrote.
      assert.equal(toHex(encodeLegacyInitPacket(p)), toHex(dat));
    });
  }

  it('the application .dat is exactly ffff ffff ffffffff 0100 feff bd6b (14 bytes; CRC-16 27581 = 0x6BBD)', async () => {
    const dat = (await zipEntries('legacy_sdk11.0.0_dfu_test_app_hrm_s132.zip')).get('dfu_test_app_hrm_s132.dat')!;
    assert.equal(toHex(dat), 'ffffffffffffffff0100feffbd6b');
  });
});

describe('legacy init packet: layouts and refusals', () => {
  const sha256 = new Uint8Array(createHash('sha256').update('image').digest());
  const header = { deviceType: 0x1234, deviceRevision: 0x5678, applicationVersion: 7, softdeviceReq: [0x0081, 0x0088] };

  it('bare (SDK ≤ 6): two bytes, the CRC-16 little-endian', () => {
    assert.deepEqual(decodeLegacyInitPacket(hex('bd6b')), { format: 'bare', crc16: 0x6bbd });
    assert.equal(toHex(encodeLegacyInitPacket({ format: 'bare', crc16: 0x6bbd })), 'bd6b');
  });

  it('0.7 (ext id 1 + length + SHA-256) and 0.8 (+ 64-byte signature) round-trip with their lengths', () => {
    const p7: LegacyInitPacket = { format: 'extended', ...header, integrity: { kind: 'sha256', length: 20576, sha256 } };
    const b7 = encodeLegacyInitPacket(p7);
    assert.equal(b7.length, 10 + 4 + 40);
    assert.equal(toHex(b7.subarray(14, 22)), '01000000' + '60500000');
    assert.deepEqual(decodeLegacyInitPacket(b7), p7);
    const signature = Uint8Array.from({ length: 64 }, (_, i) => i);
    const p8: LegacyInitPacket = { format: 'extended', ...header, integrity: { kind: 'signed', length: 20576, sha256, signature } };
    const b8 = encodeLegacyInitPacket(p8);
    assert.equal(b8.length, 10 + 4 + 104);
    assert.deepEqual(decodeLegacyInitPacket(b8), p8);
    assert.equal(legacyInitLayout(decodeLegacyInitPacket(b8)), '0.8');
  });

  const refusals: [string, string, RegExp][] = [
    ['empty', '', /0 bytes: too short/],
    ['a header without an extension', 'ffff ffff ffffffff 0000', /12 bytes|too short|neither/],
    ['more SoftDevices listed than present', 'ffff ffff ffffffff 0500 feff bd6b', /lists 5 SoftDevices/],
    ['an unknown extension id', 'ffff ffff ffffffff 0000 07000000 0000', /extension id 7 is unknown/],
    ['ext id 0 with a long tail', 'ffff ffff ffffffff 0000 00000000 bd6b00', /extension 0 .* 7 bytes, expected 6/],
    ['three bytes after the list', 'ffff ffff ffffffff 0000 bd6b00', /3 bytes after the SoftDevice list/],
  ];
  for (const [what, bytes, why] of refusals) {
    it(`refuses ${what} with PACKAGE_INVALID`, () => {
      assert.throws(() => decodeLegacyInitPacket(hex(bytes)), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && why.test(e.message));
    });
  }

  it('round-trips headers of every size class: 0..40 SoftDevices, extreme field values', () => {
    for (let n = 0; n <= 40; n += 5) {
      const p: LegacyInitPacket = {
        format: 'extended',
        deviceType: (n * 0x1111) & 0xffff,
        deviceRevision: 0xffff - n,
        applicationVersion: (0xffffffff - n * 0x01010101) >>> 0,
        softdeviceReq: Array.from({ length: n }, (_, i) => (i * 0x0fff) & 0xffff),
        integrity: n % 2 === 0 ? { kind: 'crc16', crc16: n } : { kind: 'ext-crc16', crc16: 0xffff - n },
      };
      const bytes = encodeLegacyInitPacket(p);
      assert.equal(bytes.length, 10 + 2 * n + (n % 2 === 0 ? 2 : 6));
      assert.deepEqual(decodeLegacyInitPacket(bytes), p);
    }
  });

  it('the encoder refuses values that do not fit their field', () => {
    assert.throws(() => encodeLegacyInitPacket({ format: 'extended', ...header, deviceType: 0x10000, integrity: { kind: 'crc16', crc16: 0 } }), RangeError);
    assert.throws(() => encodeLegacyInitPacket({ format: 'extended', ...header, integrity: { kind: 'sha256', length: 1, sha256: new Uint8Array(31) } }), RangeError);
  });
});
