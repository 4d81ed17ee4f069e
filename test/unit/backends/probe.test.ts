import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyPortReply, describePortReply, replyIsConclusive } from '../../../server/backends/probe.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('classifyPortReply (what answered our HCI Reset)', () => {
  it('nothing is silent', () => {
    assert.deepEqual(classifyPortReply(bytes()), { kind: 'silent' });
  });

  it('an H4 Command Complete / Status / Hardware Error is an HCI controller', () => {
    assert.equal(classifyPortReply(bytes(0x04, 0x0e, 0x04, 0x01, 0x03, 0x0c, 0x00)).kind, 'hci');
    assert.equal(classifyPortReply(bytes(0x04, 0x0f, 0x04, 0x00, 0x01, 0x03, 0x0c)).kind, 'hci');
    assert.equal(classifyPortReply(bytes(0x04, 0x10, 0x01, 0x00)).kind, 'hci');
    assert.equal(classifyPortReply(bytes(0x04)).kind, 'hci');
    assert.equal(classifyPortReply(bytes(0x04, 0x05, 0x04)).kind, 'unknown');
  });

  it("Nordic connectivity firmware's H5 link packets in SLIP frames are recognised", () => {
    // SYNC and CONFIG exactly as shared/spec/nrf-connectivity.md §2.2 gives them.
    assert.deepEqual(classifyPortReply(bytes(0xc0, 0x00, 0x2f, 0x00, 0xd1, 0x01, 0x7e, 0xc0)), { kind: 'nordic-connectivity', packet: 'SYNC' });
    assert.deepEqual(classifyPortReply(bytes(0x13, 0xc0, 0x00, 0x3f, 0x00, 0xc1, 0x03, 0xfc, 0x11, 0xc0)), {
      kind: 'nordic-connectivity',
      packet: 'CONFIG',
    });
    // A reliable vendor packet with seq 0/ack 0 has C0 as its first header octet, sent escaped
    // as DB DC (spec §2.1); header c0 0e 00 + checksum 32, then its 2-byte CRC.
    assert.deepEqual(classifyPortReply(bytes(0xc0, 0xdb, 0xdc, 0x0e, 0x00, 0x32, 0x12, 0x34, 0xc0)), {
      kind: 'nordic-connectivity',
      packet: 'vendor packet',
    });
  });

  it('a C0-delimited frame with a wrong H5 checksum is not taken for connectivity firmware', () => {
    assert.equal(classifyPortReply(bytes(0xc0, 0x00, 0x2f, 0x00, 0xd2, 0x01, 0x7e, 0xc0)).kind, 'unknown');
  });

  it('printable output is text, quoted by its first line without colour codes', () => {
    assert.deepEqual(classifyPortReply(text('\r\n\x1b[1;32muart:~$ \x1b[m')), { kind: 'text', firstLine: 'uart:~$' });
    assert.deepEqual(classifyPortReply(text('ERROR\r\nOK\r\n')), { kind: 'text', firstLine: 'ERROR' });
    assert.equal((classifyPortReply(text(`${'x'.repeat(200)}\n`)) as { firstLine: string }).firstLine.length, 80);
  });

  it('anything else is unknown, shown in hex', () => {
    assert.deepEqual(classifyPortReply(bytes(0x55, 0xaa, 0x00, 0xff)), { kind: 'unknown', hex: '55 aa 00 ff' });
    assert.match((classifyPortReply(new Uint8Array(40).fill(0x80)) as { hex: string }).hex, /^(80 ){15}80 …$/);
  });

  it('knows when more bytes would not change the verdict', () => {
    assert.equal(replyIsConclusive(bytes()), false);
    assert.equal(replyIsConclusive(text('shell: comm')), false);
    assert.equal(replyIsConclusive(text('shell: command not found\r\n')), true);
    assert.equal(replyIsConclusive(bytes(0xc0, 0x00, 0x2f)), false);
    assert.equal(replyIsConclusive(bytes(0xc0, 0x00, 0x2f, 0x00, 0xd1, 0x01, 0x7e, 0xc0)), true);
    assert.equal(replyIsConclusive(bytes(0x04, 0x0e)), true);
    assert.equal(replyIsConclusive(new Uint8Array(64).fill(0x80)), true);
  });

  it('describes each verdict in words', () => {
    assert.match(describePortReply({ kind: 'nordic-connectivity', packet: 'SYNC' }), /SLIP-framed H5 packets \(SYNC\).*connectivity firmware/);
    assert.equal(describePortReply({ kind: 'text', firstLine: 'uart:~$' }), 'it answered with text: "uart:~$"');
  });
});
