/**
 * nrf: and auto: on real serial ports (socat ptys): the simulated connectivity dongle behind a
 * pty carries a DFU through the serial port library exactly as a USB dongle would; a port held by
 * another program, a port we may not open, and an HCI controller (BlueZ's btvirt) where
 * connectivity firmware was expected each get their own diagnosis; auto: tells the two apart.
 */
import assert from 'node:assert/strict';
import { realpath } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { startDfu } from '../../clients/ts/index.js';
import { openNrfSerialAdapter } from '../../server/backends/nrf/open.js';
import { openAdapters } from '../../server/backends/registry.js';
import { parseNrfSpec } from '../../server/backends/serialSpec.js';
import { silentLogger } from '../../server/common/logger.js';
import { createSimWorld, type SimWorld } from '../../server/sim/world.js';
import { openSimNrfDongle, type SimNrfDongle } from '../../server/simnrf/dongle.js';
import { openSerialPort } from '../../server/transport/serial.js';
import type { ByteDuplex } from '../../server/transport/types.js';
import { btvirtSkipReason, startEmulator } from '../helpers/btvirt/emulator.js';
import { expectBledfuError, holdPort, openAsUser, openWithoutPermission, serverModule, stopHolder, type OpenOutcome } from '../helpers/port-holders.js';
import { serveRegistry } from '../helpers/app-server.js';
import { ptySkipReason, startPtyPair, type PtyPair } from '../helpers/ptyPair.js';
import { addressTarget, drain, finished, revisionOf } from '../helpers/sim-server.js';
import { projectFacts } from '../helpers/project-packages.js';

const skip = ptySkipReason();
/** The project's small application package (one data object; demo key, the simulator's default). */
const SMALL = await projectFacts('app-small');
const options = { id: 'nrf0', spec: 'nrf:test', logger: silentLogger() };

/** Copies bytes both ways until either end closes. */
function bridge(a: ByteDuplex, b: ByteDuplex): Promise<void> {
  const pump = async (from: ByteDuplex, to: ByteDuplex): Promise<void> => {
    try {
      for await (const chunk of from.readable()) await to.write(chunk);
    } catch {
      // one end went away
    }
  };
  return Promise.all([pump(a, b), pump(b, a)]).then(() => undefined);
}

/**
 * A simulated world whose connectivity dongle sits at the far end of `pair` (the host opens
 * pair.a). Paced in real time: the accelerated clock assumes a host that answers within a few
 * event-loop turns, which bytes crossing two ptys do not.
 */
async function dongleBehind(pair: PtyPair, api: 5 | 6 = 6): Promise<{ world: SimWorld; dongle: SimNrfDongle; close: () => Promise<void> }> {
  const world = createSimWorld({ devices: [{}], speed: 1 });
  const dongle = openSimNrfDongle(world, { api });
  const port = await openSerialPort({ path: pair.b, baudRate: 1_000_000, rtscts: false });
  const bridged = bridge(dongle.transport, port);
  return {
    world,
    dongle,
    close: async () => {
      await dongle.close();
      await port.close();
      await bridged;
      await world.close();
    },
  };
}




describe('nrf: on a serial port, with the simulated connectivity dongle behind it', { skip: skip ?? false }, () => {
  let pair: PtyPair;
  before(async () => {
    pair = await startPtyPair();
  });
  after(async () => {
    await pair.close();
  });

  it('a DFU (blinky, buttonless entry) over gRPC, through serialport, SLIP/H5 and the SoftDevice serialization', { timeout: 60_000 }, async () => {
    const sim = await dongleBehind(pair);
    const registry = await openAdapters([`nrf:${pair.a}`], silentLogger());
    const served = await serveRegistry(registry, silentLogger(), { maxConcurrentDfus: 1, jobRetention: 10, shutdownGraceMs: 2_000 });
    try {
      const info = registry.get('nrf0').info();
      assert.equal(info.state, 'ready', info.error?.message);
      assert.equal(info.kind, 'nordic-connectivity');
      const dev = sim.world.devices[0];
      assert.ok(dev);
      const r = await drain(startDfu(served.client, { package: { data: SMALL.zip }, target: addressTarget(dev.address.value) }, { signal: AbortSignal.timeout(50_000) }));
      assert.equal(r.error, undefined, String(r.error));
      assert.equal(finished(r.events)?.result.success, true);
      assert.equal(dev.firmwareRevision(), revisionOf(SMALL.fwVersion, SMALL.sha256));
    } finally {
      await served.close();
      await registry.close();
      await sim.close();
    }
  });

  it('auto: finds no HCI controller there and opens it as nrf:', { timeout: 30_000 }, async () => {
    const sim = await dongleBehind(pair, 5);
    const registry = await openAdapters([`auto:${pair.a}`], silentLogger());
    try {
      const info = registry.get('auto0').info();
      assert.equal(info.state, 'ready', info.error?.message);
      assert.equal(info.kind, 'nordic-connectivity');
      assert.match(info.identity, /API v5/);
    } finally {
      await registry.close();
      await sim.close();
    }
  });

  it('a port another program holds is SERIAL_PORT_BUSY naming it, with the nrfutil symptom', { timeout: 15_000 }, async () => {
    const holder = await holdPort('flock', ['--nonblock', pair.a, 'sh', '-c', 'echo ready; exec sleep 60'], 'sleep');
    try {
      const e = await expectBledfuError(openNrfSerialAdapter(parseNrfSpec(`nrf:${pair.a}`), options));
      assert.equal(e.code, 'SERIAL_PORT_BUSY');
      assert.match(e.message, /in use by .*sleep \(pid \d+\)/);
      assert.match(e.remedy ?? '', /Failed to open\. Error code: 13/);
    } finally {
      await stopHolder(holder);
    }
  });

  it('a port we may not open is SERIAL_PERMISSION_DENIED naming the group and the fix', { timeout: 30_000 }, async () => {
    const device = await realpath(pair.a);
    const { outcome: result, groupName } = await openWithoutPermission(device, {
      asUser: (uid, gid) => openNrfInChild(device, uid, gid),
      here: () => openNrfSerialAdapter(parseNrfSpec(`nrf:${device}`), options),
    });
    assert.equal(result.code, 'SERIAL_PERMISSION_DENIED', JSON.stringify(result));
    assert.ok(result.message?.includes(`group ${groupName}`), result.message);
    assert.match(result.remedy ?? '', /usermod -aG|udev rule|log out and in/);
  });
});

describe('nrf: and auto: on an HCI controller (BlueZ btvirt behind a pty)', { skip: btvirtSkipReason() ?? false }, () => {
  it('nrf: says an HCI controller answers there and to use hci:; auto: opens it as hci:', { timeout: 30_000 }, async () => {
    const emu = await startEmulator();
    try {
      const controller = await emu.addController();
      const e = await expectBledfuError(openNrfSerialAdapter(parseNrfSpec(`nrf:${controller.path}`), options));
      assert.equal(e.code, 'SERIAL_WRONG_PROTOCOL');
      assert.match(e.message, /an HCI controller answers there/);
      assert.ok(e.remedy?.includes(`hci:${controller.path}`), e.remedy);
      assert.equal(e.facts.context?.['hciProbe'], 'hci');

      const registry = await openAdapters([`auto:${controller.path}?rtscts=off`], silentLogger());
      try {
        const info = registry.get('auto0').info();
        assert.equal(info.state, 'ready', info.error?.message);
        assert.equal(info.kind, 'hci-uart');
        assert.equal(info.address?.value, controller.address);
      } finally {
        await registry.close();
      }
    } finally {
      await emu.stop();
    }
  });
});

/** Opens `device` with the nrf: backend in a child process running as uid/gid; returns its error. */
function openNrfInChild(device: string, uid: number, gid: number): Promise<OpenOutcome> {
  return openAsUser(
    `const { openNrfSerialAdapter } = await import(${serverModule('backends/nrf/open.ts')});` +
      `const { parseNrfSpec } = await import(${serverModule('backends/serialSpec.ts')});` +
      `const { silentLogger } = await import(${serverModule('common/logger.ts')});` +
      `const opened = await openNrfSerialAdapter(parseNrfSpec(${JSON.stringify(`nrf:${device}`)}), { id: 'nrf0', spec: 'nrf:x', logger: silentLogger() })`,
    uid,
    gid,
  );
}
