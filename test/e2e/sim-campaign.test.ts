/**
 * Acceptance (issue 16, the production line): campaigns through gRPC on the accelerated
 * simulator — the server watches the air on two adapters, updates every matching device once,
 * skips the ones already up to date, reports the one with the wrong key, retries link losses, and
 * keeps its state for a client that comes back. Then the stop conditions and refusals.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditResult, decodeError, JobState, Status, type BledfuClient } from '../../clients/ts/index.js';
import { CampaignDeviceState, CampaignState, CampaignStopReason, type Campaign, type CampaignEvent } from '../../proto/gen/bledfu/v1/campaign.js';
import { AuditLog } from '../../server/audit/log.js';
import { openAdapters, type AdapterRegistry } from '../../server/backends/registry.js';
import { SimScheduler } from '../../server/sim/scheduler.js';
import { createSimWorld, type SimDeviceConfig, type SimWorld } from '../../server/sim/world.js';
import { serveRegistry, testLogger, type ServedApp } from '../helpers/app-server.js';
import { projectFacts } from '../helpers/project-packages.js';
import { revisionOf } from '../helpers/sim-server.js';

const APP = await projectFacts('app');
const NEW_REVISION = revisionOf(APP.fwVersion, APP.sha256);

/** A unit already updated on the line: its release bootloader refuses the same version again. */
const UP_TO_DATE: Partial<SimDeviceConfig> = { debugBootloader: false, appVersion: APP.fwVersion, acceptSameAppVersion: false };
/** Left in its bootloader by an earlier failed update, no valid application: it advertises "DfuTarg" at address + 1. */
const STRANDED: Partial<SimDeviceConfig> = { startInBootloader: true, validApp: false };
const WRONG_KEY: Partial<SimDeviceConfig> = { key: 'sdk17.0.2' };

interface Line {
  readonly world: SimWorld;
  readonly registry: AdapterRegistry;
  readonly served: ServedApp;
  readonly client: BledfuClient;
  close(): Promise<void>;
}

/** One simulated air, `adapters` virtual dongles on it, one server over all of them. */
async function startLine(devices: readonly Partial<SimDeviceConfig>[], adapters: number, options: { audit?: AuditLog; maxConcurrentDfus?: number } = {}): Promise<Line> {
  const logger = testLogger();
  const scheduler = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
  const world = createSimWorld({ devices }, logger.child({ component: 'sim' }), scheduler);
  const registry = await openAdapters(
    Array.from({ length: adapters }, () => 'sim:'),
    logger.child({ component: 'adapters' }),
    { simScheduler: scheduler, simWorld: () => world },
  );
  const served = await serveRegistry(registry, logger, { maxConcurrentDfus: options.maxConcurrentDfus ?? 4, jobRetention: 500 }, options.audit === undefined ? {} : { audit: options.audit });
  return {
    world,
    registry,
    served,
    client: served.client,
    async close() {
      try {
        await served.close();
      } finally {
        await registry.close();
        world.close();
      }
    },
  };
}

/** Follows WatchCampaign until `pred` holds for an event (or the stream ends); returns what it saw. */
async function watchUntil(client: BledfuClient, campaignId: string, pred: (e: CampaignEvent) => boolean, signal?: AbortSignal): Promise<CampaignEvent[]> {
  const seen: CampaignEvent[] = [];
  for await (const { event } of client.watchCampaign({ campaignId }, signal === undefined ? {} : { signal })) {
    if (event === undefined) continue;
    seen.push(event);
    if (pred(event)) break;
  }
  return seen;
}

const ended = (e: CampaignEvent): boolean => e.kind?.$case === 'ended';

async function watchToEnd(client: BledfuClient, campaignId: string): Promise<Campaign> {
  const events = await watchUntil(client, campaignId, ended, AbortSignal.timeout(300_000));
  const last = events.at(-1);
  assert.equal(last?.kind?.$case, 'ended', 'the stream ends with `ended`');
  if (last?.kind?.$case !== 'ended') throw new Error('unreachable');
  return last.kind.ended;
}

/** Campaign device state by application address (a device found in its bootloader by address - 1). */
function stateByDevice(c: Campaign): Map<string, CampaignDeviceState> {
  return new Map(c.devices.map((d) => [d.address?.value ?? '', d.state]));
}

describe('campaign over 30 simulated devices on two adapters, 4 at a time each, with link drops', () => {
  let line: Line;
  let dir: string;
  let audit: AuditLog;
  const config: Partial<SimDeviceConfig>[] = [];
  // 0–19 plain units (three of them lose their link mid-transfer), 20–22 stranded in their
  // bootloader, 23–27 already up to date, 28 a unit trusting another key, 29 another plain one.
  for (let i = 0; i < 20; i++) config.push({});
  for (let i = 0; i < 3; i++) config.push(STRANDED);
  for (let i = 0; i < 5; i++) config.push(UP_TO_DATE);
  config.push(WRONG_KEY);
  config.push({});
  // A bystander the filter leaves alone.
  config.push({ name: 'bystander' });
  const DROPPED = [2, 9, 17];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-campaign-'));
    audit = AuditLog.open(join(dir, 'audit.jsonl')).log;
    line = await startLine(config, 2, { audit });
    for (const i of DROPPED) line.world.faults.inject({ kind: 'dropLinkAfterDataBytes', bytes: 3 * 4096 + 100, device: `bledfu-sim-${i + 1}` });
  });

  after(async () => {
    await line?.close();
    audit?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('updates every updatable device exactly once, skips the up-to-date ones, reports the wrong key, and keeps its state across client reconnects', { timeout: 300_000 }, async () => {
    const { client, world } = line;
    const started = await client.startCampaign({
      package: { $case: 'packageData', packageData: Buffer.from(APP.zip) },
      filter: { name: '', namePrefix: 'bledfu-sim-', serviceUuid: '', manufacturerDataPrefix: Buffer.alloc(0), addresses: [] },
      adapterIds: [],
      parallelPerAdapter: 4,
      // The engine's own reconnects off: a dropped link fails the job, and the campaign retries it.
      options: { prn: 0, mtu: 0, retries: 0, buttonless: 0, disableResume: false, skipIfFirmwareRevision: '', scanTimeout: undefined, requestTimeout: undefined },
      retry: { maxAttempts: 3, delay: { seconds: 2, nanos: 0 } },
      maxDevices: 30,
      duration: undefined,
      includeBootloaders: true,
      labels: { line: '3', work_order: 'WO-7' },
      name: 'line 3',
    });
    const id = started.campaign?.campaignId ?? '';
    assert.notEqual(id, '');
    assert.deepEqual(started.campaign?.adapterIds, ['sim0', 'sim1']);

    // A client watches for a while, then goes away (its stream aborted), as a line PC rebooting would.
    const away = new AbortController();
    const early = await watchUntil(client, id, (e) => (e.counts?.succeeded ?? 0) >= 3, away.signal);
    away.abort();
    assert.equal(early[0]?.kind?.$case, 'snapshot');

    // Another client comes back and follows it to its end.
    const other = line.served.newClient();
    const final = await watchToEnd(other, id);
    assert.equal(final.state, CampaignState.CAMPAIGN_STATE_ENDED);
    assert.equal(final.stopReason, CampaignStopReason.CAMPAIGN_STOP_REASON_MAX_DEVICES);
    const c = final.counts;
    assert.deepEqual(
      { found: c?.found, succeeded: c?.succeeded, upToDate: c?.upToDate, failed: c?.failed, notDone: c?.notDone },
      { found: 30, succeeded: 24, upToDate: 5, failed: 1, notDone: 0 },
    );
    assert.equal(c?.jobs, 30 + DROPPED.length, 'one retry per dropped link, none for the refusals');

    // The same state for a client that asks again, by GetCampaign and by a fresh WatchCampaign's snapshot.
    const got = (await other.getCampaign({ campaignId: id })).campaign;
    assert.deepEqual(got?.counts, final.counts);
    const again = await watchUntil(other, id, ended, AbortSignal.timeout(10_000));
    assert.deepEqual(again.map((e) => e.kind?.$case), ['snapshot', 'ended']);
    const snap = again[0]?.kind?.$case === 'snapshot' ? again[0].kind.snapshot : undefined;
    assert.deepEqual(snap?.devices, final.devices);

    const states = stateByDevice(final);
    const jobs = (await other.listJobs({ activeOnly: false, campaignId: id })).jobs;
    assert.equal(jobs.length, c?.jobs);
    for (const [i, view] of world.devices.entries()) {
      const label = `${view.label} (${i})`;
      const mine = jobs.filter((j) => j.deviceAddress?.value === view.address.value || j.target?.selector?.$case === 'address' && [view.address.value, view.currentAddress().value].includes(j.target.selector.address.value));
      if (i === 30) {
        assert.equal(mine.length, 0, 'the bystander was never touched');
        continue;
      }
      const updated = mine.filter((j) => j.state === JobState.JOB_STATE_SUCCEEDED);
      if (i < 23 || i === 29) {
        assert.equal(updated.length, 1, `${label}: updated exactly once`);
        assert.equal(view.firmwareRevision(), NEW_REVISION, `${label} runs the new application`);
        assert.equal(mine.length, DROPPED.includes(i) ? 2 : 1, `${label}: jobs`);
      } else if (i < 28) {
        assert.equal(mine.length, 1, `${label}: one job`);
        assert.equal(mine[0]?.state, JobState.JOB_STATE_UP_TO_DATE, label);
      } else {
        assert.equal(mine.length, 1, `${label}: not retried`);
        assert.equal(mine[0]?.state, JobState.JOB_STATE_FAILED, label);
      }
    }
    // Stranded units were found in their bootloader, and counted as one device each.
    const stranded = final.devices.filter((d) => d.foundInBootloader);
    assert.equal(stranded.length, 3);
    for (const d of stranded) assert.equal(d.state, CampaignDeviceState.CAMPAIGN_DEVICE_STATE_SUCCEEDED);
    const wrong = final.devices.find((d) => d.address?.value === world.devices[28]?.address.value);
    assert.equal(wrong?.state, CampaignDeviceState.CAMPAIGN_DEVICE_STATE_FAILED);
    assert.equal(wrong?.lastError?.reason, 'DFU_REMOTE_ERROR');
    assert.ok(wrong?.lastError?.dfuResultName !== '', 'the device error names its result code');
    assert.equal([...states.values()].filter((s) => s === CampaignDeviceState.CAMPAIGN_DEVICE_STATE_UP_TO_DATE).length, 5);
    const serials = final.devices.filter((d) => d.deviceInfo?.serialNumber !== undefined && d.deviceInfo.serialNumber !== '');
    assert.ok(serials.length >= 20, 'the Device Information read by the jobs is on the campaign devices');
    // Both adapters did work.
    assert.deepEqual(new Set(jobs.map((j) => j.adapterId)), new Set(['sim0', 'sim1']));

    // The audit: one start/end pair per job, each with the labels and the campaign.
    const records = (await other.listAuditRecords({ deviceAddress: '', since: undefined, result: AuditResult.AUDIT_RESULT_UNSPECIFIED, pageSize: 1000, pageToken: '', labels: {}, targetName: '', campaignId: id })).records;
    assert.equal(records.length, jobs.length);
    assert.deepEqual(new Set(records.map((r) => r.jobId)), new Set(jobs.map((j) => j.jobId)));
    for (const r of records) {
      assert.notEqual(r.result, AuditResult.AUDIT_RESULT_RUNNING, `${r.jobId} has its end record`);
      assert.deepEqual(r.labels, { line: '3', work_order: 'WO-7' });
      assert.equal(r.campaignId, id);
    }
    for (const j of jobs) {
      assert.equal(j.campaignId, id);
      assert.deepEqual(j.labels, { line: '3', work_order: 'WO-7' });
    }
  });
});

describe('campaign stop conditions and refusals (simulator)', () => {
  let line: Line;
  before(async () => {
    line = await startLine([{}, {}, {}, {}], 1, { maxConcurrentDfus: 4 });
  });
  after(async () => {
    await line?.close();
  });

  const request = (over: Record<string, unknown> = {}) => ({
    package: { $case: 'packageData' as const, packageData: Buffer.from(APP.zip) },
    filter: { name: '', namePrefix: 'bledfu-sim-', serviceUuid: '', manufacturerDataPrefix: Buffer.alloc(0), addresses: [] },
    adapterIds: [],
    parallelPerAdapter: 1,
    options: undefined,
    retry: undefined,
    maxDevices: 0,
    duration: undefined,
    includeBootloaders: false,
    labels: {},
    name: '',
    ...over,
  });

  it('ends DURATION after its duration on the modelled clock', { timeout: 60_000 }, async () => {
    const { client } = line;
    const started = (await client.startCampaign(request({ filter: { ...request().filter, namePrefix: 'nobody-' }, duration: { seconds: 60, nanos: 0 } }))).campaign;
    const final = await watchToEnd(client, started?.campaignId ?? '');
    assert.equal(final.stopReason, CampaignStopReason.CAMPAIGN_STOP_REASON_DURATION);
    assert.equal((final.endedAt?.getTime() ?? 0) - (final.createdAt?.getTime() ?? 0), 60_000);
    assert.equal(final.counts?.found, 0);
  });

  it('max_devices: takes that many, updates them, ends MAX_DEVICES', { timeout: 60_000 }, async () => {
    const { client } = line;
    const started = (await client.startCampaign(request({ maxDevices: 2, parallelPerAdapter: 2 }))).campaign;
    const final = await watchToEnd(client, started?.campaignId ?? '');
    assert.equal(final.stopReason, CampaignStopReason.CAMPAIGN_STOP_REASON_MAX_DEVICES);
    assert.equal(final.counts?.found, 2);
    assert.equal(final.counts?.succeeded, 2);
  });

  it('StopCampaign lets the running job finish and gives up the waiting devices; with cancel_jobs it cancels the job', { timeout: 60_000 }, async () => {
    const { client } = line;
    const first = (await client.startCampaign(request())).campaign;
    const id = first?.campaignId ?? '';
    await watchUntil(client, id, (e) => (e.counts?.running ?? 0) === 1 && (e.counts?.waiting ?? 0) >= 1, AbortSignal.timeout(30_000));
    const stopped = (await client.stopCampaign({ campaignId: id, cancelJobs: false })).campaign;
    assert.equal(stopped?.state, CampaignState.CAMPAIGN_STATE_STOPPING);
    assert.equal(stopped?.stopReason, CampaignStopReason.CAMPAIGN_STOP_REASON_STOPPED);
    const final = await watchToEnd(client, id);
    assert.equal(final.counts?.succeeded, 1, 'the running job ran to its end');
    assert.ok((final.counts?.notDone ?? 0) >= 1, 'the waiting devices were given up');
    assert.equal(final.counts?.jobs, 1);

    const second = (await client.startCampaign(request())).campaign;
    const id2 = second?.campaignId ?? '';
    await watchUntil(client, id2, (e) => (e.counts?.running ?? 0) === 1, AbortSignal.timeout(30_000));
    await client.stopCampaign({ campaignId: id2, cancelJobs: true });
    const final2 = await watchToEnd(client, id2);
    assert.equal(final2.counts?.succeeded, 0);
    assert.equal(final2.counts?.notDone, final2.counts?.found);
    const job = (await client.listJobs({ activeOnly: false, campaignId: id2 })).jobs[0];
    assert.equal(job?.state, JobState.JOB_STATE_CANCELLED);

    const listed = (await client.listCampaigns({ activeOnly: false })).campaigns;
    assert.ok(listed.some((c) => c.campaignId === id2 && c.devices.length === 0 && c.state === CampaignState.CAMPAIGN_STATE_ENDED));
    assert.equal((await client.listCampaigns({ activeOnly: true })).campaigns.length, 0);
  });

  it('CAMPAIGN_NOT_FOUND for an unknown id, and INVALID_ARGUMENT for bad requests, before anything starts', { timeout: 30_000 }, async () => {
    const { client } = line;
    for (const call of [
      () => client.getCampaign({ campaignId: 'no-such-campaign' }),
      () => client.stopCampaign({ campaignId: 'no-such-campaign', cancelJobs: false }),
      () => watchUntil(client, 'no-such-campaign', () => true),
    ]) {
      await assert.rejects(call(), (e: unknown) => decodeError(e).code === 'CAMPAIGN_NOT_FOUND' && decodeError(e).grpcCode === Status.NOT_FOUND);
    }
    const bad: Record<string, unknown>[] = [
      { filter: undefined },
      { filter: { ...request().filter, namePrefix: '' } },
      { parallelPerAdapter: 65 },
      { maxDevices: 100_001 },
      { duration: { seconds: 8 * 86_400, nanos: 0 } },
      { duration: { seconds: -1, nanos: 0 } },
      { retry: { maxAttempts: 0, delay: undefined } },
      { retry: { maxAttempts: 21, delay: undefined } },
      { retry: { maxAttempts: 3, delay: { seconds: 3_601, nanos: 0 } } },
      { filter: { ...request().filter, addresses: ['not an address'] } },
      { filter: { ...request().filter, addresses: Array.from({ length: 1025 }, () => 'F0:00:00:00:00:01') } },
      { filter: { ...request().filter, manufacturerId: 89, manufacturerDataPrefix: Buffer.alloc(28) } },
      { filter: { ...request().filter, manufacturerId: 70_000 } },
      { filter: { ...request().filter, minRssi: -200 } },
      { adapterIds: Array.from({ length: 17 }, (_, i) => `a${i}`) },
      { labels: { 'bad key': 'x' } },
      { name: 'n'.repeat(129) },
      { options: { prn: 0, mtu: 5, retries: undefined, buttonless: 0, disableResume: false, skipIfFirmwareRevision: '', scanTimeout: undefined, requestTimeout: undefined } },
      { package: undefined },
    ];
    for (const over of bad) {
      await assert.rejects(client.startCampaign(request(over)), (e: unknown) => decodeError(e).code === 'INVALID_ARGUMENT', JSON.stringify(Object.keys(over)));
    }
    await assert.rejects(client.startCampaign(request({ adapterIds: ['nope'] })), (e: unknown) => decodeError(e).code === 'ADAPTER_NOT_FOUND');
    assert.equal((await client.listCampaigns({ activeOnly: true })).campaigns.length, 0, 'nothing was started');
  });
});

describe('campaign and server shutdown (simulator)', () => {
  it('the server stopping ends its campaign SERVER_SHUTDOWN, the device whose job it cancelled NOT_DONE', { timeout: 60_000 }, async () => {
    const line = await startLine([{}, {}], 1, { maxConcurrentDfus: 1 });
    try {
      const started = await line.client.startCampaign({
        package: { $case: 'packageData', packageData: Buffer.from(APP.zip) },
        filter: { name: '', namePrefix: 'bledfu-sim-', serviceUuid: '', manufacturerDataPrefix: Buffer.alloc(0), addresses: [] },
        adapterIds: [],
        parallelPerAdapter: 1,
        options: undefined,
        retry: undefined,
        maxDevices: 0,
        duration: undefined,
        includeBootloaders: false,
        labels: {},
        name: '',
      });
      const id = started.campaign?.campaignId ?? '';
      await watchUntil(line.client, id, (e) => (e.counts?.running ?? 0) === 1, AbortSignal.timeout(30_000));
      await line.served.close();
      const after = line.served.app.campaigns.get(id);
      assert.equal(after.state, 'ended');
      assert.equal(after.stopReason, 'server-shutdown');
      assert.equal(after.counts.succeeded + after.counts.notDone, after.counts.found);
      assert.ok(after.counts.notDone >= 1, 'the waiting device, and the one whose job was cancelled unless it had just finished');
      assert.throws(() => line.served.app.campaigns.start({ spec: after.spec, package: { pkg: { images: [], sha256: '', size: 0 }, sha256: '', leaseForJob: () => ({ pkg: { images: [], sha256: '', size: 0 }, release: () => {} }), release: () => {} } }), /shutting down/);
    } finally {
      await line.close();
    }
  });
});
