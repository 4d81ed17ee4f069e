/**
 * Acceptance (issue 10, problems 2 and 5): a station retries the way people do — by the same
 * name or application address — and finds the device waiting in its bootloader; a restarted
 * server still knows where it sent it; two jobs for one device never run over each other; a
 * buttonless indication lost on the air does not lose the device. Through gRPC, on both
 * simulated dongles; what reached the device is counted on the simulated air.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { decodeError, startDfu, type DfuEvent, type Target } from '../../clients/ts/index.js';
import { bootloaderAddress } from '../../server/ble/address.js';
import { DEVICE_MEMORY_FILE, FileDeviceMemory, InMemoryDeviceMemory } from '../../server/jobs/deviceMemory.js';
import { silentLogger } from '../../server/common/logger.js';
import { RESULT } from '../../server/dfu/secure/controlPoint.js';
import { projectFacts } from '../helpers/project-packages.js';
import { addressTarget, drain, finished, journey, progresses, revisionOf, SIM_DONGLES, startSimServer, until, type Drained, type SimServer } from '../helpers/sim-server.js';

/** The project's ~100 KB application package (demo key, the simulator's default), facts computed from its bytes. */
const APP = await projectFacts('app');
const DK_APP_SHA256 = '7f030207a1b243df126c23835239c705be5de8039fa882b89d2b4d4b71c1c797';
const CREATE = 0x01;

const nameTarget = (name: string): Target => ({ selector: { $case: 'name', name } });

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'bledfu-retry-'));
  dirs.push(d);
  return d;
}

function details(events: readonly DfuEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'state' ? [e.detail] : []));
}

/** Starts a DFU and cancels it once the device holds some data; returns with the device in its bootloader. */
async function cancelMidTransfer(s: SimServer, target: Target): Promise<number> {
  const it1 = startDfu(s.client, { package: { data: APP.zip }, target }, { signal: AbortSignal.timeout(20_000) })[Symbol.asyncIterator]();
  const snapshot = await until(it1, (e) => e.type === 'snapshot');
  await until(it1, (e) => e.type === 'progress' && e.progress.totalBytesSent >= 4096 * 3);
  await s.client.cancelJob({ jobId: snapshot.jobId });
  const rest: DfuEvent[] = [];
  try {
    for (;;) {
      const r = await it1.next();
      if (r.done === true) break;
      rest.push(r.value);
    }
  } catch (e) {
    assert.equal(decodeError(e).code, 'CANCELLED');
  }
  assert.equal(finished(rest)?.error?.code, 'CANCELLED');
  assert.equal(s.device().mode(), 'bootloader');
  const before = s.observed().dataBytes;
  assert.ok(before > 0 && before < APP.size, `data bytes at cancel: ${before}`);
  return before;
}

/** A retry that must find the device in its bootloader and resume; returns its events. */
async function retryResumes(s: SimServer, target: Target, before: number): Promise<Drained> {
  const dev = s.device();
  const again = await drain(startDfu(s.client, { package: { data: APP.zip }, target }, { signal: AbortSignal.timeout(25_000) }));
  assert.equal(again.error, undefined, String(again.error));
  const f = finished(again.events);
  assert.equal(f?.result.success, true, f?.error?.message);
  assert.equal(f?.result.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
  assert.equal(dev.firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
  assert.equal(dev.mode(), 'application');
  assert.deepEqual(journey(again.events), ['CONNECTING', 'TRANSFERRING', 'ACTIVATING', 'SUCCEEDED'], 'no buttonless entry: it was in its bootloader');
  const found = details(again.events).find((d) => d.startsWith('found '));
  assert.match(found ?? '', new RegExp(`in its bootloader at ${bootloaderAddress(dev.address).value}.*resuming`), `the job says where it found the device: ${String(found)}`);
  // Resumed: the retry sent only what the device lacked (the whole image crossed the air once in total).
  assert.equal(s.observed().dataBytes, APP.size, 'every firmware byte crossed the air exactly once over both jobs');
  assert.ok(s.observed().dataBytes - before < APP.size, 'the retry sent less than a full image');
  const snap = again.events.find((e) => e.type === 'snapshot');
  assert.ok(snap?.type === 'snapshot');
  const final = (await s.client.getJob({ jobId: snap.jobId })).job;
  assert.equal(final?.bootloaderAddress?.value, bootloaderAddress(dev.address).value, 'the job shows the bootloader address');
  assert.ok(progresses(again.events).length > 0);
  return again;
}

for (const dongle of SIM_DONGLES) {
  describe(`retries find the device in its bootloader, over gRPC (${dongle.label})`, () => {
    it('cancelled mid-transfer, retried by the same --name: found in its bootloader, resumed, succeeds', { timeout: 40_000 }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const name = s.device().label;
        const before = await cancelMidTransfer(s, nameTarget(name));
        await retryResumes(s, nameTarget(name), before);
      } finally {
        await s.close();
      }
    });

    it('cancelled mid-transfer, retried by the application address: found at address + 1, resumed, succeeds', { timeout: 40_000 }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const app = s.device().address.value;
        const before = await cancelMidTransfer(s, addressTarget(app));
        await retryResumes(s, addressTarget(app), before);
      } finally {
        await s.close();
      }
    });

    it("cancelled mid-transfer, retried by the bootloader's own name (\"DfuNNNNN\", as a scan shows it): resumed, succeeds", { timeout: 40_000 }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const before = await cancelMidTransfer(s, nameTarget(s.device().label));
        const blName = s.device().currentName();
        assert.match(blName, /^Dfu\d{5}$/);
        const again = await retryResumes(s, nameTarget(blName), before);
        assert.ok(details(again.events).some((d) => d.startsWith(`found ${s.device().label} in its bootloader`)), 'the memory knows whose bootloader it is');
      } finally {
        await s.close();
      }
    });
  });
}

for (const dongle of SIM_DONGLES) {
  describe(`a device that refused a package, a restarted server, two jobs at once (${dongle.label})`, () => {
    it('the device refuses the package: the retry by name finds it in its bootloader and succeeds', { timeout: 40_000 }, async () => {
      const s = await startSimServer({}, {}, dongle);
      try {
        const dev = s.device();
        s.world.faults.inject({ kind: 'refuseControlPoint', opcode: CREATE, result: RESULT.INSUFFICIENT_RESOURCES, times: 1 });
        const first = await drain(startDfu(s.client, { package: { data: APP.zip }, target: nameTarget(dev.label) }, { signal: AbortSignal.timeout(20_000) }));
        const f1 = finished(first.events);
        assert.equal(f1?.result.success, false);
        assert.equal(f1?.error?.code, 'DFU_REMOTE_ERROR', f1?.error?.message);
        assert.equal(dev.mode(), 'bootloader', 'the refused update left the device in its bootloader');

        const again = await drain(startDfu(s.client, { package: { data: APP.zip }, target: nameTarget(dev.label) }, { signal: AbortSignal.timeout(25_000) }));
        assert.equal(again.error, undefined, String(again.error));
        const f2 = finished(again.events);
        assert.equal(f2?.result.success, true, f2?.error?.message);
        assert.equal(f2?.result.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
        assert.equal(dev.firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
        assert.deepEqual(journey(again.events), ['CONNECTING', 'TRANSFERRING', 'ACTIVATING', 'SUCCEEDED']);
        assert.ok(details(again.events).some((d) => d.includes(`found ${dev.label} in its bootloader at ${bootloaderAddress(dev.address).value}`)), details(again.events).join(' | '));
      } finally {
        await s.close();
      }
    });

    it('a server restarted on the same data directory still finds, by name, the device an earlier job left in its bootloader', { timeout: 40_000 }, async () => {
      const dir = dataDir();
      const file = join(dir, DEVICE_MEMORY_FILE);
      const s = await startSimServer({}, {}, dongle, { devices: FileDeviceMemory.open(file, silentLogger()) });
      try {
        const dev = s.device();
        const before = await cancelMidTransfer(s, nameTarget(dev.label));
        // The same data directory, a new server process (the simulated device keeps its state).
        const client = await s.restart({ devices: FileDeviceMemory.open(file, silentLogger()) });
        const again = await drain(startDfu(client, { package: { data: APP.zip }, target: nameTarget(dev.label) }, { signal: AbortSignal.timeout(25_000) }));
        assert.equal(again.error, undefined, String(again.error));
        const f = finished(again.events);
        assert.equal(f?.result.success, true, f?.error?.message);
        assert.equal(f?.result.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
        assert.equal(s.observed().dataBytes, APP.size, 'resumed after the restart');
        assert.ok(s.observed().dataBytes - before < APP.size);
        assert.ok(details(again.events).some((d) => d.includes('where an earlier job left it')), details(again.events).join(' | '));
      } finally {
        await s.close();
      }
    });

    it('two jobs for one device started at once, by name and by address: the second waits for the first, then succeeds', { timeout: 60_000 }, async () => {
      const s = await startSimServer({}, { maxConcurrentDfus: 2 }, dongle);
      try {
        const dev = s.device();
        const [a, b] = await Promise.all([
          drain(startDfu(s.client, { package: { data: APP.zip }, target: nameTarget(dev.label) }, { signal: AbortSignal.timeout(50_000) })),
          drain(startDfu(s.newClient(), { package: { data: APP.zip }, target: addressTarget(dev.address.value) }, { signal: AbortSignal.timeout(50_000) })),
        ]);
        for (const r of [a, b]) {
          assert.equal(r.error, undefined, String(r.error));
          const f = finished(r.events);
          assert.equal(f?.result.success, true, f?.error?.message);
          assert.equal(f?.result.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
        }
        const idOf = (r: Drained): string => (r.events[0]?.type === 'snapshot' ? r.events[0].jobId : '?');
        const waited = [a, b].filter((r) => details(r.events).some((d) => d.includes('which is updating the same device')));
        assert.equal(waited.length, 1, 'exactly one job waited for the other');
        const second = waited[0] as Drained;
        const first = second === a ? b : a;
        assert.ok(details(second.events).some((d) => d.includes(`waiting for job ${idOf(first)}`)), details(second.events).join(' | '));
        // No overlap: the second job sent nothing before the first had ended, and each sent one whole image.
        const firstEnd = finished(first.events)?.time?.getTime() ?? Number.POSITIVE_INFINITY;
        const secondStart = progresses(second.events).length === 0 ? 0 : (second.events.find((e) => e.type === 'progress')?.time?.getTime() ?? 0);
        assert.ok(secondStart >= firstEnd, 'the second transfer began after the first job ended');
        assert.equal(s.observed().dataBytes, 2 * APP.size, 'two whole transfers, none broken off');
        assert.equal(s.observed().commandBytes, 2 * APP.datSize);
        assert.equal(dev.images().application?.sha256, APP.sha256);
        assert.notEqual(dev.images().application?.sha256, DK_APP_SHA256);
      } finally {
        await s.close();
      }
    });
  });
}

/** ATT Handle Value Indication: the buttonless service answers with one. */
const ATT_HANDLE_VALUE_INDICATION = 0x1d;
const ATT_HANDLE_VALUE_CONFIRMATION = 0x1e;
const ATT_WRITE_REQUEST = 0x12;
const ATT_CID = 0x0004;

for (const dongle of SIM_DONGLES) {
  describe(`the buttonless answer lost on the air (${dongle.label})`, () => {
    for (const [lost, direction, firstByte, after] of [
      ['the indication answering Enter Bootloader', 'toCentral', ATT_HANDLE_VALUE_INDICATION, 1],
      ['the indication answering Set Name', 'toCentral', ATT_HANDLE_VALUE_INDICATION, 0],
      ['the confirmation of the Enter Bootloader answer (the application waits for it and never jumps)', 'toPeripheral', ATT_HANDLE_VALUE_CONFIRMATION, 1],
      ['the Enter Bootloader request itself (CCCD and Set Name writes went through)', 'toPeripheral', ATT_WRITE_REQUEST, 2],
    ] as const) {
      it(`${lost} is dropped: the job asks again / looks where the device is, and succeeds`, { timeout: 60_000 }, async () => {
        const s = await startSimServer({}, {}, dongle);
        try {
          const dev = s.device();
          const drop = s.world.faults.inject({ kind: 'frame', direction, action: 'drop', cid: ATT_CID, firstByte, after, times: 1 });
          const r = await drain(
            startDfu(
              s.client,
              // A short request timeout: the buttonless answer is waited for at most this long before asking again.
              { package: { data: APP.zip }, target: nameTarget(dev.label), options: { requestTimeout: { seconds: 1, nanos: 0 } } },
              { signal: AbortSignal.timeout(50_000) },
            ),
          );
          assert.equal(drop.fired, 1, 'the indication was lost');
          assert.equal(r.error, undefined, String(r.error));
          const f = finished(r.events);
          assert.equal(f?.result.success, true, f?.error?.message);
          assert.equal(f?.result.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256));
          assert.equal(dev.firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
          assert.equal(s.observed().dataBytes, APP.size);
          assert.ok(
            details(r.events).some((d) => d.includes('looking for the device in its bootloader and in its application')),
            `the job says it looked for the device: ${details(r.events).join(' | ')}`,
          );
        } finally {
          await s.close();
        }
      });
    }
  });
}

for (const dongle of SIM_DONGLES) {
  describe(`DEVICE_NOT_FOUND names the likely device (${dongle.label})`, () => {
    it('a device in its bootloader that the server cannot tie to the name (memory lost): the remedy names its bootloader address', { timeout: 40_000 }, async () => {
      // The bootloader waits "forever" (no valid-app timeout during the test), as one without a valid application does.
      const s = await startSimServer({ inactivityTimeoutMs: 1e12 }, {}, dongle);
      try {
        const dev = s.device();
        await cancelMidTransfer(s, nameTarget(dev.label));
        const client = await s.restart({ devices: new InMemoryDeviceMemory() });
        const r = await drain(
          startDfu(client, { package: { data: APP.zip }, target: nameTarget(dev.label), options: { scanTimeout: { seconds: 1, nanos: 0 } } }, { signal: AbortSignal.timeout(20_000) }),
        );
        const d = decodeError(r.error);
        assert.equal(d.code, 'DEVICE_NOT_FOUND', d.message);
        const bl = bootloaderAddress(dev.address).value;
        assert.match(d.remedy ?? '', new RegExp(`"${dev.label}" may be waiting in its bootloader as ${bl} "Dfu\\d{5}": start the job with --address ${bl}`), d.remedy);
      } finally {
        await s.close();
      }
    });
  });
}
