import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { fromHex, toHex } from '../../../server/common/bytes.js';
import { ackPacket, encodeH5, h5Frame, linkControlPacket, resetPacket, vendorPacket } from '../../../server/backends/nrf/h5.js';
import { slipEncode, SlipDecoder } from '../../../server/backends/nrf/slip.js';
import { DeviceH5Link } from '../../../server/simnrf/h5Device.js';
import { h5LinkVectors, NEEDS_NRF_VECTORS } from '../../helpers/nrf-vectors.js';
import { ManualClock } from '../../helpers/manualClock.js';

const RETRANSMIT = 400;
const BOOT = 50;

interface Rig {
  readonly link: DeviceH5Link;
  readonly timers: ManualClock;
  /** SLIP frames the device wrote, hex. */
  readonly written: string[];
  readonly delivered: string[];
  readonly counts: { resets: number; retransmits: number; dropped: number };
  /** Feeds one SLIP frame (hex or bytes) from the host. */
  feed(frame: string | Uint8Array): void;
}

function rig(maxTransmissions = 5): Rig {
  const timers = new ManualClock();
  const written: string[] = [];
  const delivered: string[] = [];
  const counts = { resets: 0, retransmits: 0, dropped: 0 };
  const link = new DeviceH5Link({
    scheduler: timers,
    retransmitMs: RETRANSMIT,
    maxTransmissions,
    bootMs: BOOT,
    write: (packet) => written.push(toHex(slipEncode(packet))),
    deliver: (payload) => delivered.push(toHex(payload)),
    onResetRequested: () => counts.resets++,
    onRetransmit: () => counts.retransmits++,
    onDropped: () => counts.dropped++,
  });
  const slip = new SlipDecoder();
  return {
    link,
    timers,
    written,
    delivered,
    counts,
    feed: (frame) => {
      for (const f of slip.feed(typeof frame === 'string' ? fromHex(frame) : frame)) link.frame(f);
    },
  };
}

const hex = (packet: Parameters<typeof h5Frame>[0]): string => toHex(h5Frame(packet));
const SYNC = hex(linkControlPacket('sync'));
const SYNC_RSP = hex(linkControlPacket('syncResponse'));
const CONFIG = hex(linkControlPacket('config'));
const CONFIG_RSP = hex(linkControlPacket('configResponse'));

/** Brings a fresh link up the way a pc-ble-driver host does. */
function bringUp(r: Rig): void {
  r.link.reset();
  r.timers.fire(BOOT);
  r.feed(SYNC);
  r.timers.fire(RETRANSMIT); // the device's own SYNC
  r.feed(SYNC_RSP);
  r.feed(CONFIG); // answered with the device's CONFIG
  r.feed(CONFIG_RSP);
  r.feed(CONFIG); // answered with CONFIG RESPONSE: data may flow
  assert.equal(r.link.up, true);
  r.written.length = 0;
}

describe('device H5 link: first contact (h5_link.json transcript_first_contact)', NEEDS_NRF_VECTORS, () => {
  it('produces every device frame of the transcript, byte for byte and in order', () => {
    const transcript = h5LinkVectors().transcript_first_contact;
    const host = transcript.filter((s) => s.direction === 'host->device');
    const device = transcript.filter((s) => s.direction === 'device->host').map((s) => s.slip_frame_hex);
    const byStep = new Map(transcript.map((s) => [s.step, s.slip_frame_hex]));
    const frame = (step: number): string => byStep.get(step) as string;
    const r = rig();

    // Step 0: RESET reboots the device (the link reports it; the dongle resets everything).
    r.link.reset();
    r.feed(frame(0));
    assert.equal(r.counts.resets, 0, 'a booting device is deaf');
    r.timers.fire(BOOT);
    r.feed(frame(0));
    assert.equal(r.counts.resets, 1, 'RESET asks for a reboot');
    r.link.reset();
    // Step 1 arrives while the device still boots (the host waits 300 ms, the UART build
    // reboots within that, but here it is lost on purpose): the host repeats it below.
    r.feed(frame(1));
    assert.deepEqual(r.written, []);
    r.timers.fire(BOOT);
    r.timers.fire(RETRANSMIT); // step 2: the device's own SYNC
    r.feed(frame(3)); // SYNC RESPONSE: device initialized
    r.feed(frame(1)); // the host's repeated SYNC → step 4
    r.feed(frame(5)); // CONFIG → step 6 (the device's own CONFIG first)
    r.feed(frame(7)); // CONFIG RESPONSE: device active
    assert.equal(r.link.up, false, 'not before it answered a CONFIG');
    r.feed(frame(5)); // the host's repeated CONFIG → step 8
    assert.equal(r.link.up, true);
    r.feed(frame(9)); // cfg_set → step 10 ACK
    r.link.send(fromHex('016900000000')); // its response → step 11
    r.feed(frame(12));
    r.feed(frame(13)); // sd_ble_enable → step 14 ACK
    r.link.send(fromHex('016000000000')); // step 15
    r.feed(frame(16));
    r.link.send(fromHex('021100000013')); // DISCONNECTED event → step 17
    r.feed(frame(18));

    assert.deepEqual(r.written, device);
    assert.deepEqual(r.delivered, host.filter((s) => s.packet_type === 14).map((s) => s.payload_hex));
    assert.equal(r.link.pending, 0, 'every device packet was acknowledged');
    assert.equal(r.timers.pending, 0, 'no retransmission left armed');
  });
});

describe('device H5 link', () => {
  let r: Rig;
  beforeEach(() => {
    r = rig();
  });

  it('repeats SYNC until answered, then CONFIG until the host configures it', () => {
    r.link.reset();
    r.timers.fire(BOOT);
    r.timers.fire(RETRANSMIT);
    r.timers.fire(RETRANSMIT);
    assert.deepEqual(r.written, [SYNC, SYNC]);
    r.feed(SYNC_RSP);
    r.timers.fire(RETRANSMIT);
    r.timers.fire(RETRANSMIT);
    assert.deepEqual(r.written.slice(2), [CONFIG, CONFIG]);
    r.feed(CONFIG); // it already sent its CONFIG: this one is answered
    r.feed(CONFIG_RSP);
    assert.deepEqual(r.written.slice(4), [CONFIG_RSP]);
    assert.equal(r.link.up, true);
    assert.equal(r.timers.fire(RETRANSMIT), 0, 'no link-control repetition once active');
  });

  it('ignores CONFIG before its SYNC was answered and CONFIG with another configuration field', () => {
    r.link.reset();
    r.timers.fire(BOOT);
    r.feed(CONFIG);
    assert.deepEqual(r.written, []);
    r.feed(SYNC_RSP);
    r.feed(toHex(slipEncode(encodeH5({ ...linkControlPacket('config'), payload: Uint8Array.of(0x03, 0xfc, 0x19) }))));
    assert.deepEqual(r.written, []);
  });

  it('acknowledges every reliable packet, duplicates with the same ack, and delivers each once', () => {
    bringUp(r);
    const p0 = hex(vendorPacket(0, 0, Uint8Array.of(0x00, 0x60)));
    r.feed(p0);
    r.feed(p0); // our ACK was lost: a duplicate
    r.feed(hex(vendorPacket(2, 0, Uint8Array.of(0x00, 0x65, 0x01)))); // out of order
    assert.deepEqual(r.written, [hex(ackPacket(1)), hex(ackPacket(1)), hex(ackPacket(1))]);
    assert.deepEqual(r.delivered, ['0060']);
  });

  it('drops frames with a bad CRC, a bad header checksum, no CRC or no reliable bit', () => {
    bringUp(r);
    const good = encodeH5(vendorPacket(0, 0, Uint8Array.of(0x00, 0x60)));
    const badCrc = good.slice();
    badCrc[badCrc.length - 1] = (badCrc.at(-1) as number) ^ 1;
    const badHeader = good.slice();
    badHeader[3] = (badHeader[3] as number) ^ 1;
    r.feed(slipEncode(badCrc));
    r.feed(slipEncode(badHeader));
    r.feed(h5Frame({ ...vendorPacket(0, 0, Uint8Array.of(0x00, 0x60)), dataIntegrity: false }));
    r.feed(h5Frame({ ...vendorPacket(0, 0, Uint8Array.of(0x00, 0x60)), reliable: false }));
    assert.deepEqual(r.written, []);
    assert.deepEqual(r.delivered, []);
  });

  it('retransmits its packet with the current ack until acknowledged, then sends the next', () => {
    bringUp(r);
    r.link.send(Uint8Array.of(0x02, 0x01));
    r.link.send(Uint8Array.of(0x02, 0x02));
    r.feed(hex(vendorPacket(0, 0, Uint8Array.of(0x00, 0x60)))); // the host's packet moves our ack to 1
    r.timers.fire(RETRANSMIT);
    assert.deepEqual(r.written, [
      hex(vendorPacket(0, 0, Uint8Array.of(0x02, 0x01))),
      hex(ackPacket(1)),
      hex(vendorPacket(0, 1, Uint8Array.of(0x02, 0x01))),
    ]);
    assert.equal(r.counts.retransmits, 1);
    r.feed(hex(ackPacket(1)));
    assert.equal(r.written.at(-1), hex(vendorPacket(1, 1, Uint8Array.of(0x02, 0x02))));
    r.feed(hex(ackPacket(3))); // seq + 2 is accepted too
    assert.equal(r.link.pending, 0);
  });

  it('gives a packet up after maxTransmissions and reuses its sequence number', () => {
    bringUp(r);
    r.link.send(Uint8Array.of(0x02, 0x01));
    r.link.send(Uint8Array.of(0x02, 0x02));
    for (let i = 0; i < 5; i++) r.timers.fire(RETRANSMIT);
    assert.equal(r.counts.dropped, 1);
    assert.equal(r.counts.retransmits, 4);
    assert.equal(r.written.length, 6, '5 transmissions of the first, then the second');
    assert.equal(r.written.at(-1), hex(vendorPacket(0, 0, Uint8Array.of(0x02, 0x02))));
  });

  it('ignores ACKs that acknowledge nothing it sent', () => {
    bringUp(r);
    r.link.send(Uint8Array.of(0x02, 0x01));
    r.feed(hex(ackPacket(0)));
    r.feed(hex(ackPacket(5)));
    assert.equal(r.link.pending, 1);
  });

  it('restarts its link on a SYNC while active: sequence numbers and pending packets are gone', () => {
    bringUp(r);
    r.link.send(Uint8Array.of(0x02, 0x01));
    r.feed(SYNC);
    assert.equal(r.link.state, 'uninitialized');
    assert.equal(r.link.pending, 0);
    assert.equal(r.written.at(-1), SYNC_RSP);
    r.feed(SYNC_RSP);
    r.feed(CONFIG);
    r.feed(CONFIG_RSP);
    r.feed(CONFIG);
    r.feed(hex(vendorPacket(0, 0, Uint8Array.of(0x00, 0x60))));
    assert.equal(r.written.at(-1), hex(ackPacket(1)), 'seq/ack start again at 0');
  });

  it('hands H5 RESET to the device once booted', () => {
    bringUp(r);
    r.feed(hex(resetPacket()));
    assert.equal(r.counts.resets, 1);
  });

  it('says nothing and hears nothing while silent (no firmware), and resumes when it is not', () => {
    r.link.silent = true;
    r.link.reset();
    r.timers.fire(BOOT);
    r.timers.fire(RETRANSMIT);
    r.feed(SYNC);
    assert.deepEqual(r.written, []);
    r.link.silent = false;
    r.feed(SYNC);
    assert.deepEqual(r.written, [SYNC_RSP]);
  });
});
