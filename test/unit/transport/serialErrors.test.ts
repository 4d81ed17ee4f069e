import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { diagnoseOpenFailure } from '../../../server/transport/serial.js';
import {
  inspectDeviceAccess,
  permissionDeniedError,
  portBusyError,
  portGoneError,
  portNotFoundError,
  runningInContainer,
  type DeviceAccess,
} from '../../../server/transport/serialErrors.js';

const access = (over: Partial<DeviceAccess>): DeviceAccess => ({
  mode: 'crw-rw----',
  ownerUid: 0,
  gid: 20,
  groupName: 'dialout',
  user: 'alice',
  userListedInGroup: false,
  processHasGroup: false,
  ...over,
});

describe('serial error messages', () => {
  it('not found lists the ports that exist, by-id names first', () => {
    const e = portNotFoundError('/dev/ttyACM3', [
      { path: '/dev/ttyACM0', byIdPath: '/dev/serial/by-id/usb-ZEPHYR_HCI-if00', known: { name: 'Zephyr application', hint: '' } },
      { path: '/dev/ttyS0' },
    ]);
    assert.equal(e.code, 'SERIAL_PORT_NOT_FOUND');
    assert.equal(
      e.message,
      'serial port /dev/ttyACM3 does not exist; serial ports here: /dev/serial/by-id/usb-ZEPHYR_HCI-if00 (/dev/ttyACM0, Zephyr application); /dev/ttyS0',
    );
    assert.equal(e.facts.context?.available, '/dev/serial/by-id/usb-ZEPHYR_HCI-if00 /dev/ttyS0');
    assert.match(portNotFoundError('/dev/ttyACM3', [], { inContainer: true }).remedy ?? '', /plug the dongle in; in a container, pass the device in \(docker run --device \/dev\/ttyACM3\)/);
  });

  it('not found in a container without --device: the kernel has the port but /dev does not', () => {
    const e = portNotFoundError('/dev/ttyACM0', [{ path: '/dev/ttyACM0', vendorId: '1915' }], {
      withoutNode: new Set(['/dev/ttyACM0']),
    });
    assert.equal(e.message, 'serial port /dev/ttyACM0 does not exist; serial ports here: /dev/ttyACM0 [no device node here]');
    assert.equal(e.remedy, 'plug the dongle in; in a container, pass the device in (docker run --device /dev/ttyACM0)');
    assert.match(portNotFoundError('/dev/ttyACM0', [], { reason: 'no-device' }).message, /^no device is behind \/dev\/ttyACM0 \(unplugged\?\)/);
  });

  it('permission denied: a user outside the group is told to join it or add a udev rule', () => {
    const e = permissionDeniedError('/dev/ttyACM0', access({}), { vendorId: '2fe3' });
    assert.equal(e.code, 'SERIAL_PERMISSION_DENIED');
    assert.equal(e.message, 'permission denied opening /dev/ttyACM0 (crw-rw----, group dialout): alice is not in group dialout');
    assert.match(e.remedy ?? '', /^sudo usermod -aG dialout alice, then log out and in again/);
    assert.ok(e.remedy?.includes('SUBSYSTEM=="tty", ATTRS{idVendor}=="2fe3", MODE="0660", GROUP="dialout"'));
  });

  it('permission denied: a user added after the server started is told to log in again', () => {
    const e = permissionDeniedError('/dev/ttyACM0', access({ userListedInGroup: true }));
    assert.match(e.message, /alice was added to group dialout after this server started/);
    assert.match(e.remedy ?? '', /log out and in again/);
    assert.doesNotMatch(e.remedy ?? '', /usermod/);
  });

  it('permission denied: a group that cannot write is told to fix the mode with udev', () => {
    const e = permissionDeniedError('/dev/ttyACM0', access({ mode: 'crw-r-----', userListedInGroup: true, processHasGroup: true }));
    assert.match(e.message, /mode does not let group dialout read and write/);
    assert.match(e.remedy ?? '', /MODE="0660", GROUP="dialout"/);
  });

  it('permission denied in a container, with a gid that has no name, gives the --group-add fix', () => {
    const { groupName: _, ...unnamed } = access({ gid: 986 });
    const e = permissionDeniedError('/dev/ttyACM0', unnamed, { inContainer: true });
    assert.match(e.message, /group 986/);
    assert.match(e.remedy ?? '', /docker run --device \/dev\/ttyACM0 --group-add 986/);
  });

  it('busy names the holders and the nrfutil symptom users search for', () => {
    const e = portBusyError('/dev/ttyACM0', { holders: [{ pid: 4242, command: 'nrfutil' }], uninspectable: 0, self: false });
    assert.equal(e.code, 'SERIAL_PORT_BUSY');
    assert.match(e.message, /^serial port \/dev\/ttyACM0 is in use by nrfutil \(pid 4242\)/);
    assert.match(e.remedy ?? '', /stop nrfutil \(kill 4242\)/);
    assert.match(e.remedy ?? '', /"Failed to open\. Error code: 13"/);
    const unseen = portBusyError('/dev/ttyACM0', { holders: [], uninspectable: 3, self: false }, { locked: true });
    assert.match(unseen.message, /locked by another process \(3 processes could not be inspected; run as root to see which\)/);
  });

  it('a port that went away says so', () => {
    const e = portGoneError('/dev/ttyACM0', new Error('EIO'));
    assert.equal(e.code, 'TRANSPORT_CLOSED');
    assert.equal(e.message, 'serial port /dev/ttyACM0 went away (unplugged?)');
  });
});

describe('inspectDeviceAccess', { skip: process.getuid?.() === 0 ? false : 'needs root to give a file another group' }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-access-'));
    await mkdir(join(dir, 'etc'));
    const me = userInfo().username;
    await writeFile(join(dir, 'etc', 'group'), `root:x:0:\nplugdev:x:4242:alice\nradio:x:4343:bob,${me}\n`);
    await writeFile(join(dir, 'etc', 'passwd'), `${me}:x:${process.getuid?.()}:${process.getgid?.()}::/root:/bin/sh\n`);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the node group from stat and membership from /etc/group and the process', async () => {
    const node = join(dir, 'ttyFAKE');
    await writeFile(node, '');
    await chmod(node, 0o660);
    await chown(node, 0, 4242);
    const outside = await inspectDeviceAccess(node, { etcRoot: join(dir, 'etc') });
    assert.deepEqual(outside, {
      mode: '-rw-rw----',
      ownerUid: 0,
      gid: 4242,
      groupName: 'plugdev',
      user: userInfo().username,
      userListedInGroup: false,
      processHasGroup: false,
    });
    await chown(node, 0, 4343);
    const listed = await inspectDeviceAccess(node, { etcRoot: join(dir, 'etc') });
    assert.equal(listed?.groupName, 'radio');
    assert.equal(listed?.userListedInGroup, true);
    assert.equal(listed?.processHasGroup, false);
  });
});

describe('diagnoseOpenFailure', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-diag-'));
    await writeFile(join(dir, 'ttyFAKE'), '');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("maps serialport's messages to the error a user can act on", async () => {
    const port = join(dir, 'ttyFAKE');
    const lock = await diagnoseOpenFailure(port, new Error('Error Resource temporarily unavailable Cannot lock port'));
    assert.equal(lock.code, 'SERIAL_PORT_BUSY');
    assert.equal(lock.facts.context?.port, port);
    assert.equal((await diagnoseOpenFailure(port, new Error(`Error: Permission denied, cannot open ${port}`))).code, 'SERIAL_PERMISSION_DENIED');
    assert.equal((await diagnoseOpenFailure(join(dir, 'gone'), new Error('Error: No such file or directory'))).code, 'SERIAL_PORT_NOT_FOUND');
    const other = await diagnoseOpenFailure(port, new Error('Error: Invalid argument setting custom baud rate of 12345'));
    assert.equal(other.code, 'ADAPTER_UNAVAILABLE');
    assert.match(other.message, /setting custom baud rate of 12345/);
  });

  it('knows a container by its marks', async () => {
    assert.equal(await runningInContainer(dir), false);
    await writeFile(join(dir, '.dockerenv'), '');
    assert.equal(await runningInContainer(dir), true);
  });
});
