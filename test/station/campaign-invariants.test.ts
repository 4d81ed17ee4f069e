/**
 * The campaign-mode checker (server/station/campaignInvariants.ts) on forged histories: a clean
 * run passes every invariant, and each forged wrong — a board updated twice by one campaign, a
 * board taken twice, counts that do not add up, a wrong-key board retried past the policy, a job
 * without its audit end or labels, a re-watch that lost a job, a campaign ended otherwise than
 * planned, a link left open — is caught by its invariant and by no other.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addressPlus,
  CAMPAIGN_INVARIANT_NAMES,
  checkCampaignInvariants,
  type CampaignBoard,
  type CampaignDeviceView,
  type CampaignEvidence,
  type CampaignRunEvidence,
  countsOf,
} from '../../server/station/campaignInvariants.js';
import type { AuditLine } from '../../server/station/invariants.js';

const NEW = 'a'.repeat(64);
const OLD = 'b'.repeat(64);
const LABELS = { line: 'station', campaign: '1' };

const board = (label: string, address: string, expected: CampaignBoard['expected'], installs: readonly number[]): CampaignBoard => ({
  label,
  address,
  expected,
  validAppAtStart: true,
  final: { application: expected.kind === 'updated' ? NEW : OLD, applicationValid: true, mode: 'application', bootloaderVersion: 1 },
  activations: installs.map((atMs) => ({ atMs, sha256: NEW })),
});

const device = (address: string, state: CampaignDeviceView['state'], jobIds: readonly string[], error?: Partial<CampaignDeviceView>): CampaignDeviceView => ({
  address,
  foundInBootloader: false,
  state,
  jobIds,
  lastErrorCode: undefined,
  dfuResultName: undefined,
  dfuExtendedName: undefined,
  ...error,
});

/** Three boards, one campaign that updated one, found one up to date and one refusing the key (its bootloader found at address + 1). */
function cleanRun(): CampaignRunEvidence {
  const boards = [
    board('st-001', 'C0:00:00:00:00:01', { kind: 'updated', application: NEW, bootloaderVersion: undefined }, [40_000]),
    board('st-002', 'C0:00:00:00:00:03', { kind: 'upToDate', application: OLD }, []),
    board('st-003', 'C0:00:00:00:00:05', { kind: 'deviceError', code: 'DFU_REMOTE_ERROR', dfuResultName: 'INVALID_OBJECT', dfuExtendedName: undefined, application: OLD }, []),
  ];
  const devices = [
    device('C0:00:00:00:00:01', 'SUCCEEDED', ['job-1a', 'job-1b']),
    device('C0:00:00:00:00:03', 'UP_TO_DATE', ['job-2']),
    { ...device('C0:00:00:00:00:06', 'FAILED', ['job-3'], { lastErrorCode: 'DFU_REMOTE_ERROR', dfuResultName: 'INVALID_OBJECT' }), foundInBootloader: true },
  ];
  const jobs = devices.flatMap((d) => d.jobIds);
  const state: Record<string, string> = { 'job-1a': 'FAILED', 'job-1b': 'SUCCEEDED', 'job-2': 'UP_TO_DATE', 'job-3': 'FAILED' };
  const campaign: CampaignEvidence = {
    campaignId: 'camp-1',
    index: 1,
    startedAtMs: 0,
    endedAtMs: 60_000,
    expectedStop: 'MAX_DEVICES',
    maxAttempts: 3,
    labels: LABELS,
    final: { state: 'ENDED', stopReason: 'MAX_DEVICES', counts: countsOf(devices), devices },
    listedJobs: jobs.map((jobId) => ({ jobId, campaignId: 'camp-1', state: state[jobId] ?? '' })),
    auditRecords: jobs.map((jobId) => ({ jobId, campaignId: 'camp-1', labels: LABELS, result: state[jobId] ?? '' })),
    rewatches: [{ atMs: 20_000, seenBefore: new Map([['C0:00:00:00:00:01', ['job-1a']]]), snapshot: { state: 'RUNNING', stopReason: 'UNSPECIFIED', counts: countsOf(devices), devices } }],
  };
  const audit: AuditLine[] = jobs.flatMap((jobId) => [
    { type: 'start' as const, jobId, labels: LABELS },
    { type: 'end' as const, jobId, result: (state[jobId] ?? '').toLowerCase(), labels: LABELS },
  ]);
  return { boards, campaigns: [campaign], audit, activeJobsAtEnd: [], openLinksAtEnd: 0 };
}

function failing(e: CampaignRunEvidence): string[] {
  return checkCampaignInvariants(e)
    .filter((r) => !r.ok)
    .map((r) => r.name);
}

const withCampaign = (e: CampaignRunEvidence, change: (c: CampaignEvidence) => CampaignEvidence): CampaignRunEvidence => ({ ...e, campaigns: e.campaigns.map(change) });
const withFinalDevices = (c: CampaignEvidence, devices: readonly CampaignDeviceView[], counts = countsOf(devices)): CampaignEvidence => ({ ...c, final: c.final === undefined ? undefined : { ...c.final, devices, counts } });

describe('campaign-mode invariants on forged histories', () => {
  it('a clean run holds every invariant, each having checked something', () => {
    const results = checkCampaignInvariants(cleanRun());
    assert.deepEqual(results.filter((r) => !r.ok), []);
    assert.equal(results.length, Object.keys(CAMPAIGN_INVARIANT_NAMES).length);
    for (const r of results) assert.ok(r.checked > 0, `${r.name} checked nothing`);
  });

  it('a board updated twice by one campaign (two installs of the new application inside its window) is caught', () => {
    const e = cleanRun();
    const twice: CampaignRunEvidence = { ...e, boards: e.boards.map((b) => (b.label === 'st-001' ? { ...b, activations: [...b.activations, { atMs: 50_000, sha256: NEW }] } : b)) };
    assert.deepEqual(failing(twice), [CAMPAIGN_INVARIANT_NAMES.updatedOnce]);
    const r = checkCampaignInvariants(twice).find((x) => x.name === CAMPAIGN_INVARIANT_NAMES.updatedOnce);
    assert.match(r?.examples.join('\n') ?? '', /st-001: the new application was installed 2 times/);
    assert.match(r?.examples.join('\n') ?? '', /campaign 1 installed the new application 2 times/);
  });

  it('a board that reports SUCCEEDED but whose bootloader installed nothing is caught', () => {
    const e = cleanRun();
    const none: CampaignRunEvidence = { ...e, boards: e.boards.map((b) => (b.label === 'st-001' ? { ...b, activations: [] } : b)) };
    assert.deepEqual(failing(none), [CAMPAIGN_INVARIANT_NAMES.updatedOnce]);
  });

  it("an install a moment after the campaign's end (a job the server's stop ended SUCCEEDED after its final Execute) is that campaign's; a later one is not", () => {
    const e = cleanRun();
    const at = (atMs: number): CampaignRunEvidence => ({ ...e, boards: e.boards.map((b) => (b.label === 'st-001' ? { ...b, activations: [{ atMs, sha256: NEW }] } : b)) });
    assert.deepEqual(failing(at(60_400)), []);
    assert.deepEqual(failing(at(65_000)), [CAMPAIGN_INVARIANT_NAMES.updatedOnce]);
  });

  it('a board taken twice by one campaign (as its application and again in its bootloader) is caught', () => {
    const twice = withCampaign(cleanRun(), (c) => {
      const devices = [...(c.final?.devices ?? []), { ...device(addressPlus('C0:00:00:00:00:03', 1), 'UP_TO_DATE', []), foundInBootloader: true }];
      return withFinalDevices(c, devices);
    });
    assert.deepEqual(failing(twice), [CAMPAIGN_INVARIANT_NAMES.takenOnce]);
  });

  it('counts that do not add up, or a job ListJobs lists for no device of the campaign, are caught', () => {
    const counts = withCampaign(cleanRun(), (c) => withFinalDevices(c, c.final?.devices ?? [], { ...countsOf(c.final?.devices ?? []), succeeded: 2 }));
    assert.deepEqual(failing(counts), [CAMPAIGN_INVARIANT_NAMES.counts]);
    const stray = withCampaign(cleanRun(), (c) => ({ ...c, listedJobs: [...(c.listedJobs ?? []), { jobId: 'job-x', campaignId: 'camp-1', state: 'FAILED' }] }));
    assert.deepEqual(failing(stray), [CAMPAIGN_INVARIANT_NAMES.counts]);
  });

  it('a wrong-key board retried past max_attempts, or ending without its device error, is caught', () => {
    const retried = withCampaign(cleanRun(), (c) =>
      withFinalDevices(c, (c.final?.devices ?? []).map((d) => (d.state === 'FAILED' ? { ...d, jobIds: ['j1', 'j2', 'j3', 'j4'] } : d))),
    );
    assert.ok(failing(retried).includes(CAMPAIGN_INVARIANT_NAMES.deviceError));
    const otherError = withCampaign(cleanRun(), (c) => withFinalDevices(c, (c.final?.devices ?? []).map((d) => (d.state === 'FAILED' ? { ...d, lastErrorCode: 'LINK_LOST', dfuResultName: undefined } : d))));
    assert.deepEqual(failing(otherError), [CAMPAIGN_INVARIANT_NAMES.deviceError]);
  });

  it('a campaign job without its audit end, or whose records lack the campaign labels, is caught', () => {
    const e = cleanRun();
    const noEnd: CampaignRunEvidence = { ...e, audit: e.audit.filter((l) => !(l.jobId === 'job-2' && l.type === 'end')) };
    assert.deepEqual(failing(noEnd), [CAMPAIGN_INVARIANT_NAMES.audit]);
    const noLabels: CampaignRunEvidence = { ...e, audit: e.audit.map((l) => (l.jobId === 'job-3' ? { ...l, labels: {} } : l)) };
    assert.deepEqual(failing(noLabels), [CAMPAIGN_INVARIANT_NAMES.audit]);
    const otherCampaign = withCampaign(e, (c) => ({ ...c, auditRecords: c.auditRecords.map((r) => (r.jobId === 'job-2' ? { ...r, campaignId: 'camp-2' } : r)) }));
    assert.deepEqual(failing(otherCampaign), [CAMPAIGN_INVARIANT_NAMES.audit]);
  });

  it('a campaign that ended otherwise than planned, a job still running or a link left open is caught', () => {
    const stopped = withCampaign(cleanRun(), (c) => ({ ...c, expectedStop: 'STOPPED' }));
    assert.deepEqual(failing(stopped), [CAMPAIGN_INVARIANT_NAMES.ended]);
    assert.deepEqual(failing({ ...cleanRun(), openLinksAtEnd: 1 }), [CAMPAIGN_INVARIANT_NAMES.ended]);
    assert.deepEqual(failing({ ...cleanRun(), activeJobsAtEnd: ['job-9'] }), [CAMPAIGN_INVARIANT_NAMES.ended]);
  });

  it('a re-watch whose snapshot lost a device or one of its jobs is caught', () => {
    const lost = withCampaign(cleanRun(), (c) => ({
      ...c,
      rewatches: c.rewatches.map((r) => ({ ...r, seenBefore: new Map([['C0:00:00:00:00:01', ['job-0']], ['C0:00:00:00:00:07', []]]) })),
    }));
    const r = checkCampaignInvariants(lost).find((x) => x.name === CAMPAIGN_INVARIANT_NAMES.rewatch);
    assert.deepEqual(failing(lost), [CAMPAIGN_INVARIANT_NAMES.rewatch]);
    assert.equal(r?.violations, 2);
  });

  it('addressPlus carries across octets, upper case', () => {
    assert.equal(addressPlus('c0:00:00:00:00:ff', 1), 'C0:00:00:00:01:00');
    assert.equal(addressPlus('C0:00:00:00:01:00', -1), 'C0:00:00:00:00:FF');
  });
});
