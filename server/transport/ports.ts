/**
 * Serial port enumeration straight from sysfs. serialport's own list() asks udevadm, which does
 * not exist in most containers ("spawn udevadm ENOENT"); the kernel's view in /sys/class/tty has
 * everything we need, and /dev/serial/by-id (when udev made it) gives stable names.
 */
import { readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { knownUsbDevice } from './knownUsbDevices.js';

export interface SerialPortInfo {
  /** The device node, e.g. /dev/ttyACM0. */
  path: string;
  /** /dev/serial/by-id/… pointing at it: stable across replugs, prefer it in specs. */
  byIdPath?: string;
  /** 4 hex digits, lowercase. */
  vendorId?: string;
  productId?: string;
  serialNumber?: string;
  manufacturer?: string;
  product?: string;
  /** Kernel driver bound to it (cdc_acm, ftdi_sio, cp210x, pl011, serial…). */
  driver?: string;
  known?: { name: string; hint: string };
}

export interface ListSerialPortsOptions {
  /** Where sysfs is mounted (tests build a fake tree). */
  sysRoot?: string;
  /** Where device nodes live. */
  devRoot?: string;
}

const USB_SERIAL = /^tty(ACM|USB)\d+$/;
const ON_CHIP_UART = /^tty(AMA|S)\d+$/;
/** How far above the tty's device the USB device (with idVendor) may sit: interface, port, device. */
const MAX_USB_HOPS = 4;

async function readAttr(dir: string, name: string): Promise<string | undefined> {
  const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
  const value = text?.trim();
  return value === undefined || value === '' ? undefined : value;
}

async function linkName(path: string): Promise<string | undefined> {
  const target = await realpath(path).catch(() => undefined);
  return target === undefined ? undefined : basename(target);
}

async function findUsbDevice(start: string, sysRoot: string): Promise<string | undefined> {
  let dir = start;
  const top = resolve(sysRoot);
  for (let i = 0; i <= MAX_USB_HOPS && dir.startsWith(top) && dir !== top; i++) {
    if ((await readAttr(dir, 'idVendor')) !== undefined) return dir;
    dir = dirname(dir);
  }
  return undefined;
}

/**
 * Since Linux 6.5 a UART's tty points at a "serial-base" port device (driver "port") whose
 * parents are the serial-base controller and then the real hardware; climb to the hardware.
 */
async function hardwareDevice(device: string): Promise<string> {
  let dir = device;
  for (let i = 0; i < 2 && (await linkName(join(dir, 'subsystem'))) === 'serial-base'; i++) dir = dirname(dir);
  return dir;
}

/** tty name → its /dev/serial/by-id link (the first by name when several point at it). */
async function byIdLinks(devRoot: string): Promise<Map<string, string>> {
  const dir = join(devRoot, 'serial', 'by-id');
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  const map = new Map<string, string>();
  for (const name of names) {
    const link = join(dir, name);
    const target = await readlink(link).catch(() => undefined);
    if (target === undefined) continue;
    const tty = basename(resolve(dir, target));
    if (!map.has(tty)) map.set(tty, link);
  }
  return map;
}

async function describeTty(name: string, sysRoot: string, devRoot: string, byId: Map<string, string>): Promise<SerialPortInfo | undefined> {
  if (!USB_SERIAL.test(name) && !ON_CHIP_UART.test(name)) return undefined;
  const link = await realpath(join(sysRoot, 'class', 'tty', name, 'device')).catch(() => undefined);
  // Without a device link it is a virtual tty; every real serial port has one.
  if (link === undefined) return undefined;
  const device = await hardwareDevice(link);
  const driver = await linkName(join(device, 'driver'));
  if (ON_CHIP_UART.test(name)) {
    // The 8250 driver registers 32 ttyS placeholders on its "serial8250" platform device whether
    // or not a UART exists; real ones hang off a PNP/PCI/platform node with their own driver.
    if (driver === undefined || basename(device) === 'serial8250') return undefined;
  }
  const info: SerialPortInfo = { path: join(devRoot, name) };
  const idLink = byId.get(name);
  if (idLink !== undefined) info.byIdPath = idLink;
  if (driver !== undefined) info.driver = driver;
  const usb = await findUsbDevice(device, sysRoot);
  if (usb !== undefined) {
    const [vendorId, productId, serialNumber, manufacturer, product] = await Promise.all(
      ['idVendor', 'idProduct', 'serial', 'manufacturer', 'product'].map((a) => readAttr(usb, a)),
    );
    if (vendorId !== undefined) info.vendorId = vendorId.toLowerCase();
    if (productId !== undefined) info.productId = productId.toLowerCase();
    if (serialNumber !== undefined) info.serialNumber = serialNumber;
    if (manufacturer !== undefined) info.manufacturer = manufacturer;
    if (product !== undefined) info.product = product;
    const known = knownUsbDevice(info.vendorId, info.productId, info.product);
    if (known !== undefined) info.known = { name: known.name, hint: known.hint };
  }
  return info;
}

/** The serial ports this machine has (USB CDC ACM, USB-UART bridges, real on-chip UARTs). */
export async function listSerialPorts(options: ListSerialPortsOptions = {}): Promise<SerialPortInfo[]> {
  const sysRoot = options.sysRoot ?? '/sys';
  const devRoot = options.devRoot ?? '/dev';
  const names = await readdir(join(sysRoot, 'class', 'tty')).catch(() => [] as string[]);
  const byId = await byIdLinks(devRoot);
  const ports = await Promise.all(names.map((n) => describeTty(n, sysRoot, devRoot, byId)));
  return ports
    .filter((p): p is SerialPortInfo => p !== undefined)
    .sort((a, b) => a.path.localeCompare(b.path, 'en', { numeric: true }));
}

/** "usb-Nordic_…-if00 (/dev/ttyACM0, nRF52840 Dongle …)": how a port is named to users. */
export function describePort(port: SerialPortInfo): string {
  const details = [port.path, port.known?.name ?? port.product].filter((d): d is string => d !== undefined);
  return port.byIdPath === undefined ? details.join(', ') : `${port.byIdPath} (${details.join(', ')})`;
}

/** Whether a path exists at all (a dangling by-id link counts as missing). */
export async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
