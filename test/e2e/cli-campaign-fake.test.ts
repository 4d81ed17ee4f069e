/**
 * `bledfu campaign …`, `jobs list --campaign` and `audit --campaign` against a FAKE server
 * (test/helpers/fake-campaign-server.ts: scripted campaigns, no radio): what the CLI sends, what
 * it prints, its exit code for each way a campaign ends, and Ctrl-C. The real server is exercised
 * by cli-campaign-sim.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EXIT } from '../../clients/cli/exitCodes.js';
import { Campaign, CampaignDevice, CampaignDeviceState, CampaignState, CampaignStopReason, type CampaignEvent } from '../../proto/gen/bledfu/v1/campaign.js';
import { ErrorDetail } from '../../proto/gen/bledfu/v1/common.js';
import { cliInProcess, type InProcessRun } from '../helpers/cli-in-process.js';
import { countsOf, startFakeCampaignServer, type FakeCampaignServer } from '../helpers/fake-campaign-server.js';

const S = CampaignDeviceState;
const PACKAGE = new Uint8Array(300_000).fill(7);
const T0 = new Date('2026-12-07T10:00:00Z');
const at = (s: number): Date => new Date(T0.getTime() + s * 1000);

function dev(n: number, state: CampaignDeviceState, over: Partial<CampaignDevice> = {}): CampaignDevice {
  return CampaignDevice.fromPartial({
    address: { value: `AA:BB:CC:DD:EE:0${n}` },
    name: `SENSOR-${n}`,
    state,
    jobIds: state === S.CAMPAIGN_DEVICE_STATE_WAITING ? [] : [`job-${n}`],
    adapterId: 'sim0',
    ...over,
  });
}

function campaign(id: string, state: CampaignState, devices: CampaignDevice[] = [], over: Partial<Campaign> = {}): Campaign {
  return Campaign.fromPartial({ campaignId: id, name: 'line 3', state, createdAt: T0, adapterIds: ['sim0'], counts: countsOf(devices.map((d) => d.state)), devices, ...over });
}

/** snapshot (empty), each device change, then ended with `final`. */
function script(id: string, changes: CampaignDevice[], final: CampaignDevice[], stopReason = CampaignStopReason.CAMPAIGN_STOP_REASON_MAX_DEVICES): CampaignEvent[] {
  const seen = new Map<string, CampaignDevice>();
  const events: CampaignEvent[] = [{ campaignId: id, time: T0, kind: { $case: 'snapshot', snapshot: campaign(id, CampaignState.CAMPAIGN_STATE_RUNNING) }, counts: countsOf([]) }];
  changes.forEach((d, i) => {
    seen.set(d.address?.value ?? '', d);
    events.push({ campaignId: id, time: at(i + 1), kind: { $case: 'device', device: d }, counts: countsOf([...seen.values()].map((x) => x.state)) });
  });
  const ended = campaign(id, CampaignState.CAMPAIGN_STATE_ENDED, final, { stopReason, endedAt: at(changes.length + 1) });
  events.push({ campaignId: id, time: at(changes.length + 1), kind: { $case: 'ended', ended }, counts: ended.counts });
  return events;
}

const FAILED = ErrorDetail.fromPartial({ reason: 'DFU_REMOTE_ERROR', message: 'the device refused the init packet: INVALID_OBJECT (signature)' });

describe('bledfu campaign (against a fake server)', () => {
  let fake: FakeCampaignServer;
  const cli = (args: readonly string[], extra: Parameters<typeof cliInProcess>[2] = {}): Promise<InProcessRun> =>
    cliInProcess(['--server', fake.address, ...args], { BLEDFU_SERVER: '' }, { readFile: async () => PACKAGE, ...extra });

  before(async () => {
    fake = await startFakeCampaignServer();
    const ok = [dev(1, S.CAMPAIGN_DEVICE_STATE_SUCCEEDED, { firmwareRevision: 'app v2' }), dev(2, S.CAMPAIGN_DEVICE_STATE_UP_TO_DATE)];
    fake.campaigns.set('c-ok', {
      campaign: campaign('c-ok', CampaignState.CAMPAIGN_STATE_ENDED, ok),
      events: script('c-ok', [dev(1, S.CAMPAIGN_DEVICE_STATE_RUNNING), dev(2, S.CAMPAIGN_DEVICE_STATE_RUNNING), ...ok], ok),
    });
    const failed = [dev(1, S.CAMPAIGN_DEVICE_STATE_SUCCEEDED), dev(2, S.CAMPAIGN_DEVICE_STATE_FAILED, { lastError: FAILED, jobIds: ['j2a', 'j2b'] }), dev(3, S.CAMPAIGN_DEVICE_STATE_NOT_DONE)];
    fake.campaigns.set('c-failed', { campaign: campaign('c-failed', CampaignState.CAMPAIGN_STATE_ENDED, failed), events: script('c-failed', failed, failed) });
    const notDone = [dev(1, S.CAMPAIGN_DEVICE_STATE_SUCCEEDED), dev(2, S.CAMPAIGN_DEVICE_STATE_NOT_DONE)];
    fake.campaigns.set('c-stopped', {
      campaign: campaign('c-stopped', CampaignState.CAMPAIGN_STATE_ENDED, notDone),
      events: script('c-stopped', notDone, notDone, CampaignStopReason.CAMPAIGN_STOP_REASON_STOPPED),
    });
    const running = [dev(1, S.CAMPAIGN_DEVICE_STATE_RUNNING)];
    fake.campaigns.set('c-running', {
      campaign: campaign('c-running', CampaignState.CAMPAIGN_STATE_RUNNING, running),
      events: [{ campaignId: 'c-running', time: T0, kind: { $case: 'snapshot', snapshot: campaign('c-running', CampaignState.CAMPAIGN_STATE_RUNNING, running) }, counts: countsOf([2]) }],
      holdOpen: true,
    });
  });
  after(() => fake.close());

  it('start --json uploads the package, sends every flag as the request, and prints one record per event; all updated or up to date: exit 0', async () => {
    fake.startAs = 'c-ok';
    const r = await cli([
      '--json', 'campaign', 'start', 'app.zip',
      '--match', 'name-prefix=SENSOR-', '--match', 'min-rssi=-70', '--match', 'mfr=0x0059:01', '--match', 'service=FE59',
      '--adapter', 'sim0', '--adapter', 'sim1', '--parallel', '4', '--max-attempts', '2', '--retry-delay', '1.5s',
      '--max-devices', '40', '--for', '2h', '--include-bootloaders', '--label', 'work_order=WO-7', '--name', 'line 3',
      '--skip-if-firmware-revision', 'app v2', '--retries', '0', '--no-resume',
    ]);
    assert.equal(r.code, EXIT.ok, r.stdout + r.stderr);
    assert.deepEqual(fake.uploads.at(-1), PACKAGE.length, 'the package went by UploadPackage');
    const req = fake.starts.at(-1);
    assert.ok(req !== undefined);
    assert.deepEqual(req.package, { $case: 'packageId', packageId: `pkg-${fake.uploads.length}` });
    assert.equal(req.filter?.namePrefix, 'SENSOR-');
    assert.equal(req.filter?.minRssi, -70);
    assert.equal(req.filter?.manufacturerId, 0x59);
    assert.deepEqual([...(req.filter?.manufacturerDataPrefix ?? [])], [1]);
    assert.equal(req.filter?.serviceUuid, 'FE59');
    assert.deepEqual(req.adapterIds, ['sim0', 'sim1']);
    assert.equal(req.parallelPerAdapter, 4);
    assert.deepEqual(req.retry, { maxAttempts: 2, delay: { seconds: 1, nanos: 500_000_000 } });
    assert.equal(req.maxDevices, 40);
    assert.deepEqual(req.duration, { seconds: 7200, nanos: 0 });
    assert.equal(req.includeBootloaders, true);
    assert.deepEqual(req.labels, { work_order: 'WO-7' });
    assert.equal(req.name, 'line 3');
    assert.equal(req.options?.skipIfFirmwareRevision, 'app v2');
    assert.equal(req.options?.retries, 0);
    assert.equal(req.options?.disableResume, true);
    const types = r.records.map((x) => x['type']);
    assert.deepEqual(types, ['uploaded', 'campaign', 'campaignSnapshot', ...Array(4).fill('campaignDevice'), 'campaignEnded']);
    const last = r.records.at(-1) as { counts: Record<string, number>; campaign: { state: string; stopReason: string } };
    assert.deepEqual(last.counts, { found: 2, succeeded: 1, upToDate: 1, jobs: 2 });
    assert.equal(last.campaign.stopReason, 'CAMPAIGN_STOP_REASON_MAX_DEVICES');
  });

  it('a campaign that ended with a failed device exits 11 (error record CAMPAIGN_DEVICES_FAILED), without a terminal one line per device event', async () => {
    const json = await cli(['--json', 'campaign', 'watch', 'c-failed']);
    assert.equal(json.code, EXIT.campaignFailed);
    assert.equal(EXIT.campaignFailed, 11);
    const error = json.records.at(-1);
    assert.equal(error?.['type'], 'error');
    assert.equal(error?.['code'], 'CAMPAIGN_DEVICES_FAILED');
    assert.equal(error?.['exitCode'], 11);
    assert.match(String(error?.['remedy']), /bledfu campaign show c-failed/);
    const text = await cli(['campaign', 'watch', 'c-failed']);
    assert.equal(text.code, EXIT.campaignFailed);
    const lines = text.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^campaign c-failed "line 3"  RUNNING/);
    assert.match(lines[2] ?? '', /^AA:BB:CC:DD:EE:02 SENSOR-2 FAILED attempt 2 job j2b@sim0 DFU_REMOTE_ERROR: the device refused/);
    assert.match(lines.at(-1) ?? '', /ENDED \(MAX_DEVICES\)  00:04  found 3 .*done 1 .*failed 1 .*not done 1/);
    assert.match(text.stderr, /error: CAMPAIGN_DEVICES_FAILED: campaign c-failed ended with 1 of 3 devices failed/);
  });

  it('a campaign stopped before every device was done exits 12 (CAMPAIGN_NOT_DONE)', async () => {
    const r = await cli(['--json', 'campaign', 'watch', 'c-stopped']);
    assert.equal(r.code, EXIT.campaignNotDone);
    assert.equal(EXIT.campaignNotDone, 12);
    assert.equal(r.records.at(-1)?.['code'], 'CAMPAIGN_NOT_DONE');
    assert.match(String(r.records.at(-1)?.['message']), /\(STOPPED\) with 1 of 2 devices not done/);
  });

  it('start --detach prints the id and how to watch and stop it, exit 0, and never watches', async () => {
    fake.startAs = 'c-running';
    const aborted = fake.watchesAborted;
    const r = await cli(['campaign', 'start', 'app.zip', '--match', 'name=SENSOR-1', '--detach']);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.match(r.stdout, /campaign c-running started \("line 3"\) on sim0/);
    assert.match(r.stdout, /watch it with: bledfu campaign watch c-running; stop it with: bledfu campaign stop c-running/);
    assert.equal(fake.watchesAborted, aborted);
  });

  it('Ctrl-C while watching stops watching only: exit 130, says how to watch and stop it, the campaign is not stopped', async () => {
    const ctrlC = new AbortController();
    const stops = fake.stops.length;
    const r = await cli(['campaign', 'watch', 'c-running'], {
      interrupted: ctrlC.signal,
      // Pressed once the snapshot's device is shown.
      onStdout: (text) => {
        if (text.includes('AA:BB:CC:DD:EE:01') && !ctrlC.signal.aborted) ctrlC.abort();
      },
    });
    assert.equal(r.code, EXIT.interrupted);
    assert.match(r.stderr, /stopped watching; campaign c-running continues on the server \(watch it with: bledfu campaign watch c-running; stop it with: bledfu campaign stop c-running\)/);
    assert.equal(fake.stops.length, stops, 'StopCampaign was not called');
  });

  it('refuses a start without a filter before uploading anything (exit 2)', async () => {
    const uploads = fake.uploads.length;
    const r = await cli(['--json', 'campaign', 'start', 'app.zip', '--parallel', '4']);
    assert.equal(r.code, EXIT.usage);
    assert.match(String(r.records.at(-1)?.['message']), /a campaign needs a filter/);
    assert.equal(fake.uploads.length, uploads);
  });

  it('list, show and stop: a line per campaign, the devices table, stop of a running one (--cancel-jobs sent) and of an ended one (exit 9)', async () => {
    const list = await cli(['campaign', 'list', '--active']);
    assert.equal(list.code, EXIT.ok);
    assert.deepEqual(list.stdout.trimEnd().split('\n').map((l) => l.split(' ')[0]), ['c-running']);
    const all = await cli(['--json', 'campaign', 'list']);
    assert.equal(all.records.length, 4);
    assert.ok(all.records.every((x) => x['type'] === 'campaign'));

    const show = await cli(['campaign', 'show', 'c-failed']);
    assert.equal(show.code, EXIT.ok);
    assert.match(show.stdout, /^campaign c-failed "line 3"  ENDED/);
    assert.match(show.stdout, /\nADDRESS +NAME +STATE +TRIES +JOB@ADAPTER +FIRMWARE \/ ERROR\n/);
    // Piped, nothing is cut: the whole error is there.
    assert.match(show.stdout, /AA:BB:CC:DD:EE:02 +SENSOR-2 +FAILED +2 +j2b@sim0 +DFU_REMOTE_ERROR: the device refused the init packet: INVALID_OBJECT \(signature\)\n/);

    const stop = await cli(['campaign', 'stop', 'c-running', '--cancel-jobs']);
    assert.equal(stop.code, EXIT.ok, stop.stderr);
    assert.deepEqual(fake.stops.at(-1), { campaignId: 'c-running', cancelJobs: true });
    assert.match(stop.stdout, /stop requested: c-running +STOPPING\(STOPPED\).*its 1 running job\(s\) are being cancelled/);

    const again = await cli(['--json', 'campaign', 'stop', 'c-ok']);
    assert.equal(again.code, EXIT.alreadyEnded);
    assert.equal(again.records.at(-1)?.['code'], 'CAMPAIGN_ALREADY_ENDED');

    const unknown = await cli(['campaign', 'show', 'nope']);
    assert.equal(unknown.code, EXIT.notFound);
  });

  it('jobs list --campaign and audit --campaign ask the server for that campaign\'s jobs only', async () => {
    assert.equal((await cli(['jobs', 'list', '--campaign', 'c-ok'])).code, EXIT.ok);
    assert.equal(fake.listJobs.at(-1)?.campaignId, 'c-ok');
    assert.equal((await cli(['audit', '--campaign', 'c-ok', '--csv'])).code, EXIT.ok);
    assert.equal(fake.listAudit.at(-1)?.campaignId, 'c-ok');
  });
});
