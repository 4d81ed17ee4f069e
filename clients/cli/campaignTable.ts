/**
 * What `bledfu campaign start|watch|show` print of a campaign, as pure functions of the campaign,
 * the time and the terminal's size, so they are tested without a terminal: the live table a
 * terminal redraws in place (a header of counts, one row per device), and the plain line per
 * device event printed without one.
 */
import {
  campaignDeviceStateName,
  campaignStateName,
  campaignStopReasonName,
  type Campaign,
  type CampaignCounts,
  type CampaignDevice,
} from '../ts/index.js';
import { CampaignDeviceState } from '../ts/index.js';

/** "00:42", "12:05", "1:02:03": minutes and seconds, hours only once there are any. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const mmss = `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
  return h === 0 ? mmss : `${h}:${mmss}`;
}

/**
 * "found 12  waiting 1  running 4  retry 1  done 5  up to date 2  failed 1  not done 0":
 * devices taken, and how many are in each state. `done`: updated; `up to date`: skipped as already
 * on the package's version (refused as not newer, or --skip-if-firmware-revision).
 */
export function countsText(c: CampaignCounts, width = Infinity): string {
  const all: readonly (readonly [string, number])[] = [
    ['found', c.found],
    ['waiting', c.waiting],
    ['running', c.running],
    ['retry', c.retryWait],
    ['done', c.succeeded],
    ['up to date', c.upToDate],
    ['failed', c.failed],
    ['not done', c.notDone],
  ];
  const text = (counts: readonly (readonly [string, number])[]): string => counts.map(([label, n]) => `${label} ${n}`).join('  ');
  const full = text(all);
  // Too wide: the states no device is in give way (found always stays).
  return full.length <= width ? full : text(all.filter(([label, n]) => n !== 0 || label === 'found'));
}

/** Shortened to `width` with "…" at the end when longer. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return '';
  return text.length <= width ? text : `${text.slice(0, width - 1)}\u2026`;
}

/** A device's last job: "1a2b3c4d@hci0" (the job id's first 8 characters; the adapter while it waits). */
function jobText(d: CampaignDevice): string {
  const job = d.jobIds.at(-1);
  return `${job === undefined ? '-' : job.slice(0, 8)}@${d.adapterId === '' ? '?' : d.adapterId}`;
}

/** What a row ends with: the firmware revision it reported after its update, or why it failed. */
export function deviceOutcomeText(d: CampaignDevice): string {
  if (d.lastError !== undefined) return `${d.lastError.reason}: ${d.lastError.message}`;
  if (d.firmwareRevision !== '') return `firmware ${d.firmwareRevision}`;
  const serial = d.deviceInfo?.serialNumber ?? '';
  return serial === '' ? '' : `serial ${serial}`;
}

const ENDED_DEVICE: ReadonlySet<CampaignDeviceState> = new Set([
  CampaignDeviceState.CAMPAIGN_DEVICE_STATE_SUCCEEDED,
  CampaignDeviceState.CAMPAIGN_DEVICE_STATE_UP_TO_DATE,
  CampaignDeviceState.CAMPAIGN_DEVICE_STATE_FAILED,
  CampaignDeviceState.CAMPAIGN_DEVICE_STATE_NOT_DONE,
]);

/** What the table shows of a campaign at one moment. */
export interface CampaignView {
  readonly campaign: Campaign;
  /** The counts after the latest event (the campaign's own may be older). */
  readonly counts: CampaignCounts;
  /** Every device taken so far, in the order found. */
  readonly devices: readonly CampaignDevice[];
  /** How long it has run (until its end once it ended). */
  readonly elapsedMs: number;
}

const ADDRESS_WIDTH = 17;
const STATE_WIDTH = 'RETRY_WAIT'.length;
const TRIES_WIDTH = 'TRIES'.length;
const NAME_MIN = 6;
const NAME_MAX = 24;
const JOB_MAX = 8 + 1 + 12;
const GAP = '  ';

/**
 * The header's first line: which campaign, where it stands, for how long, and whether it has
 * stopped taking devices at the server's per-campaign limit (an operator must start another
 * campaign for the devices still coming, so it must not be left to --json alone).
 */
export function campaignTitle(c: Campaign, elapsedMs: number): string {
  const name = c.name === '' ? '' : ` "${c.name}"`;
  const reason = campaignStopReasonName(c.stopReason);
  const limit = c.deviceLimitReached ? '  device limit reached: no new devices taken (start another campaign)' : '';
  return `campaign ${c.campaignId}${name}  ${campaignStateName(c.state)}${reason === '' ? '' : ` (${reason})`}  ${formatElapsed(elapsedMs)}${limit}`;
}

/**
 * The live table for a terminal `columns` wide and (when known) `rows` high: title, counts,
 * column heads, one row per device. No line reaches the last column, and the whole block stays
 * below the terminal's height (else it cannot be redrawn in place): when devices do not fit,
 * the ones still at work are kept first, then the latest found, and a last line says how many
 * are left out. What gives way when the width is short: the outcome column shrinks and goes,
 * then the job column, then names shrink (to 6, with "…").
 */
export function renderCampaignTable(view: CampaignView, columns: number, rows?: number): string[] {
  const width = Math.max(1, columns - 1);
  const devices = view.devices;
  const nameWidth = Math.min(NAME_MAX, Math.max(NAME_MIN, 'NAME'.length, ...devices.map((d) => d.name.length)));
  const jobWidth = Math.min(JOB_MAX, Math.max('JOB@ADAPTER'.length, ...devices.map((d) => jobText(d).length)));
  const fixed = ADDRESS_WIDTH + STATE_WIDTH + TRIES_WIDTH + 2 * GAP.length;
  let name = nameWidth;
  let job = jobWidth;
  let outcome = width - (fixed + GAP.length + name + GAP.length + job + GAP.length);
  if (outcome < 10) {
    outcome = 0;
    if (fixed + GAP.length + name + GAP.length + job > width) job = 0;
    if (job === 0) name = Math.max(NAME_MIN, Math.min(name, width - fixed - GAP.length));
  }
  const row = (cells: { address: string; name: string; state: string; tries: string; job: string; outcome: string }): string => {
    const parts = [cells.address.padEnd(ADDRESS_WIDTH), truncate(cells.name, name).padEnd(name), cells.state.padEnd(STATE_WIDTH), cells.tries.padStart(TRIES_WIDTH)];
    if (job > 0) parts.push(truncate(cells.job, job).padEnd(job));
    if (outcome > 0) parts.push(truncate(cells.outcome, outcome));
    return truncate(parts.join(GAP).trimEnd(), width);
  };
  const head = [
    truncate(campaignTitle(view.campaign, view.elapsedMs), width),
    truncate(countsText(view.counts, width), width),
    row({ address: 'ADDRESS', name: 'NAME', state: 'STATE', tries: 'TRIES', job: 'JOB@ADAPTER', outcome: 'FIRMWARE / ERROR' }),
  ];
  const shown = pickRows(devices, rows === undefined ? undefined : Math.max(1, rows - 1 - head.length));
  const body = shown.devices.map((d) =>
    row({
      address: d.address?.value ?? '?',
      name: d.name,
      state: campaignDeviceStateName(d.state),
      tries: String(d.jobIds.length),
      job: jobText(d),
      // The header says FIRMWARE: the cell holds the revision alone, which fits an 80-column terminal.
      outcome: d.lastError === undefined && d.firmwareRevision !== '' ? d.firmwareRevision : deviceOutcomeText(d),
    }),
  );
  if (devices.length === 0) body.push('(no device found yet)');
  if (shown.hidden > 0) body.push(truncate(`\u2026 ${shown.hidden} more device${shown.hidden === 1 ? '' : 's'} (bledfu campaign show ${view.campaign.campaignId})`, width));
  return [...head, ...body];
}

/** At most `room` rows (one of them the "more" line): devices at work first, then the latest found; in found order. */
function pickRows(devices: readonly CampaignDevice[], room: number | undefined): { devices: readonly CampaignDevice[]; hidden: number } {
  if (room === undefined || devices.length <= room) return { devices, hidden: 0 };
  const slots = Math.max(0, room - 1);
  const indexes = devices.map((d, i) => ({ d, i }));
  const working = indexes.filter(({ d }) => !ENDED_DEVICE.has(d.state));
  const ended = indexes.filter(({ d }) => ENDED_DEVICE.has(d.state));
  const keep = [...working.slice(0, slots), ...ended.slice(Math.max(0, ended.length - Math.max(0, slots - working.length)))].slice(0, slots);
  keep.sort((a, b) => a.i - b.i);
  return { devices: keep.map(({ d }) => d), hidden: devices.length - keep.length };
}

/**
 * One line per device event without a terminal: "AA:BB:CC:DD:EE:01 SENSOR-1 RUNNING attempt 1
 * job 1a2b3c4d@hci0 | found 3  waiting 0  …" (the outcome before the counts when there is one).
 */
export function deviceEventLine(d: CampaignDevice, counts: CampaignCounts): string {
  const name = d.name === '' ? '' : ` ${d.name}`;
  const attempt = d.jobIds.length === 0 ? '' : ` attempt ${d.jobIds.length} job ${jobText(d)}`;
  const outcome = deviceOutcomeText(d);
  return `${d.address?.value ?? '?'}${name} ${campaignDeviceStateName(d.state)}${attempt}${outcome === '' ? '' : ` ${outcome}`} | ${countsText(counts)}`;
}
