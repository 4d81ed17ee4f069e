/**
 * What must hold at the end of a station run in campaign mode (campaignRun.ts), checked on plain
 * evidence — what each board's bootloader installed and holds, what the campaigns said at their end
 * (WatchCampaign's `ended` event and GetCampaign), the jobs ListJobs lists per campaign, the audit
 * log's lines and records — so the checker is tested on forged histories too (a board updated twice
 * by one campaign must be caught).
 */
import type { Expected } from './population.js';
import { formatClock, type AuditLine, type FinalBoardState, type InvariantResult } from './invariants.js';

/** CampaignDeviceState without its prefix, as the station reads it (UNSPECIFIED for unknown values). */
export type CampaignDeviceStateName = 'WAITING' | 'RUNNING' | 'RETRY_WAIT' | 'SUCCEEDED' | 'UP_TO_DATE' | 'FAILED' | 'NOT_DONE' | 'UNSPECIFIED';

/** States a campaign device never leaves. */
export const FINAL_CAMPAIGN_DEVICE_STATES: readonly CampaignDeviceStateName[] = ['SUCCEEDED', 'UP_TO_DATE', 'FAILED', 'NOT_DONE'];

/** One device of a campaign, as the campaign reported it. */
export interface CampaignDeviceView {
  /** Where the campaign first saw it ("AA:BB:CC:DD:EE:FF"): the board's application address, or its bootloader's (+ 1). */
  readonly address: string;
  readonly foundInBootloader: boolean;
  readonly state: CampaignDeviceStateName;
  readonly jobIds: readonly string[];
  /** Its last error's reason and device result names (undefined when none). */
  readonly lastErrorCode: string | undefined;
  readonly dfuResultName: string | undefined;
  readonly dfuExtendedName: string | undefined;
}

export interface CampaignCountsView {
  readonly found: number;
  readonly waiting: number;
  readonly running: number;
  readonly retryWait: number;
  readonly succeeded: number;
  readonly upToDate: number;
  readonly failed: number;
  readonly notDone: number;
  readonly jobs: number;
}

/** A campaign as the server reported it at one moment. */
export interface CampaignView {
  /** ENDED, RUNNING, … without the prefix. */
  readonly state: string;
  /** STOPPED, MAX_DEVICES, DURATION, SERVER_SHUTDOWN, or UNSPECIFIED while running. */
  readonly stopReason: string;
  readonly counts: CampaignCountsView;
  readonly devices: readonly CampaignDeviceView[];
}

/** A client that left WatchCampaign and came back: what it had seen, and the new stream's snapshot. */
export interface RewatchEvidence {
  readonly atMs: number;
  /** Per device address, the job ids the first stream had shown for it. */
  readonly seenBefore: ReadonlyMap<string, readonly string[]>;
  readonly snapshot: CampaignView;
}

/** One job ListJobs(campaign_id) returned at the end. */
export interface ListedJob {
  readonly jobId: string;
  readonly campaignId: string;
  /** JobState without its prefix (SUCCEEDED, UP_TO_DATE, FAILED, CANCELLED, …). */
  readonly state: string;
  /** Its error's reason and message (JobResult.error), for the report. */
  readonly errorCode?: string;
  readonly errorMessage?: string;
}

/** One AuditRecord ListAuditRecords(campaign_id) returned. */
export interface CampaignAuditRecord {
  readonly jobId: string;
  readonly campaignId: string;
  readonly labels: Readonly<Record<string, string>>;
  /** AuditResult without its prefix (SUCCEEDED, FAILED, INTERRUPTED, RUNNING, …). */
  readonly result: string;
}

/** Why the station expects a campaign to stop (its plan), and what the server said. */
export type ExpectedStop = 'STOPPED' | 'MAX_DEVICES' | 'SERVER_SHUTDOWN';

export interface CampaignEvidence {
  readonly campaignId: string;
  /** 1-based, in the order the station started them. */
  readonly index: number;
  /** Station clock: StartCampaign sent; its end seen (or the station's last look). */
  readonly startedAtMs: number;
  readonly endedAtMs: number;
  readonly expectedStop: ExpectedStop;
  /** Jobs per device at most, as started. */
  readonly maxAttempts: number;
  /** The labels the campaign was started with (every job must carry them). */
  readonly labels: Readonly<Record<string, string>>;
  /** The campaign at its end: the `ended` event, else GetCampaign; undefined if the station never saw it end. */
  readonly final: CampaignView | undefined;
  /** The jobs ListJobs lists for it (undefined: the server that ran it is gone, jobs are not kept across restarts). */
  readonly listedJobs: readonly ListedJob[] | undefined;
  /** Its records from ListAuditRecords(campaign_id). */
  readonly auditRecords: readonly CampaignAuditRecord[];
  readonly rewatches: readonly RewatchEvidence[];
}

/** A board of the population, with what its bootloader installed over the run. */
export interface CampaignBoard {
  readonly label: string;
  /** Its application address; its bootloader advertises at address + 1. */
  readonly address: string;
  readonly expected: Expected;
  /** false: it started stranded in its bootloader, with no valid application to keep. */
  readonly validAppAtStart: boolean;
  readonly final: FinalBoardState;
  /** Each application its bootloader installed (station clock, SHA-256), in order. */
  readonly activations: readonly { readonly atMs: number; readonly sha256: string }[];
}

export interface CampaignRunEvidence {
  readonly boards: readonly CampaignBoard[];
  readonly campaigns: readonly CampaignEvidence[];
  /** Every line of the audit log (start and end records). */
  readonly audit: readonly AuditLine[];
  /** ListJobs(active_only) at the end. */
  readonly activeJobsAtEnd: readonly string[];
  /** Links still open on the simulated air at the end, per adapter. */
  readonly openLinksAtEnd: number;
}

export const CAMPAIGN_INVARIANT_NAMES = {
  updatedOnce: 'every updatable device ends on the new firmware, installed exactly once, by the campaign that reports it SUCCEEDED',
  upToDate: 'up-to-date devices end UP_TO_DATE with their application kept, nothing installed',
  deviceError: 'wrong-key / wrong-SoftDevice devices end FAILED with their device error, not retried beyond the policy',
  takenOnce: 'each board is one device per campaign (application and bootloader together), finished by one campaign',
  counts: "campaign counts equal its devices' states and the jobs ListJobs lists with its campaign_id",
  audit: 'one audit start and end per campaign job, with the campaign id and its labels',
  ended: 'every campaign ended as planned, no job left running, no link left open',
  rewatch: 'a client that re-watches a campaign sees the state it left, moved on',
} as const;

const MAX_EXAMPLES = 5;

function result(name: string, checked: number, failures: readonly string[]): InvariantResult {
  return { name, ok: failures.length === 0, checked, violations: failures.length, examples: failures.slice(0, MAX_EXAMPLES) };
}

export function checkCampaignInvariants(e: CampaignRunEvidence): InvariantResult[] {
  return [checkUpdatedOnce(e), checkUpToDate(e), checkDeviceError(e), checkTakenOnce(e), checkCounts(e), checkCampaignAudit(e), checkEnded(e), checkRewatch(e)];
}

/** "AA:BB:CC:DD:EE:FF" plus `delta` on its last three octets (the bootloader's address is the application's + 1). */
export function addressPlus(address: string, delta: number): string {
  const octets = address.split(':');
  const low = Number.parseInt(octets.slice(3).join(''), 16) + delta;
  const hex = (low & 0xffffff).toString(16).toUpperCase().padStart(6, '0');
  return [...octets.slice(0, 3), hex.slice(0, 2), hex.slice(2, 4), hex.slice(4, 6)].join(':').toUpperCase();
}

/** The board a campaign device is: its application address, or its bootloader's. */
export function boardOf(boards: readonly CampaignBoard[], address: string): CampaignBoard | undefined {
  const a = address.toUpperCase();
  return boards.find((b) => b.address.toUpperCase() === a || addressPlus(b.address, 1) === a);
}

/** The devices of a campaign's final view that are this board. */
function entriesOf(c: CampaignEvidence, b: CampaignBoard): CampaignDeviceView[] {
  const app = b.address.toUpperCase();
  const bl = addressPlus(b.address, 1);
  return (c.final?.devices ?? []).filter((d) => d.address.toUpperCase() === app || d.address.toUpperCase() === bl);
}

/** The campaign whose final view has the board in a state other than NOT_DONE (the one that finished it), if any. */
function finisherOf(e: CampaignRunEvidence, b: CampaignBoard): { readonly campaign: CampaignEvidence; readonly device: CampaignDeviceView } | undefined {
  for (const c of e.campaigns) {
    const device = entriesOf(c, b).find((d) => d.state === 'SUCCEEDED' || d.state === 'UP_TO_DATE' || d.state === 'FAILED');
    if (device !== undefined) return { campaign: c, device };
  }
  return undefined;
}

const within = (c: CampaignEvidence, atMs: number): boolean => atMs >= c.startedAtMs && atMs <= c.endedAtMs;

/**
 * How long (modelled) after its campaign ended an install may still be that campaign's: a job the
 * server's stop cancels once its final Execute was answered ends SUCCEEDED at once (the final
 * look is skipped), while the bootloader writes its settings page and resets into the new
 * application a moment later — after the campaign's end was seen. A second campaign cannot start
 * in that time (the server is down for seconds).
 */
const ACTIVATION_AFTER_END_MS = 1_000;

const finishedBy = (c: CampaignEvidence, atMs: number): boolean => atMs >= c.startedAtMs && atMs <= c.endedAtMs + ACTIVATION_AFTER_END_MS;

function short(sha: string | undefined): string {
  return sha === undefined ? 'none' : sha.slice(0, 8);
}

/**
 * An updatable board: in application mode on the package's application (valid); its bootloader
 * installed that application exactly once over the run, during the campaign whose final view says
 * SUCCEEDED for it; no campaign installed it twice.
 */
export function checkUpdatedOnce(e: CampaignRunEvidence): InvariantResult {
  const failures: string[] = [];
  const boards = e.boards.filter((b) => b.expected.kind === 'updated');
  for (const b of boards) {
    const x = b.expected;
    if (x.kind !== 'updated') continue;
    const f = b.final;
    const installs = b.activations.filter((a) => a.sha256 === x.application);
    if (f.application !== x.application || !f.applicationValid || f.mode !== 'application') {
      failures.push(`${b.label}: wants app ${short(x.application)}, has ${short(f.application)}${f.applicationValid ? '' : ' (invalid)'} in ${f.mode}`);
    }
    if (installs.length !== 1) failures.push(`${b.label}: the new application was installed ${installs.length} times (at ${installs.map((a) => formatClock(a.atMs)).join(', ') || 'never'})`);
    for (const c of e.campaigns) {
      const n = installs.filter((a) => within(c, a.atMs)).length;
      if (n > 1) failures.push(`${b.label}: campaign ${c.index} installed the new application ${n} times`);
    }
    const finisher = finisherOf(e, b);
    if (finisher === undefined || finisher.device.state !== 'SUCCEEDED') {
      failures.push(`${b.label}: no campaign reports it SUCCEEDED${finisher === undefined ? '' : ` (campaign ${finisher.campaign.index}: ${finisher.device.state})`}`);
    } else if (!installs.some((a) => finishedBy(finisher.campaign, a.atMs))) {
      failures.push(`${b.label}: campaign ${finisher.campaign.index} reports it SUCCEEDED, but installed nothing on it${installs.length === 0 ? '' : ` (installed at ${installs.map((a) => formatClock(a.atMs)).join(', ')})`}`);
    }
  }
  return result(CAMPAIGN_INVARIANT_NAMES.updatedOnce, boards.length, failures);
}

export function checkUpToDate(e: CampaignRunEvidence): InvariantResult {
  const failures: string[] = [];
  const boards = e.boards.filter((b) => b.expected.kind === 'upToDate');
  for (const b of boards) {
    const finisher = finisherOf(e, b);
    if (finisher?.device.state !== 'UP_TO_DATE') failures.push(`${b.label}: wants UP_TO_DATE, campaign says ${finisher === undefined ? 'nothing final' : `${finisher.device.state} (campaign ${finisher.campaign.index})`}`);
    if (b.activations.length > 0) failures.push(`${b.label}: already up to date, yet its bootloader installed ${b.activations.length} application(s)`);
    if (b.final.application !== b.expected.application || !b.final.applicationValid) failures.push(`${b.label}: its application was not kept (has ${short(b.final.application)})`);
  }
  return result(CAMPAIGN_INVARIANT_NAMES.upToDate, boards.length, failures);
}

export function checkDeviceError(e: CampaignRunEvidence): InvariantResult {
  const failures: string[] = [];
  const boards = e.boards.filter((b) => b.expected.kind === 'deviceError');
  for (const b of boards) {
    const x = b.expected;
    if (x.kind !== 'deviceError') continue;
    const finisher = finisherOf(e, b);
    const d = finisher?.device;
    const want = `${x.code} ${x.dfuResultName}${x.dfuExtendedName === undefined ? '' : ` ${x.dfuExtendedName}`}`;
    if (d === undefined || d.state !== 'FAILED') {
      failures.push(`${b.label}: wants FAILED ${want}, campaign says ${d === undefined ? 'nothing final' : d.state}`);
    } else if (d.lastErrorCode !== x.code || d.dfuResultName !== x.dfuResultName || d.dfuExtendedName !== x.dfuExtendedName) {
      failures.push(`${b.label}: wants FAILED ${want}, its last error is ${d.lastErrorCode ?? 'none'} ${d.dfuResultName ?? ''} ${d.dfuExtendedName ?? ''}`.trimEnd());
    }
    for (const c of e.campaigns) {
      const jobs = entriesOf(c, b).reduce((n, v) => n + v.jobIds.length, 0);
      if (jobs > c.maxAttempts) failures.push(`${b.label}: campaign ${c.index} ran ${jobs} jobs for it (max_attempts ${c.maxAttempts})`);
    }
    if (b.activations.length > 0) failures.push(`${b.label}: refuses the package, yet its bootloader installed ${b.activations.length} application(s)`);
    if (b.final.application !== x.application || (b.validAppAtStart && !b.final.applicationValid)) failures.push(`${b.label}: its application was not kept (has ${short(b.final.application)})`);
  }
  return result(CAMPAIGN_INVARIANT_NAMES.deviceError, boards.length, failures);
}

/**
 * In each campaign a board is at most one device (found as an application or in its bootloader,
 * never both), every device is a board of the population, and each board is finished (SUCCEEDED,
 * UP_TO_DATE or FAILED) by exactly one campaign.
 */
export function checkTakenOnce(e: CampaignRunEvidence): InvariantResult {
  const failures: string[] = [];
  let checked = 0;
  for (const c of e.campaigns) {
    for (const d of c.final?.devices ?? []) {
      checked++;
      if (boardOf(e.boards, d.address) === undefined) failures.push(`campaign ${c.index}: device ${d.address} is no board of the population`);
    }
    for (const b of e.boards) {
      const n = entriesOf(c, b).length;
      if (n > 1) failures.push(`${b.label}: campaign ${c.index} took it ${n} times (${entriesOf(c, b).map((d) => `${d.address}${d.foundInBootloader ? ' in its bootloader' : ''}`).join(', ')})`);
    }
  }
  for (const b of e.boards) {
    checked++;
    const finishers = e.campaigns.filter((c) => entriesOf(c, b).some((d) => d.state === 'SUCCEEDED' || d.state === 'UP_TO_DATE' || d.state === 'FAILED'));
    if (finishers.length !== 1) failures.push(`${b.label}: finished by ${finishers.length} campaigns${finishers.length === 0 ? '' : ` (${finishers.map((c) => c.index).join(', ')})`}`);
  }
  return result(CAMPAIGN_INVARIANT_NAMES.takenOnce, checked, failures);
}

const STATE_COUNT: Readonly<Record<string, keyof CampaignCountsView>> = {
  WAITING: 'waiting',
  RUNNING: 'running',
  RETRY_WAIT: 'retryWait',
  SUCCEEDED: 'succeeded',
  UP_TO_DATE: 'upToDate',
  FAILED: 'failed',
  NOT_DONE: 'notDone',
};

/** Counts as a campaign's devices make them. */
export function countsOf(devices: readonly CampaignDeviceView[]): CampaignCountsView {
  const c = { found: devices.length, waiting: 0, running: 0, retryWait: 0, succeeded: 0, upToDate: 0, failed: 0, notDone: 0, jobs: 0 };
  for (const d of devices) {
    const k = STATE_COUNT[d.state];
    if (k !== undefined) c[k]++;
    c.jobs += d.jobIds.length;
  }
  return c;
}

function countsText(c: CampaignCountsView): string {
  return `found ${c.found} waiting ${c.waiting} running ${c.running} retry_wait ${c.retryWait} succeeded ${c.succeeded} up_to_date ${c.upToDate} failed ${c.failed} not_done ${c.notDone} jobs ${c.jobs}`;
}

/** Job states a campaign device's last job ends in, by the device's final state. */
const JOB_STATE_OF: Readonly<Record<string, readonly string[]>> = {
  SUCCEEDED: ['SUCCEEDED'],
  UP_TO_DATE: ['UP_TO_DATE'],
  FAILED: ['FAILED'],
  NOT_DONE: ['CANCELLED', 'FAILED'],
};

export function checkCounts(e: CampaignRunEvidence): InvariantResult {
  const failures: string[] = [];
  let checked = 0;
  for (const c of e.campaigns) {
    if (c.final === undefined) continue;
    checked++;
    const who = `campaign ${c.index}`;
    const derived = countsOf(c.final.devices);
    if (countsText(derived) !== countsText(c.final.counts)) failures.push(`${who}: counts say ${countsText(c.final.counts)}; its devices make ${countsText(derived)}`);
    if (c.listedJobs === undefined) continue;
    const own = new Set(c.final.devices.flatMap((d) => d.jobIds));
    const listed = new Map(c.listedJobs.map((j) => [j.jobId, j]));
    for (const id of own) if (!listed.has(id)) failures.push(`${who}: job ${id.slice(0, 8)} of its devices is not in ListJobs(campaign_id)`);
    for (const j of c.listedJobs) {
      if (!own.has(j.jobId)) failures.push(`${who}: ListJobs(campaign_id) lists job ${j.jobId.slice(0, 8)} that none of its devices has`);
      if (j.campaignId !== c.campaignId) failures.push(`${who}: ListJobs(campaign_id) lists job ${j.jobId.slice(0, 8)} of campaign "${j.campaignId}"`);
    }
    for (const d of c.final.devices) {
      const last = d.jobIds.at(-1);
      const want = JOB_STATE_OF[d.state];
      const job = last === undefined ? undefined : listed.get(last);
      if (want === undefined || job === undefined) continue;
      if (!want.includes(job.state)) failures.push(`${who}: device ${d.address} is ${d.state}, its last job ${job.jobId.slice(0, 8)} ended ${job.state}`);
    }
  }
  return result(CAMPAIGN_INVARIANT_NAMES.counts, checked, failures);
}

/** Labels as one comparable text, keys sorted. */
function labelsText(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k] ?? ''}`)
    .join(' ');
}

/** Whether `has` holds every pair of `want`. */
function holds(has: Readonly<Record<string, string>>, want: Readonly<Record<string, string>>): boolean {
  return Object.entries(want).every(([k, v]) => has[k] === v);
}

export function checkCampaignAudit(e: CampaignRunEvidence): InvariantResult {
  const failures: string[] = [];
  let checked = 0;
  const lines = new Map<string, AuditLine[]>();
  for (const l of e.audit) lines.set(l.jobId, [...(lines.get(l.jobId) ?? []), l]);
  for (const c of e.campaigns) {
    const who = `campaign ${c.index}`;
    const jobs = new Set((c.final?.devices ?? []).flatMap((d) => d.jobIds));
    const records = new Map(c.auditRecords.map((r) => [r.jobId, r]));
    for (const r of c.auditRecords) {
      if (r.campaignId !== c.campaignId) failures.push(`${who}: ListAuditRecords(campaign_id) returned job ${r.jobId.slice(0, 8)} of campaign "${r.campaignId}"`);
      if (c.final !== undefined && !jobs.has(r.jobId)) failures.push(`${who}: audit record of job ${r.jobId.slice(0, 8)}, which none of its devices has`);
    }
    for (const id of jobs) {
      checked++;
      const own = lines.get(id) ?? [];
      const starts = own.filter((l) => l.type === 'start');
      const ends = own.filter((l) => l.type === 'end');
      // A job cancelled or refused while still queued never touched a device and is not audited.
      if (starts.length === 0 && ends.length === 0 && !records.has(id)) continue;
      if (starts.length !== 1 || ends.length !== 1) failures.push(`${who}: job ${id.slice(0, 8)} has ${starts.length} start and ${ends.length} end records`);
      for (const l of own) {
        if (!holds(l.labels ?? {}, c.labels)) failures.push(`${who}: job ${id.slice(0, 8)}'s ${l.type} record has labels "${labelsText(l.labels ?? {})}", not the campaign's "${labelsText(c.labels)}"`);
      }
      const r = records.get(id);
      if (r === undefined) failures.push(`${who}: job ${id.slice(0, 8)} is in the audit log, but ListAuditRecords(campaign_id) does not return it`);
      else if (!holds(r.labels, c.labels)) failures.push(`${who}: job ${id.slice(0, 8)}'s audit record has labels "${labelsText(r.labels)}"`);
      else if (r.result === 'RUNNING') failures.push(`${who}: job ${id.slice(0, 8)}'s audit record is still RUNNING`);
    }
  }
  return result(CAMPAIGN_INVARIANT_NAMES.audit, checked, failures);
}

export function checkEnded(e: CampaignRunEvidence): InvariantResult {
  const failures: string[] = [];
  for (const c of e.campaigns) {
    const who = `campaign ${c.index} (${c.campaignId.slice(0, 8)})`;
    if (c.final === undefined) failures.push(`${who}: the station never saw it end (expected ${c.expectedStop})`);
    else if (c.final.state !== 'ENDED' || c.final.stopReason !== c.expectedStop) failures.push(`${who}: ${c.final.state} ${c.final.stopReason}, expected ENDED ${c.expectedStop}`);
    else {
      const open = c.final.devices.filter((d) => !FINAL_CAMPAIGN_DEVICE_STATES.includes(d.state));
      if (open.length > 0) failures.push(`${who}: ended with ${open.length} devices not final (${open.map((d) => `${d.address} ${d.state}`).slice(0, 3).join(', ')})`);
    }
  }
  for (const id of e.activeJobsAtEnd) failures.push(`job ${id.slice(0, 8)} still active at the end`);
  if (e.openLinksAtEnd > 0) failures.push(`${e.openLinksAtEnd} links still open on the air at the end`);
  return result(CAMPAIGN_INVARIANT_NAMES.ended, e.campaigns.length + 2, failures);
}

export function checkRewatch(e: CampaignRunEvidence): InvariantResult {
  const failures: string[] = [];
  let checked = 0;
  for (const c of e.campaigns) {
    for (const r of c.rewatches) {
      checked++;
      const who = `campaign ${c.index} re-watched at ${formatClock(r.atMs)}`;
      const byAddress = new Map(r.snapshot.devices.map((d) => [d.address.toUpperCase(), d]));
      for (const [address, jobIds] of r.seenBefore) {
        const now = byAddress.get(address.toUpperCase());
        if (now === undefined) failures.push(`${who}: device ${address}, seen before, is not in the snapshot`);
        else if (jobIds.some((id, i) => now.jobIds[i] !== id)) failures.push(`${who}: device ${address} had jobs ${jobIds.map((j) => j.slice(0, 8)).join(',')}, the snapshot has ${now.jobIds.map((j) => j.slice(0, 8)).join(',')}`);
      }
      const derived = countsOf(r.snapshot.devices);
      if (countsText(derived) !== countsText(r.snapshot.counts)) failures.push(`${who}: snapshot counts ${countsText(r.snapshot.counts)}, its devices make ${countsText(derived)}`);
    }
  }
  return result(CAMPAIGN_INVARIANT_NAMES.rewatch, checked, failures);
}
