import assert from 'node:assert/strict';
import { SimScheduler } from '../../../server/sim/scheduler.js';
import { realClock } from '../../../server/common/clock.js';
import { isVirtualClock } from '../../../server/sim/clock.js';
import { describe, it } from 'node:test';
import type { HciAdapterOptions } from '../../../server/backends/hci/adapter.js';
import { createHciAdapter } from '../../../server/backends/hci/adapter.js';
import type { HciSerialSpec } from '../../../server/backends/hci/serial.js';
import { createNrfAdapter, type NrfAdapterOptions } from '../../../server/backends/nrf/adapter.js';
import { checkAdapterSpecs, openAdapters, type HciOpener, type NrfOpener } from '../../../server/backends/registry.js';
import type { NrfSerialSpec } from '../../../server/backends/serialSpec.js';
import { FakeNrfDongle } from '../../helpers/nrfFakeDongle.js';
import { createSimWorld } from '../../../server/sim/world.js';
import { parseAddress } from '../../../server/ble/address.js';
import { BledfuError, hasCode } from '../../../server/common/errors.js';
import { silentLogger } from '../../../server/common/logger.js';
import { FakeController } from '../../helpers/fakeController.js';
import { ManualClock, settle } from '../../helpers/manualClock.js';

/** `hci:` dongles on fake serial ports: what the registry asked to open, and controllers behind them. */
class FakePorts implements HciOpener {
  readonly opened: { serial: HciSerialSpec; options: Omit<HciAdapterOptions, 'kind'> }[] = [];
  readonly missing = new Set<string>();

  readonly parse = (spec: string): HciSerialSpec => {
    const m = /^hci:([^?]+)(?:\?max=(\d+))?$/.exec(spec);
    if (m === null) throw new BledfuError('INVALID_ARGUMENT', `bad adapter spec "${spec}"`, { layer: 'backend' });
    return { path: m[1] as string, baudRate: 1_000_000, rtscts: true, ...(m[2] === undefined ? {} : { maxConnections: Number(m[2]) }), capture: 'hci.btsnoop' };
  };

  readonly open = async (serial: HciSerialSpec, options: Omit<HciAdapterOptions, 'kind'>) => {
    this.opened.push({ serial, options });
    if (this.missing.has(serial.path)) {
      throw new BledfuError('SERIAL_PORT_NOT_FOUND', `serial port ${serial.path} does not exist`, { layer: 'transport', remedy: 'plug the dongle in' });
    }
    const { capture: _capture, ...rest } = options;
    return createHciAdapter(new FakeController().host, { ...rest, kind: 'hci-uart' });
  };

  readonly present = (serial: HciSerialSpec): boolean => !this.missing.has(serial.path);
}

/** `nrf:` dongles on fake serial ports: scripted connectivity firmware behind each opening. */
class FakeNrfPorts implements NrfOpener {
  readonly opened: { serial: NrfSerialSpec; options: Omit<NrfAdapterOptions, 'kind' | 'api'> }[] = [];
  readonly dongles: FakeNrfDongle[] = [];

  readonly open = async (serial: NrfSerialSpec, options: Omit<NrfAdapterOptions, 'kind' | 'api'>) => {
    this.opened.push({ serial, options });
    const dongle = new FakeNrfDongle({ api: 6 });
    this.dongles.push(dongle);
    return createNrfAdapter(dongle.host, {
      ...options,
      kind: 'nordic-connectivity',
      link: { resetWaitMs: 1, retransmitMs: 20 },
      ...(serial.maxConnections === undefined ? {} : { maxConnections: serial.maxConnections }),
    });
  };

  readonly present = (): boolean => true;
}

describe('adapter registry', () => {
  it('opens sim: and hci: adapters, keeps an adapter that failed listed with its error, and finds adapters by id', async () => {
    // Simulators beside a real dongle run paced to real time (one clock per server).
    const registry = await openAdapters(['sim:?speed=1', 'hci:/dev/ttyNOPE-bledfu-test', 'sim:?devices=2&speed=1'], silentLogger());
    try {
      const infos = registry.list().map((a) => a.info());
      assert.deepEqual(
        infos.map((i) => [i.id, i.kind, i.state]),
        [
          ['sim0', 'simulated', 'ready'],
          ['hci0', 'hci-uart', 'failed'],
          ['sim1', 'simulated', 'ready'],
        ],
      );
      // The real serial backend's typed error, with its remedy.
      const failed = infos[1];
      assert.ok(failed?.error !== undefined && hasCode(failed.error, 'SERIAL_PORT_NOT_FOUND'), String(failed?.error?.message));
      assert.ok((failed.error.remedy ?? '') !== '');
      assert.equal(registry.get().id, 'sim0', 'no id: the first ready adapter');
      assert.equal(registry.get('sim1').id, 'sim1');
      assert.equal(registry.simWorld('sim1')?.devices.length, 2);
      assert.equal(registry.simWorld('hci0'), undefined);
      await assert.rejects(
        registry.get('hci0').connect(parseAddress('F0:0D:C0:DE:00:01')),
        (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE') && /not usable: serial port \/dev\/ttyNOPE-bledfu-test does not exist/.test(e.message),
      );
      assert.throws(() => registry.get('nope'), (e: unknown) => hasCode(e, 'ADAPTER_NOT_FOUND') && /sim0, hci0, sim1/.test(e.remedy ?? ''));
      assert.equal(typeof registry.get('sim0').modelledTimeMs?.(), 'number');
      assert.equal(registry.get('hci0').modelledTimeMs, undefined, 'a real dongle models no air time');
    } finally {
      await registry.close();
    }
  });

  it('opens hci: through the serial opener with the spec’s max= as the connection limit', async () => {
    const ports = new FakePorts();
    const registry = await openAdapters(['hci:/dev/ttyACM7?max=1', 'hci:/dev/ttyACM8'], silentLogger(), { hci: ports, maxConnections: 3 });
    try {
      const [limited, other] = registry.list().map((a) => a.info());
      assert.deepEqual([limited?.id, limited?.kind, limited?.state, limited?.spec], ['hci0', 'hci-uart', 'ready', 'hci:/dev/ttyACM7?max=1']);
      assert.equal(limited?.maxConnections, 1, 'max= is honoured');
      assert.equal(other?.maxConnections, 3, 'without max=, the server-wide limit');
      assert.equal(ports.opened[0]?.serial.path, '/dev/ttyACM7');
      assert.equal(ports.opened[0]?.options.capture, 'hci.btsnoop');
    } finally {
      await registry.close();
    }
  });

  it('refuses a malformed hci: or nrf: spec for good, without opening anything', async () => {
    const ports = new FakePorts();
    const nrf = new FakeNrfPorts();
    const timers = new ManualClock();
    const registry = await openAdapters(['hci:', 'nrf:/dev/ttyACM1?api=7'], silentLogger(), { hci: ports, nrf, clock: timers });
    try {
      const [bad, badNrf] = registry.list().map((a) => a.info());
      assert.equal(bad?.state, 'failed');
      assert.ok(hasCode(bad?.error, 'INVALID_ARGUMENT'));
      assert.equal(badNrf?.kind, 'nordic-connectivity');
      assert.ok(hasCode(badNrf?.error, 'INVALID_ARGUMENT'));
      assert.match(badNrf?.error?.message ?? '', /api must be auto, 5 or 6/);
      assert.equal(ports.opened.length + nrf.opened.length, 0);
      assert.equal(timers.pending, 0, 'nothing to retry');
    } finally {
      await registry.close();
    }
  });

  it('opens nrf: through the serial opener: spec parameters reach it, max= is the connection limit, the adapter is supervised', async () => {
    const nrf = new FakeNrfPorts();
    // The supervisor's reopening delays wait for the test; the fake dongles' H5 links run in real time.
    const timers = new ManualClock('background');
    const registry = await openAdapters(['nrf:ttyACM3?api=6&max=2', 'nrf:by-id/usb-Nordic_dongle?baud=115200&rtscts=on'], silentLogger(), { nrf, clock: timers, maxConnections: 3 });
    try {
      const [a, b] = registry.list().map((x) => x.info());
      assert.deepEqual([a?.id, a?.kind, a?.state, a?.maxConnections], ['nrf0', 'nordic-connectivity', 'ready', 2]);
      assert.deepEqual([b?.id, b?.state, b?.maxConnections], ['nrf1', 'ready', 3]);
      assert.match(a?.identity ?? '', /S140 6\.1\.1/);
      assert.deepEqual(nrf.opened.map((o) => o.serial), [
        { path: '/dev/ttyACM3', baudRate: 1_000_000, rtscts: false, api: 6, maxConnections: 2 },
        { path: '/dev/serial/by-id/usb-Nordic_dongle', baudRate: 115_200, rtscts: true },
      ]);
      // The dongle goes away: the supervisor reopens it under the same id.
      await nrf.dongles[0]?.close();
      await settle();
      assert.equal(registry.get('nrf0').info().state, 'failed');
      assert.match(registry.get('nrf0').info().error?.message ?? '', /dongle nrf0 went away/);
      assert.equal(timers.fire(500), 1);
      // The reopened dongle's H5 link runs on real timers (reset wait, retransmission), so give it
      // real time, bounded, rather than a number of event-loop turns a loaded machine may not cover.
      for (let i = 0; i < 500 && registry.get('nrf0').info().state !== 'ready'; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(registry.get('nrf0').info().state, 'ready');
      assert.equal(nrf.opened.length, 3);
    } finally {
      await registry.close();
    }
  });

  it('brings a missing hci: dongle up once it is plugged in, skipping openings while its port is absent', async () => {
    const ports = new FakePorts();
    ports.missing.add('/dev/ttyACM9');
    const timers = new ManualClock('background');
    const registry = await openAdapters(['hci:/dev/ttyACM9'], silentLogger(), { hci: ports, clock: timers });
    try {
      assert.equal(registry.get('hci0').info().state, 'failed');
      assert.ok(hasCode(registry.get('hci0').info().error, 'SERIAL_PORT_NOT_FOUND'));
      assert.equal(timers.fire(500), 1);
      await settle();
      assert.equal(ports.opened.length, 1, 'the port is still absent: no opening tried');
      ports.missing.delete('/dev/ttyACM9');
      assert.equal(timers.fire(1000), 1);
      await settle();
      assert.equal(registry.get().id, 'hci0');
      assert.equal(registry.get('hci0').info().state, 'ready');
    } finally {
      await registry.close();
    }
  });

  it('unplugging the simulated dongle fails the sim: adapter clearly; replugged, it is ready again with a fresh controller', async () => {
    const registry = await openAdapters(['sim:'], silentLogger());
    // The accelerated simulator's clock is the server's: the supervisor's reopening delays are
    // background timers on it, which come due as the test's own waits pull modelled time on.
    const clock = registry.clock;
    try {
      const world = registry.simWorld('sim0');
      assert.ok(world !== undefined);
      const adapter = registry.get('sim0');
      const address = adapter.info().address?.value;
      world.unplugDongle();
      await settle();
      const info = adapter.info();
      assert.equal(info.state, 'failed');
      assert.ok(hasCode(info.error, 'ADAPTER_UNAVAILABLE'));
      assert.equal(info.error.message, 'dongle sim0 went away (unplugged?)');
      assert.throws(() => registry.get(), (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE') && /sim0 failed \(ADAPTER_UNAVAILABLE: dongle sim0 went away/.test(e.message) && /sim0: plug it back in/.test(e.remedy ?? ''), 'unplugged: unavailable, with the dongle\'s remedy');
      const lostAt = clock.now();
      await clock.sleep(5_000);
      assert.equal(adapter.info().state, 'failed', 'still unplugged');
      assert.equal(clock.now() - lostAt, 5_000, 'a background retry does not move time by itself');
      world.replugDongle();
      for (let i = 0; i < 100 && adapter.info().state !== 'ready'; i++) await clock.sleep(100);
      assert.equal(adapter.info().state, 'ready');
      assert.ok(clock.now() - lostAt <= 5_000 + 5_000 + 1_000, 'reopened at the next retry (at most 5 s apart)');
      assert.equal(adapter.info().address?.value, address, 'the same dongle, the same address');
      assert.equal(registry.get(), adapter, 'the same adapter object, under the same id');
    } finally {
      await registry.close();
    }
  });

  it('drives a world the caller owns and leaves it open at close, so a second registry finds the same devices', async () => {
    const scheduler = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
    const world = createSimWorld({ devices: [{ name: 'kept' }] }, undefined, scheduler);
    try {
      const first = await openAdapters(['sim:'], silentLogger(), { simScheduler: scheduler, simWorld: (id) => (id === 'sim0' ? world : undefined) });
      assert.equal(first.simWorld('sim0'), world);
      assert.equal(first.get('sim0').info().state, 'ready');
      world.devices[0]?.device.chip.flash.program(0xe0000, Uint8Array.of(7));
      await first.close();
      const second = await openAdapters(['sim:'], silentLogger(), { simScheduler: scheduler, simWorld: () => world });
      try {
        assert.equal(second.get('sim0').info().state, 'ready', 'the world still opens a dongle after the first registry closed');
        assert.equal(second.simWorld('sim0')?.devices[0]?.device.chip.flash.read(0xe0000, 1)[0], 7);
      } finally {
        await second.close();
      }
    } finally {
      await world.close();
      scheduler.close();
    }
  });

  it('refuses a lent world that runs on another scheduler than the server clock', async () => {
    const world = createSimWorld({ devices: [{}] });
    try {
      const registry = await openAdapters(['sim:'], silentLogger(), { simWorld: () => world });
      try {
        const info = registry.list()[0]?.info();
        assert.equal(info?.state, 'failed');
        assert.ok(hasCode(info?.error, 'INTERNAL') && /another scheduler/.test(info.error.message), String(info?.error?.message));
      } finally {
        await registry.close();
      }
    } finally {
      await world.close();
    }
  });

  it('says no adapter is ready, and why, when none is: UNAVAILABLE with each adapter\'s error and remedy', async () => {
    const registry = await openAdapters(['nrf:/dev/ttyACM1'], silentLogger());
    try {
      const info = registry.list()[0]?.info();
      assert.equal(info?.state, 'failed');
      const remedy = info.error?.remedy;
      assert.ok(remedy !== undefined && remedy !== '', 'the failed adapter has a remedy to pass on');
      assert.throws(
        () => registry.get(),
        (e: unknown) => hasCode(e, 'ADAPTER_UNAVAILABLE') && /^no adapter is ready: nrf0 failed \(/.test(e.message) && e.remedy === `nrf0: ${remedy}`,
      );
      // An unknown id is still NOT_FOUND: that code means "no adapter by that id", nothing else.
      assert.throws(() => registry.get('nrf7'), (e: unknown) => hasCode(e, 'ADAPTER_NOT_FOUND'));
    } finally {
      await registry.close();
    }
  });

  it('one clock per server: the sim: adapters share one scheduler; accelerated, it is the server clock', async () => {
    const accelerated = await openAdapters(['sim:', 'sim:?devices=2&first=3&dongle=nrf'], silentLogger());
    try {
      const [a, b] = [accelerated.simWorld('sim0'), accelerated.simWorld('sim1')];
      assert.ok(a !== undefined && b !== undefined);
      assert.equal(a.scheduler, b.scheduler, 'one scheduler for both worlds');
      assert.ok(isVirtualClock(accelerated.clock));
      assert.equal(accelerated.clock.scheduler, a.scheduler);
      const t0 = accelerated.clock.now();
      await accelerated.clock.sleep(60_000);
      assert.equal(accelerated.clock.now() - t0, 60_000);
      assert.equal(a.nowMs(), b.nowMs());
    } finally {
      await accelerated.close();
    }
    const paced = await openAdapters(['sim:?speed=1'], silentLogger());
    try {
      assert.equal(paced.clock, realClock, 'a paced simulator leaves the server on the real clock');
    } finally {
      await paced.close();
    }
  });

  it('an accelerated simulator beside a real dongle or a paced simulator is a configuration error saying what to set', async () => {
    for (const specs of [['sim:', 'hci:/dev/ttyACM0'], ['nrf:/dev/ttyACM1', 'sim:?speed=max'], ['sim:?dongle=nrf', 'auto:/dev/ttyACM2']]) {
      await assert.rejects(
        checkAdapterSpecs(specs),
        (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /accelerated simulator/.test(e.message) && /speed=1/.test(e.remedy ?? ''),
        specs.join(','),
      );
      await assert.rejects(openAdapters(specs, silentLogger()), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'));
    }
    await assert.rejects(checkAdapterSpecs(['sim:', 'sim:?speed=1']), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /speeds differ \(max, 1\)/.test(e.message));
    await checkAdapterSpecs(['sim:?speed=1', 'hci:/dev/ttyACM0', 'sim:?speed=1&devices=2']);
  });

  it('checks specs before anything opens: a malformed sim: or hci: spec is INVALID_ARGUMENT naming it', async () => {
    await checkAdapterSpecs([
      'sim:?devices=2&speed=1',
      'sim:?dongle=nrf&api=5&devices=2&speed=1',
      'hci:/dev/ttyACM0?baud=115200&rtscts=off&max=2',
      'nrf:/dev/ttyACM1',
      'nrf:ttyACM1?api=auto&max=2',
      'auto:/dev/ttyACM2?capture=x.btsnoop&api=5',
    ]);
    await assert.rejects(checkAdapterSpecs(['nrf:/dev/ttyACM1?capture=x']), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /unknown parameter "capture"/.test(e.message));
    await assert.rejects(checkAdapterSpecs(['nrf:']), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /no serial port/.test(e.message));
    await assert.rejects(checkAdapterSpecs(['auto:/dev/x?baud=0']), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /baud/.test(e.message));
    await assert.rejects(checkAdapterSpecs(['sim:?dongle=usb']), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /bad value "usb" for dongle/.test(e.message));
    await assert.rejects(checkAdapterSpecs(['sim:?api=5']), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /api= applies only to dongle=nrf/.test(e.message));
    await assert.rejects(
      checkAdapterSpecs(['sim:', 'hci:/dev/ttyACM0?baud=fast']),
      (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /hci:\/dev\/ttyACM0\?baud=fast/.test(e.message) && /baud/.test(e.message) && (e.remedy ?? '') !== '',
    );
    await assert.rejects(checkAdapterSpecs(['hci:/dev/ttyACM0?max=0']), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /max/.test(e.message));
    await assert.rejects(checkAdapterSpecs(['sim:?devices=many']), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /devices/.test(e.message));
    const ports = new FakePorts();
    await assert.rejects(checkAdapterSpecs(['hci:'], ports), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'));
    assert.equal(ports.opened.length, 0, 'checking opens nothing');
  });
});
