import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diagnoseHciBringUp, parseHciSpec } from '../../../../server/backends/hci/serial.js';
import { BledfuError, hasCode } from '../../../../server/common/errors.js';

describe('parseHciSpec', () => {
  it('defaults to 1 Mbaud with RTS/CTS (Zephyr hci_uart on an nRF52840 Dongle)', () => {
    assert.deepEqual(parseHciSpec('hci:/dev/ttyACM0'), { path: '/dev/ttyACM0', baudRate: 1_000_000, rtscts: true });
  });

  it('reads every parameter', () => {
    assert.deepEqual(parseHciSpec('hci:/dev/ttyACM0?baud=115200&rtscts=off&capture=x.btsnoop&max=4'), {
      path: '/dev/ttyACM0',
      baudRate: 115_200,
      rtscts: false,
      capture: 'x.btsnoop',
      maxConnections: 4,
    });
    assert.equal(parseHciSpec('HCI:/dev/ttyUSB0?rtscts=ON').rtscts, true);
  });

  it('expands by-id names and bare device names', () => {
    assert.equal(parseHciSpec('hci:by-id/usb-ZEPHYR_Zephyr_HCI_UART_sample_0123-if00').path, '/dev/serial/by-id/usb-ZEPHYR_Zephyr_HCI_UART_sample_0123-if00');
    assert.equal(parseHciSpec('hci:ttyACM1').path, '/dev/ttyACM1');
  });

  it('refuses what it cannot use, saying how to write it', () => {
    for (const bad of ['sim:', 'hci:', 'hci:?baud=1', 'hci:/dev/x?baud=fast', 'hci:/dev/x?baud=0', 'hci:/dev/x?rtscts=maybe', 'hci:/dev/x?speed=1', 'hci:/dev/x?max=-1', 'hci:/dev/x?capture=']) {
      assert.throws(
        () => parseHciSpec(bad),
        (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /hci:\/dev\/ttyACM0/.test(e.remedy ?? ''),
        bad,
      );
    }
  });
});

describe('diagnoseHciBringUp', () => {
  const serial = parseHciSpec('hci:/dev/ttyACM0');
  const timeout = new BledfuError('HCI_TIMEOUT', 'no answer to Reset', { layer: 'hci' });

  it('silence is SERIAL_NO_RESPONSE about baud, flow control and firmware, naming a known board', () => {
    const e = diagnoseHciBringUp(serial, { kind: 'silent' }, new Uint8Array(0), timeout, {
      path: '/dev/ttyACM0',
      known: { name: 'nRF52840 Dongle in its USB DFU bootloader', hint: 'it runs no radio firmware yet' },
    });
    assert.equal(e.code, 'SERIAL_NO_RESPONSE');
    assert.equal(
      e.message,
      'no HCI controller answered on /dev/ttyACM0 (1000000 baud, RTS/CTS on): it answered nothing to HCI Reset (nRF52840 Dongle in its USB DFU bootloader: it runs no radio firmware yet)',
    );
    assert.match(e.remedy ?? '', /baud=1000000 and rtscts=on/);
    assert.match(e.remedy ?? '', /nrf:\/dev\/ttyACM0/);
    assert.equal(e.cause, timeout);
  });

  it('each other answer is SERIAL_WRONG_PROTOCOL saying what runs there and what to do', () => {
    const slip = diagnoseHciBringUp(serial, { kind: 'nordic-connectivity', packet: 'SYNC' }, Uint8Array.of(0xc0, 0x00), timeout);
    assert.equal(slip.code, 'SERIAL_WRONG_PROTOCOL');
    assert.match(slip.message, /Nordic connectivity firmware/);
    assert.match(slip.remedy ?? '', /^use nrf:\/dev\/ttyACM0 for Nordic connectivity firmware/);
    assert.equal(slip.facts.context?.firstBytes, 'c0 00');
    const shell = diagnoseHciBringUp(serial, { kind: 'text', firstLine: 'uart:~$' }, new Uint8Array(0), timeout);
    assert.match(shell.message, /answered with text: "uart:~\$"; it runs a shell/);
    assert.match(shell.remedy ?? '', /flash Zephyr's hci_uart/);
    const noise = diagnoseHciBringUp(serial, { kind: 'unknown', hex: 'ff 00' }, new Uint8Array(0), timeout);
    assert.match(noise.message, /ff 00; usually a baud rate mismatch/);
  });

  it('an HCI answer keeps the original error: the protocol was right', () => {
    assert.equal(diagnoseHciBringUp(serial, { kind: 'hci' }, Uint8Array.of(0x04, 0x0e), timeout), timeout);
  });
});
