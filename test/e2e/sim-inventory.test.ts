/**
 * Acceptance: Inventory through gRPC on the accelerated simulator. A mixed population — an
 * application with buttonless DFU, one with the bonded variant, one without DFU, a board waiting
 * in its bootloader since power-on, one a job sent to its bootloader and then cancelled, and one
 * a running job is updating — is told apart kind by kind; the probed applications' serial numbers
 * are the boards' own; the bootloader a job met carries its known application address, the other
 * the SDK's guess; the device under update is reported busy, not probed, and its DFU succeeds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeviceKind, JobState, startDfu, type InventoryDevice } from '../../clients/ts/index.js';
import { bootloaderAddress } from '../../server/ble/address.js';
import { serialNumberOf } from '../../server/sim/devices/application.js';
import type { SimDeviceConfig } from '../../server/sim/world.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { projectFacts } from '../helpers/project-packages.js';
import { addressTarget, drain, finished, SIM_DONGLES, startSimServer, until, type SimDongle, type SimServer } from '../helpers/sim-server.js';

const APP = await projectFacts('app');

const seconds = (s: number): { seconds: number; nanos: number } => ({ seconds: s, nanos: 0 });

/** Devices by role; indices into the simulated world. */
const ROLE = { buttonless: 0, bonded: 1, noDfu: 2, waiting: 3, cancelled: 4, busy: 5 } as const;

const POPULATION: readonly Partial<SimDeviceConfig>[] = [
  {},
  { appDfu: 'bonded-buttonless' },
  { appDfu: 'none' },
  { validApp: false },
  {},
  {},
];

function byAddress(devices: readonly InventoryDevice[], address: string): InventoryDevice {
  const d = devices.find((x) => x.address?.value === address);
  assert.ok(d !== undefined, `${address} listed (listed: ${devices.map((x) => x.address?.value).join(', ')})`);
  return d;
}

/** Resolves when the simulated controller next starts scanning. */
function nextScanStart(s: SimServer): Promise<void> {
  const air = s.world.air;
  const observed = air.setScanning.bind(air);
  return new Promise((resolve) => {
    air.setScanning = (central, scan) => {
      observed(central, scan);
      if (scan === undefined) return;
      air.setScanning = observed;
      resolve();
    };
  });
}

async function withServer(dongle: SimDongle, fn: (s: SimServer) => Promise<void>): Promise<void> {
  const s = await startSimServer({ devices: POPULATION }, {}, dongle);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

for (const dongle of SIM_DONGLES) {
  describe(`Inventory over gRPC on the simulator (${dongle.label})`, () => {
    it('tells every kind apart, reads serials, knows the application of a bootloader a job left, leaves a running DFU alone', { timeout: 60_000 }, async () => {
      await withServer(dongle, async (s) => {
        // A job sends device 4 to its bootloader; cancelled once it is there, the board waits in DFU mode.
        const cancelled = startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(s.device(ROLE.cancelled).address.value) })[Symbol.asyncIterator]();
        await until(cancelled, (e) => e.type === 'state' && e.stateName === 'TRANSFERRING');
        const active = (await s.client.listJobs({ activeOnly: true })).jobs;
        assert.equal(active.length, 1);
        await s.client.cancelJob({ jobId: active[0]?.jobId ?? '' });
        await drain({ [Symbol.asyncIterator]: () => cancelled });
        assert.equal(s.device(ROLE.cancelled).mode(), 'bootloader', 'the cancelled job left the board in DFU mode');
        const connectionsBefore = POPULATION.map((_, i) => s.observed(i).connections);

        // A DFU of device 5 starts once the inventory listens, and runs while it listens and probes:
        // the controller's one scan reports to both, so the inventory hears what the job connects to.
        await s.scanStopped();
        const listening = nextScanStart(s);
        const inventory = s.client.inventory({ adapterIds: [], duration: seconds(2), probe: true, maxDevices: 0, filter: undefined });
        await listening;
        const running = drain(startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(s.device(ROLE.busy).address.value) }));
        const { devices, truncated } = await inventory;
        const dfu = await running;
        const done = finished(dfu.events);
        assert.equal(done?.result.state, JobState.JOB_STATE_SUCCEEDED, 'the DFU beside the inventory succeeded');
        assert.equal(truncated, false);
        assert.deepEqual(
          devices.map((d) => d.rssi),
          [...devices.map((d) => d.rssi)].sort((a, b) => b - a),
          'strongest first',
        );

        const at = (role: number, mode: 'app' | 'bootloader' = 'app'): InventoryDevice => {
          const app = s.device(role).address;
          return byAddress(devices, mode === 'app' ? app.value : bootloaderAddress(app).value);
        };
        const serial = (role: number): string => serialNumberOf(s.device(role).address);

        const buttonless = at(ROLE.buttonless);
        assert.equal(buttonless.kind, DeviceKind.DEVICE_KIND_APPLICATION_BUTTONLESS);
        assert.equal(buttonless.bondedButtonless, false);
        assert.equal(buttonless.deviceInfo?.serialNumber, serial(ROLE.buttonless));
        assert.equal(buttonless.deviceInfo?.firmwareRevision, s.device(ROLE.buttonless).firmwareRevision());
        assert.ok(buttonless.serviceUuids.includes('FE59') && buttonless.serviceUuids.includes('180A'), buttonless.serviceUuids.join(' '));
        assert.equal(buttonless.probeError, undefined);

        const bonded = at(ROLE.bonded);
        assert.equal(bonded.kind, DeviceKind.DEVICE_KIND_APPLICATION_BUTTONLESS);
        assert.equal(bonded.bondedButtonless, true);
        assert.equal(bonded.deviceInfo?.serialNumber, serial(ROLE.bonded));

        const noDfu = at(ROLE.noDfu);
        assert.equal(noDfu.kind, DeviceKind.DEVICE_KIND_NO_DFU);
        assert.equal(noDfu.deviceInfo?.serialNumber, serial(ROLE.noDfu));
        assert.ok(!noDfu.serviceUuids.includes('FE59'));

        // Waiting since power-on: no job met it, so its application address is the SDK's guess.
        const waiting = at(ROLE.waiting, 'bootloader');
        assert.equal(waiting.kind, DeviceKind.DEVICE_KIND_SECURE_DFU_BOOTLOADER);
        assert.equal(waiting.applicationAddress?.value, s.device(ROLE.waiting).address.value);
        assert.equal(waiting.applicationAddressKnown, false);
        assert.equal(waiting.deviceInfo, undefined);

        // The one the cancelled job sent there: the server remembers whose bootloader it is.
        const left = at(ROLE.cancelled, 'bootloader');
        assert.equal(left.kind, DeviceKind.DEVICE_KIND_SECURE_DFU_BOOTLOADER);
        assert.equal(left.applicationAddress?.value, s.device(ROLE.cancelled).address.value);
        assert.equal(left.applicationAddressKnown, true);
        assert.equal(left.busyJobId, '', 'the cancelled job has ended');

        // Under update: reported busy, with the job's id, and not probed (its advertisement says nothing more).
        const busy = at(ROLE.busy);
        assert.equal(busy.busyJobId, done?.jobId);
        assert.equal(busy.kind, DeviceKind.DEVICE_KIND_UNSPECIFIED);
        assert.equal(busy.deviceInfo, undefined);
        assert.equal(busy.probeError, undefined);

        // On the air: one probe connection to each unclassified application, none to a bootloader.
        const connections = POPULATION.map((_, i) => s.observed(i).connections - (connectionsBefore[i] ?? 0));
        assert.equal(connections[ROLE.buttonless], 1);
        assert.equal(connections[ROLE.bonded], 1);
        assert.equal(connections[ROLE.noDfu], 1);
        assert.equal(connections[ROLE.waiting], 0);
        assert.equal(connections[ROLE.cancelled], 0);
        // And every probe link is down again: the devices advertise.
        for (const role of [ROLE.buttonless, ROLE.bonded, ROLE.noDfu]) assert.equal(s.observed(role).disconnections, s.observed(role).connections);
      });
    });
  });
}

describe('bledfu inventory on the simulator', () => {
  it('prints the table with the summary, and --json records of every device', { timeout: 60_000 }, async () => {
    // A buttonless application, a board in its bootloader since power-on, an application without DFU.
    const s = await startSimServer({ devices: [{}, { validApp: false }, { appDfu: 'none', name: 'plain-1' }] });
    try {
      const app = s.device(0).address.value;
      const waitingApp = s.device(1).address.value;
      const waitingBootloader = bootloaderAddress(s.device(1).address).value;
      const text = await cliInProcess(['--server', s.address, 'inventory', '--probe', '--for', '1s'], { BLEDFU_SERVER: '' });
      assert.equal(text.code, 0, text.stderr);
      const lines = text.stdout.trim().split('\n');
      assert.match(lines[0] ?? '', /^ADDRESS\s+RSSI\s+KIND\s+NAME\s+APP ADDRESS\s+SERIAL \/ FIRMWARE$/);
      const line = (address: string): string => lines.find((l) => l.startsWith(address)) ?? assert.fail(`no line for ${address}:\n${text.stdout}`);
      assert.match(line(app), new RegExp(`buttonless\\s+bledfu-sim-1\\s+${serialNumberOf(s.device(0).address)} / app v1 `));
      // The bootloader's application address is the SDK's guess: marked "?".
      assert.match(line(waitingBootloader), new RegExp(`bootloader\\s+DfuTarg\\s+${waitingApp}\\?`));
      assert.match(line(s.device(2).address.value), /no-dfu\s+plain-1\s+SIM-/);
      assert.equal(lines.at(-1), '3 devices; 1 in DFU mode: run `bledfu dfu <package.zip> --address <app address>` to finish them (an app address marked ? is a guess: the bootloader address - 1)');

      // With a filter, without probing: the application's kind stays unknown, the bootloader is known from its advertisement.
      const json = await cliInProcess(['--server', s.address, '--json', 'inventory', '--for', '500ms', '--min-rssi', '-60'], { BLEDFU_SERVER: '' });
      assert.equal(json.code, 0, json.stderr);
      const records = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; device?: Record<string, unknown> } & Record<string, unknown>);
      const devices = records.filter((r) => r.type === 'inventoryDevice').map((r) => r.device ?? {});
      assert.deepEqual(devices.map((d) => (d['address'] as { value: string }).value).sort(), [app, waitingBootloader, s.device(2).address.value].sort());
      const dev = (address: string): Record<string, unknown> => devices.find((d) => (d['address'] as { value: string }).value === address) ?? {};
      assert.equal(dev(app)['kind'], undefined, 'DEVICE_KIND_UNSPECIFIED is the default: left out');
      assert.equal(dev(waitingBootloader)['kind'], 'DEVICE_KIND_SECURE_DFU_BOOTLOADER');
      assert.deepEqual(dev(waitingBootloader)['applicationAddress'], { value: waitingApp, type: 'ADDRESS_TYPE_RANDOM' });
      assert.deepEqual(records.at(-1), { type: 'inventorySummary', devices: 3, inDfuMode: 1, truncated: false });
      // Refusals come back as the CLI's usual errors: an unknown adapter is "not found" (exit 3), a bad --for a usage error (2).
      const unknown = await cliInProcess(['--server', s.address, '--json', 'inventory', '--adapter', 'nope'], { BLEDFU_SERVER: '' });
      assert.equal(unknown.code, 3, unknown.stdout);
      assert.equal((JSON.parse(unknown.stdout.trim()) as { code: string }).code, 'ADAPTER_NOT_FOUND');
      const tooLong = await cliInProcess(['--server', s.address, '--json', 'inventory', '--for', '61s'], { BLEDFU_SERVER: '' });
      assert.equal(tooLong.code, 2, tooLong.stdout);
      assert.match((JSON.parse(tooLong.stdout.trim()) as { message: string }).message, /^duration of 61 s is out of range: it must be 100 ms to 1 min$/);
      const filtered = await cliInProcess(['--server', s.address, '--json', 'inventory', '--for', '500ms', '--name-prefix', 'plain-'], { BLEDFU_SERVER: '' });
      assert.deepEqual(
        filtered.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { type: string; device?: { name: string } }).device?.name ?? (JSON.parse(l) as { type: string }).type),
        ['plain-1', 'inventorySummary'],
      );
    } finally {
      await s.close();
    }
  });
});
