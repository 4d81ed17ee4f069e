import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attachNrfAdapter } from '../../../../server/backends/nrf/attach.js';
import { diagnoseNrfLink } from '../../../../server/backends/nrf/diagnosis.js';
import { h5Frame, linkControlPacket } from '../../../../server/backends/nrf/h5.js';
import { backendForReply, classifyPortReply } from '../../../../server/backends/probe.js';
import { parseAutoSpec, parseNrfSpec } from '../../../../server/backends/serialSpec.js';
import { hasCode, isBledfuError, type BledfuError } from '../../../../server/common/errors.js';
import { silentLogger } from '../../../../server/common/logger.js';
import { createMemoryDuplexPair } from '../../../../server/transport/memory.js';
import type { ByteDuplex } from '../../../../server/transport/types.js';

const LINK = { resetWaitMs: 5, retransmitMs: 20, openTimeoutMs: 300, maxTransmissions: 3 };
const HCI_RESET = [0x01, 0x03, 0x0c, 0x00];
const COMMAND_COMPLETE_RESET = Uint8Array.of(0x04, 0x0e, 0x04, 0x01, 0x03, 0x0c, 0x00);

/** Plays a far end: `onBytes` sees everything the host wrote so far and may answer. */
function farEnd(onBytes: (all: number[], device: ByteDuplex) => void): ByteDuplex {
  const [host, device] = createMemoryDuplexPair();
  const all: number[] = [];
  void (async () => {
    for await (const chunk of device.readable()) {
      all.push(...chunk);
      onBytes(all, device);
    }
  })().catch(() => undefined);
  return host;
}

async function diagnosis(host: ByteDuplex): Promise<BledfuError> {
  try {
    await attachNrfAdapter(host, { where: '/dev/ttyTEST', specPath: '/dev/ttyTEST' }, { id: 'nrf0', spec: 'nrf:/dev/ttyTEST', kind: 'nordic-connectivity', logger: silentLogger(), link: LINK });
  } catch (e) {
    assert.ok(isBledfuError(e), String(e));
    assert.ok(host.closed.aborted, 'the port is closed after the diagnosis');
    return e;
  }
  assert.fail('the link came up');
}

const endsWith = (all: number[], tail: number[]): boolean => tail.every((b, i) => all[all.length - tail.length + i] === b);

describe('"link never comes up" diagnosis (Error code 13)', () => {
  it('an HCI controller (silent to H5, answers HCI Reset): use hci:', async () => {
    const e = await diagnosis(
      farEnd((all, device) => {
        if (endsWith(all, HCI_RESET)) void device.write(COMMAND_COMPLETE_RESET);
      }),
    );
    assert.equal(e.code, 'SERIAL_WRONG_PROTOCOL');
    assert.match(e.message, /an HCI controller answers there/);
    assert.match(e.remedy ?? '', /use hci:\/dev\/ttyTEST/);
    assert.equal(e.facts.context?.['hciProbe'], 'hci');
    assert.ok(hasCode(e.cause, 'SERIAL_NO_RESPONSE'));
  });

  it('a console firmware (answers text): names its first line', async () => {
    let said = false;
    const e = await diagnosis(
      farEnd((_all, device) => {
        if (said) return;
        said = true;
        void device.write(new TextEncoder().encode('*** Booting Zephyr OS ***\r\nuart:~$ '));
      }),
    );
    assert.equal(e.code, 'SERIAL_WRONG_PROTOCOL');
    assert.match(e.message, /answered with text: "\*\*\* Booting Zephyr OS \*\*\*"/);
    assert.match(e.remedy ?? '', /connectivity_4\.1\.4/);
  });

  it('garbage: the baud rate or the line', async () => {
    const e = await diagnosis(
      farEnd((all, device) => {
        // A firmware at another baud rate: every frame we send comes back as noise.
        if (all.at(-1) === 0xc0) void device.write(Uint8Array.of(0x13, 0x37, 0x00, 0xfe, 0x81, 0x02));
      }),
    );
    assert.equal(e.code, 'SERIAL_WRONG_PROTOCOL');
    assert.match(e.message, /no known protocol: 13 37 00 fe/);
    assert.match(e.remedy ?? '', /baud=1000000/);
  });

  it('connectivity firmware that sends SYNC but never answers ours: stuck, reset or replug', async () => {
    // Like the firmware after a reset: SYNC every so often, whatever it hears.
    let timer: NodeJS.Timeout | undefined;
    const e = await diagnosis(
      farEnd((_all, device) => {
        timer ??= setInterval(() => void device.write(h5Frame(linkControlPacket('sync'))).catch(() => clearInterval(timer)), 20);
      }),
    );
    clearInterval(timer);
    assert.equal(e.code, 'SERIAL_NO_RESPONSE');
    assert.match(e.message, /sends Nordic H5 link packets \(SYNC\) but never completes the link setup/);
    assert.match(e.message, /Failed to open\. Error code: 13/);
    assert.match(e.remedy ?? '', /RESET button or unplug and replug/);
  });

  it('nothing at all, not even to an HCI Reset: no connectivity firmware, or stuck', async () => {
    const e = await diagnosis(farEnd(() => undefined));
    assert.equal(e.code, 'SERIAL_NO_RESPONSE');
    assert.match(e.message, /^no response from the nRF device on \/dev\/ttyTEST/);
    assert.match(e.message, /Error code: 13/);
    assert.match(e.remedy ?? '', /unplug and replug/);
    assert.match(e.remedy ?? '', /connectivity_4\.1\.4_usb_with_s140_6\.1\.1_dfu_pkg\.zip/);
    assert.equal(e.facts.context?.['hciProbe'], 'silent');
  });

  it('a dongle in its USB bootloader (1915:521F) is named as such', () => {
    const e = diagnoseNrfLink({
      where: '/dev/ttyACM0',
      specPath: '/dev/ttyACM0',
      reply: { kind: 'silent' },
      hciProbe: { kind: 'silent' },
      firstBytes: '',
      cause: undefined,
      port: { path: '/dev/ttyACM0', vendorId: '1915', productId: '521f' },
    });
    assert.equal(e.code, 'SERIAL_NO_RESPONSE');
    assert.match(e.message, /in its USB DFU bootloader/);
    assert.match(e.remedy ?? '', /nrfutil dfu usb-serial/);
  });
});

describe('auto: probing', () => {
  it('picks hci for an HCI event, nrf for H5 frames or silence, nothing for text and garbage', () => {
    assert.equal(backendForReply(classifyPortReply(COMMAND_COMPLETE_RESET)), 'hci');
    assert.equal(backendForReply(classifyPortReply(h5Frame(linkControlPacket('sync')))), 'nrf');
    assert.equal(backendForReply(classifyPortReply(new Uint8Array())), 'nrf');
    assert.equal(backendForReply(classifyPortReply(new TextEncoder().encode('AT\r\nOK\r\n'))), undefined);
    assert.equal(backendForReply(classifyPortReply(Uint8Array.of(0x13, 0x37, 0x00, 0xfe))), undefined);
  });
});

describe('nrf: and auto: specs', () => {
  it('default to 1 Mbaud, no flow control for nrf:, API auto', () => {
    assert.deepEqual(parseNrfSpec('nrf:ttyACM0'), { path: '/dev/ttyACM0', baudRate: 1_000_000, rtscts: false });
    assert.deepEqual(parseNrfSpec('nrf:/dev/ttyACM0?api=5&max=2&rtscts=on'), { path: '/dev/ttyACM0', baudRate: 1_000_000, rtscts: true, api: 5, maxConnections: 2 });
    assert.deepEqual(parseNrfSpec('nrf:by-id/x?api=auto'), { path: '/dev/serial/by-id/x', baudRate: 1_000_000, rtscts: false });
    assert.deepEqual(parseAutoSpec('auto:/dev/ttyUSB0?capture=a.btsnoop&baud=115200'), { path: '/dev/ttyUSB0', baudRate: 115_200, capture: 'a.btsnoop' });
  });

  it('refuse what they do not know, saying how to write them', () => {
    for (const [spec, why] of [
      ['nrf:/dev/ttyACM0?api=4', /api must be auto, 5 or 6/],
      ['nrf:/dev/ttyACM0?baud=fast', /baud must be a positive integer/],
      ['nrf:/dev/ttyACM0?dtr=on', /unknown parameter "dtr"/],
      ['nrf:', /no serial port given/],
      ['auto:/dev/ttyACM0?rtscts=maybe', /rtscts must be on or off/],
    ] as const) {
      assert.throws(() => (spec.startsWith('nrf:') ? parseNrfSpec(spec) : parseAutoSpec(spec)), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && why.test(e.message) && /write it as/.test(e.remedy ?? ''));
    }
  });
});
