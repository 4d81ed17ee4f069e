/**
 * The legacy (SDK 11 / Adafruit) bootloader's request handling at the byte level: what it answers
 * to each control point and DFU Packet write, and the flash work it queues. Expected bytes are
 * the SDK's: ble_dfu.c response layout 10 OP VALUE, PRN 11 + u32 LE, image size report
 * 10 07 01 + u32 LE; values from ble_dfu_resp_val_t.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc16 } from '../../../server/common/crc16.js';
import { FW_TYPE } from '../../../server/dfu/package/initPacket.js';
import { deterministicFiller, LAYOUT, NrfChip } from '../../../server/sim/devices/chip.js';
import { ADAFRUIT, DEVICE_INFO_EMPTY, parseLegacyInit } from '../../../server/sim/devices/legacy/initCheck.js';
import { legacyImageSizeReport, legacyPacketReceipt, legacyResponse } from '../../../server/sim/devices/legacy/protocol.js';
import { LegacyDfuTarget, type LegacyOutcome, type LegacyTargetConfig } from '../../../server/sim/devices/legacy/target.js';
import { legacyInitPacket, sizePacket } from '../../helpers/legacy-dfu.js';

const SDK11: LegacyTargetConfig = {
  revision: 0x0008,
  banks: 'dual',
  initCheck: { kind: 'sdk11', deviceType: DEVICE_INFO_EMPTY, deviceRevision: DEVICE_INFO_EMPTY },
  maxInitPacket: 128,
  crcBytesPerMs: 6_000,
};
const ADAFRUIT_CONFIG: LegacyTargetConfig = { revision: 0x0008, banks: 'single', initCheck: { kind: 'adafruit', deviceType: ADAFRUIT.deviceType }, maxInitPacket: 64, crcBytesPerMs: 6_000 };

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const said = (out: LegacyOutcome): string[] => out.notifications.map((n) => `${n.when}:${hex(n.value)}`);
const sizes = sizePacket;

function setup(config: LegacyTargetConfig = SDK11): { chip: NrfChip; t: LegacyDfuTarget } {
  const chip = new NrfChip();
  return { chip, t: new LegacyDfuTarget(chip, config) };
}

/** Start DFU with the size packet; runs the erase's completion as the bootloader would. */
function start(t: LegacyDfuTarget, mode: number, s: Uint8Array): LegacyOutcome {
  assert.deepEqual(said(t.handleControlPoint(Uint8Array.of(0x01, mode))), []);
  const out = t.handlePacket(s);
  out.onFlashDone?.();
  return out;
}

function init(t: LegacyDfuTarget, dat: Uint8Array): LegacyOutcome {
  assert.deepEqual(said(t.handleControlPoint(Uint8Array.of(0x02, 0x00))), []);
  for (let at = 0; at < dat.length; at += 20) assert.deepEqual(said(t.handlePacket(dat.subarray(at, at + 20))), []);
  return t.handleControlPoint(Uint8Array.of(0x02, 0x01));
}

function send(t: LegacyDfuTarget, image: Uint8Array): string[] {
  const all: string[] = [];
  t.handleControlPoint(Uint8Array.of(0x03));
  for (let at = 0; at < image.length; at += 20) all.push(...said(t.handlePacket(image.subarray(at, at + 20))));
  return all;
}

describe('legacy DFU target (SDK 11 request handling)', () => {
  it('encodes responses, PRNs and the image size report as ble_dfu.c does', () => {
    assert.equal(hex(legacyResponse(0x01, 0x01)), '100101');
    assert.equal(hex(legacyPacketReceipt(0x01020304)), '1104030201');
    assert.equal(hex(legacyImageSizeReport(20_576)), '1007016050' + '0000');
  });

  it('parses the 14-byte nrfutil 0.5 init packet of the SDK 11 test app (fixtures README §3.2) as the bootloader pads it', () => {
    // ffffffffffffffff0100feffbd6b: any type/revision/version, one SoftDevice (0xFFFE any), CRC 0x6BBD.
    const dat = Uint8Array.from(Buffer.from('ffffffffffffffff0100feffbd6b0000', 'hex'));
    assert.deepEqual(parseLegacyInit(dat), { deviceType: 0xffff, deviceRevision: 0xffff, applicationVersion: 0xffffffff, softDevices: [0xfffe], crc16: 0x6bbd });
    assert.equal(parseLegacyInit(dat.subarray(0, 8)), 'invalidLength');
  });

  it('an application update: erase of bank 1 answered when done, init, PRNs every N packets, the last answer after its flash write, validate, activate', () => {
    const { chip, t } = setup();
    const image = deterministicFiller(1000, 7);
    const out = start(t, 0x04, sizes(0, 0, image.length));
    assert.deepEqual(said(out), ['afterFlash:100101']);
    // Dual bank erases all of bank 1 (DFU_IMAGE_MAX_SIZE_BANKED): many pages, 85 ms each.
    const bank1Pages = (chip.appAreaEnd() - LAYOUT.appStart) / 2 / 4096;
    assert.equal(out.costMs, Math.floor(bank1Pages) * 85);
    assert.equal(t.snapshot.state, 'ready');
    assert.equal(chip.settings.appValid, true, 'the old application stays valid while bank 1 fills');
    assert.deepEqual(said(init(t, legacyInitPacket({ crc: crc16(image) }))), ['now:100201']);
    t.handleControlPoint(Uint8Array.of(0x08, 10, 0));
    const notes = send(t, image);
    // 50 packets of 20 bytes: PRNs after 10, 20, 30, 40 packets; the 50th completes the image.
    assert.deepEqual(notes, ['now:11c8000000', 'now:1190010000', 'now:1158020000', 'now:1120030000', 'afterFlash:100301']);
    assert.equal(hex(t.handleControlPoint(Uint8Array.of(0x07)).notifications[0]?.value ?? new Uint8Array()), '100701e8030000');
    const v = t.handleControlPoint(Uint8Array.of(0x04));
    assert.deepEqual(said(v), ['now:100401']);
    assert.ok(v.computeMs > 0, 'the CRC over the image takes modelled time');
    const a = t.handleControlPoint(Uint8Array.of(0x05));
    assert.equal(a.followUp, 'disconnectAndReset');
    assert.deepEqual(chip.settings.pending, { fwType: FW_TYPE.APPLICATION, bankAddress: t.snapshot.bankAddress, size: 1000, sdSize: 0, blSize: 0, fwVersion: undefined, isDebug: false });
    assert.ok(t.snapshot.bankAddress > LAYOUT.appStart);
    assert.deepEqual([...chip.flash.read(t.snapshot.bankAddress, image.length)], [...image]);
  });

  it('a corrupted packet fails Validate with CRC error (10 04 05); the bank then stays in VALIDATE: invalid state until reset', () => {
    const { t } = setup();
    const image = deterministicFiller(400, 9);
    start(t, 0x04, sizes(0, 0, image.length));
    init(t, legacyInitPacket({ crc: crc16(image) }));
    const bad = image.slice();
    bad[123] = (bad[123] as number) ^ 0x01;
    send(t, bad);
    assert.deepEqual(said(t.handleControlPoint(Uint8Array.of(0x04))), ['now:100405']);
    assert.deepEqual(said(t.handleControlPoint(Uint8Array.of(0x04))), ['now:100402']);
    assert.equal(t.snapshot.state, 'validate');
    assert.equal(t.handleControlPoint(Uint8Array.of(0x05)).followUp, 'disconnectAndReset');
  });

  it('answers out-of-order requests with invalid state (10 xx 02), as after a link loss', () => {
    const { t } = setup();
    // Firmware before any Start: the bank is IDLE.
    t.handleControlPoint(Uint8Array.of(0x03));
    assert.deepEqual(said(t.handlePacket(new Uint8Array(20))), ['now:100302']);
    // Init complete without a start packet.
    assert.deepEqual(said(t.handleControlPoint(Uint8Array.of(0x02, 0x01))), ['now:100202']);
    // Validate before the image is complete.
    assert.deepEqual(said(t.handleControlPoint(Uint8Array.of(0x04))), ['now:100402']);
    const image = deterministicFiller(200, 3);
    start(t, 0x04, sizes(0, 0, image.length));
    init(t, legacyInitPacket({ crc: crc16(image) }));
    t.handleControlPoint(Uint8Array.of(0x03));
    t.handlePacket(image.subarray(0, 100));
    // A host that reconnects and starts again: invalid state; the bank keeps its 100 bytes.
    assert.deepEqual(said(start(t, 0x04, sizes(0, 0, image.length))), ['now:100102']);
    assert.equal(t.snapshot.dataReceived, 100);
    assert.equal(hex(t.handleControlPoint(Uint8Array.of(0x07)).notifications[0]?.value ?? new Uint8Array()), '10070164000000');
  });

  it('refuses what SDK 11 refuses: app with SD/BL, sizes not whole words, a v1 size packet (not supported); too large (data size); unknown op codes', () => {
    const { chip, t } = setup();
    assert.deepEqual(said(start(t, 0x05, sizes(4096, 0, 4096))), ['now:100103']);
    assert.deepEqual(said(start(t, 0x04, sizes(0, 0, 1001))), ['now:100103']);
    t.handleControlPoint(Uint8Array.of(0x01));
    assert.deepEqual(said(t.handlePacket(Uint8Array.of(0, 0x10, 0, 0))), ['now:100103']);
    assert.deepEqual(said(start(t, 0x04, sizes(0, 0, chip.appAreaEnd() - LAYOUT.appStart))), ['now:100104'], 'an application must fit bank 1');
    assert.deepEqual(said(start(t, 0x02, sizes(0, 0x10000, 0))), ['now:100104'], 'a bootloader larger than its area');
    assert.deepEqual(said(t.handleControlPoint(Uint8Array.of(0x09))), ['now:100903']);
    assert.deepEqual(said(t.handleControlPoint(Uint8Array.of(0x08, 0x01))), ['now:100803']);
    assert.equal(t.snapshot.state, 'idle', 'no refusal left the bank busy');
  });

  it('checks the init packet against UICR device information and the installed SoftDevice (operation failed, 10 02 06)', () => {
    const { t } = setup({ ...SDK11, initCheck: { kind: 'sdk11', deviceType: 0x1234, deviceRevision: DEVICE_INFO_EMPTY } });
    start(t, 0x04, sizes(0, 0, 40));
    assert.deepEqual(said(init(t, legacyInitPacket({ deviceType: 0x9999, crc: 0 }))), ['now:100206']);
    assert.deepEqual(said(init(t, legacyInitPacket({ deviceType: 0x1234, softDevices: [0x0081], crc: 0 }))), ['now:100206'], 'S132 2.0.0 is not what is installed');
    assert.deepEqual(said(init(t, legacyInitPacket({ deviceType: 0x1234, softDevices: [0x0081, 0x0100], crc: 0 }))), ['now:100201']);
  });

  it('DFU v1 (SDK ≤ 6, revision 0): a 12-byte size packet is not supported, 01 + 4-byte size works; the CRC-only init packet is answered at once and checked by Validate; without it any image validates', () => {
    const { t } = setup({ ...SDK11, revision: 0 });
    const image = deterministicFiller(120, 5);
    assert.deepEqual(said(start(t, 0x04, sizes(0, 0, image.length))), ['now:100103'], 'how hosts learn the target speaks only v1');
    t.handleControlPoint(Uint8Array.of(0x01));
    const out = t.handlePacket(Uint8Array.of(image.length, 0, 0, 0));
    out.onFlashDone?.();
    assert.deepEqual(said(out), ['afterFlash:100101']);
    t.handleControlPoint(Uint8Array.of(0x02));
    const crc = crc16(image);
    assert.deepEqual(said(t.handlePacket(Uint8Array.of(crc & 0xff, crc >> 8))), ['now:100201']);
    assert.deepEqual(send(t, image), ['afterFlash:100301']);
    assert.deepEqual(said(t.handleControlPoint(Uint8Array.of(0x04))), ['now:100401']);
    const bare = setup({ ...SDK11, revision: 0 });
    bare.t.handleControlPoint(Uint8Array.of(0x01));
    bare.t.handlePacket(Uint8Array.of(image.length, 0, 0, 0)).onFlashDone?.();
    assert.deepEqual(send(bare.t, image), ['afterFlash:100301'], 'firmware right after Start: the init packet is optional in v1');
    assert.deepEqual(said(bare.t.handleControlPoint(Uint8Array.of(0x04))), ['now:100401']);
    const wrong = setup({ ...SDK11, revision: 0 });
    wrong.t.handleControlPoint(Uint8Array.of(0x01));
    wrong.t.handlePacket(Uint8Array.of(image.length, 0, 0, 0)).onFlashDone?.();
    wrong.t.handleControlPoint(Uint8Array.of(0x02));
    wrong.t.handlePacket(Uint8Array.of(~crc & 0xff, 0));
    send(wrong.t, image);
    assert.deepEqual(said(wrong.t.handleControlPoint(Uint8Array.of(0x04))), ['now:100405']);
  });

  it('Adafruit: device type 0x0052 required, SD/BL updates need device revision 0xADAF; single bank erases the application', () => {
    const { chip, t } = setup(ADAFRUIT_CONFIG);
    start(t, 0x03, sizes(4096, 4096, 0));
    assert.deepEqual(said(init(t, legacyInitPacket({ deviceType: 0xffff, crc: 0 }))), ['now:100206']);
    assert.deepEqual(said(init(t, legacyInitPacket({ deviceType: 0x0052, crc: 0 }))), ['now:100206'], 'SD+BL without the unlock code');
    assert.deepEqual(said(init(t, legacyInitPacket({ deviceType: 0x0052, deviceRevision: 0xadaf, crc: 0 }))), ['now:100201']);
    assert.equal(chip.settings.appValid, false, 'bank 0 was erased for the image');
    const app = setup(ADAFRUIT_CONFIG);
    const out = start(app.t, 0x04, sizes(0, 0, 8192));
    assert.equal(out.costMs, 2 * 85, 'single bank erases the image size only');
    assert.equal(app.t.snapshot.bankAddress, LAYOUT.appStart);
    assert.equal(app.chip.settings.appValid, false);
    assert.deepEqual(said(init(app.t, legacyInitPacket({ deviceType: 0x0052, crc: 0 }))), ['now:100201'], 'an application needs no unlock code');
  });
});
