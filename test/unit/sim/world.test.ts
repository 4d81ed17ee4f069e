import assert from 'node:assert/strict';
import { bootloaderAddress } from '../../../server/ble/address.js';
import { describe, it } from 'node:test';
import { bootloaderMtuPolicy } from '../../../server/sim/devices/bootloader.js';
import { Flash } from '../../../server/sim/devices/flash.js';
import { NrfChip } from '../../../server/sim/devices/chip.js';
import { createSimWorld, parseSimSpec } from '../../../server/sim/world.js';
import { SimScheduler } from '../../../server/sim/scheduler.js';
import { decodeInitPacket } from '../../../server/dfu/package/initPacket.js';
import { projectPackageImage } from './helpers.js';
import type { ProjectPackageName } from '../../helpers/project-packages.js';

describe('bootloader MTU reply (spec §3.1)', () => {
  it('accepts up to 247 and word-aligns smaller requests', () => {
    assert.equal(bootloaderMtuPolicy(247), 247);
    assert.equal(bootloaderMtuPolicy(517), 247);
    assert.equal(bootloaderMtuPolicy(185), 183);
    assert.equal(bootloaderMtuPolicy(23), 23);
    assert.equal(bootloaderMtuPolicy(100), 99);
    for (let m = 24; m < 247; m++) assert.equal((bootloaderMtuPolicy(m) - 3) % 4, 0);
  });
});

describe('flash model', () => {
  it('costs ≈85 ms per page erase and ≈41 µs per word, and only clears bits when written unerased', () => {
    const f = new Flash();
    assert.equal(f.erase(0x27000, 4097), 170);
    assert.ok(Math.abs(f.write(0x27000, new Uint8Array(4096)) - 1024 * 0.041) < 1e-9);
    f.write(0x28000, Uint8Array.of(0xf0));
    f.write(0x28000, Uint8Array.of(0x0f));
    assert.equal(f.read(0x28000, 1)[0], 0x00);
  });

  it('reads the installed SoftDevice FWID from its info struct (DK image: S140 7.2.0 = 0x100)', () => {
    assert.equal(new NrfChip().softDeviceFwid(), 0x100);
  });
});

describe('a device\'s initial state', () => {
  it('can start in its bootloader, without a valid application, or with another SoftDevice', async () => {
    const world = createSimWorld({
      devices: [{}, { startInBootloader: true }, { validApp: false }, { softDeviceFwid: 0xb6 }],
    });
    try {
      const [plain, inBootloader, bare, otherSd] = world.devices;
      assert.ok(plain && inBootloader && bare && otherSd);
      assert.equal(plain.mode(), 'application');
      assert.equal(inBootloader.mode(), 'bootloader');
      assert.equal(inBootloader.currentAddress().value, bootloaderAddress(inBootloader.address).value);
      assert.equal(inBootloader.images().applicationValid, true);
      assert.equal(bare.mode(), 'bootloader');
      assert.equal(bare.images().applicationValid, false);
      assert.equal(bare.firmwareRevision(), undefined);
      assert.equal(otherSd.mode(), 'application');
      assert.equal(otherSd.images().softDeviceFwid, 0xb6);
      assert.equal(plain.images().softDeviceFwid, 0x100);
    } finally {
      await world.close();
    }
  });
});

describe('device reboot', () => {
  it('keeps flash and settings across a reset, and comes back in the application', async () => {
    const world = createSimWorld({});
    const dev = world.devices[0];
    assert.ok(dev);
    const chip = dev.device.chip;
    chip.flash.program(0xe0000, Uint8Array.of(1, 2, 3, 4));
    chip.settings.appVersion = 7;
    dev.device.reset();
    assert.equal(dev.mode(), 'off');
    // Parked worlds stand still; let the host "scan" so time moves and the chip boots.
    world.air.setScanning({ address: { value: '00:00:00:00:00:01', type: 'public' }, onAdvertisement: () => undefined }, { active: false });
    await new Promise<void>((resolve) => {
      const poll = (): void => (dev.mode() === 'off' ? void setTimeout(poll, 1) : resolve());
      poll();
    });
    assert.equal(dev.mode(), 'application');
    assert.deepEqual([...chip.flash.read(0xe0000, 4)], [1, 2, 3, 4]);
    assert.equal(chip.settings.appVersion, 7);
    assert.equal(dev.firmwareRevision(), 'app v1 7f030207');
    assert.ok(world.nowMs() >= 50);
    await world.close();
  });

  it('the "absent" fault silences a device', async () => {
    const world = createSimWorld({});
    const dev = world.devices[0];
    assert.ok(dev);
    assert.ok(dev.device.advertising() !== undefined);
    const h = world.faults.inject({ kind: 'absent' });
    assert.equal(dev.device.advertising(), undefined);
    h.remove();
    assert.ok(dev.device.advertising() !== undefined);
    await world.close();
  });
});

describe('what the bootloader starts after activating each image type (SDK 15–17)', { timeout: 30_000 }, () => {
  type Sim = ReturnType<typeof createSimWorld>;
  const BANK = 0x40000;

  /** Stores `image` as a received, validated update and resets the chip to activate it. */
  async function activate(world: Sim, name: ProjectPackageName): Promise<void> {
    const dev = world.devices[0];
    assert.ok(dev);
    const image = await projectPackageImage(name);
    const init = decodeInitPacket(image.dat).init;
    const chip = dev.device.chip;
    chip.flash.program(BANK, image.bin);
    chip.settings.pending = { fwType: init.type ?? -1, bankAddress: BANK, size: image.bin.length, sdSize: init.sdSize ?? 0, blSize: init.blSize ?? 0, fwVersion: init.fwVersion, isDebug: true };
    dev.device.reset();
    // Parked worlds stand still; let the host "scan" so time moves and the chip boots.
    world.air.setScanning({ address: { value: '00:00:00:00:00:01', type: 'public' }, onAdvertisement: () => undefined }, { active: false });
    await until(world, () => dev.mode() !== 'off');
  }

  /**
   * Polls every 10 ms of modelled time, on the world's own scheduler: a setImmediate loop would
   * count as work under way and keep modelled time still, and a real-time poll would let
   * modelled time run on between two looks.
   */
  async function until(world: Sim, done: () => boolean): Promise<void> {
    await new Promise<void>((resolve) => {
      const poll = (): void => (done() ? resolve() : void world.scheduler.after(10, poll, 'test: poll'));
      poll();
    });
  }

  it('bootloader only: the still valid application starts', async () => {
    const world = createSimWorld({});
    await activate(world, 'bootloader');
    assert.equal(world.devices[0]?.mode(), 'application');
    await world.close();
  });

  it('SoftDevice of the same major version (7, the project package): DFU mode for the continuation window, then the old application', async () => {
    const world = createSimWorld({});
    const dev = world.devices[0];
    assert.ok(dev);
    await activate(world, 'softdevice');
    assert.equal(dev.mode(), 'bootloader');
    assert.equal(dev.images().applicationValid, true);
    const bootedAt = world.nowMs();
    await until(world, () => dev.mode() === 'application');
    const waited = world.nowMs() - bootedAt;
    assert.ok(waited >= 10_000 && waited < 12_000, `the bootloader waited ${waited} ms (NRF_BL_DFU_CONTINUATION_TIMEOUT_MS = 10 s)`);
    assert.equal(dev.firmwareRevision(), 'app v1 7f030207');
    await world.close();
  });

  it('SoftDevice + bootloader of another major version (6, the project package): the application is invalidated, DFU mode even after the inactivity timeout', async () => {
    const world = createSimWorld({});
    const dev = world.devices[0];
    assert.ok(dev);
    await activate(world, 'sd-bl');
    assert.equal(dev.mode(), 'bootloader');
    assert.equal(dev.images().applicationValid, false);
    const resets = dev.resets();
    await until(world, () => dev.resets() > resets && dev.mode() !== 'off');
    assert.equal(dev.mode(), 'bootloader', 'after its inactivity reset it comes back in DFU mode');
    await world.close();
  });
});

describe('scheduler', () => {
  it('runs events in modelled-time order, ties in scheduling order, without waiting in real time', async () => {
    const s = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
    const seen: string[] = [];
    s.after(60_000, () => seen.push('c'));
    s.after(10, () => seen.push('a'));
    s.after(10, () => seen.push('b'));
    const cancelled = s.after(5, () => seen.push('x'));
    cancelled.cancel();
    await new Promise<void>((resolve) => s.after(120_000, resolve));
    assert.deepEqual(seen, ['a', 'b', 'c']);
    assert.equal(s.nowMs(), 120_000);
    assert.equal(s.pendingCount(), 0);
    s.close();
  });
});

describe('parseSimSpec', () => {
  it('reads devices, speed and key', () => {
    const c = parseSimSpec('sim:?devices=3&speed=1&key=sdk17.0.2');
    assert.equal(c.devices?.length, 3);
    assert.equal(c.speed, 1);
    assert.equal(c.devices?.[0]?.key, 'sdk17.0.2');
    assert.deepEqual(parseSimSpec('sim:'), { devices: [{}] });
    assert.equal(parseSimSpec('sim:?progress=reload').devices?.[0]?.progressOnDisconnect, 'reload');
  });
  it('reads the devices\' DFU kind and legacy entry, and refuses other values', () => {
    assert.equal(parseSimSpec('sim:').devices?.[0]?.kind, undefined);
    const c = parseSimSpec('sim:?devices=2&kind=legacy-adafruit&entry=directed');
    assert.deepEqual(c.devices?.map((d) => [d.kind, d.legacyEntry]), [['legacy-adafruit', 'directed'], ['legacy-adafruit', 'directed']]);
    assert.equal(parseSimSpec('sim:?kind=legacy-sdk11').devices?.[0]?.kind, 'legacy-sdk11');
    assert.throws(() => parseSimSpec('sim:?kind=legacy'), /bad value "legacy" for kind/);
    assert.throws(() => parseSimSpec('sim:?entry=address%2B2'), /bad value "address\+2" for entry/);
  });
  it('reads which dongle: the HCI controller by default, a connectivity dongle with its API (v6 unless api=5)', () => {
    assert.equal(parseSimSpec('sim:').dongle, undefined);
    assert.deepEqual(parseSimSpec('sim:?dongle=hci').dongle, { kind: 'hci' });
    assert.deepEqual(parseSimSpec('sim:?dongle=nrf').dongle, { kind: 'nrf', api: 6 });
    assert.deepEqual(parseSimSpec('sim:?dongle=nrf&api=5&devices=2').dongle, { kind: 'nrf', api: 5 });
    assert.throws(() => parseSimSpec('sim:?dongle=nrf&api=4'), /bad value "4" for api/);
    assert.throws(() => parseSimSpec('sim:?dongle=usb'), /bad value "usb" for dongle/);
    assert.throws(() => parseSimSpec('sim:?api=5'), /only to dongle=nrf/);
  });
  it('reads the controller\'s shared LE ACL buffers as BUFFERSxLENGTH (acl=3x27), HCI controller only', () => {
    const c = parseSimSpec('sim:?acl=3x27');
    assert.equal(c.aclBuffers, 3);
    assert.equal(c.aclDataLength, 27);
    assert.equal(parseSimSpec('sim:').aclBuffers, undefined);
    for (const bad of ['3x26', '0x27', '3x252', '3', 'x27', '256x27']) {
      assert.throws(() => parseSimSpec(`sim:?acl=${bad}`), /bad value .* for acl/, bad);
    }
    assert.throws(() => parseSimSpec('sim:?dongle=nrf&acl=3x27'), /only to the HCI controller/);
  });
  it("reads the HCI controller's UART speed (baud=N, 0 = instant), HCI controller only", () => {
    assert.equal(parseSimSpec('sim:?baud=115200').baud, 115200);
    assert.equal(parseSimSpec('sim:?baud=0').baud, 0);
    assert.equal(parseSimSpec('sim:').baud, undefined, 'the world default (1 000 000) applies');
    for (const bad of ['fast', '-1', '1.5', '']) assert.throws(() => parseSimSpec(`sim:?baud=${bad}`), /bad value .* for baud/, bad);
    assert.throws(() => parseSimSpec('sim:?dongle=nrf&baud=115200'), /only to the HCI controller/);
  });
  it('rejects unknown parameters and bad values', () => {
    assert.throws(() => parseSimSpec('sim:?devcies=2'), /unknown parameter/);
    assert.throws(() => parseSimSpec('sim:?key=nope'), /bad value/);
    assert.throws(() => parseSimSpec('hci:/dev/ttyACM0'), /not a simulator spec/);
  });
  it('gives each default device its own address and name', () => {
    const world = createSimWorld(parseSimSpec('sim:?devices=2'));
    assert.deepEqual(
      world.devices.map((d) => [d.address.value, d.label]),
      [
        ['F0:0D:C0:DE:00:01', 'bledfu-sim-1'],
        ['F0:0D:C0:DE:00:03', 'bledfu-sim-2'],
      ],
    );
    void world.close();
  });
  it('numbers devices from first= and sets their RSSI with rssi=, so simulated servers can differ', async () => {
    const world = createSimWorld(parseSimSpec('sim:?devices=2&first=3&rssi=-70'));
    try {
      assert.deepEqual(
        world.devices.map((d) => [d.address.value, d.label, d.device.rssi]),
        [
          ['F0:0D:C0:DE:00:05', 'bledfu-sim-3', -70],
          ['F0:0D:C0:DE:00:07', 'bledfu-sim-4', -70],
        ],
      );
    } finally {
      await world.close();
    }
    assert.deepEqual(parseSimSpec('sim:?first=1'), { devices: [{}] });
    assert.throws(() => parseSimSpec('sim:?first=0'), /bad value "0" for first/);
    assert.throws(() => parseSimSpec('sim:?rssi=-200'), /bad value "-200" for rssi/);
    assert.throws(() => parseSimSpec('sim:?rssi=loud'), /bad value "loud" for rssi/);
  });
  it("never puts a device's application at another device's bootloader address (app + 1)", () => {
    const world = createSimWorld(parseSimSpec('sim:?devices=64'));
    const apps = world.devices.map((d) => d.address);
    const all = new Set([...apps.map((a) => a.value), ...apps.map((a) => bootloaderAddress(a).value)]);
    assert.equal(all.size, 2 * apps.length, 'every application and bootloader address is distinct');
    void world.close();
  });
});
