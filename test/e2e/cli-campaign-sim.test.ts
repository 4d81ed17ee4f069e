/**
 * `bledfu campaign start … --json` against the REAL server on the accelerated simulator: four
 * matching units (two to update, one already up to date, one trusting another key) and a
 * bystander. The CLI's records follow the campaign to its end, its exit code says a device failed,
 * and the campaign's jobs are in `jobs list --campaign` and `audit --campaign --csv`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EXIT } from '../../clients/cli/exitCodes.js';
import { AuditLog } from '../../server/audit/log.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { projectFacts } from '../helpers/project-packages.js';
import { revisionOf, startSimServer, type SimServer } from '../helpers/sim-server.js';

const APP = await projectFacts('app');

describe('bledfu campaign start --json on the simulator (real server)', () => {
  let s: SimServer;
  let dir: string;
  let audit: AuditLog;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-cli-campaign-'));
    audit = AuditLog.open(join(dir, 'audit.jsonl')).log;
    s = await startSimServer(
      {
        devices: [
          {},
          {},
          // Already on this version; its release bootloader refuses it again.
          { debugBootloader: false, appVersion: APP.fwVersion, acceptSameAppVersion: false },
          // Trusts another signing key: refuses the package, and retrying cannot change that.
          { key: 'sdk17.0.2' },
          { name: 'bystander' },
        ],
      },
      { maxConcurrentDfus: 4 },
      { kind: 'hci' },
      { audit },
    );
  });

  after(async () => {
    await s?.close();
    audit?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('follows the campaign to its end: a record per event, exit 11 for the failed device; its jobs and audit lines carry the campaign', { timeout: 120_000 }, async () => {
    const cli = (args: readonly string[]) => cliInProcess(['--server', s.address, ...args], { BLEDFU_SERVER: '' }, { readFile: async () => APP.zip });
    const r = await cli(['--json', 'campaign', 'start', 'app.zip', '--match', 'name-prefix=bledfu-sim-', '--max-devices', '4', '--parallel', '2', '--max-attempts', '2', '--label', 'work_order=WO-9']);
    assert.equal(r.code, EXIT.campaignFailed, r.stdout + r.stderr);
    const types = r.records.map((x) => x['type'] as string);
    assert.deepEqual(types.slice(0, 3), ['uploaded', 'campaign', 'campaignSnapshot']);
    assert.deepEqual(types.slice(-2), ['campaignEnded', 'error']);
    assert.ok(types.filter((t) => t === 'campaignDevice').length >= 4 * 2, 'each device at least taken and ended');
    const id = (r.records[1]?.['campaign'] as { campaignId: string }).campaignId;
    const ended = r.records.at(-2) as { counts: Record<string, number>; campaign: { state: string; stopReason: string; devices: { name: string; state: string; firmwareRevision?: string }[] } };
    assert.deepEqual(ended.counts, { found: 4, succeeded: 2, upToDate: 1, failed: 1, jobs: 4 });
    assert.equal(ended.campaign.state, 'CAMPAIGN_STATE_ENDED');
    assert.equal(ended.campaign.stopReason, 'CAMPAIGN_STOP_REASON_MAX_DEVICES');
    assert.ok(!ended.campaign.devices.some((d) => d.name === 'bystander'));
    const updated = ended.campaign.devices.filter((d) => d.state === 'CAMPAIGN_DEVICE_STATE_SUCCEEDED');
    for (const d of updated) assert.equal(d.firmwareRevision, revisionOf(APP.fwVersion, APP.sha256), d.name);
    assert.equal(r.records.at(-1)?.['code'], 'CAMPAIGN_DEVICES_FAILED');
    // The devices really are: the two plain ones run the new application, the others do not.
    assert.equal(s.device(0).firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));
    assert.equal(s.device(1).firmwareRevision(), revisionOf(APP.fwVersion, APP.sha256));

    const jobs = await cli(['--json', 'jobs', 'list', '--campaign', id]);
    assert.equal(jobs.code, EXIT.ok);
    assert.equal(jobs.records.length, 4);
    for (const j of jobs.records) assert.equal((j['job'] as { campaignId: string }).campaignId, id);

    const csv = await cli(['audit', '--campaign', id, '--csv']);
    assert.equal(csv.code, EXIT.ok, csv.stderr);
    const [header, ...lines] = csv.stdout.trimEnd().split('\n');
    const columns = header?.split(',') ?? [];
    assert.equal(lines.length, 4, csv.stdout);
    for (const line of lines) {
      const cells = line.split(',');
      assert.equal(cells[columns.indexOf('campaign_id')], id);
      assert.equal(cells[columns.indexOf('label.work_order')], 'WO-9');
    }

    const show = await cli(['campaign', 'show', id]);
    assert.equal(show.code, EXIT.ok);
    assert.match(show.stdout, /ENDED \(MAX_DEVICES\)/);
    assert.match(show.stdout, /labels: work_order=WO-9/);
    assert.equal(show.stdout.split('\n').filter((l) => /^[0-9A-F]{2}(:[0-9A-F]{2}){5} /.test(l)).length, 4);
  });
});
