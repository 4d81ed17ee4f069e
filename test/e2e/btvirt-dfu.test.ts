/**
 * Acceptance for serial HCI dongles, through the gRPC API: the server built like bledfud (an
 * `hci:<pty>` spec → registry → createApp) with BlueZ's btvirt behind the pty as the dongle's
 * controller, and simulated nRF5 devices as peripherals on further emulated controllers, in a
 * process of their own. The generated client scans, updates the hrs application via buttonless
 * entry, survives a link the device drops mid-object, updates three devices at once through the
 * one dongle, and downloads a job's HCI capture.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  AddressSource,
  AdapterKind,
  AdapterState,
  AddressType,
  CaptureState,
  downloadJobCapture,
  startDfu,
  type Advertisement,
  type BledfuClient,
  type StartDfuParams,
} from '../../clients/ts/index.js';
import { assertDfuCapture, attWriteCommandsSent, btmonDecode, parseBtsnoop, type BtsnoopFile } from '../helpers/btsnoop.js';
import { APP_PACKAGE } from '../helpers/btvirt/dfu.js';
import { btvirtSkipReason } from '../helpers/btvirt/emulator.js';
import { startBtvirtServer, type BtvirtServer, type BtvirtServerOptions } from '../helpers/btvirt/server.js';
import { addressTarget, drain, finished, journey, progresses, type Drained } from '../helpers/job-events.js';

const skip = btvirtSkipReason();
const TIMEOUT = { timeout: 120_000 };
const DFU_TIMEOUT_MS = 60_000;
const OBJECT = 4096;
/** The simulator's default device addresses (defaultDeviceConfig) and first name. */
const APPS = ['F0:0D:C0:DE:00:01', 'F0:0D:C0:DE:00:03', 'F0:0D:C0:DE:00:05'] as const;
const FIRST_NAME = 'bledfu-sim-1';
const HCI_LE_READ_BUFFER_SIZE = 0x2002;

async function withServer(options: BtvirtServerOptions, body: (s: BtvirtServer) => Promise<void>): Promise<void> {
  const s = await startBtvirtServer(options);
  try {
    await body(s);
  } catch (e) {
    throw new Error(`${String(e)}\nbtvirt log:\n${await s.log()}`, { cause: e });
  } finally {
    await s.close();
  }
}

function hrsDfu(client: BledfuClient, address: string, extra: Partial<StartDfuParams> = {}): Promise<Drained> {
  return drain(startDfu(client, { package: { data: APP_PACKAGE.zip }, target: addressTarget(address), ...extra }, { signal: AbortSignal.timeout(DFU_TIMEOUT_MS) }));
}

function assertSucceeded(r: Drained, what: string): void {
  assert.equal(r.error, undefined, `${what}: the call failed: ${String(r.error)}`);
  const f = finished(r.events);
  assert.equal(f?.result.success, true, `${what}: ${f?.error?.message ?? 'no finished event'}`);
  assert.equal(f?.result.firmwareRevision, APP_PACKAGE.revision, `${what}: the new firmware revision is reported`);
  assert.equal(progresses(r.events).at(-1)?.totalBytesSent, APP_PACKAGE.size, `${what}: every byte confirmed`);
}

/** LE ACL buffer size the controller announced, from the setup exchange at the capture's head. */
function leAclBufferSize(file: BtsnoopFile): number {
  const reply = file.records.find(
    (r) => !r.sent && r.data[0] === 0x04 && r.data[1] === 0x0e && ((r.data[4] as number) | ((r.data[5] as number) << 8)) === HCI_LE_READ_BUFFER_SIZE,
  );
  assert.ok(reply, 'the capture holds the LE Read Buffer Size answer');
  assert.equal(reply.data[6], 0, 'LE Read Buffer Size succeeded');
  return (reply.data[7] as number) | ((reply.data[8] as number) << 8);
}

describe('serial HCI dongle over btvirt, through the gRPC API', { skip }, () => {
  it('ListAdapters shows the dongle ready with the controller address; Scan finds the simulated device', TIMEOUT, async () => {
    await withServer({ devices: [{}] }, async (s) => {
      const { adapters } = await s.client.listAdapters({});
      assert.equal(adapters.length, 1);
      const [a] = adapters;
      assert.equal(a?.id, 'hci0');
      assert.equal(a?.kind, AdapterKind.ADAPTER_KIND_HCI_UART);
      assert.equal(a?.state, AdapterState.ADAPTER_STATE_READY);
      assert.equal(a?.spec, `hci:${s.dongle.path}`);
      assert.equal(a?.address?.value, s.dongle.address);

      const found: Advertisement[] = [];
      const stream = s.client.scan(
        {
          adapterId: 'hci0',
          filter: { name: '', namePrefix: 'bledfu-sim-', address: '', serviceUuid: '', minRssi: undefined, dfuBootloaderOnly: false },
          duration: { seconds: 10, nanos: 0 },
          allowDuplicates: false,
          active: true,
        },
        { signal: AbortSignal.timeout(15_000) },
      );
      for await (const r of stream) {
        if (r.advertisement !== undefined) found.push(r.advertisement);
        break;
      }
      const [ad] = found;
      assert.ok(ad, 'the device was found');
      assert.deepEqual(ad.address, { value: APPS[0], type: AddressType.ADDRESS_TYPE_RANDOM });
      assert.equal(ad.name, FIRST_NAME);
      assert.deepEqual(ad.serviceUuids, ['180A']);
      assert.equal(ad.connectable, true);
      assert.equal(ad.dfuBootloader, false);
      // btvirt has no RSSI: 127 is "not available".
      assert.equal(ad.rssi, 127);
    });
  });

  it('a dongle without a public address (Zephyr-like): scans, connects and updates as a static random address the device really sees, the same after a restart', TIMEOUT, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'bledfu-btvirt-address-'));
    // The dongle's stable name (a by-id path on a real station): its kept address is filed under it.
    const portLink = join(dataDir, 'usb-ZEPHYR_hci_uart-if00');
    // Each peripheral link btvirt made, as the device's controller reported its central (preload, 8).
    const centralsSeen = async (s: BtvirtServer): Promise<string[]> =>
      [...(await s.log()).matchAll(/preload: peripheral on fd \d+ saw central ([0-9A-F:]{17}) type (\d)/g)].map((m) => `${m[2] === '1' ? 'random' : 'public'}:${m[1]}`);
    try {
      let station = '';
      await withServer({ devices: [{}], dataDir, portLink, dongleWithoutPublicAddress: true }, async (s) => {
        const [a] = (await s.client.listAdapters({})).adapters;
        assert.equal(a?.state, AdapterState.ADAPTER_STATE_READY);
        assert.equal(a?.spec, `hci:${portLink}`);
        // btvirt's controller says manufacturer 0x05F1, as Zephyr does, but has no vendor commands:
        // Read Static Addresses is refused, so bledfu makes the address and keeps it.
        assert.equal(a?.addressSource, AddressSource.ADDRESS_SOURCE_GENERATED);
        assert.equal(a?.address?.type, AddressType.ADDRESS_TYPE_RANDOM);
        station = a?.address?.value ?? '';
        assert.notEqual(station, '00:00:00:00:00:00');
        assert.notEqual(station, s.dongle.address);
        assert.equal(Number.parseInt(station.slice(0, 2), 16) & 0xc0, 0xc0, `${station} is a static random address`);

        const r = await hrsDfu(s.client, APPS[0]);
        assertSucceeded(r, 'DFU from a dongle without a public address');
        // The application's link, then the bootloader's: both saw the station's random address.
        const seen = await centralsSeen(s);
        assert.ok(seen.length >= 2, `links seen by the device: ${seen.join(', ')}`);
        assert.deepEqual(new Set(seen), new Set([`random:${station}`]));
      });
      // A new emulator, a new controller, the same data directory: the same station.
      await withServer({ devices: [{}], dataDir, portLink, dongleWithoutPublicAddress: true }, async (s) => {
        const [a] = (await s.client.listAdapters({})).adapters;
        assert.deepEqual(a?.address, { value: station, type: AddressType.ADDRESS_TYPE_RANDOM });
        assert.equal(a?.addressSource, AddressSource.ADDRESS_SOURCE_GENERATED);
        const r = await hrsDfu(s.client, APPS[0]);
        assertSucceeded(r, 'DFU after the restart');
        assert.deepEqual(new Set(await centralsSeen(s)), new Set([`random:${station}`]));
      });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('StartDfu: the hrs application via buttonless entry; the job reports the new firmware revision, which the device runs', TIMEOUT, async () => {
    await withServer({ devices: [{}] }, async (s) => {
      const [before] = await s.devices.status();
      assert.equal(before?.mode, 'application');
      assert.notEqual(before?.firmwareRevision, APP_PACKAGE.revision);
      const r = await hrsDfu(s.client, APPS[0]);
      assertSucceeded(r, 'DFU');
      assert.deepEqual(journey(r.events), ['CONNECTING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'ACTIVATING', 'SUCCEEDED']);
      const snapshot = r.events[0];
      assert.equal(snapshot?.type === 'snapshot' ? snapshot.job.adapterId : undefined, 'hci0');
      const [after] = await s.devices.status();
      assert.equal(after?.mode, 'application');
      assert.equal(after?.firmwareRevision, APP_PACKAGE.revision);
      assert.equal(after?.currentAddress, APPS[0]);
      // The buttonless jump, then the activation.
      assert.equal((after?.resets ?? 0) - (before?.resets ?? 0), 2);
    });
  });

  it('resumes after the device drops the link mid-object: the job reconnects, resumes from the executed objects, and succeeds', TIMEOUT, async () => {
    await withServer({ devices: [{}] }, async (s) => {
      // 10 000 bytes: inside the third 4 KiB data object. Armed over the device process's control channel.
      const disarm = await s.devices.inject({ kind: 'dropLinkAfterDataBytes', bytes: 10_000 });
      const r = await hrsDfu(s.client, APPS[0]);
      assert.equal(await disarm(), 1, 'the device dropped the link once');
      assertSucceeded(r, 'DFU with a drop');
      assert.deepEqual(journey(r.events), ['CONNECTING', 'ENTERING_BOOTLOADER', 'TRANSFERRING', 'RESUMING', 'ACTIVATING', 'SUCCEEDED']);
      const resumedAt = r.events.findIndex((e) => e.type === 'state' && e.stateName === 'RESUMING');
      const resumed = r.events[resumedAt];
      assert.match(resumed?.type === 'state' ? resumed.detail : '', /F0:0D:C0:DE:00:02/, 'resumed on the bootloader at address + 1');
      // The two data objects executed before the drop were kept: progress went on from there.
      const next = progresses(r.events.slice(resumedAt))[0];
      assert.ok((next?.totalBytesSent ?? 0) >= 2 * OBJECT, `first progress after resuming: ${next?.totalBytesSent}`);
      const sent = progresses(r.events).map((p) => p.totalBytesSent);
      for (let i = 1; i < sent.length; i++) assert.ok((sent[i] as number) >= (sent[i - 1] as number), `progress went back at event ${i}`);
      const [status] = await s.devices.status();
      assert.equal(status?.firmwareRevision, APP_PACKAGE.revision);
      assert.equal(status?.mode, 'application');
    });
  });

  it('updates three devices in parallel, three jobs through the one emulated dongle', TIMEOUT, async () => {
    await withServer({ devices: APPS.map(() => ({})), spec: { max: '3' }, app: { maxConcurrentDfus: 3 } }, async (s) => {
      const before = await s.devices.status();
      assert.deepEqual(before.map((d) => d.address), [...APPS]);
      const runs = await Promise.all(APPS.map((address) => hrsDfu(s.client, address)));
      for (const [i, r] of runs.entries()) {
        assertSucceeded(r, `device ${APPS[i]}`);
        const snapshot = r.events[0];
        assert.equal(snapshot?.type === 'snapshot' ? snapshot.job.adapterId : undefined, 'hci0');
      }
      assert.equal(new Set(runs.map((r) => finished(r.events)?.jobId)).size, 3, 'three jobs');
      // They overlapped: every job was transferring before any of them finished.
      const firstFinish = Math.min(...runs.map((r) => finished(r.events)?.time?.getTime() ?? Number.POSITIVE_INFINITY));
      for (const r of runs) {
        const started = r.events.find((e) => e.type === 'progress')?.time?.getTime() ?? Number.POSITIVE_INFINITY;
        assert.ok(started < firstFinish, 'the transfers ran at the same time');
      }
      const after = await s.devices.status();
      assert.deepEqual(
        after.map((d) => [d.mode, d.firmwareRevision]),
        APPS.map(() => ['application', APP_PACKAGE.revision]),
      );
    });
  });

  it('StartDfu(capture_hci): the job capture holds the whole exchange within the controller buffers, and btmon decodes it', TIMEOUT, async () => {
    await withServer({ devices: [{}] }, async (s) => {
      const r = await hrsDfu(s.client, APPS[0], { captureHci: true });
      assertSucceeded(r, 'DFU with capture');
      const jobId = finished(r.events)?.jobId ?? '';
      const { job } = await s.client.getJob({ jobId });
      assert.equal(job?.capture?.state, CaptureState.CAPTURE_STATE_COMPLETE);
      assert.equal(job?.capture?.truncated, false);
      const bytes = await downloadJobCapture(s.client, jobId);
      assert.equal(bytes.length, job?.capture?.size);
      const file = parseBtsnoop(bytes);
      assertDfuCapture(file);
      // The init packet and the image went out in Write Commands, each byte once (no drop here).
      const written = attWriteCommandsSent(file).reduce((n, p) => n + p.length - 3, 0);
      assert.equal(written, APP_PACKAGE.size + APP_PACKAGE.datSize);
      // btvirt's ACL buffers are small: ATT PDUs were fragmented to fit, and nothing larger was sent.
      const limit = leAclBufferSize(file);
      const aclLengths = file.records.filter((x) => x.sent && x.data[0] === 0x02).map((x) => (x.data[3] as number) | ((x.data[4] as number) << 8));
      assert.ok(Math.max(...aclLengths) <= limit, `largest ACL packet sent ${Math.max(...aclLengths)} B, controller buffer ${limit} B`);
      assert.ok(
        file.records.some((x) => x.sent && x.data[0] === 0x02 && (((x.data[2] as number) >> 4) & 0x3) === 1),
        'continuation fragments were sent',
      );

      const dir = await mkdtemp(join(tmpdir(), 'bledfu-btvirt-capture-'));
      try {
        const path = join(dir, 'job.btsnoop');
        await writeFile(path, bytes);
        const decoded = await btmonDecode(path);
        if (decoded !== undefined) {
          assert.match(decoded, /HCI Command: Reset/);
          assert.match(decoded, /LE Create Connection/);
          assert.match(decoded, /ATT: Exchange MTU Request/);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
