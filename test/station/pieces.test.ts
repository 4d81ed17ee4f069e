/**
 * The station simulation's pieces on their own: the seeded PRNG, the population and fault plans
 * it draws, the operators' retry policy, and the invariant checker on synthetic days (each
 * invariant must catch a day that breaks it, and pass one that does not).
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it, before } from 'node:test';
import { DEFAULT_FAULT_RATES, NO_FAULTS, planFaults } from '../../server/station/faults.js';
import {
  checkAdapterUnavailable,
  checkAirTime,
  checkAudit,
  checkDeviceInfo,
  checkProtocol,
  checkConnectHeld,
  checkFirmware,
  checkHostile,
  checkInvariants,
  checkNoneRunning,
  checkNoRetries,
  checkPackageLeases,
  checkResources,
  checkStationAddress,
  DEFAULT_RESOURCE_BOUNDS,
  INVARIANT_NAMES,
  firmwareOutcome,
  formatInvariantTable,
  type AdapterAddressEvidence,
  type AdapterAddressSample,
  type DayEvidence,
  type DeviceOutcome,
} from '../../server/station/invariants.js';
import { readPackage } from '../../server/dfu/package/package.js';
import { readZipDirectory, MAX_ZIP_ENTRIES } from '../../server/dfu/package/zipArchive.js';
import { EXPECTED_CODE, MAX_EMPTY_ENTRIES, paddedPackage, planHostile, type HostileOutcome } from '../../server/station/hostile.js';
import { countsAsTry, DEFAULT_RETRY_POLICY, nextStep, type AttemptRecord } from '../../server/station/operator.js';
import { planNoRetries, ResentBytes } from '../../server/station/noRetries.js';
import { planTechnician, type TechnicianOutcome } from '../../server/station/technician.js';
import { loadStationPackages, projectStationPackages } from '../../server/station/packages.js';
import { FACTORY_APPLICATION_SHA256, planPopulation, type StationPackages } from '../../server/station/population.js';
import { Rng } from '../../server/station/random.js';
import { adapterSpec, formatReport, rerunCommand, stationWorldConfig } from '../../server/station/run.js';
import { CONTROLLER_PROFILES } from '../../server/sim/world.js';
import { NEEDS_NORDIC_PACKAGES } from '../helpers/shared-packages.js';
import { demoKey, projectImage, projectZip } from '../helpers/project-packages.js';

const SHARED_DFU = new URL('../../../shared/fixtures/dfu/', import.meta.url);
/** Nordic's packages the station reads with --packages (shared fixtures/dfu README §3.1). */
const HRS_SHA = '6375973bc506fbbb5bb3af4615da2e25f4839fa1f7f74792294a7aa4bb3a273c';
const IOS_APP_SHA = 'a3bf0b73eb3ef405ba3b1725f19b20fba169f6682a214f38d7402e9a94e141bd';
/** The project's packages the station uses by default (demo key), facts computed from their bytes. */
const APP_SHA = (await projectImage('app')).sha256;
const SD_BL_APP_SHA = (await projectImage('sd-bl-app', 'application')).sha256;

describe('station PRNG', () => {
  it('gives the same stream for the same seed and another for another seed', () => {
    const draw = (seed: number): number[] => {
      const r = new Rng(seed);
      return Array.from({ length: 8 }, () => r.int(0, 1_000_000));
    };
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
    assert.notDeepEqual(draw(0), draw(2 ** 32), 'the high half of a seed counts');
  });

  it('forks named streams that do not depend on what the parent drew', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    for (let i = 0; i < 100; i++) b.next();
    assert.equal(a.fork('faults').next(), b.fork('faults').next());
    assert.notEqual(a.fork('faults').next(), a.fork('population').next());
  });

  it('draws integers within bounds, roughly uniformly, and weighted picks by weight', () => {
    const r = new Rng(1);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 8000; i++) {
      const v = r.int(0, 3);
      assert.ok(v >= 0 && v <= 3);
      counts[v] = (counts[v] as number) + 1;
    }
    for (const c of counts) assert.ok(c > 1700 && c < 2300, `counts ${counts.join(',')}`);
    let heavy = 0;
    for (let i = 0; i < 4000; i++) if (r.weighted([['a', 1], ['b', 3], ['never', 0]] as const) === 'b') heavy++;
    assert.ok(heavy > 2800 && heavy < 3200, `b drawn ${heavy} of 4000`);
    assert.throws(() => r.weighted([['x', 0]]), RangeError);
  });
});

describe('station population and fault plan', () => {
  let packages: StationPackages;
  before(async () => {
    packages = await projectStationPackages(demoKey());
  });

  it("makes the project's packages and knows what each leaves on a device", async () => {
    assert.equal(packages.app.facts.application, APP_SHA);
    assert.equal(packages.app.facts.dataObjects, 25);
    assert.equal(packages.app.key, 'bledfu-demo');
    assert.equal(packages.sdBlApp.facts.application, SD_BL_APP_SHA);
    const sdBl = await projectImage('sd-bl-app', 'softdevice_bootloader');
    assert.equal(packages.sdBlApp.facts.bootloader, sdBl.parts?.bootloader);
    assert.equal(packages.sdBlApp.facts.bytes, sdBl.size + (await projectImage('sd-bl-app', 'application')).size);
    assert.equal(packages.sdBlApp.facts.releaseBootloaderVersion, undefined, 'a debug package leaves the bootloader version');
    assert.equal(packages.sdBlApp.key, 'bledfu-demo');
    const bl = await projectImage('bl-app', 'bootloader');
    assert.deepEqual([packages.blApp?.facts.application, packages.blApp?.facts.bootloader, packages.blApp?.facts.bytes], [APP_SHA, bl.sha256, bl.size + (await projectImage('bl-app', 'application')).size]);
    assert.equal(packages.blApp?.key, 'bledfu-demo');
    assert.equal(packages.blAppFromFile, undefined, "the project's own: a rerun command does not name it");
    assert.equal(packages.dir, undefined);
  });

  it("reads Nordic's packages from a directory (--packages), with the keys that verify them", NEEDS_NORDIC_PACKAGES, async () => {
    const dir = fileURLToPath(SHARED_DFU);
    const nordic = await loadStationPackages(dir);
    assert.equal(nordic.app.facts.application, HRS_SHA);
    assert.equal(nordic.app.facts.dataObjects, 25);
    assert.equal(nordic.app.key, 'sdk17.0.2');
    assert.equal(nordic.sdBlApp.facts.application, IOS_APP_SHA);
    assert.equal(nordic.sdBlApp.facts.releaseBootloaderVersion, 34);
    assert.equal(nordic.sdBlApp.key, 'iosdfu');
    assert.equal(nordic.dir, dir);
    const a = planPopulation(new Rng(5), { devices: 60, adapters: 3, dayMs: 3_600_000, packages: nordic });
    for (const d of a.filter((x) => x.kind === 'sd-bl-app')) assert.deepEqual([d.expected, d.config.key], [{ kind: 'updated', application: IOS_APP_SHA, bootloaderVersion: 34 }, 'iosdfu']);
    assert.match(rerunCommand({ seed: 5, devices: 60, hours: 1, dongle: 'hci', adapters: 3, packages: nordic }), new RegExp(` --packages ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  });

  it('draws the same population for the same seed: unique boards, each kind with its package and outcome', () => {
    const plan = (seed: number) => planPopulation(new Rng(seed), { devices: 60, adapters: 3, dayMs: 3_600_000, packages });
    const a = plan(5);
    assert.deepEqual(a, plan(5));
    assert.notDeepEqual(a, plan(6));
    assert.equal(new Set(a.map((d) => d.config.address)).size, 60);
    assert.equal(new Set(a.map((d) => d.label)).size, 60);
    assert.ok(a.every((d, i) => i === 0 || d.arrivalMs >= (a[i - 1]?.arrivalMs ?? 0)), 'arrivals in order');
    assert.ok(a.every((d) => d.arrivalMs <= 0.8 * 3_600_000));
    assert.deepEqual(new Set(a.map((d) => d.adapter)), new Set([0, 1, 2]));
    assert.ok(a.some((d) => d.kind === 'bl-app' && d.packageKind === 'bl-app'), "the project's bootloader + application package brings bl-app boards");
    const { blApp: _, ...withoutBlApp } = packages;
    assert.ok(!planPopulation(new Rng(5), { devices: 60, adapters: 3, dayMs: 3_600_000, packages: withoutBlApp }).some((d) => d.kind === 'bl-app'), 'no bl-app boards without a bootloader + application package');
    for (const d of a) {
      switch (d.kind) {
        case 'wrong-key':
          assert.deepEqual(d.expected, { kind: 'deviceError', code: 'DFU_REMOTE_ERROR', dfuResultName: 'INVALID_OBJECT', dfuExtendedName: undefined, application: FACTORY_APPLICATION_SHA256 });
          assert.notEqual(d.config.key, packages.app.key, 'its bootloader trusts another key than the package is signed with');
          break;
        case 'other-sd':
          assert.equal(d.expected.kind === 'deviceError' && d.expected.dfuExtendedName, 'SD_VERSION_FAILURE');
          assert.equal(d.config.debugBootloader, false);
          break;
        case 'sd-bl-app':
          assert.deepEqual(d.expected, { kind: 'updated', application: SD_BL_APP_SHA, bootloaderVersion: undefined });
          assert.equal(d.config.key, 'bledfu-demo');
          break;
        case 'bootloader':
          assert.equal(d.config.validApp, false);
          assert.equal(d.target.kind, 'address');
          break;
        case 'up-to-date':
          // A release bootloader already holding the app package's version, refusing it again.
          assert.deepEqual(d.expected, { kind: 'upToDate', application: FACTORY_APPLICATION_SHA256 });
          assert.equal(d.packageKind, 'app');
          assert.equal(d.config.debugBootloader, false);
          assert.equal(d.config.acceptSameAppVersion, false);
          assert.equal(d.config.appVersion, packages.app.facts.applicationVersion);
          break;
        case 'legacy-sdk11':
        case 'legacy-adafruit':
          // The legacy package of its bootloader's kind, made of the application package's image.
          assert.deepEqual([d.expected, d.packageKind, d.config.kind], [{ kind: 'updated', application: APP_SHA, bootloaderVersion: undefined }, d.kind, d.kind]);
          break;
        case 'legacy-on-secure':
          // A Secure DFU board (no legacy kind) sent the SDK 11 legacy package: refused before any write.
          assert.deepEqual([d.expected, d.packageKind, d.config.kind], [{ kind: 'refused', code: 'GATT_SERVICE_MISSING', application: FACTORY_APPLICATION_SHA256 }, 'legacy-sdk11', undefined]);
          break;
        default:
          assert.deepEqual(d.expected, { kind: 'updated', application: APP_SHA, bootloaderVersion: undefined });
          assert.equal(d.config.key, 'bledfu-demo');
      }
    }
    assert.ok(new Set(a.map((d) => d.kind)).size >= 5, 'a mixed population');
    assert.ok(a.some((d) => d.kind === 'up-to-date'), 'some boards are already up to date');
  });

  it('brings legacy boards in as a share of the app boards, plants one Secure board sent the legacy package, and leaves every other draw as it was', () => {
    const { legacy, ...secureOnly } = packages;
    assert.ok(legacy !== undefined, "the project's station packages include the legacy ones");
    assert.equal(legacy.sdk11.facts.application, APP_SHA, "made of the application package's image");
    assert.equal(legacy.adafruit.facts.application, APP_SHA);
    for (const seed of [1, 5, 42]) {
      const withLegacy = planPopulation(new Rng(seed), { devices: 60, adapters: 3, dayMs: 3_600_000, packages });
      const without = planPopulation(new Rng(seed), { devices: 60, adapters: 3, dayMs: 3_600_000, packages: secureOnly });
      assert.ok(!without.some((d) => d.kind.startsWith('legacy')), 'no legacy boards without legacy packages');
      assert.equal(withLegacy.filter((d) => d.kind === 'legacy-on-secure').length, 1, `seed ${seed}: one planted mistake`);
      assert.ok(withLegacy.some((d) => d.kind === 'legacy-sdk11' || d.kind === 'legacy-adafruit'), `seed ${seed}: legacy boards`);
      withLegacy.forEach((d, i) => {
        const before = without[i];
        assert.ok(before !== undefined);
        // A legacy board or the planted one was an app board; everything else is drawn as before.
        if (d.kind !== before.kind) assert.equal(before.kind, 'app', `${d.label}: ${before.kind} became ${d.kind}`);
        assert.deepEqual([d.arrivalMs, d.target, d.config.rssi, d.adapter], [before.arrivalMs, before.target, before.config.rssi, before.adapter]);
      });
    }
  });

  it('a --bl-app file replaces the project\'s bootloader + application package, and the rerun command names it', async () => {
    const given = await projectStationPackages(demoKey(), { file: 'their_bl_app.zip', bytes: await projectZip('bl-app') });
    assert.equal(given.blApp?.file, 'their_bl_app.zip');
    assert.match(rerunCommand({ seed: 5, devices: 60, hours: 1, dongle: 'hci', adapters: 1, packages: given }), / --bl-app their_bl_app\.zip$/);
    assert.doesNotMatch(rerunCommand({ seed: 5, devices: 60, hours: 1, dongle: 'hci', adapters: 1, packages }), /--bl-app/);
  });

  it('plans the same faults for the same seed, on first and second attempts, with unplugs and kills inside the day', () => {
    const devices = planPopulation(new Rng(9), { devices: 40, adapters: 2, dayMs: 3_600_000, packages });
    const plan = (seed: number) => planFaults(new Rng(seed), devices, packages, { adapters: 2, dayMs: 3_600_000 });
    const p = plan(9);
    assert.deepEqual(p, plan(9));
    const faults = [...p.devices.values()].flat();
    assert.ok(faults.length >= 8 && faults.length <= 30, `${faults.length} device faults for 40 devices`);
    assert.ok(faults.every((f) => f.attempt === 1 || f.attempt === 2));
    assert.ok(faults.every((f) => (f.sim === undefined) === (f.kind === 'cancel' || f.kind === 'client-disconnect')));
    for (const [index, fs] of p.devices) {
      if (devices[index]?.kind === 'bootloader') assert.ok(!fs.some((f) => f.kind === 'drop-in-buttonless'), 'no buttonless drop on a board without an application');
    }
    assert.ok(p.station.some((e) => e.kind === 'kill') && p.station.some((e) => e.kind === 'unplug'));
    assert.ok(p.station.every((e, i) => e.atMs > 0 && e.atMs < 3_600_000 && (i === 0 || e.atMs >= (p.station[i - 1]?.atMs ?? 0))));
    const finals = faults.filter((f) => f.kind === 'drop-after-final-execute');
    for (const f of finals) assert.ok(f.sim?.kind === 'dropLinkAfterRequest' && (f.sim.occurrence ?? 0) >= 25);
    const none = planFaults(new Rng(9), devices, packages, { adapters: 2, dayMs: 3_600_000, rates: NO_FAULTS });
    assert.deepEqual(none, { devices: new Map(), station: [] });
    assert.ok(DEFAULT_FAULT_RATES.firstAttempt > 0);
  });
});

describe('station technician and no-retries plans', () => {
  let packages: StationPackages;
  before(async () => {
    packages = await projectStationPackages(demoKey());
  });

  it('plans the same technician visits for the same seed: a share of the running boards, and boards in their bootloader found by address', () => {
    const devices = planPopulation(new Rng(4), { devices: 60, adapters: 3, dayMs: 8 * 3_600_000, packages });
    const visits = planTechnician(new Rng(4), devices, 0.08);
    assert.deepEqual(visits, planTechnician(new Rng(4), devices, 0.08));
    const running = visits.filter((v) => v.expectSeen);
    assert.equal(running.length, 5, 'round(0.08 × 60)');
    for (const v of visits) {
      const d = devices[v.device];
      assert.equal(v.label, d?.label);
      assert.equal(v.expectSeen, d?.kind !== 'bootloader');
      if (!v.expectSeen) assert.equal(v.by, 'address');
      assert.ok(v.leadMs >= 1_000 && v.leadMs <= 20_000 && v.holdMs >= 10_000 && v.holdMs <= 120_000);
    }
    assert.ok(running.every((v) => ['app', 'sd-bl-app', 'bl-app'].includes(devices[v.device]?.kind ?? '')));
    assert.equal(planTechnician(new Rng(4), devices, 0.001).filter((v) => v.expectSeen).length, 1, 'at least one a day');
    assert.deepEqual(planTechnician(new Rng(4), devices, 0), []);
  });

  it('plans retries 0 for a share of first jobs, some with a damaged packet inside the package', () => {
    const devices = planPopulation(new Rng(5), { devices: 100, adapters: 2, dayMs: 3_600_000, packages });
    const plan = planNoRetries(new Rng(5), devices, packages, { noRetries: 0.15, damagedObjectWhenNoRetries: 0.6 });
    assert.deepEqual(plan, planNoRetries(new Rng(5), devices, packages, { noRetries: 0.15, damagedObjectWhenNoRetries: 0.6 }));
    assert.ok(plan.devices.size >= 5 && plan.devices.size <= 30, `${plan.devices.size} of 100`);
    assert.ok(plan.damaged.size >= 1 && plan.damaged.size <= plan.devices.size);
    for (const [index, f] of plan.damaged) {
      assert.ok(plan.devices.has(index));
      assert.equal(f.attempt, 1);
      assert.ok(f.sim?.kind === 'corruptDataPacket' && f.sim.packet >= 1 && f.sim.packet * 244 <= (devices[index]?.packageKind === 'sd-bl-app' ? packages.sdBlApp : packages.app).facts.bytes);
    }
    assert.equal(planNoRetries(new Rng(5), devices, packages, { ...NO_FAULTS }).damaged.size, 0, 'no damaged objects on a day without faults');
  });

  it('counts the bytes of an image stored a second time within one job, per image', () => {
    const r = new ResentBytes();
    r.write({ initCrc: 1, offset: 0, length: 244 });
    r.write({ initCrc: 1, offset: 244, length: 244 });
    r.write({ initCrc: 2, offset: 0, length: 244 });
    assert.equal(r.bytes, 0, 'the next image starts again at 0');
    r.write({ initCrc: 1, offset: 0, length: 244 });
    r.write({ initCrc: 1, offset: 244, length: 100 });
    assert.equal(r.bytes, 344, 'an object sent again');
    r.write({ initCrc: 1, offset: 488, length: 244 });
    assert.equal(r.bytes, 344);
  });
});

describe('station operators', () => {
  it('retry what failed up to three times after a short wait, and stop at the first success', () => {
    const r = new Rng(3);
    assert.deepEqual(nextStep(DEFAULT_RETRY_POLICY, r, 1, 'SUCCEEDED'), { kind: 'done' });
    for (const result of ['FAILED', 'CANCELLED', 'LOST', 'REFUSED'] as const) {
      for (let attempt = 1; attempt <= 3; attempt++) {
        const step = nextStep(DEFAULT_RETRY_POLICY, r, attempt, result);
        assert.equal(step.kind, 'retry');
        assert.ok(step.kind === 'retry' && step.waitMs >= 5_000 && step.waitMs <= 30_000);
      }
      assert.deepEqual(nextStep(DEFAULT_RETRY_POLICY, r, 4, result), { kind: 'done' }, 'four attempts in all');
    }
  });

  it('print the command that reruns a day', () => {
    assert.equal(
      rerunCommand({ seed: 17, devices: 24, hours: 1, dongle: 'nrf', adapters: 2, maxConcurrentDfus: 3 }),
      'npm run station -- --seed 17 --devices 24 --hours 1 --dongle nrf --adapters 2 --max-concurrent 3',
    );
    const blApp = { kind: 'bl-app' as const, file: 'bl_app.zip', bytes: new Uint8Array(), key: 'bledfu-demo', facts: { application: undefined, bootloader: undefined, dataObjects: 0, bytes: 0, releaseBootloaderVersion: undefined } };
    assert.match(rerunCommand({ seed: 1, devices: 2, hours: 1, dongle: 'hci', adapters: 1, packages: { app: blApp, sdBlApp: blApp, blApp, blAppFromFile: true } }), / --bl-app bl_app\.zip$/);
    assert.doesNotMatch(rerunCommand({ seed: 1, devices: 2, hours: 1, dongle: 'hci', adapters: 1, packages: { app: blApp, sdBlApp: blApp, blApp } }), /--bl-app/, "the project's own is made again");
    assert.match(rerunCommand({ seed: 13, devices: 40, hours: 1, dongle: 'zephyr', adapters: 2 }), / --dongle zephyr --adapters 2$/);
  });

  it("mixed cycles the three controller kinds by adapter; a zephyr adapter's world gets the profile's controller", () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => adapterSpec('mixed', i).label),
      ['zephyr', 'nrf', 'hci', 'zephyr'],
    );
    assert.deepEqual([0, 1].map((i) => adapterSpec('hci', i).label), ['hci', 'hci']);
    const boards = [{ address: 'F0:0D:C0:DE:00:01', name: 'st-001' }];
    const zephyr = stationWorldConfig(adapterSpec('zephyr', 0).spec, boards);
    // The world the station makes itself must have the controller the spec names, and its own boards.
    assert.deepEqual({ ...zephyr, devices: undefined }, { ...CONTROLLER_PROFILES.zephyr, dongle: { kind: 'hci' }, devices: undefined });
    assert.deepEqual(zephyr.devices, boards);
    assert.equal(stationWorldConfig(adapterSpec('hci', 0).spec, boards).publicAddress, undefined);
    assert.deepEqual(stationWorldConfig(adapterSpec('nrf', 0).spec, boards).dongle, { kind: 'nrf', api: 6 });
  });
});

describe('station invariant checker (synthetic days)', () => {
  const attempt = (over: Partial<AttemptRecord> = {}): AttemptRecord => ({
    device: 'st-001',
    attempt: 1,
    jobId: 'job-1',
    adapterId: 'sim0',
    startedAtMs: 1_000,
    endedAtMs: 20_000,
    result: 'SUCCEEDED',
    started: true,
    errorCode: undefined,
    errorMessage: undefined,
    dfuResultName: undefined,
    dfuExtendedName: undefined,
    faults: [],
    rewatched: false,
    modelledAirMs: 15_000,
    retries: undefined,
    heldBy: undefined,
    resumed: false,
    resentBytes: undefined,
    ...over,
  });
  const updated = (over: Partial<DeviceOutcome> = {}): DeviceOutcome => ({
    label: 'st-001',
    expected: { kind: 'updated', application: APP_SHA, bootloaderVersion: undefined },
    final: { application: APP_SHA, applicationValid: true, mode: 'application', bootloaderVersion: 1 },
    attempts: [attempt()],
    ...over,
  });
  const refusing: DeviceOutcome = {
    label: 'st-002',
    expected: { kind: 'deviceError', code: 'DFU_REMOTE_ERROR', dfuResultName: 'INVALID_OBJECT', dfuExtendedName: undefined, application: FACTORY_APPLICATION_SHA256 },
    final: { application: FACTORY_APPLICATION_SHA256, applicationValid: true, mode: 'bootloader', bootloaderVersion: 1 },
    attempts: [attempt({ device: 'st-002', jobId: 'job-2', result: 'FAILED', errorCode: 'DFU_REMOTE_ERROR', dfuResultName: 'INVALID_OBJECT' })],
  };
  const resources = { heapUsedBytes: 50e6, resources: { Timeout: 3, TCPServerWrap: 1 }, processListeners: 5 };
  const clean: DayEvidence = {
    devices: [updated(), refusing],
    activeJobsAtEnd: [],
    audit: [
      { type: 'start', jobId: 'job-1', labels: { unit: 'st-001', attempt: '1' } },
      { type: 'start', jobId: 'job-2', labels: { unit: 'st-002', attempt: '1' } },
      { type: 'end', jobId: 'job-2', result: 'failed', labels: { unit: 'st-002', attempt: '1' } },
      { type: 'end', jobId: 'job-1', result: 'succeeded', labels: { attempt: '1', unit: 'st-001' } },
    ],
    disruptions: [],
    resources: { start: resources, end: resources },
    hostile: [
      { call: { kind: 'many-entries', atMs: 60_000, adapter: 0, emptyEntries: 20_000, nameBytes: 0 }, code: 'PACKAGE_INVALID', jobId: undefined, lost: false },
      { call: { kind: 'long-name', atMs: 90_000, adapter: 1, emptyEntries: 0, nameBytes: 5_000 }, code: 'INVALID_ARGUMENT', jobId: undefined, lost: false },
    ],
    hostileJobsAtEnd: [],
    packageStoreAtEnd: { leases: 0, leasedBytes: 0 },
    technician: [],
    jobsAtEnd: [],
    adapterAddresses: [
      {
        adapterId: 'sim0',
        publicAddress: false,
        listed: [
          { atMs: 1_000, generation: 0, value: 'D3:C0:5E:F0:00:01', type: 'random', source: 'controller-static' },
          { atMs: 900_000, generation: 1, value: 'D3:C0:5E:F0:00:01', type: 'random', source: 'controller-static' },
        ],
        seenByDevices: [{ value: 'D3:C0:5E:F0:00:01', type: 'random', links: 12 }],
      },
      {
        adapterId: 'sim1',
        publicAddress: true,
        listed: [{ atMs: 1_000, generation: 0, value: '00:1B:DC:F0:00:01', type: 'public', source: 'public' }],
        seenByDevices: [{ value: '00:1B:DC:F0:00:01', type: 'public', links: 3 }],
      },
    ],
  };

  it('passes a clean day, and prints every invariant in its table', () => {
    const results = checkInvariants(clean);
    assert.deepEqual(results.map((r) => [r.ok, r.violations]), results.map(() => [true, 0]));
    const table = formatInvariantTable(results);
    for (const r of results) assert.match(table, new RegExp(`${r.name.replace(/[()]/g, '.')}\\s+pass`));
  });

  it('firmware: a device left on its old application, or failing with another error than its own, is a violation', () => {
    const stale = updated({ final: { application: FACTORY_APPLICATION_SHA256, applicationValid: true, mode: 'application', bootloaderVersion: 1 } });
    const stuck = updated({ final: { application: APP_SHA, applicationValid: true, mode: 'bootloader', bootloaderVersion: 1 } });
    const otherError: DeviceOutcome = { ...refusing, attempts: [attempt({ device: 'st-002', result: 'FAILED', errorCode: 'DEVICE_NOT_FOUND' })] };
    const oldBootloader = updated({ expected: { kind: 'updated', application: APP_SHA, bootloaderVersion: 34 } });
    const r = checkFirmware({ ...clean, devices: [stale, stuck, otherError, oldBootloader, refusing] });
    assert.equal(r.ok, false);
    assert.equal(r.checked, 5);
    assert.equal(r.violations, 4);
    assert.match(r.examples[0] ?? '', new RegExp(`st-001: wants app ${APP_SHA.slice(0, 8)}, has 7f030207`));
    assert.match(r.examples[2] ?? '', /wants DFU_REMOTE_ERROR INVALID_OBJECT .*last job FAILED DEVICE_NOT_FOUND/);
  });

  it("firmware: attempts an unplug or a kill cut after the device's own error say nothing of it; with no other attempt the device has no verdict", () => {
    const own = refusing.attempts[0] as AttemptRecord;
    const cut = [
      attempt({ device: 'st-002', attempt: 2, jobId: 'job-5', result: 'FAILED', errorCode: 'ADAPTER_UNAVAILABLE' }),
      attempt({ device: 'st-002', attempt: 3, jobId: undefined, result: 'LOST' }),
    ];
    // Mixed seed 1: a wrong-key board's last try met an unplug after its third had failed INVALID_OBJECT.
    const outOfRetries: DeviceOutcome = { ...refusing, attempts: [own, ...cut] };
    assert.equal(checkFirmware({ ...clean, devices: [outOfRetries] }).ok, true);
    assert.deepEqual(firmwareOutcome(outOfRetries), { kind: 'deviceError' });
    const onlyCut: DeviceOutcome = { ...refusing, attempts: cut };
    const another: DeviceOutcome = { ...refusing, attempts: [attempt({ device: 'st-002', result: 'FAILED', errorCode: 'DEVICE_NOT_FOUND' }), ...cut] };
    const r = checkFirmware({ ...clean, devices: [onlyCut, another] });
    assert.equal(r.violations, 2);
    assert.match(r.examples[0] ?? '', /no attempt with a verdict \(each cut by an unplug or a kill\)/);
    assert.match(r.examples[1] ?? '', /last job FAILED DEVICE_NOT_FOUND \(attempt 1\)/);
    // An up-to-date board still needs its UP_TO_DATE answer, whatever came after.
    const upToDate: DeviceOutcome = { ...refusing, expected: { kind: 'upToDate', application: FACTORY_APPLICATION_SHA256 }, final: { ...refusing.final, mode: 'application' }, attempts: [attempt({ device: 'st-002', result: 'UP_TO_DATE' }), ...cut] };
    assert.equal(checkFirmware({ ...clean, devices: [upToDate] }).ok, true);
    assert.equal(checkFirmware({ ...clean, devices: [{ ...upToDate, attempts: cut }] }).ok, false);
  });

  it('firmware: a release-bootloader package retried once its bootloader is applied may end refused by version (FW_VERSION_FAILURE), and only then', () => {
    const expected = { kind: 'updated' as const, application: IOS_APP_SHA, bootloaderVersion: 34 };
    const versionRefusal = attempt({ attempt: 2, jobId: 'job-3', result: 'FAILED', errorCode: 'DFU_REMOTE_ERROR', dfuResultName: 'EXT_ERROR', dfuExtendedName: 'FW_VERSION_FAILURE' });
    const applied = updated({
      expected,
      final: { application: FACTORY_APPLICATION_SHA256, applicationValid: true, mode: 'application', bootloaderVersion: 34 },
      attempts: [attempt({ result: 'FAILED', errorCode: 'ADAPTER_UNAVAILABLE' }), versionRefusal],
    });
    assert.equal(checkFirmware({ ...clean, devices: [applied] }).ok, true);
    assert.deepEqual(firmwareOutcome(applied), { kind: 'deviceError' });
    // The bootloader was not applied: the refusal is not the device's answer to this package.
    const notApplied = updated({ ...applied, final: { ...applied.final, bootloaderVersion: 1 } });
    // Another error after the bootloader was applied is not accepted either.
    const otherError = updated({ ...applied, attempts: [attempt({ result: 'FAILED', errorCode: 'DFU_REMOTE_ERROR', dfuResultName: 'EXT_ERROR', dfuExtendedName: 'SD_VERSION_FAILURE' })] });
    // A package without a release bootloader has no version to refuse by.
    const appOnly = updated({ ...applied, expected: { ...expected, bootloaderVersion: undefined } });
    const r = checkFirmware({ ...clean, devices: [notApplied, otherError, appOnly] });
    assert.equal(r.violations, 3);
    assert.deepEqual(firmwareOutcome(updated()), { kind: 'updated' });
    assert.equal(firmwareOutcome(notApplied).kind, 'wrong');
  });

  it('station address: zeros, a public address on a dongle without one, a change after a restart, or devices seeing another central are violations', () => {
    const [zephyr, hci] = clean.adapterAddresses as [AdapterAddressEvidence, AdapterAddressEvidence];
    const ok = checkStationAddress(clean);
    assert.equal(ok.ok, true);
    assert.equal(ok.checked, 2 + 12 + 1 + 3, 'every listing and every link the devices saw');
    const zeros: AdapterAddressEvidence = {
      ...zephyr,
      listed: [{ atMs: 1_000, generation: 0, value: '00:00:00:00:00:00', type: 'public', source: 'public' }],
      seenByDevices: [{ value: '00:00:00:00:00:00', type: 'public', links: 4 }],
    };
    const r = checkStationAddress({ ...clean, adapterAddresses: [zeros, hci] });
    assert.equal(r.ok, false);
    assert.equal(r.violations, 2);
    assert.match(r.examples[0] ?? '', /sim0: listed as 00:00:00:00:00:00 \(public, public\) at 0:00:01, server 1/);
    assert.match(r.examples[1] ?? '', /sim0: devices saw 4 links from 00:00:00:00:00:00/);
    // A dongle without a public address listed with a public one (or a random one that is not static).
    const publicOnZephyr = checkStationAddress({ ...clean, adapterAddresses: [{ ...zephyr, listed: [{ atMs: 0, generation: 0, value: '00:1B:DC:F0:00:01', type: 'public', source: 'public' }], seenByDevices: [] }] });
    assert.match(publicOnZephyr.examples[0] ?? '', /no public address, yet listed as 00:1B:DC:F0:00:01/);
    const notStatic = checkStationAddress({ ...clean, adapterAddresses: [{ ...zephyr, listed: [{ atMs: 0, generation: 0, value: '53:C0:5E:F0:00:01', type: 'random', source: 'generated' }], seenByDevices: [] }] });
    assert.equal(notStatic.violations, 1);
    // Another address after the restart: the devices would meet a stranger.
    const moved: AdapterAddressEvidence = {
      ...zephyr,
      listed: [zephyr.listed[0] as AdapterAddressSample, { atMs: 900_000, generation: 1, value: 'C1:22:33:44:55:66', type: 'random', source: 'generated' }],
      seenByDevices: [],
    };
    assert.match(checkStationAddress({ ...clean, adapterAddresses: [moved] }).examples[0] ?? '', /listed as D3:C0:5E:F0:00:01 .* later as C1:22:33:44:55:66 \(random, generated\) at 0:15:00, server 2/);
    // The devices saw a central other than the listed one (here: the same value, another type).
    const otherType = checkStationAddress({ ...clean, adapterAddresses: [{ ...hci, seenByDevices: [{ value: '00:1B:DC:F0:00:01', type: 'random', links: 1 }] }] });
    assert.match(otherType.examples[0] ?? '', /devices saw 1 links from 00:1B:DC:F0:00:01 \(random\), but it is listed as 00:1B:DC:F0:00:01 \(public\)/);
    // An adapter never listed ready has no address to check: that is a violation too.
    assert.match(checkStationAddress({ ...clean, adapterAddresses: [{ ...hci, listed: [] }] }).examples[0] ?? '', /sim1: never listed ready/);
    // And the day's checker runs it.
    assert.equal(checkInvariants({ ...clean, adapterAddresses: [zeros] }).find((i) => i.name === INVARIANT_NAMES.stationAddress)?.ok, false);
  });

  it('no job left running: an active job, or an audit start without an end, is a violation', () => {
    assert.equal(checkNoneRunning({ ...clean, activeJobsAtEnd: ['job-9'] }).violations, 1);
    const r = checkNoneRunning({ ...clean, audit: [...clean.audit, { type: 'start', jobId: 'job-3' }] });
    assert.equal(r.ok, false);
    assert.match(r.examples[0] ?? '', /job-3: audit start without an end/);
  });

  it('ADAPTER_UNAVAILABLE (or a lost server) far from any unplug or kill is a violation; near one it is not', () => {
    const unavailable = attempt({ result: 'FAILED', errorCode: 'ADAPTER_UNAVAILABLE', startedAtMs: 100_000, endedAtMs: 101_000 });
    const day = { ...clean, devices: [updated({ attempts: [unavailable, attempt()] })] };
    assert.equal(checkAdapterUnavailable(day).ok, false);
    assert.equal(checkAdapterUnavailable({ ...day, disruptions: [{ kind: 'unplug', adapterId: 'sim0', fromMs: 90_000, toMs: 95_000 }] }).ok, true);
    assert.equal(checkAdapterUnavailable({ ...day, disruptions: [{ kind: 'unplug', adapterId: 'sim1', fromMs: 90_000, toMs: 95_000 }] }).ok, false, 'another dongle');
    assert.equal(checkAdapterUnavailable({ ...day, disruptions: [{ kind: 'kill', adapterId: undefined, fromMs: 99_000, toMs: 99_500 }] }).ok, true);
    assert.equal(checkAdapterUnavailable({ ...day, disruptions: [{ kind: 'unplug', adapterId: 'sim0', fromMs: 10_000, toMs: 20_000 }] }).ok, false, 'long after the replug');
    const lost = { ...clean, devices: [updated({ attempts: [attempt({ result: 'LOST' })] })] };
    assert.equal(checkAdapterUnavailable(lost).ok, false);
  });

  it('audit: a missing, doubled or mismatched record is a violation; a job cancelled in its queue has none', () => {
    const without = clean.audit.filter((l) => l.jobId !== 'job-1');
    assert.match(checkAudit({ ...clean, audit: without }).examples[0] ?? '', /ran, but has no audit records/);
    const queuedCancel = { ...clean, devices: [updated({ attempts: [attempt({ result: 'CANCELLED', started: false })] }), refusing], audit: without };
    assert.equal(checkAudit(queuedCancel).ok, true);
    assert.match(checkAudit({ ...clean, audit: [...clean.audit, { type: 'start', jobId: 'job-1' }] }).examples[0] ?? '', /2 start and 1 end/);
    const mismatched = clean.audit.map((l) => (l.jobId === 'job-1' && l.type === 'end' ? { ...l, result: 'failed' } : l));
    assert.match(checkAudit({ ...clean, audit: mismatched }).examples[0] ?? '', /the audit log says failed/);
    const interrupted = clean.audit.map((l) => (l.jobId === 'job-1' && l.type === 'end' ? { ...l, result: 'interrupted' } : l));
    const lostDay = { ...clean, devices: [updated({ attempts: [attempt({ result: 'LOST' })] }), refusing], audit: interrupted };
    assert.equal(checkAudit(lostDay).ok, true, 'a job lost with its server may end interrupted');
    assert.match(checkAudit({ ...clean, audit: [...clean.audit, { type: 'end', jobId: 'ghost', result: 'failed' }] }).examples[0] ?? '', /ghost: 1 end records without a start/);
    assert.equal(checkAudit(clean).ok, true);
    // Issue 16: both records carry the labels the attempt was started with.
    const unlabelledEnd = clean.audit.map((l) => (l.jobId === 'job-1' && l.type === 'end' ? { type: l.type, jobId: l.jobId, result: 'succeeded' } : l));
    assert.match(checkAudit({ ...clean, audit: unlabelledEnd }).examples[0] ?? '', /job-1.*its audit end record has labels \(none\), not attempt=1 unit=st-001/);
    const otherUnit = clean.audit.map((l) => (l.jobId === 'job-2' && l.type === 'start' ? { ...l, labels: { unit: 'st-001', attempt: '1' } } : l));
    assert.match(checkAudit({ ...clean, audit: otherUnit }).examples[0] ?? '', /st-002 attempt 1.*its audit start record has labels attempt=1 unit=st-001, not attempt=1 unit=st-002/);
  });

  it('firmware: a legacy package sent to a Secure board must fail GATT_SERVICE_MISSING with its application kept', () => {
    const refused = (over: Partial<AttemptRecord>, final: Partial<DeviceOutcome['final']> = {}): DeviceOutcome =>
      updated({
        expected: { kind: 'refused', code: 'GATT_SERVICE_MISSING', application: FACTORY_APPLICATION_SHA256 },
        final: { application: FACTORY_APPLICATION_SHA256, applicationValid: true, mode: 'application', bootloaderVersion: 1, ...final },
        attempts: [attempt({ result: 'FAILED', errorCode: 'GATT_SERVICE_MISSING', ...over })],
      });
    assert.equal(checkFirmware({ ...clean, devices: [refused({})] }).ok, true);
    assert.match(checkFirmware({ ...clean, devices: [refused({ result: 'SUCCEEDED', errorCode: undefined })] }).examples[0] ?? '', /wants GATT_SERVICE_MISSING before any write/);
    assert.match(checkFirmware({ ...clean, devices: [refused({ errorCode: 'LINK_LOST' })] }).examples[0] ?? '', /last job FAILED LINK_LOST/);
    assert.equal(checkFirmware({ ...clean, devices: [refused({}, { applicationValid: false })] }).ok, false, 'something was written: its application is gone');
  });

  it("protocol: each job is named with its package's protocol in ListJobs and both audit records", () => {
    const legacyDay: DayEvidence = {
      ...clean,
      devices: [updated({ protocol: 'legacy' }), { ...refusing, protocol: 'secure' }],
      audit: clean.audit.map((l) => ({ ...l, protocol: l.jobId === 'job-1' ? 'legacy' : 'secure' })),
      jobsAtEnd: [
        { jobId: 'job-1', target: 'st-001', protocol: 'legacy' },
        { jobId: 'job-2', target: 'st-002', protocol: 'secure' },
      ],
    };
    const ok = checkProtocol(legacyDay);
    assert.deepEqual([ok.ok, ok.checked], [true, 2]);
    const listedSecure = { ...legacyDay, jobsAtEnd: legacyDay.jobsAtEnd.map((j) => ({ ...j, protocol: 'secure' })) };
    assert.match(checkProtocol(listedSecure).examples[0] ?? '', /st-001 job job-1: ListJobs says secure, its package is legacy/);
    const endUnnamed = { ...legacyDay, audit: legacyDay.audit.map((l) => (l.jobId === 'job-1' && l.type === 'end' ? { type: l.type, jobId: l.jobId, result: 'succeeded' } : l)) };
    assert.match(checkProtocol(endUnnamed).examples[0] ?? '', /st-001 job job-1: audit records say no protocol, its package is legacy/);
    // A job the last server no longer lists is checked in the audit alone.
    assert.equal(checkProtocol({ ...legacyDay, jobsAtEnd: [] }).ok, true);
  });

  it('resources: heap growth, handles or listeners past their bound are violations', () => {
    const grown = { ...resources, heapUsedBytes: resources.heapUsedBytes + DEFAULT_RESOURCE_BOUNDS.heapGrowthBytes + 1 };
    assert.match(checkResources({ ...clean, resources: { start: resources, end: grown } }, DEFAULT_RESOURCE_BOUNDS).examples[0] ?? '', /heap grew/);
    const timers = { ...resources, resources: { ...resources.resources, Timeout: 3 + DEFAULT_RESOURCE_BOUNDS.resourceSlack + 1 } };
    assert.match(checkResources({ ...clean, resources: { start: resources, end: timers } }, DEFAULT_RESOURCE_BOUNDS).examples[0] ?? '', /Timeout: 3 at the start/);
    const listeners = { ...resources, processListeners: 50 };
    assert.equal(checkResources({ ...clean, resources: { start: resources, end: listeners } }, DEFAULT_RESOURCE_BOUNDS).ok, false);
  });

  it('air time: a job reporting more modelled air time than a DFU takes is a violation', () => {
    const long = { ...clean, devices: [updated({ attempts: [attempt({ modelledAirMs: 50 * 60_000 })] }), refusing] };
    const r = checkAirTime(long);
    assert.equal(r.ok, false);
    assert.match(r.examples[0] ?? '', /st-001 attempt 1 .*modelled air time 0:50:00/);
    assert.equal(checkAirTime({ ...clean, devices: [updated({ attempts: [attempt({ modelledAirMs: undefined })] })] }).checked, 0, 'a job without a result reports none');
  });

  it("device info: a job reporting another board's serial, or an audit end record disagreeing with its job, is a violation", () => {
    const board = (attempts: AttemptRecord[], audit: DayEvidence['audit'] = []): DayEvidence => ({
      ...clean,
      devices: [updated({ serialNumber: 'SN-1', attempts }), refusing],
      audit,
    });
    const ok = board([attempt({ deviceSerial: 'SN-1' }), attempt({ attempt: 2, jobId: 'job-3', deviceSerial: '' })], [{ type: 'end', jobId: 'job-1', result: 'succeeded', serialNumber: 'SN-1' }]);
    assert.deepEqual([checkDeviceInfo(ok).ok, checkDeviceInfo(ok).checked], [true, 3], 'a bootloader start reports none, which is no violation');
    const wrong = checkDeviceInfo(board([attempt({ deviceSerial: 'SN-2' })]));
    assert.equal(wrong.ok, false);
    assert.match(wrong.examples[0] ?? '', /st-001 attempt 1 \(job job-1\): serial SN-2, the board's is SN-1/);
    const audited = checkDeviceInfo(board([attempt({ deviceSerial: 'SN-1' })], [{ type: 'end', jobId: 'job-1', result: 'succeeded', serialNumber: 'SN-9' }]));
    assert.match(audited.examples[0] ?? '', /job job-1: audit end record serial SN-9, the job reported SN-1/);
    assert.equal(checkDeviceInfo(board([attempt()])).checked, 0, 'an attempt that saw no device-info event is not judged');
  });

  it('hostile calls: one accepted, refused with another code, or leaving a job is a violation; one lost to a kill is not judged', () => {
    const [zip, name] = clean.hostile as [HostileOutcome, HostileOutcome];
    assert.equal(checkHostile(clean).checked, 2);
    assert.match(checkHostile({ ...clean, hostile: [{ ...zip, code: undefined, jobId: 'job-7' }] }).examples[0] ?? '', /accepted as job job-7 \(expected PACKAGE_INVALID\)/);
    assert.match(checkHostile({ ...clean, hostile: [{ ...name, code: 'DEVICE_NOT_FOUND' }] }).examples[0] ?? '', /refused with DEVICE_NOT_FOUND \(expected INVALID_ARGUMENT\)/);
    assert.equal(checkHostile({ ...clean, hostileJobsAtEnd: ['job-8'] }).ok, false);
    const lost = checkHostile({ ...clean, hostile: [{ ...zip, code: 'UNAVAILABLE', lost: true }] });
    assert.deepEqual([lost.ok, lost.checked], [true, 0]);
  });

  it('package leases: a lease held at the end of the day is a violation', () => {
    assert.equal(checkPackageLeases(clean).ok, true);
    assert.match(checkPackageLeases({ ...clean, packageStoreAtEnd: { leases: 1, leasedBytes: 4096 } }).examples[0] ?? '', /1 package leases \(4096 bytes\)/);
  });

  /** A technician held st-001 from 0:00:02 to 0:00:32; its operator was refused once, then updated it. */
  const HELD_ADDRESS = 'F0:00:00:00:00:01';
  const visit: TechnicianOutcome = {
    visit: { device: 0, label: 'st-001', leadMs: 5_000, holdMs: 30_000, by: 'name', expectSeen: true },
    address: HELD_ADDRESS,
    adapterId: 'sim0',
    openedAtMs: 1_000,
    connectedAtMs: 2_000,
    closedAtMs: 32_000,
    code: undefined,
    droppedEarly: false,
    lost: false,
  };
  const heldRefusal = attempt({
    jobId: undefined,
    result: 'REFUSED',
    started: false,
    startedAtMs: 6_000,
    endedAtMs: 6_000,
    errorCode: 'DEVICE_CONNECTED',
    modelledAirMs: undefined,
    heldBy: { address: HELD_ADDRESS, adapterId: 'sim0', method: 'Connect', sinceMs: 2_000 },
  });
  const heldDay = (attempts: AttemptRecord[] = [heldRefusal, attempt({ attempt: 2, startedAtMs: 40_000, endedAtMs: 60_000 })], t: TechnicianOutcome = visit): DayEvidence => ({
    ...clean,
    devices: [updated({ attempts }), refusing],
    // The job that updated st-001 was its operator's attempt 2 (after the refusal): so say its audit records.
    audit: clean.audit.map((l) => (l.jobId === 'job-1' ? { ...l, labels: { unit: 'st-001', attempt: '2' } } : l)),
    technician: [t],
    jobsAtEnd: [{ jobId: 'job-1', target: 'st-001' }],
  });

  it('connect held: a refusal while the call held the device, naming it, then an update, passes', () => {
    const r = checkConnectHeld(heldDay());
    assert.deepEqual([r.ok, r.checked], [true, 2], r.examples.join('\n'));
    assert.deepEqual(checkInvariants(heldDay()).filter((i) => !i.ok).map((i) => [i.name, i.examples]), []);
    assert.equal(countsAsTry(heldRefusal), false, 'a held refusal is not one of the retries');
    assert.equal(countsAsTry(attempt({ result: 'REFUSED', errorCode: 'QUEUE_FULL' })), true);
  });

  it('connect held: a refusal outside the call, naming another call, or with a job, is a violation', () => {
    const late = { ...heldRefusal, startedAtMs: 33_000, endedAtMs: 33_000 };
    assert.match(checkConnectHeld(heldDay([heldRefusal, late, attempt({ attempt: 3, startedAtMs: 40_000 })])).examples[0] ?? '', /attempt 1 at 0:00:33: refused DEVICE_CONNECTED while no technician's Connect call to it was open/);
    const other = { ...heldRefusal, heldBy: { address: 'F0:00:00:00:00:03', adapterId: 'sim0', method: 'Connect', sinceMs: 2_000 } };
    assert.match(checkConnectHeld(heldDay([other, attempt({ attempt: 2, startedAtMs: 40_000 })])).examples[0] ?? '', /names Connect F0:00:00:00:00:03 on sim0 since 0:00:02, not the technician's call to F0:00:00:00:00:01/);
    const earlier = { ...heldRefusal, heldBy: { ...heldRefusal.heldBy, sinceMs: 500 } as AttemptRecord['heldBy'] };
    assert.equal(checkConnectHeld(heldDay([earlier, attempt({ attempt: 2, startedAtMs: 40_000 })])).ok, false, 'a link up before the call opened is another call');
    const withJob = { ...heldRefusal, jobId: 'job-0' };
    assert.match(checkConnectHeld(heldDay([withJob, attempt({ attempt: 2, startedAtMs: 40_000 })])).examples[0] ?? '', /DEVICE_CONNECTED, yet REFUSED with job job-0/);
    const stray = { ...heldDay(), jobsAtEnd: [{ jobId: 'job-1', target: 'st-001' }, { jobId: 'job-x', target: HELD_ADDRESS }] };
    assert.match(checkConnectHeld(stray).examples[0] ?? '', /the server holds job job-x for it that no operator's attempt started/);
  });

  it('connect held: a held device whose DFU was not refused, a call that never connected, or a device not updated is a violation', () => {
    assert.match(checkConnectHeld(heldDay([attempt({ startedAtMs: 6_000 })])).examples[0] ?? '', /held it until 0:00:32, yet attempt 1 at 0:00:06 ended SUCCEEDED/);
    const never = { ...visit, connectedAtMs: undefined, code: 'DEVICE_NOT_FOUND' };
    const neverDay = heldDay([attempt({ startedAtMs: 40_000 })], never);
    assert.match(checkConnectHeld(neverDay).examples[0] ?? '', /never connected \(DEVICE_NOT_FOUND\)/);
    const unplugged = { ...neverDay, disruptions: [{ kind: 'unplug' as const, adapterId: 'sim0', fromMs: 500, toMs: 3_000 }] };
    assert.equal(checkConnectHeld(unplugged).ok, true, 'an unplug during the call excuses what it saw');
    const old = { ...heldDay(), devices: [updated({ attempts: [heldRefusal, attempt({ attempt: 2, startedAtMs: 40_000 })], final: { application: FACTORY_APPLICATION_SHA256, applicationValid: true, mode: 'application', bootloaderVersion: 1 } })] };
    assert.match(checkConnectHeld(old).examples[0] ?? '', /did not end updated/);
  });

  it('connect held: a call to a board in its bootloader finds nothing and refuses nothing', () => {
    const bl: TechnicianOutcome = { ...visit, visit: { ...visit.visit, by: 'address', expectSeen: false }, connectedAtMs: undefined, closedAtMs: 11_000, code: 'DEVICE_NOT_FOUND' };
    assert.equal(checkConnectHeld(heldDay([attempt({ startedAtMs: 12_000 })], bl)).ok, true);
    assert.match(checkConnectHeld(heldDay([heldRefusal, attempt({ attempt: 2, startedAtMs: 40_000 })], bl)).examples.join('\n'), /held nothing, yet 1 DFU refused DEVICE_CONNECTED/);
    assert.match(checkConnectHeld(heldDay([attempt({ startedAtMs: 40_000 })], { ...bl, connectedAtMs: 2_000, code: undefined })).examples[0] ?? '', /a board in its bootloader, yet connected \(expected DEVICE_NOT_FOUND\)/);
  });

  it('no retries: a job that stored bytes twice, resumed, succeeded past a damaged object or does not say so is a violation', () => {
    const damaged = 'damaged-object (attempt 1, data packet #12)';
    const failedAtOnce = attempt({ retries: 0, resentBytes: 0, result: 'FAILED', errorCode: 'DFU_CRC_MISMATCH', errorMessage: 'data object 0–4096 of the application image did not arrive intact after 1 attempt (no retries asked for): …', faults: [damaged] });
    const day = (a: AttemptRecord): DayEvidence => ({ ...clean, devices: [updated({ attempts: [a, attempt({ attempt: 2, jobId: 'job-3' })] })] });
    const r = checkNoRetries(day(failedAtOnce));
    assert.deepEqual([r.ok, r.checked], [true, 1]);
    assert.equal(checkNoRetries(clean).checked, 0, 'jobs with the default retries are not judged');
    assert.match(checkNoRetries(day({ ...failedAtOnce, resentBytes: 4096 })).examples[0] ?? '', /stored 4096 bytes a second time/);
    assert.match(checkNoRetries(day({ ...failedAtOnce, resentBytes: undefined })).examples[0] ?? '', /writes were not observed/);
    assert.match(checkNoRetries(day({ ...failedAtOnce, resumed: true })).examples[0] ?? '', /resumed after a lost link/);
    assert.match(checkNoRetries(day({ ...failedAtOnce, errorMessage: 'after 4 attempts' })).examples[0] ?? '', /does not say "no retries asked for"/);
    assert.match(checkNoRetries(day({ ...failedAtOnce, result: 'SUCCEEDED', errorCode: undefined })).examples[0] ?? '', /met a damaged object, yet succeeded/);
    assert.match(checkNoRetries(day({ ...failedAtOnce, errorCode: 'LINK_LOST' })).examples[0] ?? '', /expected DFU_CRC_MISMATCH/);
  });

  it('a failing day prints its seed and the command that reruns it', () => {
    const invariants = checkInvariants({ ...clean, activeJobsAtEnd: ['job-9'] });
    const text = formatReport({
      ok: false,
      invariants,
      rerun: 'npm run station -- --seed 99 --devices 2 --hours 1 --dongle hci --adapters 1',
      summary: {
        seed: 99,
        devices: 2,
        adapters: ['hci'],
        modelledHours: 1,
        devicesByKind: { app: 1, 'wrong-key': 1 },
        devicesUpdated: 1,
        devicesUpToDate: 0,
        devicesWithTheirOwnError: 1,
        devicesWrong: 0,
        jobs: 2,
        attempts: 2,
        devicesNeedingRetry: 0,
        failuresByCode: { DFU_REMOTE_ERROR: 1 },
        faultsPlanned: {},
        unplugs: 0,
        kills: 0,
        timeLostToFaultsMs: 0,
        updatedPerHourPerDongle: 1,
        hostileCalls: 0,
        hostileRefusedAsExpected: 0,
        hostileLost: 0,
        hostileByKind: {},
        technicianCalls: 0,
        technicianConnected: 0,
        technicianNotFound: 0,
        refusedDeviceConnected: 0,
        attemptsWithNoRetries: 0,
        noRetriesFailed: 0,
        noRetriesDamagedObjectFailed: 0,
      },
      diagnostics: { realMs: 1, blAppIncluded: false },
      attempts: [],
    });
    assert.match(text, /no job left running\s+FAIL/);
    assert.match(text, /FAIL \(seed 99\) — rerun with: npm run station -- --seed 99 --devices 2/);
  });
});

describe('station hostile client', () => {
  it('plans its calls from the seed: both kinds, inside the day, over the limits', () => {
    const plan = (seed: number) => planHostile(new Rng(seed).fork('hostile'), { count: 3, adapters: 2, dayMs: 3_600_000 });
    assert.deepEqual(plan(5), plan(5));
    assert.notDeepEqual(plan(5), plan(6));
    const calls = plan(5);
    assert.deepEqual(new Set(calls.map((c) => c.kind)), new Set(Object.keys(EXPECTED_CODE)));
    for (const c of calls) {
      assert.ok(c.atMs > 0 && c.atMs < 3_600_000);
      assert.ok(c.emptyEntries > MAX_ZIP_ENTRIES && c.emptyEntries <= MAX_EMPTY_ENTRIES);
      assert.ok(c.nameBytes > 248);
    }
    assert.deepEqual(planHostile(new Rng(5), { count: 0, adapters: 2, dayMs: 3_600_000 }), []);
  });

  it('pads a valid package into a well-formed zip the server refuses only for its entry count', async () => {
    const app = await projectZip('app');
    const few = paddedPackage(app, 3);
    assert.equal(readZipDirectory(few).entries.length, 3 + readZipDirectory(app).entries.length);
    // The package's own files are carried unchanged: the few-entry zip is still the package.
    assert.deepEqual((await readPackage(few)).images.map((i) => i.bin), (await readPackage(app)).images.map((i) => i.bin));
    const many = paddedPackage(app, MAX_EMPTY_ENTRIES);
    const huge = paddedPackage(app, 70_000);
    assert.ok(many.length < 4 * 1024 * 1024, `${many.length} bytes: over the station's request limit`);
    assert.throws(() => readZipDirectory(many), (e: Error & { code?: string }) => e.code === 'PACKAGE_INVALID' && /entries/.test(e.message));
    // Past 65 535 entries it writes the zip64 end record, which the server reads the count from.
    assert.throws(() => readZipDirectory(huge), (e: Error) => /the zip has 70\d{3} entries/.test(e.message));
  });
});
