/**
 * A campaign with a legacy DFU package (issues 16 and 17 together) through gRPC on the accelerated
 * simulator, one air heard by an HCI controller and a connectivity dongle: every legacy board
 * that comes by is updated once — a link dropped mid-image is retried by the campaign (legacy DFU
 * restarts the image), and with include_bootloaders a unit stranded in its legacy bootloader
 * (advertising "DfuTarg"/"AdaDFU" and the 0x1530 service, not FE59) is taken too. A Secure DFU
 * application whose name matches fails GATT_SERVICE_MISSING with nothing written and is not
 * retried; a Secure DFU bootloader is not the legacy campaign's to take.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JobState, type BledfuClient } from '../../clients/ts/index.js';
import { CampaignDeviceState, CampaignStopReason, type Campaign } from '../../proto/gen/bledfu/v1/campaign.js';
import { openAdapters } from '../../server/backends/registry.js';
import { offsetLastOctet } from '../../server/ble/address.js';
import { makeLegacyPackage } from '../../server/dfu/package/legacyGenerate.js';
import { ADAFRUIT } from '../../server/dfu/package/legacyInitPacket.js';
import { firmwareRevisionOf } from '../../server/sim/devices/application.js';
import { deterministicFiller, imageIdentity } from '../../server/sim/devices/chip.js';
import { SimScheduler } from '../../server/sim/scheduler.js';
import { createSimWorld, type SimDeviceConfig } from '../../server/sim/world.js';
import { serveRegistry, testLogger } from '../helpers/app-server.js';

async function watchToEnd(client: BledfuClient, campaignId: string): Promise<Campaign> {
  for await (const { event } of client.watchCampaign({ campaignId }, { signal: AbortSignal.timeout(300_000) })) {
    if (event?.kind?.$case === 'ended') return event.kind.ended;
  }
  throw new Error('the watch ended without the campaign ending');
}

interface Case {
  readonly kind: 'legacy-sdk11' | 'legacy-adafruit';
  readonly deviceType: number | undefined;
  /** How the applications enter their bootloader (default: it advertises at address + 1). */
  readonly entry?: SimDeviceConfig['legacyEntry'];
}

const CASES: readonly Case[] = [
  { kind: 'legacy-sdk11', deviceType: undefined },
  { kind: 'legacy-adafruit', deviceType: ADAFRUIT.DEVICE_TYPE },
  // The bootloader keeps the application's address: its face must be known as the same device.
  { kind: 'legacy-adafruit', deviceType: ADAFRUIT.DEVICE_TYPE, entry: 'same-address' },
];

for (const { kind, deviceType, entry } of CASES) {
  describe(`a campaign with a legacy package over ${kind} boards${entry === undefined ? '' : ` (${entry} entry)`} (HCI controller and connectivity dongle on one air)`, () => {
    it('updates each legacy board once, takes the one stranded in its legacy bootloader, fails the Secure DFU one before writing, leaves a Secure DFU bootloader alone', { timeout: 300_000 }, async () => {
      const logger = testLogger();
      const scheduler = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
      // 0–3 legacy applications (1 loses its link mid-image), 4 a legacy board stranded in its
      // bootloader with no valid application, 5 a Secure DFU application with a matching name,
      // 6 a Secure DFU board stranded in its bootloader.
      const legacy: Partial<SimDeviceConfig> = entry === undefined ? { kind } : { kind, legacyEntry: entry };
      const devices: Partial<SimDeviceConfig>[] = [legacy, legacy, legacy, legacy, { ...legacy, startInBootloader: true, validApp: false }, {}, { startInBootloader: true, validApp: false }];
      const world = createSimWorld({ devices }, logger.child({ component: 'sim' }), scheduler);
      const registry = await openAdapters(['sim:', 'sim:?dongle=nrf&api=6'], logger.child({ component: 'adapters' }), { simScheduler: scheduler, simWorld: () => world });
      const served = await serveRegistry(registry, logger, { maxConcurrentDfus: 4, jobRetention: 500 });
      try {
        const written = world.devices.map(() => 0);
        for (const [i, v] of world.devices.entries()) {
          v.device.onLegacyDataWrite(() => void (written[i] = (written[i] ?? 0) + 1));
          v.device.onDataWrite(() => void (written[i] = (written[i] ?? 0) + 1));
        }
        world.faults.inject({ kind: 'dropLinkAfterDataBytes', bytes: 3_000, device: 'bledfu-sim-2' });
        const bin = deterministicFiller(12_000, 0xad);
        const zip = await makeLegacyPackage({ application: bin, applicationVersion: 3, ...(deviceType === undefined ? {} : { deviceType }) });
        const started = await served.client.startCampaign({
          package: { $case: 'packageData', packageData: Buffer.from(zip) },
          filter: { name: '', namePrefix: 'bledfu-sim-', serviceUuid: '', manufacturerDataPrefix: Buffer.alloc(0), addresses: [] },
          adapterIds: [],
          parallelPerAdapter: 2,
          // The engine's own reconnects off: the dropped link fails the job and the campaign retries it.
          options: { prn: 0, mtu: 0, retries: 0, buttonless: 0, disableResume: false, skipIfFirmwareRevision: '', scanTimeout: undefined, requestTimeout: undefined },
          retry: { maxAttempts: 3, delay: { seconds: 2, nanos: 0 } },
          maxDevices: 6,
          duration: { seconds: 1_800, nanos: 0 },
          includeBootloaders: true,
          labels: {},
          name: 'legacy line',
        });
        const final = await watchToEnd(served.client, started.campaign?.campaignId ?? '');
        assert.equal(final.stopReason, CampaignStopReason.CAMPAIGN_STOP_REASON_MAX_DEVICES, 'all six of its devices taken');
        assert.deepEqual(
          { found: final.counts?.found, succeeded: final.counts?.succeeded, failed: final.counts?.failed, jobs: final.counts?.jobs },
          { found: 6, succeeded: 5, failed: 1, jobs: 7 },
        );
        const jobs = (await served.client.listJobs({ activeOnly: false, campaignId: final.campaignId })).jobs;
        const revision = firmwareRevisionOf(imageIdentity(bin, 3));
        const byAddress = new Map(final.devices.map((d) => [d.address?.value ?? '', d]));
        for (const [i, v] of world.devices.entries()) {
          // Its application's address, or its bootloader's at address + 1.
          const mine = jobs.filter((j) => [v.address.value, offsetLastOctet(v.address, 1).value].includes(j.deviceAddress?.value ?? ''));
          const label = `${v.label} (${i})`;
          if (i <= 4) {
            assert.equal(v.firmwareRevision(), revision, `${label} runs the new application`);
            assert.equal(v.mode(), 'application', label);
            assert.equal(mine.filter((j) => j.state === JobState.JOB_STATE_SUCCEEDED).length, 1, `${label}: updated by exactly one job`);
            assert.equal(mine.length, i === 1 ? 2 : 1, `${label}: jobs (the dropped link retried once)`);
          }
          if (i === 4) {
            const d = final.devices.find((x) => x.foundInBootloader);
            assert.equal(d?.address?.value, offsetLastOctet(v.address, 1).value, 'found at its bootloader address');
            assert.equal(d?.state, CampaignDeviceState.CAMPAIGN_DEVICE_STATE_SUCCEEDED, 'the stranded legacy board was taken from its bootloader');
          }
          if (i === 5) {
            assert.equal(mine.length, 1, `${label}: one job, not retried`);
            assert.equal(mine[0]?.state, JobState.JOB_STATE_FAILED);
            assert.equal(byAddress.get(v.address.value)?.lastError?.reason, 'GATT_SERVICE_MISSING');
            assert.equal(written[i], 0, `${label}: nothing written`);
            assert.equal(v.mode(), 'application');
          }
          if (i === 6) {
            assert.equal(mine.length, 0, `${label}: a Secure DFU bootloader is not the legacy campaign's`);
            assert.equal(v.mode(), 'bootloader');
          }
        }
        assert.equal(final.devices.filter((d) => d.foundInBootloader).length, 1);
        assert.equal(jobs.filter((j) => j.state === JobState.JOB_STATE_FAILED).length, 2, 'the dropped link and the Secure DFU board');
      } finally {
        await served.close();
        await registry.close();
        await world.close();
        // The scheduler is this test's (shared with the server as its clock): its owner closes it,
        // or the untouched Secure DFU bootloader's inactivity timer keeps modelled time running.
        scheduler.close();
      }
    });
  });
}
