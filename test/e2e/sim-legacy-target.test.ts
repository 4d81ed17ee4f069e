/**
 * The simulated legacy DFU devices (nRF5 SDK 11 and Adafruit bootloaders, legacy buttonless
 * application) driven through bledfu's real host stack on the simulated air by a small scripted
 * client (test/helpers/legacy-dfu.ts), as a legacy engine will drive them: buttonless entry and
 * where the bootloader turns up, a whole update, a CRC error, refusals, invalid state and a link
 * drop mid-transfer with what the device keeps. Everything runs on the simulator's clock.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import JSZip from 'jszip';
import { bootloaderAddress, type DeviceAddress } from '../../server/ble/address.js';
import type { Adapter, Advertisement, Connection } from '../../server/ble/types.js';
import { UUIDS } from '../../server/ble/uuid.js';
import { crc16 } from '../../server/common/crc16.js';
import { silentLogger } from '../../server/common/logger.js';
import { createHciAdapter } from '../../server/backends/hci/adapter.js';
import { firmwareRevisionOf } from '../../server/sim/devices/application.js';
import { deterministicFiller, imageIdentity } from '../../server/sim/devices/chip.js';
import { LEGACY_UUIDS } from '../../server/sim/devices/legacy/protocol.js';
import { createSimWorld, type SimDeviceConfig, type SimWorld } from '../../server/sim/world.js';
import { legacyInitPacket, LegacyClient, sizePacket, type LegacyInitFields } from '../helpers/legacy-dfu.js';
import { NEEDS_NORDIC_PACKAGES, sharedFixture } from '../helpers/shared-packages.js';
import { decodeError, startDfu } from '../../clients/ts/index.js';
import { projectZip } from '../helpers/project-packages.js';
import { addressTarget, drain, finished, SIM_DONGLES, startSimServer } from '../helpers/sim-server.js';

interface Rig {
  readonly world: SimWorld;
  readonly adapter: Adapter;
}

const rigs: Rig[] = [];

async function rig(device: Partial<SimDeviceConfig>): Promise<Rig> {
  const world = createSimWorld({ devices: [device] });
  const adapter = await createHciAdapter(world.openHostTransport(), { id: 'sim0', spec: 'sim:', kind: 'simulated', logger: silentLogger() });
  const r = { world, adapter };
  rigs.push(r);
  return r;
}

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.adapter.close();
    await r.world.close();
  }
});

async function advertisement(adapter: Adapter, address: DeviceAddress): Promise<Advertisement> {
  const stop = new AbortController();
  try {
    for await (const adv of adapter.scan({ active: true, signal: stop.signal })) if (adv.address.value === address.value) return adv;
  } finally {
    stop.abort();
  }
  throw new Error('scan ended');
}

function closed(conn: Connection): Promise<void> {
  return new Promise((resolve) => {
    if (conn.closed.aborted) resolve();
    else conn.closed.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** Buttonless entry through the application's legacy DFU service; resolves once the application dropped the link. */
async function enterBootloader(adapter: Adapter, app: DeviceAddress): Promise<void> {
  const conn = await adapter.connect(app, { mtu: 247 });
  assert.equal(conn.mtu, 23, 'SDK 11 applications keep the default ATT MTU');
  const noNotify = await LegacyClient.open(conn, false);
  assert.equal(await noNotify.readRevision(), 0x0001, 'an application with the legacy DFU service reports DFU revision 0x0001');
  // Without notifications enabled the control point refuses the write (ATT 0xFD, ble_dfu.c).
  await assert.rejects(noNotify.cp(0x01, 0x04), (e: unknown) => (e as { facts?: { attError?: number } }).facts?.attError === 0xfd);
  const client = await LegacyClient.open(conn);
  await client.cpThenDisconnect(0x01, 0x04);
}

/** An application image with its nrfutil-0.5-style init packet. */
function appImage(size: number, seed: number, init: Partial<LegacyInitFields> = {}): { bin: Uint8Array; dat: Uint8Array } {
  const bin = deterministicFiller(size, seed);
  return { bin, dat: legacyInitPacket({ crc: crc16(bin), ...init }) };
}

async function legacyFixture(name: string, key: 'application' | 'softdevice_bootloader'): Promise<{ bin: Uint8Array; dat: Uint8Array; sdSize: number; blSize: number }> {
  const zip = await JSZip.loadAsync(sharedFixture(name));
  const manifest = JSON.parse(await (zip.file('manifest.json')?.async('string') ?? '{}')) as {
    manifest: Record<string, { bin_file: string; dat_file: string; sd_size?: number; bl_size?: number }>;
  };
  const entry = manifest.manifest[key];
  assert.ok(entry, `${name} has no ${key}`);
  const read = async (file: string): Promise<Uint8Array> => {
    const f = zip.file(file);
    assert.ok(f, file);
    return f.async('uint8array');
  };
  return { bin: await read(entry.bin_file), dat: await read(entry.dat_file), sdSize: entry.sd_size ?? 0, blSize: entry.bl_size ?? 0 };
}

/** Start (application), init packet, firmware with PRN every `prn` packets: each answered with success. */
async function transfer(client: LegacyClient, image: { bin: Uint8Array; dat: Uint8Array }, prn = 10): Promise<void> {
  assert.equal(await client.start(0x04, 0, 0, image.bin.length), '100101');
  assert.equal(await client.init(image.dat), '100201');
  assert.equal(await client.sendFirmware(image.bin, prn), '100301');
}

async function validateAndActivate(client: LegacyClient): Promise<void> {
  await client.cp(0x04);
  assert.equal(await client.next(), '100401');
  await client.cpThenDisconnect(0x05);
}

async function runningRevision(adapter: Adapter, app: DeviceAddress): Promise<string> {
  const conn = await adapter.connect(app, { mtu: 23 });
  const dis = (await conn.discoverServices()).find((s) => s.uuid === UUIDS.deviceInformationService);
  const fw = dis?.characteristics.find((c) => c.uuid === UUIDS.firmwareRevision);
  assert.ok(fw);
  const text = new TextDecoder().decode(await conn.read(fw.valueHandle));
  await conn.disconnect();
  return text;
}

describe('simulated legacy DFU devices over the host stack', { timeout: 120_000 }, () => {
  it('SDK 11: buttonless entry brings up "DfuTarg" at address + 1 (128-bit service UUID, revision 0x0008, MTU 23); a generated application installs', async () => {
    const { world, adapter } = await rig({ kind: 'legacy-sdk11' });
    const dev = world.devices[0];
    assert.ok(dev);
    await enterBootloader(adapter, dev.address);
    const blAddress = bootloaderAddress(dev.address);
    const adv = await advertisement(adapter, blAddress);
    assert.equal(adv.name, 'DfuTarg');
    assert.ok(adv.serviceUuids.includes(LEGACY_UUIDS.service));
    assert.equal(dev.mode(), 'bootloader');
    const conn = await adapter.connect(blAddress, { mtu: 247 });
    assert.equal(conn.mtu, 23);
    const client = await LegacyClient.open(conn);
    assert.equal(await client.readRevision(), 0x0008);
    const image = appImage(4_000, 0x51);
    await transfer(client, image);
    await validateAndActivate(client);
    assert.equal(await runningRevision(adapter, dev.address), firmwareRevisionOf(imageIdentity(image.bin, undefined)));
    assert.equal(dev.images().application?.sha256, imageIdentity(image.bin, undefined).sha256);
    assert.equal(dev.mode(), 'application');
  });

  it("SDK 11: Nordic's SDK 11.0.0 test application package (legacy_sdk11.0.0_dfu_test_app_hrm_s132.zip) installs byte for byte", NEEDS_NORDIC_PACKAGES, async () => {
    const { world, adapter } = await rig({ kind: 'legacy-sdk11', startInBootloader: true });
    const dev = world.devices[0];
    assert.ok(dev);
    const image = await legacyFixture('legacy_sdk11.0.0_dfu_test_app_hrm_s132.zip', 'application');
    const client = await LegacyClient.open(await adapter.connect(bootloaderAddress(dev.address), { mtu: 23 }));
    await transfer(client, image, 12);
    await validateAndActivate(client);
    assert.equal(await runningRevision(adapter, dev.address), firmwareRevisionOf(imageIdentity(image.bin, undefined)));
  });

  it("SDK 11: Nordic's SoftDevice + bootloader package installs in one connection (type 0x03, SD and BL sizes), the application is invalidated, and the next connection installs the application", NEEDS_NORDIC_PACKAGES, async () => {
    const { world, adapter } = await rig({ kind: 'legacy-sdk11', startInBootloader: true });
    const dev = world.devices[0];
    assert.ok(dev);
    const sdbl = await legacyFixture('legacy_sdk11.0.0_dfu_test_softdevice_w_bootloader_b_s132.zip', 'softdevice_bootloader');
    assert.equal(sdbl.sdSize + sdbl.blSize, sdbl.bin.length);
    const blAddress = bootloaderAddress(dev.address);
    let client = await LegacyClient.open(await adapter.connect(blAddress, { mtu: 23 }));
    assert.equal(await client.start(0x07, sdbl.sdSize, sdbl.blSize, 4096), '100103', 'SD+BL+app in one go is not supported: hosts fall back to two connections');
    assert.equal(await client.start(0x03, sdbl.sdSize, sdbl.blSize, 0), '100101');
    assert.equal(await client.init(sdbl.dat), '100201');
    assert.equal(await client.sendFirmware(sdbl.bin, 20), '100301');
    await validateAndActivate(client);
    client = await LegacyClient.open(await adapter.connect(blAddress, { mtu: 23 }));
    const images = dev.images();
    assert.equal(images.softDevice?.sha256, imageIdentity(sdbl.bin.subarray(0, sdbl.sdSize), undefined).sha256);
    assert.equal(images.bootloader?.sha256, imageIdentity(sdbl.bin.subarray(sdbl.sdSize), undefined).sha256);
    assert.equal(images.applicationValid, false, 'bank 0 held the SoftDevice: the application is gone');
    assert.equal(dev.mode(), 'bootloader');
    const app = appImage(1_600, 0x2b);
    await transfer(client, app);
    await validateAndActivate(client);
    assert.equal(await runningRevision(adapter, dev.address), firmwareRevisionOf(imageIdentity(app.bin, undefined)));
  });

  it('older bootloaders: legacyRevision 0x0005 is what DFU Revision reads; 0 (SDK ≤ 6) has no DFU Revision and takes a DFU v1 update (01 + 4-byte size, CRC-only init)', async () => {
    const sdk7 = await rig({ kind: 'legacy-sdk11', legacyRevision: 0x0005, startInBootloader: true });
    const dev7 = sdk7.world.devices[0];
    assert.ok(dev7);
    const c7 = await LegacyClient.open(await sdk7.adapter.connect(bootloaderAddress(dev7.address), { mtu: 23 }));
    assert.equal(await c7.readRevision(), 0x0005);
    const { world, adapter } = await rig({ kind: 'legacy-sdk11', legacyRevision: 0, startInBootloader: true });
    const dev = world.devices[0];
    assert.ok(dev);
    const client = await LegacyClient.open(await adapter.connect(bootloaderAddress(dev.address), { mtu: 23 }));
    assert.equal(await client.readRevision(), undefined);
    const image = appImage(1_200, 0x61);
    assert.equal(await client.start(0x04, 0, 0, image.bin.length), '100103', 'the v2 size packet is not supported');
    await client.cp(0x01);
    await client.data(Uint8Array.of(image.bin.length & 0xff, image.bin.length >> 8, 0, 0));
    assert.equal(await client.next(), '100101');
    await client.cp(0x02);
    const crc = crc16(image.bin);
    await client.data(Uint8Array.of(crc & 0xff, crc >> 8));
    assert.equal(await client.next(), '100201');
    assert.equal(await client.sendFirmware(image.bin, 10), '100301');
    await validateAndActivate(client);
    assert.equal(await runningRevision(adapter, dev.address), firmwareRevisionOf(imageIdentity(image.bin, undefined)));
  });

  it('SDK 11: a corrupted packet ends in CRC error (10 04 05), an injected refusal is answered with its legacy value; System Reset returns to the old application (dual bank kept it)', async () => {
    const { world, adapter } = await rig({ kind: 'legacy-sdk11' });
    const dev = world.devices[0];
    assert.ok(dev);
    const before = await runningRevision(adapter, dev.address);
    await enterBootloader(adapter, dev.address);
    const client = await LegacyClient.open(await adapter.connect(bootloaderAddress(dev.address), { mtu: 23 }));
    world.faults.inject({ kind: 'refuseControlPoint', opcode: 0x04, result: 0x06 });
    world.faults.inject({ kind: 'corruptDataPacket', packet: 7 });
    const image = appImage(2_000, 0x77);
    await transfer(client, image);
    await client.cp(0x04);
    assert.equal(await client.next(), '100406', 'the injected refusal: operation failed');
    await client.cp(0x04);
    assert.equal(await client.next(), '100405', 'the corrupted packet: CRC error');
    await client.cp(0x04);
    assert.equal(await client.next(), '100402', 'after a CRC error the bank stays in VALIDATE');
    await client.cpThenDisconnect(0x06);
    assert.equal(await runningRevision(adapter, dev.address), before);
  });

  it('SDK 11: a link drop mid-transfer: the bootloader advertises again and keeps its state (image size report, Start → invalid state); System Reset then a fresh update succeeds', async () => {
    const { world, adapter } = await rig({ kind: 'legacy-sdk11', startInBootloader: true, validApp: false });
    const dev = world.devices[0];
    assert.ok(dev);
    const blAddress = bootloaderAddress(dev.address);
    const image = appImage(3_000, 0x99);
    world.faults.inject({ kind: 'dropLinkAfterDataBytes', bytes: 1_000 });
    let client = await LegacyClient.open(await adapter.connect(blAddress, { mtu: 23 }));
    assert.equal(await client.start(0x04, 0, 0, image.bin.length), '100101');
    assert.equal(await client.init(image.dat), '100201');
    await assert.rejects(client.sendFirmware(image.bin, 10));
    await closed(client.conn);
    const kept = dev.device.legacyBootloader?.target.snapshot;
    assert.equal(kept?.state, 'rxData');
    assert.equal(kept?.dataReceived, 1_000);
    client = await LegacyClient.open(await adapter.connect(blAddress, { mtu: 23 }));
    await client.cp(0x07);
    assert.equal(await client.next(), '100701e8030000', 'the device reports the 1 000 bytes it kept');
    assert.equal(await client.start(0x04, 0, 0, image.bin.length), '100102', 'no second Start without a reset');
    await client.cpThenDisconnect(0x06);
    // No valid application: the chip comes back in its bootloader, from IDLE.
    client = await LegacyClient.open(await adapter.connect(blAddress, { mtu: 23 }));
    assert.equal(dev.device.legacyBootloader?.target.snapshot.state, 'idle');
    await transfer(client, image);
    await validateAndActivate(client);
    assert.equal(await runningRevision(adapter, dev.address), firmwareRevisionOf(imageIdentity(image.bin, undefined)));
  });

  it('SDK 11: the link lost right after Validate was answered: the image waits in the bank (WAIT_4_ACTIVATE), and a reconnecting host can still Activate it', async () => {
    const { world, adapter } = await rig({ kind: 'legacy-sdk11', startInBootloader: true });
    const dev = world.devices[0];
    assert.ok(dev);
    const blAddress = bootloaderAddress(dev.address);
    world.faults.inject({ kind: 'dropLinkAfterLegacyResponse', op: 0x04 });
    let client = await LegacyClient.open(await adapter.connect(blAddress, { mtu: 23 }));
    const image = appImage(800, 0x3c);
    await transfer(client, image);
    await client.cp(0x04);
    assert.equal(await client.next(), '100401', 'the answer made it out before the link broke');
    await closed(client.conn);
    assert.equal(dev.device.legacyBootloader?.target.snapshot.state, 'waitActivate');
    client = await LegacyClient.open(await adapter.connect(blAddress, { mtu: 23 }));
    await client.cpThenDisconnect(0x05);
    assert.equal(await runningRevision(adapter, dev.address), firmwareRevisionOf(imageIdentity(image.bin, undefined)));
  });

  it('Adafruit: "AdaDFU" with Device Information; device type 0xFFFF refused (10 02 06), 0x0052 accepted; the application was erased at Start, so after a link drop and reset the board stays in its bootloader', async () => {
    const { world, adapter } = await rig({ kind: 'legacy-adafruit' });
    const dev = world.devices[0];
    assert.ok(dev);
    await enterBootloader(adapter, dev.address);
    const blAddress = bootloaderAddress(dev.address);
    const adv = await advertisement(adapter, blAddress);
    assert.equal(adv.name, 'AdaDFU');
    const conn = await adapter.connect(blAddress, { mtu: 247 });
    const dis = (await conn.discoverServices()).find((s) => s.uuid === UUIDS.deviceInformationService);
    const manufacturer = dis?.characteristics.find((c) => c.uuid === UUIDS.manufacturerName);
    assert.ok(manufacturer);
    assert.equal(new TextDecoder().decode(await conn.read(manufacturer.valueHandle)), 'Adafruit Industries');
    let client = await LegacyClient.open(conn);
    const image = appImage(2_400, 0xada, { deviceType: 0x0052 });
    assert.equal(await client.start(0x04, 0, 0, image.bin.length), '100101');
    assert.equal(dev.images().applicationValid, false, 'single bank: the application area was erased for the image');
    assert.equal(await client.init(legacyInitPacket({ crc: crc16(image.bin) })), '100206');
    world.faults.inject({ kind: 'dropLinkAfterDataBytes', bytes: 400 });
    assert.equal(await client.init(image.dat), '100201');
    await assert.rejects(client.sendFirmware(image.bin, 10));
    await closed(client.conn);
    client = await LegacyClient.open(await adapter.connect(blAddress, { mtu: 23 }));
    await client.cpThenDisconnect(0x06);
    client = await LegacyClient.open(await adapter.connect(blAddress, { mtu: 23 }));
    assert.equal(dev.mode(), 'bootloader');
    await transfer(client, image);
    await validateAndActivate(client);
    assert.equal(await runningRevision(adapter, dev.address), firmwareRevisionOf(imageIdentity(image.bin, undefined)));
  });

  it('Adafruit: Start DFU is answered only once the image\'s pages are erased (modelled time), and an init packet written before that answer is refused with invalid state (10 02 02)', async () => {
    const { world, adapter } = await rig({ kind: 'legacy-adafruit', startInBootloader: true });
    const dev = world.devices[0];
    assert.ok(dev);
    const client = await LegacyClient.open(await adapter.connect(bootloaderAddress(dev.address), { mtu: 23 }));
    const image = appImage(200_000, 0xe1, { deviceType: 0x0052 });
    const pages = Math.ceil(image.bin.length / 4096);
    await client.cp(0x01, 0x04);
    const sent = world.nowMs();
    await client.data(sizePacket(0, 0, image.bin.length));
    // A host that does not wait for the answer: the bank is still PREPARING.
    await client.cp(0x02, 0x00);
    await client.data(image.dat);
    assert.equal(await client.next(), '100202');
    assert.equal(await client.next(), '100101');
    assert.ok(world.nowMs() - sent >= pages * 85, `answered after ${world.nowMs() - sent} ms of modelled time, the erase of ${pages} pages takes ${pages * 85} ms`);
    assert.equal(await client.init(image.dat), '100201', 'after the answer the same init packet is taken');
  });

  it('bond shared: the bootloader keeps the application address; "directed" advertises toward the entering central only (another central does not hear it)', async () => {
    const { world, adapter } = await rig({ kind: 'legacy-sdk11', legacyEntry: 'directed' });
    const other = await createHciAdapter(world.openHostTransport(), { id: 'sim1', spec: 'sim:', kind: 'simulated', logger: silentLogger() });
    try {
      const dev = world.devices[0];
      assert.ok(dev);
      await enterBootloader(adapter, dev.address);
      const adv = await advertisement(adapter, dev.address);
      assert.equal(adv.name, undefined, 'ADV_DIRECT_IND carries no data');
      assert.equal(adv.connectable, true);
      assert.equal(dev.currentAddress().value, dev.address.value);
      // The other central: its scan hears nothing from that address for 3 s of modelled time.
      const stop = new AbortController();
      world.scheduler.after(3_000, () => stop.abort(), 'test: end the other scan');
      const heard: string[] = [];
      for await (const a of other.scan({ active: true, signal: stop.signal })) heard.push(a.address.value);
      assert.ok(!heard.includes(dev.address.value));
      const client = await LegacyClient.open(await adapter.connect(dev.address, { mtu: 23 }));
      assert.equal(await client.readRevision(), 0x0008, 'the entering central connects to the bootloader at the application address');
    } finally {
      await other.close();
    }
  });

  it('bond shared with an IRK ("same-address"): undirected advertising at the application address, named DfuTarg', async () => {
    const { world, adapter } = await rig({ kind: 'legacy-sdk11', legacyEntry: 'same-address' });
    const dev = world.devices[0];
    assert.ok(dev);
    await enterBootloader(adapter, dev.address);
    const adv = await advertisement(adapter, dev.address);
    assert.equal(adv.name, 'DfuTarg');
    assert.equal(dev.mode(), 'bootloader');
  });
});

for (const dongle of SIM_DONGLES) {
  describe(`a simulated legacy device behind the whole server (${dongle.label})`, { timeout: 60_000 }, () => {
    it('is created from the sim config, found by the server, and a Secure DFU package aimed at it fails naming legacy DFU before a byte is flashed', async () => {
      const s = await startSimServer({ devices: [{ kind: 'legacy-sdk11' }] }, {}, dongle);
      try {
        const dev = s.device();
        assert.equal(dev.kind, 'legacy-sdk11');
        const before = dev.images().application?.sha256;
        const { events, error } = await drain(startDfu(s.client, { package: { data: await projectZip('app-small') }, target: addressTarget(dev.address.value) }, { signal: AbortSignal.timeout(30_000) }));
        const d = decodeError(error);
        assert.match(d.message, /legacy DFU/);
        assert.equal(finished(events)?.result.success, false);
        assert.equal(s.observed().dataBytes, 0);
        assert.equal(s.observed().commandBytes, 0);
        assert.ok(s.observed().connections >= 1, 'the server did reach the device');
        assert.equal(dev.images().application?.sha256, before);
        assert.equal(dev.mode(), 'application');
      } finally {
        await s.close();
      }
    });
  });
}

for (const dongle of SIM_DONGLES) {
  describe(`the scripted legacy client through the server's own adapter (${dongle.label})`, { timeout: 60_000 }, () => {
    for (const entry of ['address+1', 'directed'] as const) {
      it(`buttonless entry (${entry}), then a whole application update on an SDK 11 device`, async () => {
        const s = await startSimServer({ devices: [{ kind: 'legacy-sdk11', legacyEntry: entry }] }, {}, dongle);
        try {
          const adapter = s.registry.get();
          const dev = s.device();
          await enterBootloader(adapter, dev.address);
          const blAddress = entry === 'directed' ? dev.address : bootloaderAddress(dev.address);
          const adv = await advertisement(adapter, blAddress);
          assert.equal(adv.connectable, true);
          assert.equal(adv.name, entry === 'directed' ? undefined : 'DfuTarg');
          const client = await LegacyClient.open(await adapter.connect(blAddress, { mtu: 23 }));
          const image = appImage(1_000, 0x4d);
          await transfer(client, image);
          await validateAndActivate(client);
          assert.equal(await runningRevision(adapter, dev.address), firmwareRevisionOf(imageIdentity(image.bin, undefined)));
          assert.equal(s.observed().dataBytes, image.bin.length);
        } finally {
          await s.close();
        }
      });
    }
  });
}
