/**
 * What must hold at the end of a station's day, checked on plain evidence (what the boards hold,
 * what the operators saw, the audit log's lines, the server's resource counts), so the checker
 * is tested on synthetic days too. Each invariant reports how many things it checked, how many
 * broke it, and the first few of those by name.
 */
import type { Expected } from './population.js';
import { attemptLabels, type AttemptRecord } from './operator.js';
import { EXPECTED_CODE, type HostileOutcome } from './hostile.js';
import type { TechnicianOutcome } from './technician.js';

export interface FinalBoardState {
  /** SHA-256 of the installed application, if any. */
  readonly application: string | undefined;
  readonly applicationValid: boolean;
  readonly mode: 'application' | 'bootloader' | 'off';
  readonly bootloaderVersion: number;
}

export interface DeviceOutcome {
  readonly label: string;
  readonly expected: Expected;
  readonly final: FinalBoardState;
  /** Every attempt, in order. */
  readonly attempts: readonly AttemptRecord[];
  /** The Serial Number String the board's application reports (absent: not known to the checker). */
  readonly serialNumber?: string;
  /** The DFU protocol of the package the operator sends it (absent: not known to the checker). */
  readonly protocol?: 'secure' | 'legacy';
}

/** One line of the audit log, reduced to what the checks need. */
export interface AuditLine {
  readonly type: 'start' | 'end';
  readonly jobId: string;
  /** End records: succeeded, up-to-date, failed, cancelled or interrupted. */
  readonly result?: string;
  /** The job's labels as the record holds them; absent when it holds none. */
  readonly labels?: Readonly<Record<string, string>>;
  /** End records: the serial number of the device's Device Information, when the job read one. */
  readonly serialNumber?: string;
  /** The job's DFU protocol as the record names it (absent: the record does not). */
  readonly protocol?: string;
}

/** A time the station's hardware was disturbed: a dongle out (its adapter) or the server down (all). */
export interface Disruption {
  readonly kind: 'unplug' | 'kill';
  /** The adapter whose dongle was pulled; undefined for a kill (every adapter). */
  readonly adapterId: string | undefined;
  readonly fromMs: number;
  readonly toMs: number;
}

export interface ResourceSample {
  readonly heapUsedBytes: number;
  /** process.getActiveResourcesInfo() counted by type (timers, sockets, …). */
  readonly resources: Readonly<Record<string, number>>;
  /** Listeners on `process`, all events together. */
  readonly processListeners: number;
}

export interface ResourceBounds {
  readonly heapGrowthBytes: number;
  /** Extra active resources of one type at the end of the day. */
  readonly resourceSlack: number;
  readonly listenerSlack: number;
}

export const DEFAULT_RESOURCE_BOUNDS: ResourceBounds = { heapGrowthBytes: 64 * 1024 * 1024, resourceSlack: 8, listenerSlack: 4 };

/** ADAPTER_UNAVAILABLE is allowed this long after a dongle came back or the server restarted. */
export const DISRUPTION_GRACE_MS = 30_000;

/** What ListAdapters said about one adapter's address at one moment it was listed ready. */
export interface AdapterAddressSample {
  readonly atMs: number;
  /** The server instance that answered (counts kills). */
  readonly generation: number;
  /** "AA:BB:CC:DD:EE:FF" as listed (empty when none was). */
  readonly value: string;
  readonly type: 'public' | 'random' | 'unspecified';
  /** Adapter.address_source, as the server named it. */
  readonly source: 'public' | 'controller-static' | 'generated' | 'unspecified';
}

/** An address a central connected from, as the devices on an adapter's air saw it. */
export interface CentralSeen {
  readonly value: string;
  readonly type: 'public' | 'random';
  /** Links made from it. */
  readonly links: number;
}

/** Everything the day tells about one adapter's station address: the server's word and the devices'. */
export interface AdapterAddressEvidence {
  readonly adapterId: string;
  /**
   * false: the dongle has no public address (a Zephyr hci_uart, whose Read BD_ADDR answers zeros;
   * a connectivity dongle, whose SoftDevice has a static random one): the adapter must run on a
   * static random address.
   */
  readonly publicAddress: boolean;
  /** Every ListAdapters answer that listed it ready, in order, across every server instance. */
  readonly listed: readonly AdapterAddressSample[];
  /** The centrals the boards on its air saw connect, all day. */
  readonly seenByDevices: readonly CentralSeen[];
}

export interface DayEvidence {
  readonly devices: readonly DeviceOutcome[];
  /** Job ids ListJobs(active_only) returned once every operator was done. */
  readonly activeJobsAtEnd: readonly string[];
  readonly audit: readonly AuditLine[];
  readonly disruptions: readonly Disruption[];
  readonly resources: { readonly start: ResourceSample; readonly end: ResourceSample };
  /** What each of the hostile client's calls came to. */
  readonly hostile: readonly HostileOutcome[];
  /** Jobs the server held at the end of the day whose target is a hostile call's name. */
  readonly hostileJobsAtEnd: readonly string[];
  /** The package store at the end of the day, once every job has ended. */
  readonly packageStoreAtEnd: { readonly leases: number; readonly leasedBytes: number };
  /** Per adapter: the addresses it was listed with and the ones the devices saw it connect from. */
  readonly adapterAddresses: readonly AdapterAddressEvidence[];
  /** The technician's Connect calls (technician.ts). */
  readonly technician: readonly TechnicianOutcome[];
  /**
   * Every job ListJobs returned once every operator was done, with its target (a name or an
   * address) and its DFU protocol ('secure', 'legacy'; absent: not known to the checker).
   */
  readonly jobsAtEnd: readonly { readonly jobId: string; readonly target: string; readonly protocol?: string }[];
}

export interface InvariantResult {
  readonly name: string;
  readonly ok: boolean;
  readonly checked: number;
  readonly violations: number;
  /** The first violations, one line each. */
  readonly examples: readonly string[];
}

export const INVARIANT_NAMES = {
  firmware: 'every device ends on its firmware (or its own device error)',
  noneRunning: 'no job left running',
  adapterUnavailable: 'ADAPTER_UNAVAILABLE only around an unplug or a kill',
  audit: 'one audit start and one end per job, matching its result, both with the labels it was started with',
  resources: 'heap, handles, timers and listeners bounded',
  airTime: 'each job reports a plausible modelled air time',
  deviceInfo: "each job's Device Information serial is its board's (job and audit)",
  hostile: 'every hostile call refused with its code, no job left behind',
  packageLeases: 'no package lease held once no job runs',
  stationAddress: 'one station address per adapter all day: not zeros, static random if no public one, as devices saw it',
  connectHeld: 'a device a Connect call holds: DFU refused DEVICE_CONNECTED only then, no job for it, updated afterwards',
  noRetries: 'a job asking for no retries never sends an object twice and fails a damaged one at once',
  protocol: "each job's DFU protocol is its package's, in ListJobs and in both audit records",
} as const;

/**
 * The most modelled air time one job may report: a SoftDevice + bootloader + application package
 * takes about a minute on the simulated air; its scans, reconnections and retries a few more.
 */
export const MAX_MODELLED_AIR_MS = 10 * 60_000;

const MAX_EXAMPLES = 5;

function result(name: string, checked: number, failures: readonly string[]): InvariantResult {
  return { name, ok: failures.length === 0, checked, violations: failures.length, examples: failures.slice(0, MAX_EXAMPLES) };
}

export function checkInvariants(e: DayEvidence, bounds: ResourceBounds = DEFAULT_RESOURCE_BOUNDS): InvariantResult[] {
  return [checkFirmware(e), checkNoneRunning(e), checkAdapterUnavailable(e), checkAudit(e), checkResources(e, bounds), checkAirTime(e), checkDeviceInfo(e), checkHostile(e), checkPackageLeases(e), checkStationAddress(e), checkConnectHeld(e), checkNoRetries(e), checkProtocol(e)];
}

function short(sha: string | undefined): string {
  return sha === undefined ? 'none' : sha.slice(0, 8);
}

/**
 * A package with a release bootloader, retried after its bootloader (or SoftDevice + bootloader)
 * image was already activated — the first attempt lost its link or dongle after that image — is
 * refused by the new bootloader: its version must be strictly higher than the installed one (the
 * SDK's downgrade protection), so the same package's first image fails Execute with EXT_ERROR
 * FW_VERSION_FAILURE. That is the device's correct answer, and nrfutil gets the same; the operator
 * then has to send the application on its own. The device counts as ended with its own error
 * when it reports exactly that and holds the package's bootloader.
 */
function refusedOnceApplied(d: DeviceOutcome): boolean {
  const x = d.expected;
  const last = lastVerdict(d);
  return (
    x.kind === 'updated' &&
    x.bootloaderVersion !== undefined &&
    d.final.bootloaderVersion === x.bootloaderVersion &&
    last !== undefined &&
    last.result === 'FAILED' &&
    last.errorCode === 'DFU_REMOTE_ERROR' &&
    last.dfuResultName === 'EXT_ERROR' &&
    last.dfuExtendedName === 'FW_VERSION_FAILURE'
  );
}

/**
 * The device's last attempt that could judge it: the attempts after it ended ADAPTER_UNAVAILABLE
 * or lost their server, i.e. an unplug or a kill cut them (checkAdapterUnavailable holds every such
 * attempt to one), and say nothing of the device. An operator out of retries after such an
 * attempt leaves the device with what the attempt before said: a wrong-key board whose fourth
 * try met an unplug has still ended with its own error, reported by its third.
 */
function lastVerdict(d: DeviceOutcome): AttemptRecord | undefined {
  for (let i = d.attempts.length - 1; i >= 0; i--) {
    const a = d.attempts[i] as AttemptRecord;
    if (a.result !== 'LOST' && a.errorCode !== 'ADAPTER_UNAVAILABLE') return a;
  }
  return undefined;
}

/**
 * How a device ended: on its new firmware, with its own device error (the package's named error,
 * or a retry refused once the package's bootloader was applied), or wrong (with why).
 */
export function firmwareOutcome(d: DeviceOutcome): { readonly kind: 'updated' | 'upToDate' | 'deviceError' } | { readonly kind: 'wrong'; readonly why: string } {
  const why = firmwareViolation(d);
  if (why !== undefined) return { kind: 'wrong', why };
  if (d.expected.kind === 'upToDate') return { kind: 'upToDate' };
  if (d.expected.kind === 'deviceError' || d.expected.kind === 'refused' || refusedOnceApplied(d)) return { kind: 'deviceError' };
  return { kind: 'updated' };
}

/** Why a device did not end as it should, or undefined when it did. */
export function firmwareViolation(d: DeviceOutcome): string | undefined {
  const f = d.final;
  const x = d.expected;
  const last = lastVerdict(d);
  const lastSaid =
    last === undefined
      ? d.attempts.length === 0
        ? 'no attempt'
        : 'no attempt with a verdict (each cut by an unplug or a kill)'
      : `last job ${last.result}${last.errorCode === undefined ? '' : ` ${last.errorCode}`}${last.dfuResultName === undefined ? '' : ` ${last.dfuResultName}`}${last.dfuExtendedName === undefined ? '' : ` ${last.dfuExtendedName}`} (attempt ${last.attempt})`;
  if (x.kind === 'updated') {
    const appOk = f.application === x.application && f.applicationValid && f.mode === 'application';
    const blOk = x.bootloaderVersion === undefined || f.bootloaderVersion === x.bootloaderVersion;
    if ((appOk && blOk) || refusedOnceApplied(d)) return undefined;
    return `${d.label}: wants app ${short(x.application)}${x.bootloaderVersion === undefined ? '' : ` bl v${x.bootloaderVersion}`}, has ${short(f.application)}${f.applicationValid ? '' : ' (invalid)'} in ${f.mode}${x.bootloaderVersion === undefined ? '' : ` bl v${f.bootloaderVersion}`}; ${lastSaid}`;
  }
  if (x.kind === 'upToDate') {
    // Up to date, and nothing half-done: the job said so and the old application is intact (the
    // device may still be in its bootloader if the Abort was lost: it returns after its timeout).
    if (last?.result === 'UP_TO_DATE' && f.application === x.application && f.applicationValid) return undefined;
    return `${d.label}: wants UP_TO_DATE and app ${short(x.application)} kept; ${lastSaid}, has ${short(f.application)}${f.applicationValid ? '' : ' (invalid)'} in ${f.mode}`;
  }
  if (x.kind === 'refused') {
    // Refused before anything was written: the job says why and the board runs what it ran.
    if (last?.result === 'FAILED' && last.errorCode === x.code && f.application === x.application && f.applicationValid && f.mode === 'application') return undefined;
    return `${d.label}: wants ${x.code} before any write and app ${short(x.application)} kept; ${lastSaid}, has ${short(f.application)}${f.applicationValid ? '' : ' (invalid)'} in ${f.mode}`;
  }
  const errorOk =
    last !== undefined &&
    last.result === 'FAILED' &&
    last.errorCode === x.code &&
    last.dfuResultName === x.dfuResultName &&
    last.dfuExtendedName === x.dfuExtendedName;
  const keptOk = f.application === x.application && f.applicationValid;
  if (errorOk && keptOk) return undefined;
  return `${d.label}: wants ${x.code} ${x.dfuResultName}${x.dfuExtendedName === undefined ? '' : ` ${x.dfuExtendedName}`} and app ${short(x.application)} kept; ${lastSaid}, has ${short(f.application)}${f.applicationValid ? '' : ' (invalid)'}`;
}

export function checkFirmware(e: DayEvidence): InvariantResult {
  const failures = e.devices.flatMap((d) => {
    const v = firmwareViolation(d);
    return v === undefined ? [] : [v];
  });
  return result(INVARIANT_NAMES.firmware, e.devices.length, failures);
}

export function checkNoneRunning(e: DayEvidence): InvariantResult {
  const failures = e.activeJobsAtEnd.map((id) => `job ${id} still active on the server`);
  const ends = new Set(e.audit.filter((l) => l.type === 'end').map((l) => l.jobId));
  for (const l of e.audit) if (l.type === 'start' && !ends.has(l.jobId)) failures.push(`job ${l.jobId}: audit start without an end (running)`);
  const jobs = new Set(e.devices.flatMap((d) => d.attempts.flatMap((a) => (a.jobId === undefined ? [] : [a.jobId]))));
  return result(INVARIANT_NAMES.noneRunning, jobs.size, failures);
}

function attemptsOf(e: DayEvidence): AttemptRecord[] {
  return e.devices.flatMap((d) => d.attempts);
}

/** Whether an unplug of its adapter or a kill overlaps the attempt, or ended within the grace before it. */
function nearDisruption(e: DayEvidence, a: Pick<AttemptRecord, 'adapterId' | 'startedAtMs' | 'endedAtMs'>): boolean {
  return e.disruptions.some(
    (w) => (w.adapterId === undefined || w.adapterId === a.adapterId) && a.startedAtMs <= w.toMs + DISRUPTION_GRACE_MS && a.endedAtMs >= w.fromMs,
  );
}

export function checkAdapterUnavailable(e: DayEvidence): InvariantResult {
  const failures: string[] = [];
  const unavailable = attemptsOf(e).filter((a) => a.errorCode === 'ADAPTER_UNAVAILABLE' || a.result === 'LOST');
  for (const a of unavailable) {
    if (!nearDisruption(e, a)) {
      failures.push(
        `${a.device} attempt ${a.attempt}${a.jobId === undefined ? '' : ` (job ${a.jobId.slice(0, 8)})`} on ${a.adapterId}: ${a.result === 'LOST' ? 'lost its server' : 'ADAPTER_UNAVAILABLE'} at ${formatClock(a.endedAtMs)} with no unplug or kill near: ${a.errorMessage ?? ''}`,
      );
    }
  }
  return result(INVARIANT_NAMES.adapterUnavailable, unavailable.length, failures);
}

const AUDIT_RESULT_OF: Readonly<Record<string, string | undefined>> = {
  SUCCEEDED: 'succeeded',
  UP_TO_DATE: 'up-to-date',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
};

/** Labels as one comparable text: `attempt=1 unit=st-001`, keys sorted. */
function labelsText(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k] ?? ''}`)
    .join(' ');
}

export function checkAudit(e: DayEvidence): InvariantResult {
  const failures: string[] = [];
  const starts = new Map<string, number>();
  const ends = new Map<string, string[]>();
  /** Each record's labels as text, start records' and end records' apart. */
  const labelsOf = { start: new Map<string, string>(), end: new Map<string, string>() };
  for (const l of e.audit) {
    if (l.type === 'start') starts.set(l.jobId, (starts.get(l.jobId) ?? 0) + 1);
    else ends.set(l.jobId, [...(ends.get(l.jobId) ?? []), l.result ?? '?']);
    labelsOf[l.type].set(l.jobId, labelsText(l.labels ?? {}));
  }
  let checked = 0;
  const seen = new Set<string>();
  for (const a of attemptsOf(e)) {
    if (a.jobId === undefined) continue;
    checked++;
    seen.add(a.jobId);
    const s = starts.get(a.jobId) ?? 0;
    const en = ends.get(a.jobId) ?? [];
    const who = `${a.device} attempt ${a.attempt} (job ${a.jobId.slice(0, 8)}, ${a.result})`;
    if (s === 0 && en.length === 0) {
      // A job that never left its queue never touched a device and is not audited.
      if (a.started) failures.push(`${who}: ran, but has no audit records`);
      continue;
    }
    if (s !== 1 || en.length !== 1) {
      failures.push(`${who}: ${s} start and ${en.length} end records`);
      continue;
    }
    const want = AUDIT_RESULT_OF[a.result];
    if (want !== undefined && en[0] !== want) failures.push(`${who}: the audit log says ${en[0]}`);
    const labels = labelsText(attemptLabels(a.device, a.attempt));
    for (const type of ['start', 'end'] as const) {
      const got = labelsOf[type].get(a.jobId);
      if (got !== labels) failures.push(`${who}: its audit ${type} record has labels ${got === undefined || got === '' ? '(none)' : got}, not ${labels}`);
    }
  }
  // Records of jobs no operator saw still need their pair.
  for (const [jobId, s] of starts) {
    if (seen.has(jobId)) continue;
    const en = ends.get(jobId)?.length ?? 0;
    if (s !== 1 || en !== 1) failures.push(`job ${jobId.slice(0, 8)} (not seen by an operator): ${s} start and ${en} end records`);
  }
  for (const [jobId, en] of ends) if (!starts.has(jobId)) failures.push(`job ${jobId.slice(0, 8)}: ${en.length} end records without a start`);
  return result(INVARIANT_NAMES.audit, checked, failures);
}

export function checkResources(e: DayEvidence, bounds: ResourceBounds): InvariantResult {
  const failures: string[] = [];
  const { start, end } = e.resources;
  const growth = end.heapUsedBytes - start.heapUsedBytes;
  if (growth > bounds.heapGrowthBytes) {
    failures.push(`heap grew by ${(growth / 1048576).toFixed(1)} MiB (bound ${(bounds.heapGrowthBytes / 1048576).toFixed(0)} MiB)`);
  }
  const types = new Set([...Object.keys(start.resources), ...Object.keys(end.resources)]);
  for (const t of [...types].sort()) {
    const a = start.resources[t] ?? 0;
    const b = end.resources[t] ?? 0;
    if (b > a + bounds.resourceSlack) failures.push(`${t}: ${a} at the start of the day, ${b} at its end (slack ${bounds.resourceSlack})`);
  }
  if (end.processListeners > start.processListeners + bounds.listenerSlack) {
    failures.push(`process listeners: ${start.processListeners} → ${end.processListeners} (slack ${bounds.listenerSlack})`);
  }
  return result(INVARIANT_NAMES.resources, types.size + 2, failures);
}

/**
 * A job that reached its device reports that board's serial number (none when it met the board in
 * its bootloader), and the audit end record of the job says the same: a job that read another
 * board's Device Information would have talked to the wrong device.
 */
export function checkDeviceInfo(e: DayEvidence): InvariantResult {
  const failures: string[] = [];
  let checked = 0;
  const reported = new Map<string, string>();
  for (const d of e.devices) {
    for (const a of d.attempts) {
      if (a.deviceSerial === undefined) continue;
      checked++;
      if (a.jobId !== undefined) reported.set(a.jobId, a.deviceSerial);
      if (a.deviceSerial !== '' && d.serialNumber !== undefined && a.deviceSerial !== d.serialNumber) {
        failures.push(`${d.label} attempt ${a.attempt}${a.jobId === undefined ? '' : ` (job ${a.jobId.slice(0, 8)})`}: serial ${a.deviceSerial}, the board's is ${d.serialNumber}`);
      }
    }
  }
  for (const l of e.audit) {
    if (l.type !== 'end' || l.serialNumber === undefined) continue;
    const seen = reported.get(l.jobId);
    if (seen === undefined) continue;
    checked++;
    if (seen !== l.serialNumber) failures.push(`job ${l.jobId.slice(0, 8)}: audit end record serial ${l.serialNumber}, the job reported ${seen === '' ? 'none' : seen}`);
  }
  return result(INVARIANT_NAMES.deviceInfo, checked, failures);
}

/** A job's modelled_air_time must be the air time of that job (issue 10 item 6: not minutes of scanning). */
export function checkAirTime(e: DayEvidence): InvariantResult {
  const reported = attemptsOf(e).filter((a) => a.modelledAirMs !== undefined);
  const failures = reported
    .filter((a) => (a.modelledAirMs ?? 0) > MAX_MODELLED_AIR_MS || (a.modelledAirMs ?? 0) < 0)
    .map((a) => `${a.device} attempt ${a.attempt}${a.jobId === undefined ? '' : ` (job ${a.jobId.slice(0, 8)}, ${a.result})`}: modelled air time ${formatClock(a.modelledAirMs ?? 0)}`);
  return result(INVARIANT_NAMES.airTime, reported.length, failures);
}

/**
 * Each hostile call (hostile.ts) must be refused with its expected code and create no job: no
 * event reached the client, and no job with a hostile target name is left on the server. A call
 * cut by a server kill has no verdict and is not counted.
 */
export function checkHostile(e: DayEvidence): InvariantResult {
  const judged = e.hostile.filter((h) => !h.lost);
  const failures: string[] = [];
  for (const h of judged) {
    const want = EXPECTED_CODE[h.call.kind];
    const who = `hostile ${h.call.kind} at ${formatClock(h.call.atMs)} on sim${h.call.adapter}`;
    if (h.jobId !== undefined) failures.push(`${who}: accepted as job ${h.jobId.slice(0, 8)} (expected ${want})`);
    else if (h.code !== want) failures.push(`${who}: refused with ${h.code ?? 'nothing'} (expected ${want})`);
  }
  for (const id of e.hostileJobsAtEnd) failures.push(`job ${id.slice(0, 8)} has a hostile call's target`);
  return result(INVARIANT_NAMES.hostile, judged.length, failures);
}

/** Every job has ended: the package store must hold no lease (a refused or ended job released its own). */
export function checkPackageLeases(e: DayEvidence): InvariantResult {
  const { leases, leasedBytes } = e.packageStoreAtEnd;
  const failures = leases === 0 && leasedBytes === 0 ? [] : [`${leases} package leases (${leasedBytes} bytes) still held at the end of the day`];
  return result(INVARIANT_NAMES.packageLeases, 1, failures);
}

const ZERO_ADDRESS = '00:00:00:00:00:00';

/** A static random address: its two most significant bits are 1 (Core Vol 6, Part B, 1.3.2.1). */
function isStaticRandom(value: string): boolean {
  const top = Number.parseInt(value.slice(0, 2), 16);
  return /^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/i.test(value) && (top & 0xc0) === 0xc0 && value.toUpperCase() !== 'FF:FF:FF:FF:FF:FF';
}

/**
 * The address a station scans and connects as is how devices (and their bonds, allow-lists and
 * logs) know it: it must never be zeros (a controller without a public address connecting as
 * "public" goes on the air as 00:00:00:00:00:00), must be a static random one when the dongle has
 * no public address, must stay the same across every server restart and replug, and must be the
 * address the devices really saw connect.
 */
export function checkStationAddress(e: DayEvidence): InvariantResult {
  const failures: string[] = [];
  let checked = 0;
  for (const a of e.adapterAddresses) {
    const first = a.listed[0];
    if (first === undefined) {
      failures.push(`${a.adapterId}: never listed ready with an address`);
      continue;
    }
    const shown = (s: AdapterAddressSample): string => `${s.value || '(none)'} (${s.type}, ${s.source}) at ${formatClock(s.atMs)}, server ${s.generation + 1}`;
    for (const s of a.listed) {
      checked++;
      if (s.value === '' || s.value === ZERO_ADDRESS || s.type === 'unspecified' || s.source === 'unspecified') {
        failures.push(`${a.adapterId}: listed as ${shown(s)}`);
      } else if (!a.publicAddress && (s.type !== 'random' || s.source === 'public' || !isStaticRandom(s.value))) {
        failures.push(`${a.adapterId}: its dongle has no public address, yet listed as ${shown(s)}, not a static random address`);
      } else if (s.value !== first.value || s.type !== first.type) {
        failures.push(`${a.adapterId}: listed as ${shown(first)}, later as ${shown(s)}`);
      }
    }
    for (const c of a.seenByDevices) {
      checked += c.links;
      if (c.value === ZERO_ADDRESS) failures.push(`${a.adapterId}: devices saw ${c.links} links from ${ZERO_ADDRESS} (${c.type})`);
      else if (c.value !== first.value || c.type !== first.type) {
        failures.push(`${a.adapterId}: devices saw ${c.links} links from ${c.value} (${c.type}), but it is listed as ${first.value} (${first.type})`);
      }
    }
  }
  return result(INVARIANT_NAMES.stationAddress, checked, failures);
}

/**
 * The technician's Connect calls against the operators' DFUs (technician.ts), from both sides:
 * - every DEVICE_CONNECTED refusal created no job, came while a technician's call to that device
 *   was open (operator's clock), and names that call (server's word: method Connect, the device's
 *   address, the adapter, and a link up since the call connected);
 * - each call that could see its device connected, and its operator's first attempt made while
 *   the call held the device was refused; a call to a board waiting in its bootloader found
 *   nothing (DEVICE_NOT_FOUND) and refused nothing;
 * - the server holds no job for a visited device that no operator's attempt started, and every
 *   visited device ends updated.
 * A call cut by a kill, or whose link an unplug dropped, has no verdict on what it saw.
 */
export function checkConnectHeld(e: DayEvidence): InvariantResult {
  const failures: string[] = [];
  let checked = 0;
  const visitsOf = (label: string): TechnicianOutcome[] => e.technician.filter((t) => t.visit.label === label);
  for (const d of e.devices) {
    for (const a of d.attempts) {
      if (a.errorCode !== 'DEVICE_CONNECTED') continue;
      checked++;
      const who = `${a.device} attempt ${a.attempt} at ${formatClock(a.endedAtMs)}`;
      if (a.result !== 'REFUSED' || a.jobId !== undefined) failures.push(`${who}: DEVICE_CONNECTED, yet ${a.result}${a.jobId === undefined ? '' : ` with job ${a.jobId.slice(0, 8)}`}`);
      const during = visitsOf(a.device).find((t) => t.openedAtMs <= a.startedAtMs && a.endedAtMs <= t.closedAtMs);
      if (during === undefined) {
        failures.push(`${who}: refused DEVICE_CONNECTED while no technician's Connect call to it was open`);
        continue;
      }
      const h = a.heldBy;
      const upTo = during.connectedAtMs ?? during.closedAtMs;
      if (
        h === undefined ||
        h.method !== 'Connect' ||
        h.address?.toUpperCase() !== during.address.toUpperCase() ||
        h.adapterId !== a.adapterId ||
        h.sinceMs === undefined ||
        h.sinceMs < during.openedAtMs ||
        h.sinceMs > upTo
      ) {
        failures.push(
          `${who}: the refusal names ${h === undefined ? 'nothing' : `${h.method ?? '?'} ${h.address ?? '?'} on ${h.adapterId ?? '?'} since ${h.sinceMs === undefined ? '?' : formatClock(h.sinceMs)}`}, not the technician's call to ${during.address} on ${during.adapterId} (open ${formatClock(during.openedAtMs)}–${formatClock(during.closedAtMs)})`,
        );
      }
    }
  }
  for (const t of e.technician) {
    checked++;
    const d = e.devices.find((x) => x.label === t.visit.label);
    const who = `technician's Connect to ${t.visit.label} by ${t.visit.by} at ${formatClock(t.openedAtMs)}`;
    if (d === undefined) {
      failures.push(`${who}: no such device`);
      continue;
    }
    const refusals = d.attempts.filter((a) => a.errorCode === 'DEVICE_CONNECTED');
    const disturbed =
      t.lost ||
      t.droppedEarly ||
      nearDisruption(e, { adapterId: t.adapterId, startedAtMs: t.openedAtMs, endedAtMs: t.closedAtMs });
    if (!disturbed) {
      if (t.visit.expectSeen && t.connectedAtMs === undefined) failures.push(`${who}: never connected (${t.code ?? 'no error'})`);
      if (!t.visit.expectSeen && (t.connectedAtMs !== undefined || t.code !== 'DEVICE_NOT_FOUND')) {
        failures.push(`${who}: a board in its bootloader, yet ${t.connectedAtMs === undefined ? `ended ${t.code ?? 'without an error'}` : 'connected'} (expected DEVICE_NOT_FOUND)`);
      }
      const first = d.attempts.find((a) => t.connectedAtMs !== undefined && a.startedAtMs >= t.connectedAtMs && a.startedAtMs < t.closedAtMs);
      if (first !== undefined && first.errorCode !== 'DEVICE_CONNECTED') {
        failures.push(`${who}: held it until ${formatClock(t.closedAtMs)}, yet attempt ${first.attempt} at ${formatClock(first.startedAtMs)} ended ${first.result}${first.errorCode === undefined ? '' : ` ${first.errorCode}`}`);
      }
    }
    if (t.connectedAtMs === undefined && refusals.length > 0) failures.push(`${who}: held nothing, yet ${refusals.length} DFU refused DEVICE_CONNECTED`);
    const jobIds = new Set(d.attempts.flatMap((a) => (a.jobId === undefined ? [] : [a.jobId])));
    const stray = e.jobsAtEnd.filter((j) => (j.target === d.label || j.target.toUpperCase() === t.address.toUpperCase()) && !jobIds.has(j.jobId));
    for (const j of stray) failures.push(`${who}: the server holds job ${j.jobId.slice(0, 8)} for it that no operator's attempt started`);
    const ended = firmwareOutcome(d);
    if (ended.kind !== 'updated') failures.push(`${who}: the device did not end updated (${ended.kind === 'wrong' ? ended.why : 'its own device error'})`);
  }
  return result(INVARIANT_NAMES.connectHeld, checked, failures);
}

/** How the engine says a step was tried once because no retries were asked for (engine.ts attemptsText). */
export const NO_RETRIES_TEXT = 'no retries asked for';

/**
 * Jobs that asked for retries 0 (noRetries.ts): the board stored no byte of an image twice during
 * the job and the job never resumed (no object sent again, no reconnect); one that met a damaged
 * data object failed at once with DFU_CRC_MISMATCH saying no retries were asked for (or was cut by
 * a kill, an unplug or the operator), and did not succeed.
 */
export function checkNoRetries(e: DayEvidence): InvariantResult {
  const asked = attemptsOf(e).filter((a) => a.retries === 0 && a.jobId !== undefined);
  const failures: string[] = [];
  for (const a of asked) {
    const who = `${a.device} attempt ${a.attempt} (job ${a.jobId?.slice(0, 8) ?? '?'}, retries 0, ${a.result}${a.errorCode === undefined ? '' : ` ${a.errorCode}`})`;
    if (a.resentBytes === undefined) failures.push(`${who}: the board's writes were not observed`);
    else if (a.resentBytes > 0) failures.push(`${who}: the board stored ${a.resentBytes} bytes a second time`);
    if (a.resumed) failures.push(`${who}: the job resumed after a lost link`);
    if (a.errorCode === 'DFU_CRC_MISMATCH' && !(a.errorMessage ?? '').includes(NO_RETRIES_TEXT)) failures.push(`${who}: its error does not say "${NO_RETRIES_TEXT}": ${a.errorMessage ?? ''}`);
    const damaged = a.faults.some((f) => f.startsWith('damaged-object'));
    if (damaged && a.result === 'SUCCEEDED') failures.push(`${who}: met a damaged object, yet succeeded (sent it again?)`);
    if (damaged && a.result === 'FAILED' && a.errorCode !== 'DFU_CRC_MISMATCH' && !nearDisruption(e, a)) {
      failures.push(`${who}: met a damaged object, expected DFU_CRC_MISMATCH: ${a.errorMessage ?? ''}`);
    }
  }
  return result(INVARIANT_NAMES.noRetries, asked.length, failures);
}

/** "h:mm:ss" of a modelled time since the day began. */
export function formatClock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

export function formatInvariantTable(results: readonly InvariantResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length), 'invariant'.length);
  const lines = [`${'invariant'.padEnd(width)}  result  checked  violations`];
  for (const r of results) {
    lines.push(`${r.name.padEnd(width)}  ${(r.ok ? 'pass' : 'FAIL').padEnd(6)}  ${String(r.checked).padStart(7)}  ${String(r.violations).padStart(10)}`);
    for (const x of r.examples) lines.push(`    - ${x}`);
    if (r.violations > r.examples.length) lines.push(`    … and ${r.violations - r.examples.length} more`);
  }
  return lines.join('\n');
}

/**
 * Legacy packages go to the legacy engine and say so: every job of a device whose package is
 * legacy is LEGACY in ListJobs and in its audit start and end records, every other job SECURE.
 * Jobs the last server no longer lists (retention, an earlier server instance) are checked in
 * the audit alone.
 */
export function checkProtocol(e: DayEvidence): InvariantResult {
  const listed = new Map(e.jobsAtEnd.map((j) => [j.jobId, j.protocol]));
  const audited = new Map<string, (string | undefined)[]>();
  for (const l of e.audit) audited.set(l.jobId, [...(audited.get(l.jobId) ?? []), l.protocol]);
  const failures: string[] = [];
  let checked = 0;
  for (const d of e.devices) {
    if (d.protocol === undefined) continue;
    for (const a of d.attempts) {
      if (a.jobId === undefined) continue;
      checked++;
      const who = `${d.label} job ${a.jobId.slice(0, 8)}`;
      const inList = listed.get(a.jobId);
      if (listed.has(a.jobId) && inList !== d.protocol) failures.push(`${who}: ListJobs says ${inList ?? 'no protocol'}, its package is ${d.protocol}`);
      const records = audited.get(a.jobId) ?? [];
      const wrong = records.filter((p) => p !== d.protocol);
      if (wrong.length > 0) failures.push(`${who}: audit records say ${wrong.map((p) => p ?? 'no protocol').join(', ')}, its package is ${d.protocol}`);
    }
  }
  return result(INVARIANT_NAMES.protocol, checked, failures);
}
