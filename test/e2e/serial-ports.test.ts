/**
 * Every serial port failure a user can meet, provoked for real on socat ptys: a missing port, a
 * device node we may not open, a port another process holds, a far end that answers nothing or
 * another protocol, and the far end going away while open.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseHciSpec, openHciSerialAdapter } from '../../server/backends/hci/serial.js';
import { hasCode, type BledfuError } from '../../server/common/errors.js';
import { silentLogger } from '../../server/common/logger.js';
import { openSerialPort } from '../../server/transport/serial.js';
import { createSerialPort } from '../../server/transport/serialBinding.js';
import type { ByteDuplex } from '../../server/transport/types.js';
import { expectBledfuError, holdPort, openAsUser, openWithoutPermission, serverModule, stopHolder, type OpenOutcome } from '../helpers/port-holders.js';
import { ptySkipReason, startPtyPair, type PtyPair } from '../helpers/ptyPair.js';

const skip = ptySkipReason();
const HCI_RESET = [0x01, 0x03, 0x0c, 0x00];
const COMMAND_TIMEOUT_MS = 300;
const adapterOptions = { id: 'dongle', spec: 'hci:test', logger: silentLogger(), commandTimeoutMs: COMMAND_TIMEOUT_MS };

function openDeviceEnd(pair: PtyPair): Promise<ByteDuplex> {
  return openSerialPort({ path: pair.b, baudRate: 1_000_000, rtscts: false });
}

/** Plays the device: waits for the HCI Reset the host sends, then answers `reply` (or nothing). */
async function answerReset(device: ByteDuplex, reply: Uint8Array | undefined): Promise<number[]> {
  const received: number[] = [];
  for await (const chunk of device.readable()) {
    received.push(...chunk);
    if (received.length >= HCI_RESET.length) break;
  }
  if (reply !== undefined) await device.write(reply);
  return received;
}




describe('serial ports, provoked on real ptys', { skip: skip ?? false }, () => {
  let pair: PtyPair;
  const children: ChildProcess[] = [];
  const opened: ByteDuplex[] = [];

  before(async () => {
    pair = await startPtyPair();
  });
  after(async () => {
    for (const c of children) await stopHolder(c);
    for (const d of opened) await d.close();
    await pair.close();
  });

  it('a missing port is SERIAL_PORT_NOT_FOUND naming the ports that exist', async () => {
    const e = await expectBledfuError(openHciSerialAdapter(parseHciSpec(`hci:${join(pair.dir, 'nope')}`), adapterOptions));
    assert.equal(e.code, 'SERIAL_PORT_NOT_FOUND');
    assert.match(e.message, /nope does not exist; (serial ports here: |no serial ports exist)/);
    assert.ok(e.remedy !== undefined && e.remedy !== '');
  });

  it('a path that is no serial port is SERIAL_PORT_NOT_FOUND, not a hang', async () => {
    const file = join(pair.dir, 'regular-file');
    await writeFile(file, 'not a tty');
    const e = await expectBledfuError(openSerialPort({ path: file, baudRate: 115_200, rtscts: false }));
    assert.equal(e.code, 'SERIAL_PORT_NOT_FOUND');
    assert.match(e.message, /is not a serial port/);
  });

  it('bad settings are INVALID_ARGUMENT', async () => {
    const e = await expectBledfuError(openSerialPort({ path: pair.a, baudRate: 0, rtscts: false }));
    assert.equal(e.code, 'INVALID_ARGUMENT');
  });

  it('a device node we may not open is SERIAL_PERMISSION_DENIED naming its group and the fix', async () => {
    const device = await realpath(pair.a);
    const { outcome: result, groupName } = await openWithoutPermission(device, {
      asUser: (uid, gid) => openInChild(device, uid, gid),
      here: () => openSerialPort({ path: device, baudRate: 115_200, rtscts: false }),
    });
    assert.equal(result.code, 'SERIAL_PERMISSION_DENIED', JSON.stringify(result));
    assert.ok(result.message?.includes(`group ${groupName}`), result.message);
    assert.ok(result.remedy?.includes(`usermod -aG ${groupName} `) || result.remedy?.includes(`GROUP="${groupName}"`), result.remedy);
    assert.match(result.remedy ?? '', /udev rule|log out and in/);
  });

  it('a port another program locked is SERIAL_PORT_BUSY naming that program', async () => {
    // flock(1) takes the same lock serialport takes, then runs sleep with the port open.
    const holder = await holdPort('flock', ['--nonblock', pair.a, 'sh', '-c', 'echo ready; exec sleep 60'], 'sleep');
    children.push(holder);
    try {
      const e = await expectBledfuError(openHciSerialAdapter(parseHciSpec(`hci:${pair.a}?rtscts=off`), adapterOptions));
      assert.equal(e.code, 'SERIAL_PORT_BUSY');
      assert.match(e.message, /in use by .*sleep \(pid \d+\)/);
      assert.match(e.message, new RegExp(`flock \\(pid ${holder.pid}\\)`));
      assert.match(e.remedy ?? '', /Failed to open\. Error code: 13/);
    } finally {
      await stopHolder(holder);
    }
  });

  it('a program holding the port without a lock also makes it SERIAL_PORT_BUSY', async () => {
    const holder = await holdPort('sh', ['-c', 'exec 3<>"$0"; echo ready; exec sleep 60', pair.a], 'sleep');
    children.push(holder);
    try {
      const e = await expectBledfuError(openSerialPort({ path: pair.a, baudRate: 1_000_000, rtscts: false }));
      assert.equal(e.code, 'SERIAL_PORT_BUSY');
      assert.match(e.message, new RegExp(`sleep \\(pid ${holder.pid}\\)`));
    } finally {
      await stopHolder(holder);
    }
  });

  it('opening a port this server already has open is SERIAL_PORT_BUSY (serialport lock)', async () => {
    const first = await openSerialPort({ path: pair.a, baudRate: 1_000_000, rtscts: false });
    try {
      const e = await expectBledfuError(openSerialPort({ path: pair.a, baudRate: 1_000_000, rtscts: false }));
      assert.equal(e.code, 'SERIAL_PORT_BUSY');
      assert.match(e.message, /already open in this server/);
    } finally {
      await first.close();
    }
  });

  it('a far end that answers nothing is SERIAL_NO_RESPONSE (checks baud, flow control, firmware)', async () => {
    const device = await openDeviceEnd(pair);
    opened.push(device);
    const received = answerReset(device, undefined);
    const e = await expectBledfuError(openHciSerialAdapter(parseHciSpec(`hci:${pair.a}?rtscts=off`), adapterOptions));
    assert.deepEqual(await received, HCI_RESET);
    assert.equal(e.code, 'SERIAL_NO_RESPONSE');
    assert.match(e.message, /answered nothing/);
    assert.match(e.remedy ?? '', /baud=1000000.*rtscts=off/);
    assert.match(e.remedy ?? '', /hci_uart/);
    assert.ok(hasCode(e.cause, 'HCI_TIMEOUT'));
    await device.close();
  });

  it('a far end answering garbage is SERIAL_WRONG_PROTOCOL quoting the bytes', async () => {
    const device = await openDeviceEnd(pair);
    opened.push(device);
    const playing = answerReset(device, Uint8Array.of(0x55, 0xaa, 0x13, 0x37, 0x00, 0xfe));
    const e = await expectBledfuError(openHciSerialAdapter(parseHciSpec(`hci:${pair.a}?rtscts=off`), adapterOptions));
    assert.deepEqual(await playing, HCI_RESET);
    assert.equal(e.code, 'SERIAL_WRONG_PROTOCOL');
    assert.match(e.message, /55 aa 13 37 00 fe/);
    assert.match(e.remedy ?? '', /baud/);
    await device.close();
  });

  it('a far end answering text is SERIAL_WRONG_PROTOCOL quoting its first line', async () => {
    const device = await openDeviceEnd(pair);
    opened.push(device);
    // A Zephyr shell: a coloured error line, then its prompt, the line split over two writes
    // (the diagnosis has to wait for the rest of the line).
    const playing = answerReset(device, new TextEncoder().encode('\x1b[1;31mshell: comm')).then(async () => {
      await new Promise((r) => setTimeout(r, 20));
      await device.write(new TextEncoder().encode('and not found\x1b[m\r\n\x1b[1;32muart:~$ \x1b[m'));
    });
    const e = await expectBledfuError(openHciSerialAdapter(parseHciSpec(`hci:${pair.a}?rtscts=off`), adapterOptions));
    await playing;
    assert.equal(e.code, 'SERIAL_WRONG_PROTOCOL');
    assert.match(e.message, /answered with text: "shell: command not found"/);
    assert.match(e.remedy ?? '', /hci_uart/);
    await device.close();
  });

  it('a far end answering SLIP frames is SERIAL_WRONG_PROTOCOL pointing at nrf: (Nordic connectivity firmware)', async () => {
    const device = await openDeviceEnd(pair);
    opened.push(device);
    // The H5 SYNC Nordic's connectivity firmware sends (shared/spec/nrf-connectivity.md §2.2).
    const playing = answerReset(device, Uint8Array.of(0xc0, 0x00, 0x2f, 0x00, 0xd1, 0x01, 0x7e, 0xc0));
    const e = await expectBledfuError(openHciSerialAdapter(parseHciSpec(`hci:${pair.a}?rtscts=off`), adapterOptions));
    await playing;
    assert.equal(e.code, 'SERIAL_WRONG_PROTOCOL');
    assert.match(e.message, /Nordic connectivity firmware/);
    assert.match(e.message, /SYNC/);
    assert.ok(e.remedy?.includes(`nrf:${pair.a}`), e.remedy);
    await device.close();
  });

  it('the far end going away aborts `closed` with TRANSPORT_CLOSED saying the port went away', async () => {
    const port = await openSerialPort({ path: pair.a, baudRate: 1_000_000, rtscts: false });
    opened.push(port);
    // Settles with what ended the reader (caught at once: it may end before we look).
    const readerEnd = (async () => {
      for await (const _ of port.readable()) {
        // nothing is sent
      }
    })().then(
      () => 'ended normally',
      (e: unknown) => e,
    );
    await pair.kill();
    const reason = await new Promise<unknown>((resolve) => {
      if (port.closed.aborted) resolve(port.closed.reason);
      else port.closed.addEventListener('abort', () => resolve(port.closed.reason), { once: true });
    });
    assert.ok(hasCode(reason, 'TRANSPORT_CLOSED'));
    assert.match((reason as BledfuError).message, /went away \(unplugged\?\)/);
    assert.ok(hasCode(await readerEnd, 'TRANSPORT_CLOSED'));
    await assert.rejects(port.write(Uint8Array.of(1)), (e: unknown) => hasCode(e, 'TRANSPORT_CLOSED'));
    await port.close();
  });
});

describe('closing a serial port right after it delivered data', { skip: skip ?? false }, () => {
  it('does not crash the process (the next read is still in the thread pool)', async () => {
    const pair = await startPtyPair();
    try {
      for (let round = 0; round < 5; round++) {
        const a = await openSerialPort({ path: pair.a, baudRate: 1_000_000, rtscts: false });
        const b = await openSerialPort({ path: pair.b, baudRate: 1_000_000, rtscts: false });
        const reader = b.readable()[Symbol.asyncIterator]();
        await a.write(new Uint8Array(256).fill(round));
        let got = 0;
        while (got < 256) got += ((await reader.next()).value as Uint8Array).length;
        await a.close();
        await b.close();
      }
    } finally {
      await pair.close();
    }
  });
});

describe('a serial port whose far end hung up before anything was read', { skip: skip ?? false }, () => {
  it('reports the disconnect instead of spinning on 0-byte reads', { timeout: 10_000 }, async () => {
    const pair = await startPtyPair();
    try {
      // No reader yet: serialport issues its first read only after the tty hung up.
      const port = createSerialPort({ path: pair.a, baudRate: 1_000_000, rtscts: false, autoOpen: false });
      await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
      await pair.kill();
      const closed = new Promise<unknown>((resolve) => port.once('close', resolve));
      port.on('data', () => undefined);
      const error = await closed;
      assert.equal((error as { disconnected?: boolean }).disconnected, true);
      assert.match(String(error), /hung up/);
    } finally {
      await pair.close();
    }
  });
});

/** Opens `device` in a child process running as uid/gid, returning the error it got. */
function openInChild(device: string, uid: number, gid: number): Promise<OpenOutcome> {
  return openAsUser(
    `const { openSerialPort } = await import(${serverModule('transport/serial.ts')});` +
      `const opened = await openSerialPort({ path: ${JSON.stringify(device)}, baudRate: 115200, rtscts: false })`,
    uid,
    gid,
  );
}
