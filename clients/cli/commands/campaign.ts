/** `bledfu campaign start|watch|list|show|stop`: update every matching device that comes by (campaign.proto). */
import {
  campaignStateName,
  CampaignState,
  campaignStopReasonName,
  decodeError,
  getCampaign,
  listCampaigns,
  NO_COUNTS,
  startCampaign,
  Status,
  stopCampaign,
  uploadPackage,
  watchCampaign,
  type Campaign,
  type CampaignCounts,
  type DecodedError,
  type DfuOptions,
  type Duration,
} from '../../ts/index.js';
import { campaignFilter, parseAddressesFile, parseMatches, type MatchFilter } from '../campaignMatch.js';
import { CampaignDisplay } from '../campaignDisplay.js';
import { campaignTitle, countsText, formatElapsed, renderCampaignTable } from '../campaignTable.js';
import { parseNumber, unary, UsageError, type CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';
import { durationFromSeconds, durationMs } from '../format.js';
import { formatLabels, parseLabels } from '../labels.js';
import { campaignJson, uploadedRecord } from '../records.js';
import { optionsFrom, type DfuOptionFlags } from './dfu.js';

export interface CampaignStartFlags extends DfuOptionFlags {
  /** `key=value`, repeatable: the filter (campaignMatch.ts). */
  readonly match?: readonly string[];
  readonly addressesFile?: string;
  /** Repeatable: the adapters to use; none: every adapter of the server. */
  readonly adapter?: readonly string[];
  readonly parallel?: string;
  readonly maxAttempts?: string;
  readonly retryDelay?: string;
  readonly maxDevices?: string;
  /** How long to take devices: "2h", "90m", "30s", "45" (seconds). */
  readonly for?: string;
  readonly includeBootloaders?: boolean;
  readonly label?: readonly string[];
  readonly name?: string;
  readonly detach?: boolean;
}

const UNITS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 };

/** "5s", "1.5m", "2h", "500ms", "1d", or a plain number of seconds, from 0 to `maxSeconds`. */
export function parseDurationText(flag: string, text: string | undefined, maxSeconds: number): Duration | undefined {
  if (text === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  const seconds = m === null ? NaN : Number(m[1]) * (UNITS[m[2] ?? 's'] ?? NaN);
  if (!Number.isFinite(seconds) || seconds > maxSeconds) {
    throw new UsageError(`${flag} "${text}" is not a duration from 0 to ${formatElapsed(maxSeconds * 1000)}`, `write e.g. ${flag} 30s, 90m or 2h (ms, s, m, h, d; a plain number is seconds)`);
  }
  return durationFromSeconds(seconds);
}

/** What `campaign start` checks before it talks to the server: every flag, the package, the addresses file. */
export interface PreparedCampaign {
  readonly data: Uint8Array;
  readonly filter: MatchFilter;
  readonly options: Partial<DfuOptions>;
  readonly labels: Record<string, string>;
  readonly parallel?: number;
  readonly maxAttempts?: number;
  readonly retryDelay?: Duration;
  readonly maxDevices?: number;
  readonly duration?: Duration;
}

async function readOrUsage(ctx: CliContext, file: string, what: string): Promise<Uint8Array> {
  try {
    return await ctx.readFile(file);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`, what);
  }
}

export async function prepareCampaign(ctx: CliContext, file: string, flags: CampaignStartFlags): Promise<PreparedCampaign> {
  const matches = parseMatches(flags.match);
  const fileAddresses =
    flags.addressesFile === undefined
      ? []
      : parseAddressesFile(flags.addressesFile, Buffer.from(await readOrUsage(ctx, flags.addressesFile, 'give a file of device addresses, one per line')).toString('utf8'));
  const filter = campaignFilter(matches, fileAddresses);
  const options = optionsFrom(flags);
  const labels = parseLabels('--label', flags.label);
  if (flags.name !== undefined && Buffer.byteLength(flags.name) > 128) throw new UsageError('--name is longer than 128 bytes', 'give a shorter name for people, e.g. "line 3, WO-7"');
  const parallel = parseNumber('--parallel', flags.parallel, 1, 64);
  const maxAttempts = parseNumber('--max-attempts', flags.maxAttempts, 1, 20);
  const maxDevices = parseNumber('--max-devices', flags.maxDevices, 1, 100_000);
  for (const [flag, n] of [['--parallel', parallel], ['--max-attempts', maxAttempts], ['--max-devices', maxDevices]] as const) {
    if (n !== undefined && !Number.isInteger(n)) throw new UsageError(`${flag} must be a whole number, got ${n}`);
  }
  const retryDelay = parseDurationText('--retry-delay', flags.retryDelay, 3600);
  const duration = parseDurationText('--for', flags.for, 7 * 86_400);
  if (duration !== undefined && durationMs(duration) === 0) throw new UsageError('--for 0 would take no device', 'leave --for out to run until stopped');
  const data = await readOrUsage(ctx, file, 'give the path of an nrfutil .zip package');
  return {
    data,
    filter,
    options,
    labels,
    ...(parallel === undefined ? {} : { parallel }),
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
    ...(retryDelay === undefined ? {} : { retryDelay }),
    ...(maxDevices === undefined ? {} : { maxDevices }),
    ...(duration === undefined ? {} : { duration }),
  };
}

/** How to watch and stop a campaign that runs on without us. */
function howTo(id: string): string {
  return `watch it with: bledfu campaign watch ${id}; stop it with: bledfu campaign stop ${id}`;
}

/**
 * Ctrl-C ended the command while the campaign runs on (exit 130). Said on stderr in every mode;
 * --json also ends with an `error` record (code INTERRUPTED).
 */
function detached(ctx: CliContext, message: string, remedy: string): ExitCode {
  ctx.out.note(`${message} (${remedy})`);
  if (!ctx.out.json) return EXIT.interrupted;
  return ctx.out.error({ code: 'INTERRUPTED', grpcCode: Status.CANCELLED, grpcCodeName: 'CANCELLED', message, remedy, metadata: {} });
}

function notStarted(): DecodedError {
  return { code: 'CANCELLED', grpcCode: Status.CANCELLED, grpcCodeName: 'CANCELLED', message: 'stopped by Ctrl-C before the campaign was started: no campaign was started', metadata: {} };
}

/**
 * `campaign start`: uploads the package, starts the campaign and (unless --detach) watches it.
 * Ctrl-C during the upload stops it and starts nothing (exit 6); once the server was asked to
 * start the campaign, the first Ctrl-C only detaches (the campaign runs on; exit 130), and a
 * second one stops waiting for the server's answer at once (exit 130).
 */
export async function startCampaignCommand(ctx: CliContext, file: string, flags: CampaignStartFlags): Promise<ExitCode> {
  const p = await prepareCampaign(ctx, file, flags);
  if (ctx.interrupted.aborted) return ctx.out.error(notStarted());
  // Always by UploadPackage: a package of any size, kept by the server while the campaign runs.
  const onUploadInterrupt = (): void => ctx.out.note('Ctrl-C: stopping the upload; no campaign has been started');
  ctx.interrupted.addEventListener('abort', onUploadInterrupt, { once: true });
  let packageId: string;
  try {
    const uploaded = await uploadPackage(ctx.client, p.data, { signal: AbortSignal.any([ctx.interrupted, ctx.forced]) });
    packageId = uploaded.packageId;
    ctx.out.line(`uploaded ${file}: package ${uploaded.packageId}`);
    ctx.out.record(uploadedRecord(uploaded));
  } catch (e) {
    if (ctx.interrupted.aborted) return ctx.out.error(notStarted());
    throw e;
  } finally {
    ctx.interrupted.removeEventListener('abort', onUploadInterrupt);
  }
  if (ctx.interrupted.aborted) return ctx.out.error(notStarted());
  const onStartInterrupt = (): void => ctx.out.note('Ctrl-C: the campaign is left running on the server once it has started; Ctrl-C again to stop waiting at once');
  ctx.interrupted.addEventListener('abort', onStartInterrupt, { once: true });
  let campaign: Campaign;
  try {
    campaign = await startCampaign(
      ctx.client,
      {
        package: { packageId },
        filter: p.filter,
        adapterIds: flags.adapter ?? [],
        ...(p.parallel === undefined ? {} : { parallelPerAdapter: p.parallel }),
        ...(p.maxAttempts === undefined && p.retryDelay === undefined
          ? {}
          : { retry: { ...(p.maxAttempts === undefined ? {} : { maxAttempts: p.maxAttempts }), ...(p.retryDelay === undefined ? {} : { delay: p.retryDelay }) } }),
        ...(p.maxDevices === undefined ? {} : { maxDevices: p.maxDevices }),
        ...(p.duration === undefined ? {} : { duration: p.duration }),
        includeBootloaders: flags.includeBootloaders === true,
        options: p.options,
        labels: p.labels,
        name: flags.name ?? '',
      },
      { signal: ctx.forced },
    );
  } catch (e) {
    if (ctx.forced.aborted) return detached(ctx, 'stopped before the server reported a campaign', 'bledfu campaign list --active shows whether it started one');
    throw e;
  } finally {
    ctx.interrupted.removeEventListener('abort', onStartInterrupt);
  }
  const id = campaign.campaignId;
  ctx.out.line(`campaign ${id} started${campaign.name === '' ? '' : ` ("${campaign.name}")`} on ${campaign.adapterIds.join(', ') || 'every adapter'}`);
  ctx.out.record({ type: 'campaign', campaign: campaignJson(campaign) });
  if (flags.detach === true) {
    ctx.out.line(`${howTo(id)}`);
    return EXIT.ok;
  }
  if (ctx.interrupted.aborted) return detached(ctx, `campaign ${id} continues on the server`, howTo(id));
  return followCampaign(ctx, id);
}

export async function watchCampaignCommand(ctx: CliContext, id: string): Promise<ExitCode> {
  return followCampaign(ctx, id);
}

/**
 * Shows a campaign's events until it ends; the exit code then says how it went (campaignOutcome).
 * Ctrl-C only stops watching: the campaign is never touched (exit 130).
 */
async function followCampaign(ctx: CliContext, id: string): Promise<ExitCode> {
  const display = new CampaignDisplay(ctx.out);
  try {
    for await (const e of watchCampaign(ctx.client, id, { signal: ctx.interrupted })) {
      display.show(e);
      if (e.type === 'ended') return campaignOutcome(ctx, e.campaign, e.counts);
    }
    if (ctx.interrupted.aborted) return stoppedWatching(ctx, display, id);
    return ctx.out.error({
      code: 'NO_RESULT',
      grpcCode: Status.UNKNOWN,
      grpcCodeName: 'UNKNOWN',
      message: `the server ended the campaign stream before campaign ${id} ended`,
      remedy: `watch it again with: bledfu campaign watch ${id}`,
      metadata: {},
    });
  } catch (e) {
    if (ctx.interrupted.aborted) return stoppedWatching(ctx, display, id);
    display.stop();
    return ctx.out.error(decodeError(e));
  } finally {
    display.stop();
  }
}

function stoppedWatching(ctx: CliContext, display: CampaignDisplay, id: string): ExitCode {
  display.stop();
  return detached(ctx, `stopped watching; campaign ${id} continues on the server`, howTo(id));
}

/**
 * An ended campaign's exit code: 0 when every device it took was updated or already up to date
 * (none taken included), 11 when any FAILED, else 12 when any was NOT_DONE (it was stopped
 * first). Failures end with an `error` record naming the command that shows which devices.
 */
export function campaignOutcome(ctx: CliContext, campaign: Campaign, counts: CampaignCounts): ExitCode {
  const id = campaign.campaignId;
  const remedy = `see which with: bledfu campaign show ${id}`;
  if (counts.failed > 0) {
    return ctx.out.error({
      code: 'CAMPAIGN_DEVICES_FAILED',
      grpcCode: Status.FAILED_PRECONDITION,
      grpcCodeName: 'FAILED_PRECONDITION',
      message: `campaign ${id} ended with ${counts.failed} of ${counts.found} devices failed (${countsText(counts)})`,
      remedy,
      metadata: {},
    });
  }
  if (counts.notDone > 0) {
    return ctx.out.error({
      code: 'CAMPAIGN_NOT_DONE',
      grpcCode: Status.CANCELLED,
      grpcCodeName: 'CANCELLED',
      message: `campaign ${id} ended (${campaignStopReasonName(campaign.stopReason) || 'stopped'}) with ${counts.notDone} of ${counts.found} devices not done (${countsText(counts)})`,
      remedy,
      metadata: {},
    });
  }
  return EXIT.ok;
}

function elapsedOf(c: Campaign): number {
  if (c.createdAt === undefined) return 0;
  const end = c.endedAt ?? (c.state === CampaignState.CAMPAIGN_STATE_ENDED ? c.createdAt : new Date());
  return Math.max(0, end.getTime() - c.createdAt.getTime());
}

/** One line per campaign: "<id>  RUNNING  12:05  "line 3"  found 12  …". */
export function campaignSummary(c: Campaign): string {
  const reason = campaignStopReasonName(c.stopReason);
  const state = `${campaignStateName(c.state)}${reason === '' ? '' : `(${reason})`}`;
  const name = c.name === '' ? '' : `  "${c.name}"`;
  const counts = c.counts === undefined ? '' : `  ${countsText(c.counts)}`;
  return `${c.campaignId}  ${state.padEnd(19)} ${formatElapsed(elapsedOf(c)).padStart(8)}${name}${counts}`;
}

export async function listCampaignsCommand(ctx: CliContext, flags: { active?: boolean }): Promise<ExitCode> {
  const campaigns = await listCampaigns(ctx.client, { activeOnly: flags.active === true, ...unary(ctx) });
  for (const c of campaigns) {
    ctx.out.line(campaignSummary(c));
    ctx.out.record({ type: 'campaign', campaign: campaignJson(c) });
  }
  if (campaigns.length === 0) ctx.out.line('no campaigns');
  return EXIT.ok;
}

/** What the campaign was started with, as `campaign show` prints it under its title. */
function settingsLines(c: Campaign): string[] {
  const f = c.filter;
  const filter = [
    f?.name ? `name=${f.name}` : '',
    f?.namePrefix ? `name-prefix=${f.namePrefix}` : '',
    f?.serviceUuid ? `service=${f.serviceUuid}` : '',
    f?.manufacturerId === undefined ? '' : `mfr=0x${f.manufacturerId.toString(16).padStart(4, '0')}${f.manufacturerDataPrefix.length === 0 ? '' : `:${f.manufacturerDataPrefix.toString('hex')}`}`,
    f?.minRssi === undefined ? '' : `min-rssi=${f.minRssi}`,
    f === undefined || f.addresses.length === 0 ? '' : `addresses=${f.addresses.length}`,
  ].filter((s) => s !== '');
  const limits = [
    `parallel ${c.parallelPerAdapter || 1} per adapter`,
    `max attempts ${c.retry?.maxAttempts ?? 3}`,
    c.maxDevices === 0 ? '' : `max devices ${c.maxDevices}`,
    c.duration === undefined || durationMs(c.duration) === 0 ? '' : `for ${formatElapsed(durationMs(c.duration) ?? 0)}`,
    c.includeBootloaders ? 'includes bootloaders' : '',
  ].filter((s) => s !== '');
  return [
    `match: ${filter.join(' ') || '(none)'}  adapters: ${c.adapterIds.join(', ') || '(every adapter)'}  ${limits.join(', ')}`,
    `package sha256=${c.packageSha256}${c.requestedBy === '' ? '' : `  by=${c.requestedBy}`}${c.stoppedBy === '' ? '' : `  stopped by=${c.stoppedBy}`}`,
    ...(Object.keys(c.labels).length === 0 ? [] : [`labels: ${formatLabels(c.labels)}`]),
  ];
}

/** One campaign with its settings and a row per device (the live table's, whole). */
export async function showCampaignCommand(ctx: CliContext, id: string): Promise<ExitCode> {
  const c = await getCampaign(ctx.client, id, unary(ctx));
  // Piped, nothing is cut: a report is read whole.
  const columns = ctx.out.interactive ? ctx.out.columns : 10_000;
  const [title, ...rest] = renderCampaignTable({ campaign: c, counts: c.counts ?? NO_COUNTS, devices: c.devices, elapsedMs: elapsedOf(c) }, columns);
  for (const line of [title ?? campaignTitle(c, elapsedOf(c)), ...settingsLines(c), ...rest]) ctx.out.line(line);
  ctx.out.record({ type: 'campaign', campaign: campaignJson(c) });
  return EXIT.ok;
}

/**
 * Stops a campaign taking devices (--cancel-jobs: cancels its running jobs too). A campaign that
 * had already ended is said so on stderr, exit 9, as `jobs cancel` does for a job.
 */
export async function stopCampaignCommand(ctx: CliContext, id: string, flags: { cancelJobs?: boolean }): Promise<ExitCode> {
  const before = await getCampaign(ctx.client, id, unary(ctx)).then(
    (c) => c,
    () => undefined,
  );
  if (before?.state === CampaignState.CAMPAIGN_STATE_ENDED) return alreadyEnded(ctx, before);
  const c = await stopCampaign(ctx.client, id, { cancelJobs: flags.cancelJobs === true, ...unary(ctx) });
  const running = c.counts?.running ?? 0;
  const jobs = running === 0 ? 'no job was running' : flags.cancelJobs === true ? `its ${running} running job(s) are being cancelled` : `its ${running} running job(s) run to their end`;
  ctx.out.line(`stop requested: ${campaignSummary(c)}; ${jobs}`);
  ctx.out.record({ type: 'campaign', campaign: campaignJson(c) });
  return EXIT.ok;
}

function alreadyEnded(ctx: CliContext, c: Campaign): ExitCode {
  ctx.out.line(campaignSummary(c));
  ctx.out.record({ type: 'campaign', campaign: campaignJson(c) });
  return ctx.out.error({
    code: 'CAMPAIGN_ALREADY_ENDED',
    grpcCode: Status.FAILED_PRECONDITION,
    grpcCodeName: 'FAILED_PRECONDITION',
    message: `campaign ${c.campaignId} had already ended; nothing was stopped`,
    remedy: `see bledfu campaign show ${c.campaignId}`,
    metadata: {},
  });
}
