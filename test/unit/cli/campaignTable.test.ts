/** The campaign's live table and its plain lines (campaignTable.ts), and the display that feeds them (campaignDisplay.ts). */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import {
  Campaign,
  CampaignCounts,
  CampaignDevice,
  CampaignDeviceState,
  CampaignState,
  CampaignStopReason,
  type CampaignWatchEvent,
} from '../../../clients/ts/index.js';
import { CampaignDisplay } from '../../../clients/cli/campaignDisplay.js';
import { countsText, deviceEventLine, formatElapsed, renderCampaignTable, truncate, type CampaignView } from '../../../clients/cli/campaignTable.js';
import { Output } from '../../../clients/cli/output.js';
import { ErrorDetail } from '../../../proto/gen/bledfu/v1/common.js';

const S = CampaignDeviceState;

function device(n: number, state: CampaignDeviceState, over: Partial<CampaignDevice> = {}): CampaignDevice {
  return CampaignDevice.fromPartial({
    address: { value: `AA:BB:CC:DD:EE:${String(n).padStart(2, '0')}` },
    name: `SENSOR-${n}`,
    state,
    jobIds: state === S.CAMPAIGN_DEVICE_STATE_WAITING ? [] : [`job${n}-0000-1111-2222`],
    adapterId: 'sim0',
    rssi: -50,
    ...over,
  });
}

const counts = CampaignCounts.fromPartial({ found: 5, waiting: 1, running: 1, retryWait: 0, succeeded: 1, upToDate: 1, failed: 1, notDone: 0, jobs: 5 });
const campaign = Campaign.fromPartial({ campaignId: 'c0ffee00-1111-2222-3333-444455556666', name: 'line 3', state: CampaignState.CAMPAIGN_STATE_RUNNING });

const devices = [
  device(1, S.CAMPAIGN_DEVICE_STATE_SUCCEEDED, { firmwareRevision: 'app 2.0.0' }),
  device(2, S.CAMPAIGN_DEVICE_STATE_UP_TO_DATE),
  device(3, S.CAMPAIGN_DEVICE_STATE_FAILED, { jobIds: ['a', 'b', 'job3-last'], lastError: ErrorDetail.fromPartial({ reason: 'DFU_REMOTE_ERROR', message: 'the device refused the signature' }) }),
  device(4, S.CAMPAIGN_DEVICE_STATE_RUNNING),
  device(5, S.CAMPAIGN_DEVICE_STATE_WAITING),
];

const view = (over: Partial<CampaignView> = {}): CampaignView => ({ campaign, counts, devices, elapsedMs: 75_000, ...over });

/** Cells of a row split on runs of 2+ spaces (the table's column gap). */
const cells = (line: string | undefined): string[] => (line ?? '').trim().split(/ {2,}/);

describe('the campaign live table', () => {
  it('has a title (id, name, state, time), the counts, column heads, and one row per device in the order found', () => {
    const lines = renderCampaignTable(view(), 120);
    assert.equal(lines[0], 'campaign c0ffee00-1111-2222-3333-444455556666 "line 3"  RUNNING  01:15');
    assert.equal(lines[1], 'found 5  waiting 1  running 1  retry 0  done 1  up to date 1  failed 1  not done 0');
    assert.deepEqual(cells(lines[2]), ['ADDRESS', 'NAME', 'STATE', 'TRIES', 'JOB@ADAPTER', 'FIRMWARE / ERROR']);
    assert.equal(lines.length, 3 + devices.length);
    assert.deepEqual(cells(lines[3]), ['AA:BB:CC:DD:EE:01', 'SENSOR-1', 'SUCCEEDED', '1', 'job1-000@sim0', 'app 2.0.0']);
    assert.deepEqual(cells(lines[4]), ['AA:BB:CC:DD:EE:02', 'SENSOR-2', 'UP_TO_DATE', '1', 'job2-000@sim0']);
    assert.deepEqual(cells(lines[5]), ['AA:BB:CC:DD:EE:03', 'SENSOR-3', 'FAILED', '3', 'job3-las@sim0', 'DFU_REMOTE_ERROR: the device refused the signature']);
    assert.deepEqual(cells(lines[6]), ['AA:BB:CC:DD:EE:04', 'SENSOR-4', 'RUNNING', '1', 'job4-000@sim0']);
    assert.deepEqual(cells(lines[7]), ['AA:BB:CC:DD:EE:05', 'SENSOR-5', 'WAITING', '0', '-@sim0']);
  });

  it('lines its columns up: every row has its state and tries at the heads\' columns', () => {
    const lines = renderCampaignTable(view(), 120);
    const head = lines[2] ?? '';
    for (const row of lines.slice(3)) {
      assert.equal(row.indexOf('  ', 17), head.indexOf('  ', 17), `name column ends where the head's does: ${row}`);
      const state = head.indexOf('STATE');
      assert.match(row.slice(state), /^(SUCCEEDED|UP_TO_DATE|FAILED|RUNNING|WAITING)\b/);
    }
  });

  it('never reaches the last column, at any width: the outcome goes first, then the job, then names shrink', () => {
    for (const columns of [40, 60, 72, 80, 100, 132, 200]) {
      for (const line of renderCampaignTable(view(), columns)) assert.ok(line.length <= columns - 1, `${columns} columns: ${JSON.stringify(line)}`);
    }
    const at80 = renderCampaignTable(view(), 80);
    assert.ok(at80[5]?.includes('DFU_REMOTE_ERR'), 'at 80 columns the error is shown (shortened)');
    assert.equal(at80[1], 'found 5  waiting 1  running 1  done 1  up to date 1  failed 1', 'counts of no device give way first');
    assert.ok(at80[5]?.endsWith('\u2026'), `shortened with …: ${at80[5]}`);
    const at60 = renderCampaignTable(view(), 60);
    assert.ok(!at60.slice(2).some((l) => l.includes('DFU_REMOTE_ERROR') || l.includes('@sim0')), 'at 60: no outcome, no job column');
    assert.match(at60[5] ?? '', /^AA:BB:CC:DD:EE:03 {2}SENSOR-3 {2}FAILED/);
  });

  it('cuts a long name with … to its column, keeping the row\'s other cells', () => {
    const long = device(9, S.CAMPAIGN_DEVICE_STATE_RUNNING, { name: 'SENSOR-WITH-A-VERY-LONG-ADVERTISED-NAME-0042' });
    const lines = renderCampaignTable(view({ devices: [long] }), 100);
    const row = cells(lines[3]);
    assert.equal(row[1], 'SENSOR-WITH-A-VERY-LONG\u2026');
    assert.equal(row[1]?.length, 24);
    assert.equal(row[2], 'RUNNING');
    assert.equal(truncate('abcdef', 4), 'abc\u2026');
    assert.equal(truncate('abc', 4), 'abc');
  });

  it('fits a short terminal: devices at work first, then the latest found, and a line saying how many are left out', () => {
    const many = [
      ...Array.from({ length: 10 }, (_, i) => device(i + 1, S.CAMPAIGN_DEVICE_STATE_SUCCEEDED)),
      device(11, S.CAMPAIGN_DEVICE_STATE_RUNNING),
      device(12, S.CAMPAIGN_DEVICE_STATE_SUCCEEDED),
    ];
    const lines = renderCampaignTable(view({ devices: many }), 100, 10);
    assert.ok(lines.length <= 9, `below the terminal's 10 rows: ${lines.length}`);
    const shown = lines.slice(3, -1).map((l) => cells(l)[1]);
    assert.ok(shown.includes('SENSOR-11'), 'the running device is shown');
    assert.ok(shown.includes('SENSOR-12'), 'the latest found is shown');
    assert.ok(!shown.includes('SENSOR-1'), 'the oldest ended one gives way');
    assert.deepEqual(shown, [...shown].sort((a, b) => Number(a?.slice(7)) - Number(b?.slice(7))), 'in the order found');
    assert.match(lines.at(-1) ?? '', new RegExp(`^\u2026 ${12 - shown.length} more devices \\(bledfu campaign show c0ffee00`));
  });

  it('says when nothing was found yet; a stopped campaign names why; hours show once there are any', () => {
    const stopping = Campaign.fromPartial({ ...campaign, state: CampaignState.CAMPAIGN_STATE_STOPPING, stopReason: CampaignStopReason.CAMPAIGN_STOP_REASON_MAX_DEVICES });
    const lines = renderCampaignTable(view({ campaign: stopping, devices: [], elapsedMs: 3_723_000 }), 100);
    assert.equal(lines[0], 'campaign c0ffee00-1111-2222-3333-444455556666 "line 3"  STOPPING (MAX_DEVICES)  1:02:03');
    assert.equal(lines.at(-1), '(no device found yet)');
    assert.equal(formatElapsed(59_999), '00:59');
  });

  it('says when the campaign reached its device limit and takes no new devices', () => {
    const full = Campaign.fromPartial({ ...campaign, deviceLimitReached: true });
    assert.equal(renderCampaignTable(view({ campaign: full }), 200)[0], 'campaign c0ffee00-1111-2222-3333-444455556666 "line 3"  RUNNING  01:15  device limit reached: no new devices taken (start another campaign)');
    assert.doesNotMatch(renderCampaignTable(view(), 200)[0] ?? '', /limit/);
    assert.match(deviceEventLine(devices[0] as CampaignDevice, counts), /^AA:BB:CC:DD:EE:01 SENSOR-1 SUCCEEDED/);
  });
});

describe('the campaign without a terminal', () => {
  it('prints one line per device event: address, name, state, attempt and job, outcome, counts', () => {
    assert.equal(
      deviceEventLine(devices[2] as CampaignDevice, counts),
      `AA:BB:CC:DD:EE:03 SENSOR-3 FAILED attempt 3 job job3-las@sim0 DFU_REMOTE_ERROR: the device refused the signature | ${countsText(counts)}`,
    );
    assert.equal(deviceEventLine(devices[4] as CampaignDevice, counts), `AA:BB:CC:DD:EE:05 SENSOR-5 WAITING | ${countsText(counts)}`);
  });

  function display(tty: boolean, json = false): { display: CampaignDisplay; text: () => string } {
    const stdout = Object.assign(new PassThrough(), { isTTY: tty, columns: 100, rows: 40 });
    const stderr = new PassThrough();
    let text = '';
    stdout.on('data', (d: Buffer) => (text += d.toString()));
    const out = new Output({ stdout, stderr }, json);
    return { display: new CampaignDisplay(out, () => 0), text: () => text };
  }

  const events: CampaignWatchEvent[] = [
    { type: 'snapshot', campaignId: campaign.campaignId, time: undefined, counts: CampaignCounts.fromPartial({ found: 1, waiting: 1 }), campaign: { ...campaign, devices: [device(5, S.CAMPAIGN_DEVICE_STATE_WAITING)] } },
    { type: 'device', campaignId: campaign.campaignId, time: undefined, counts: CampaignCounts.fromPartial({ found: 1, running: 1, jobs: 1 }), device: device(5, S.CAMPAIGN_DEVICE_STATE_RUNNING) },
    { type: 'device', campaignId: campaign.campaignId, time: undefined, counts: CampaignCounts.fromPartial({ found: 1, succeeded: 1, jobs: 1 }), device: device(5, S.CAMPAIGN_DEVICE_STATE_SUCCEEDED, { firmwareRevision: 'v2' }) },
    { type: 'ended', campaignId: campaign.campaignId, time: undefined, counts: CampaignCounts.fromPartial({ found: 1, succeeded: 1, jobs: 1 }), campaign: { ...campaign, state: CampaignState.CAMPAIGN_STATE_ENDED } },
  ];

  it('a log gets the snapshot\'s devices and a line per change, and no terminal control codes', () => {
    const d = display(false);
    for (const e of events) d.display.show(e);
    const lines = d.text().trimEnd().split('\n');
    assert.equal(lines.length, 5, d.text());
    assert.match(lines[1] ?? '', /^AA:BB:CC:DD:EE:05 SENSOR-5 WAITING \|/);
    assert.match(lines[2] ?? '', /^AA:BB:CC:DD:EE:05 SENSOR-5 RUNNING attempt 1/);
    assert.match(lines[3] ?? '', /SUCCEEDED attempt 1 job job5-000@sim0 firmware v2 \| found 1 /);
    assert.match(lines[4] ?? '', /^campaign c0ffee00.* ENDED .*done 1/);
    assert.ok(!d.text().includes('\x1b'), 'no escape codes in a log');
  });

  it('a terminal gets the table redrawn in place (one row per device, however many events), and the last table stays', () => {
    const d = display(true);
    for (const e of events) d.display.show(e);
    const text = d.text();
    // Redraws go back up over the previous table (cursor up, erase down) rather than adding lines.
    assert.ok(text.includes('\x1b[') && /\x1b\[\d+A\x1b\[J/.test(text), 'redrawn in place');
    const final = text.slice(text.lastIndexOf('\x1b[J') + 3).split('\n').filter((l) => l.trim() !== '');
    assert.match(final[0] ?? '', /ENDED/);
    assert.equal(final.filter((l) => l.startsWith('AA:BB:CC:DD:EE:05')).length, 1, 'one row for the device');
    assert.match(final.find((l) => l.startsWith('AA:BB')) ?? '', /SUCCEEDED +1 +job5-000@sim0 +v2$/);
  });

  it('--json: one record per event, of the documented types', () => {
    const d = display(false, true);
    for (const e of events) d.display.show(e);
    const records = d.text().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(records.map((r) => r['type']), ['campaignSnapshot', 'campaignDevice', 'campaignDevice', 'campaignEnded']);
    assert.deepEqual((records[2]?.['device'] as Record<string, unknown>)['state'], 'CAMPAIGN_DEVICE_STATE_SUCCEEDED');
    assert.deepEqual(records[2]?.['counts'], { found: 1, succeeded: 1, jobs: 1 });
  });
});
