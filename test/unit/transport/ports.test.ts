import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describePort, listSerialPorts } from '../../../server/transport/ports.js';

/** A fake /sys and /dev laid out the way Linux 6.x lays them out (relative symlinks, as sysfs has). */
class FakeTree {
  constructor(readonly root: string) {}
  get sys(): string {
    return join(this.root, 'sys');
  }
  get dev(): string {
    return join(this.root, 'dev');
  }
  async dir(path: string): Promise<string> {
    const full = join(this.root, path);
    await mkdir(full, { recursive: true });
    return full;
  }
  async attrs(path: string, values: Record<string, string>): Promise<void> {
    const dir = await this.dir(path);
    for (const [name, value] of Object.entries(values)) await writeFile(join(dir, name), `${value}\n`);
  }
  async link(from: string, to: string): Promise<void> {
    const full = join(this.root, from);
    await mkdir(dirname(full), { recursive: true });
    // The target exists in sysfs; create it as a directory unless it is there already (a device node).
    await mkdir(join(this.root, to), { recursive: true }).catch(() => undefined);
    await symlink(relative(dirname(full), join(this.root, to)), full);
  }
  /** A tty class entry under `parent` (the device the tty hangs off, or none for a virtual one). */
  async tty(name: string, parent: string | undefined): Promise<void> {
    const node = parent === undefined ? `sys/devices/virtual/tty/${name}` : `${parent}/tty/${name}`;
    await this.attrs(node, { dev: '166:0' });
    if (parent !== undefined) await this.link(`${node}/device`, parent);
    await this.link(`sys/class/tty/${name}`, node);
    await writeFile(join(await this.dir('dev'), name), '');
  }
}

describe('listSerialPorts (sysfs, no udev)', () => {
  let tree: FakeTree;
  const usb = 'sys/devices/pci0000:00/0000:00:14.0/usb1';

  before(async () => {
    tree = new FakeTree(await mkdtemp(join(tmpdir(), 'bledfu-sysfs-')));
    // nRF52840 Dongle in its bootloader: CDC ACM; the tty's device is the USB interface.
    await tree.attrs(`${usb}/1-2`, {
      idVendor: '1915',
      idProduct: '521F',
      serial: 'E1A2B3C4D5E6',
      manufacturer: 'Nordic Semiconductor',
      product: 'Open DFU Bootloader',
    });
    await tree.attrs(`${usb}/1-2/1-2:1.0`, { bInterfaceNumber: '00' });
    await tree.link(`${usb}/1-2/1-2:1.0/driver`, 'sys/bus/usb/drivers/cdc_acm');
    await tree.tty('ttyACM0', `${usb}/1-2/1-2:1.0`);
    await tree.link('dev/serial/by-id/usb-Nordic_Semiconductor_Open_DFU_Bootloader_E1A2B3C4D5E6-if00', 'dev/ttyACM0');
    // A Zephyr hci_uart dongle with the default Zephyr ids, no by-id link (no udev in a container).
    await tree.attrs(`${usb}/1-4`, { idVendor: '2fe3', idProduct: '0100', product: 'Zephyr HCI UART sample' });
    await tree.attrs(`${usb}/1-4/1-4:1.0`, { bInterfaceNumber: '00' });
    await tree.link(`${usb}/1-4/1-4:1.0/driver`, 'sys/bus/usb/drivers/cdc_acm');
    await tree.tty('ttyACM1', `${usb}/1-4/1-4:1.0`);
    // FTDI bridge: usb-serial adds a port device between the interface and the tty.
    await tree.attrs(`${usb}/1-3`, { idVendor: '0403', idProduct: '6001', manufacturer: 'FTDI' });
    await tree.link(`${usb}/1-3/1-3:1.0/ttyUSB0/driver`, 'sys/bus/usb-serial/drivers/ftdi_sio');
    await tree.tty('ttyUSB0', `${usb}/1-3/1-3:1.0/ttyUSB0`);
    // A real 8250 UART (Linux >= 6.5: tty -> serial-base port -> serial-base ctrl -> PNP device).
    await tree.link('sys/devices/pnp0/00:01/driver', 'sys/bus/pnp/drivers/serial');
    await tree.link('sys/devices/pnp0/00:01/00:01:0/subsystem', 'sys/bus/serial-base');
    await tree.link('sys/devices/pnp0/00:01/00:01:0/00:01:0.0/subsystem', 'sys/bus/serial-base');
    await tree.link('sys/devices/pnp0/00:01/00:01:0/00:01:0.0/driver', 'sys/bus/serial-base/drivers/port');
    await tree.tty('ttyS0', 'sys/devices/pnp0/00:01/00:01:0/00:01:0.0');
    // Phantom 8250 placeholders, new and old layout: must not be listed.
    await tree.link('sys/devices/platform/serial8250/driver', 'sys/bus/platform/drivers/serial8250');
    await tree.link('sys/devices/platform/serial8250/serial8250:0/subsystem', 'sys/bus/serial-base');
    await tree.link('sys/devices/platform/serial8250/serial8250:0/serial8250:0.1/subsystem', 'sys/bus/serial-base');
    await tree.link('sys/devices/platform/serial8250/serial8250:0/serial8250:0.1/driver', 'sys/bus/serial-base/drivers/port');
    await tree.tty('ttyS1', 'sys/devices/platform/serial8250/serial8250:0/serial8250:0.1');
    await tree.tty('ttyS2', 'sys/devices/platform/serial8250');
    // A Raspberry Pi PL011 UART, and consoles/ptys that are no serial ports.
    await tree.link('sys/devices/platform/soc/fe201000.serial/driver', 'sys/bus/amba/drivers/uart-pl011');
    await tree.tty('ttyAMA0', 'sys/devices/platform/soc/fe201000.serial');
    await tree.tty('tty0', undefined);
    await tree.tty('ttyACM9', undefined);
  });
  after(async () => {
    await rm(tree.root, { recursive: true, force: true });
  });

  it('lists real serial ports only, in natural order', async () => {
    const ports = await listSerialPorts({ sysRoot: tree.sys, devRoot: tree.dev });
    assert.deepEqual(
      ports.map((p) => p.path),
      ['ttyACM0', 'ttyACM1', 'ttyAMA0', 'ttyS0', 'ttyUSB0'].map((n) => join(tree.dev, n)),
    );
  });

  it('reads the USB identity, driver and by-id name, and recognises the board', async () => {
    const ports = await listSerialPorts({ sysRoot: tree.sys, devRoot: tree.dev });
    const dongle = ports.find((p) => p.path.endsWith('ttyACM0'));
    assert.deepEqual(dongle, {
      path: join(tree.dev, 'ttyACM0'),
      byIdPath: join(tree.dev, 'serial/by-id/usb-Nordic_Semiconductor_Open_DFU_Bootloader_E1A2B3C4D5E6-if00'),
      driver: 'cdc_acm',
      vendorId: '1915',
      productId: '521f',
      serialNumber: 'E1A2B3C4D5E6',
      manufacturer: 'Nordic Semiconductor',
      product: 'Open DFU Bootloader',
      known: dongle?.known,
    });
    assert.match(dongle?.known?.name ?? '', /nRF52840 Dongle .*bootloader/i);
    assert.match(dongle?.known?.hint ?? '', /nrfutil dfu usb-serial/);
    assert.match(describePort(dongle ?? { path: '' }), /^.*by-id\/usb-Nordic.* \(.*ttyACM0, nRF52840 Dongle/);
  });

  it('finds the USB device above a usb-serial port device (FTDI) and names the bridge', async () => {
    const ftdi = (await listSerialPorts({ sysRoot: tree.sys, devRoot: tree.dev })).find((p) => p.path.endsWith('ttyUSB0'));
    assert.equal(ftdi?.vendorId, '0403');
    assert.equal(ftdi?.productId, '6001');
    assert.equal(ftdi?.driver, 'ftdi_sio');
    assert.equal(ftdi?.byIdPath, undefined);
    assert.equal(ftdi?.known?.name, 'USB-UART bridge');
  });

  it('names the Zephyr default ids and the UART drivers behind serial-base', async () => {
    const ports = await listSerialPorts({ sysRoot: tree.sys, devRoot: tree.dev });
    assert.match(ports.find((p) => p.path.endsWith('ttyACM1'))?.known?.hint ?? '', /hci:<port>.*hci_uart/);
    const uart = ports.find((p) => p.path.endsWith('ttyS0'));
    assert.deepEqual(uart, { path: join(tree.dev, 'ttyS0'), driver: 'serial' });
    assert.equal(ports.find((p) => p.path.endsWith('ttyAMA0'))?.driver, 'uart-pl011');
  });

  it('returns nothing, without failing, where there is no sysfs', async () => {
    assert.deepEqual(await listSerialPorts({ sysRoot: join(tree.root, 'none'), devRoot: join(tree.root, 'none') }), []);
  });
});
