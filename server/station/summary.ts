/**
 * What a station day came to: the summary (a function of the options and of nothing else: the
 * server and the station run on one modelled clock), the report around it, and how both are
 * printed.
 */
import type { FaultPlan } from './faults.js';
import { EXPECTED_CODE, type HostileOutcome } from './hostile.js';
import { firmwareOutcome, formatClock, formatInvariantTable, type DeviceOutcome, type InvariantResult } from './invariants.js';
import type { AttemptRecord } from './operator.js';
import type { StationDevice } from './population.js';
import type { TechnicianOutcome } from './technician.js';

/** What a day came to: a function of the options (seed, sizes, dongles, packages) alone. */
export interface StationSummary {
  readonly seed: number;
  readonly devices: number;
  readonly adapters: readonly string[];
  readonly modelledHours: number;
  readonly devicesByKind: Readonly<Record<string, number>>;
  readonly devicesUpdated: number;
  /** Devices already on the version: their job ended UP_TO_DATE with their application kept. */
  readonly devicesUpToDate: number;
  readonly devicesWithTheirOwnError: number;
  readonly devicesWrong: number;
  readonly jobs: number;
  readonly attempts: number;
  readonly devicesNeedingRetry: number;
  readonly failuresByCode: Readonly<Record<string, number>>;
  readonly faultsPlanned: Readonly<Record<string, number>>;
  readonly unplugs: number;
  readonly kills: number;
  /** Modelled ms from each device's first attempt to the start of its last, summed. */
  readonly timeLostToFaultsMs: number;
  /** Devices that ended on their new firmware, per modelled hour, per dongle. */
  readonly updatedPerHourPerDongle: number;
  /** The hostile client's calls: made, refused with their expected code, cut by a kill. */
  readonly hostileCalls: number;
  readonly hostileRefusedAsExpected: number;
  readonly hostileLost: number;
  /** By kind: how many, and the codes they were refused with. */
  readonly hostileByKind: Readonly<Record<string, number>>;
  /** The technician's Connect calls: made, that connected, that found nothing (DEVICE_NOT_FOUND). */
  readonly technicianCalls: number;
  readonly technicianConnected: number;
  readonly technicianNotFound: number;
  /** DFUs refused DEVICE_CONNECTED (a Connect call held the device). */
  readonly refusedDeviceConnected: number;
  /** Attempts (jobs) that asked for retries 0, those that failed, and those that failed a damaged object at once. */
  readonly attemptsWithNoRetries: number;
  readonly noRetriesFailed: number;
  readonly noRetriesDamagedObjectFailed: number;
}

export interface StationReport {
  readonly ok: boolean;
  readonly summary: StationSummary;
  readonly invariants: readonly InvariantResult[];
  readonly rerun: string;
  /** Machine-dependent facts, kept out of the summary. */
  readonly diagnostics: {
    readonly realMs: number;
    readonly blAppIncluded: boolean;
  };
  readonly attempts: readonly AttemptRecord[];
}


export function summarize(
  options: { readonly seed: number },
  adapterLabels: readonly string[],
  devices: readonly StationDevice[],
  outcomes: readonly DeviceOutcome[],
  plan: FaultPlan,
  hostile: readonly HostileOutcome[],
  technician: readonly TechnicianOutcome[],
  modelledMs: number,
): StationSummary {
  const noRetries = outcomes.flatMap((o) => o.attempts).filter((a) => a.retries === 0 && a.jobId !== undefined);
  const all = outcomes.flatMap((o) => o.attempts);
  const byKind: Record<string, number> = {};
  for (const d of devices) byKind[d.kind] = (byKind[d.kind] ?? 0) + 1;
  const failuresByCode: Record<string, number> = {};
  for (const a of all) {
    if (a.result === 'SUCCEEDED' || a.result === 'UP_TO_DATE') continue;
    const code = a.result === 'LOST' ? 'LOST (server killed)' : a.result === 'CANCELLED' ? 'CANCELLED' : (a.errorCode ?? a.result);
    failuresByCode[code] = (failuresByCode[code] ?? 0) + 1;
  }
  const faultsPlanned: Record<string, number> = {};
  for (const fs of plan.devices.values()) for (const f of fs) faultsPlanned[f.kind] = (faultsPlanned[f.kind] ?? 0) + 1;
  let updated = 0;
  let upToDate = 0;
  let ownError = 0;
  let wrong = 0;
  for (const o of outcomes) {
    const ended = firmwareOutcome(o).kind;
    if (ended === 'wrong') wrong++;
    else if (ended === 'updated') updated++;
    else if (ended === 'upToDate') upToDate++;
    else ownError++;
  }
  const lost = outcomes.reduce((sum, o) => {
    const first = o.attempts[0];
    const last = o.attempts.at(-1);
    return first === undefined || last === undefined ? sum : sum + (last.startedAtMs - first.startedAtMs);
  }, 0);
  const hours = modelledMs / 3_600_000;
  const sorted = (r: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
  return {
    seed: options.seed,
    devices: devices.length,
    adapters: adapterLabels,
    modelledHours: Math.round(hours * 1000) / 1000,
    devicesByKind: sorted(byKind),
    devicesUpdated: updated,
    devicesUpToDate: upToDate,
    devicesWithTheirOwnError: ownError,
    devicesWrong: wrong,
    jobs: all.filter((a) => a.jobId !== undefined).length,
    attempts: all.length,
    devicesNeedingRetry: outcomes.filter((o) => o.attempts.length > 1).length,
    failuresByCode: sorted(failuresByCode),
    faultsPlanned: sorted(faultsPlanned),
    unplugs: plan.station.filter((e) => e.kind === 'unplug').length,
    kills: plan.station.filter((e) => e.kind === 'kill').length,
    timeLostToFaultsMs: Math.round(lost),
    hostileCalls: hostile.length,
    hostileRefusedAsExpected: hostile.filter((h) => !h.lost && h.jobId === undefined && h.code === EXPECTED_CODE[h.call.kind]).length,
    hostileLost: hostile.filter((h) => h.lost).length,
    hostileByKind: sorted(
      hostile.reduce<Record<string, number>>((r, h) => {
        const k = `${h.call.kind} → ${h.lost ? 'lost' : h.jobId !== undefined ? 'ACCEPTED' : (h.code ?? 'none')}`;
        r[k] = (r[k] ?? 0) + 1;
        return r;
      }, {}),
    ),
    technicianCalls: technician.length,
    technicianConnected: technician.filter((t) => t.connectedAtMs !== undefined).length,
    technicianNotFound: technician.filter((t) => t.code === 'DEVICE_NOT_FOUND').length,
    refusedDeviceConnected: outcomes.flatMap((o) => o.attempts).filter((a) => a.result === 'REFUSED' && a.errorCode === 'DEVICE_CONNECTED').length,
    attemptsWithNoRetries: noRetries.length,
    noRetriesFailed: noRetries.filter((a) => a.result === 'FAILED').length,
    noRetriesDamagedObjectFailed: noRetries.filter((a) => a.result === 'FAILED' && a.errorCode === 'DFU_CRC_MISMATCH' && a.faults.some((f) => f.startsWith('damaged-object'))).length,
    updatedPerHourPerDongle: Math.round((updated / Math.max(hours, 1e-9) / Math.max(1, adapterLabels.length)) * 100) / 100,
  };
}

export function formatSummary(s: StationSummary): string {
  const kv = (r: Readonly<Record<string, number>>): string => Object.entries(r).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  return [
    `seed ${s.seed}: ${s.devices} devices on ${s.adapters.length} dongles (${s.adapters.join(', ')}), ${s.modelledHours} modelled hours`,
    `devices: ${kv(s.devicesByKind)}`,
    `updated ${s.devicesUpdated}, already up to date ${s.devicesUpToDate}, ended with their own device error ${s.devicesWithTheirOwnError}, wrong ${s.devicesWrong}`,
    `jobs ${s.jobs} (attempts ${s.attempts}), devices needing a retry ${s.devicesNeedingRetry}`,
    `failures by code: ${kv(s.failuresByCode)}`,
    `faults planned: ${kv(s.faultsPlanned)}; unplugs ${s.unplugs}, kills ${s.kills}`,
    `hostile calls: ${s.hostileCalls} made, ${s.hostileRefusedAsExpected} refused as expected${s.hostileLost === 0 ? '' : `, ${s.hostileLost} lost to a kill`} (${kv(s.hostileByKind)})`,
    `technician's Connect calls: ${s.technicianCalls} (connected ${s.technicianConnected}, found nothing ${s.technicianNotFound}); DFUs refused DEVICE_CONNECTED ${s.refusedDeviceConnected}`,
    `attempts asking for retries 0: ${s.attemptsWithNoRetries} (failed ${s.noRetriesFailed}, of which a damaged object failed at once ${s.noRetriesDamagedObjectFailed})`,
    `time lost to faults ${formatClock(s.timeLostToFaultsMs)} (modelled)`,
    `devices updated per hour per dongle ${s.updatedPerHourPerDongle} (modelled time)`,
  ].join('\n');
}

/** Starts the one line of a report that depends on the machine (compare reports without it). */
export const REAL_TIME_PREFIX = 'diagnostics (not part of the day): real time';
/** The same line of a campaign-mode report (campaignRun.ts formatCampaignReport). */
export const CAMPAIGN_REAL_TIME_PREFIX = 'diagnostics (not part of the run): real time';

export function formatReport(r: StationReport): string {
  const lines = [formatInvariantTable(r.invariants), '', formatSummary(r.summary), ''];
  lines.push(`bootloader+application package ${r.diagnostics.blAppIncluded ? 'included' : 'not available (no bl-app boards)'}`);
  lines.push(`${REAL_TIME_PREFIX} ${(r.diagnostics.realMs / 1000).toFixed(1)} s`);
  lines.push(r.ok ? `PASS (seed ${r.summary.seed})` : `FAIL (seed ${r.summary.seed}) — rerun with: ${r.rerun}`);
  return lines.join('\n');
}

