/**
 * The commands with several servers (--server a,b or a dns:/// name). Listings run on every
 * server and prefix each line with the server (`server` in --json); a server that fails is a
 * warning as long as another answered. dfu and connect go to the server that sees the device;
 * jobs watch|cancel|capture to the server named in `<server>/<id>`, or the one that has the id.
 * Routed commands then run exactly as with one server.
 */
import {
  Adapter,
  Advertisement,
  type AuditRecord,
  combinedFailure,
  parseJobRef,
  SerialPort,
  type DecodedError,
  type FleetResults,
  type JobRef,
  type Located,
  type Target,
} from '../../ts/index.js';
import { parseNumber, targetFrom, unary, type CliContext, type FleetContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';
import { auditRecordJson, jobJson } from '../records.js';
import { adapterLine } from './adapters.js';
import { auditQuery, auditRecords, auditSummary, checkAuditOutput, type AuditFlags } from './audit.js';
import { auditCsv } from './auditCsv.js';
import { jobCaptureCommand } from './capture.js';
import { connectCommand, type ConnectFlags } from './connect.js';
import { prepareDfu, runDfu, watchCommand, type DfuFlags } from './dfu.js';
import { cancelJobCommand, jobSummary, type ListJobsFlags } from './jobs.js';
import { NO_PORTS, portLine } from './ports.js';
import { advertisementLine, rssiText, scanSettings, type ScanFlags } from './scan.js';

/** Warns about the servers that failed; the error (and its exit code) only when none answered. */
function reportFailures<T>(ctx: FleetContext, r: FleetResults<T>): ExitCode | undefined {
  if (r.results.length === 0) return ctx.out.error(combinedFailure(r.failures));
  for (const f of r.failures) ctx.out.warning(f.error, f.server);
  return undefined;
}

/** The context of a command routed to one server of the fleet. */
async function routed(ctx: FleetContext, server: string): Promise<CliContext> {
  const { fleet, ...base } = ctx;
  return { ...base, client: await fleet.client(server), server, out: ctx.out.forServer(server) };
}

export async function fleetAdaptersCommand(ctx: FleetContext): Promise<ExitCode> {
  const r = await ctx.fleet.adapters(unary(ctx));
  const failed = reportFailures(ctx, r);
  if (failed !== undefined) return failed;
  let count = 0;
  for (const { server, value } of r.results) {
    for (const a of value) {
      ctx.out.line(`${server}  ${adapterLine(a)}`);
      ctx.out.record({ type: 'adapter', server, adapter: Adapter.toJSON(a) });
      count++;
    }
  }
  if (count === 0) ctx.out.line('no adapters');
  return EXIT.ok;
}

export async function fleetPortsCommand(ctx: FleetContext): Promise<ExitCode> {
  const call = unary(ctx);
  const r = await ctx.fleet.each(async (c) => (await c.listSerialPorts({}, call)).ports);
  const failed = reportFailures(ctx, r);
  if (failed !== undefined) return failed;
  for (const { server, value } of r.results) {
    if (value.length === 0) ctx.out.line(`${server}  ${NO_PORTS}`);
    for (const p of value) {
      ctx.out.line(`${server}  ${portLine(p)}`);
      ctx.out.record({ type: 'serialPort', server, port: SerialPort.toJSON(p) });
    }
  }
  return EXIT.ok;
}

export async function fleetScanCommand(ctx: FleetContext, flags: ScanFlags): Promise<ExitCode> {
  const { filter, seconds } = scanSettings(flags);
  const { servers } = await ctx.fleet.servers();
  const failed = new Map<string, DecodedError>();
  let count = 0;
  // Ctrl-C ends a scan normally: it is how an open-ended scan is meant to stop.
  for await (const e of ctx.fleet.scan(
    {
      adapterId: flags.adapter ?? '',
      filter,
      ...(seconds === 0 ? {} : { durationSeconds: seconds }),
      allowDuplicates: flags.duplicates === true,
      active: flags.active === true,
    },
    { signal: ctx.interrupted },
  )) {
    if (e.type === 'failure') {
      failed.set(e.server, e.error);
      ctx.out.warning(e.error, e.server);
      continue;
    }
    count++;
    ctx.out.line(`${e.server}  ${advertisementLine(e.advertisement)}`);
    ctx.out.record({ type: 'advertisement', server: e.server, advertisement: Advertisement.toJSON(e.advertisement) });
  }
  if (!ctx.interrupted.aborted && servers.every((s) => failed.has(s.server))) {
    return ctx.out.error(combinedFailure([...failed].map(([server, error]) => ({ server, error }))));
  }
  ctx.out.line(`${count} device(s)`);
  return EXIT.ok;
}

/** Finds the server that sees the device and says so. */
async function locate(ctx: FleetContext, target: Target, adapter: string | undefined, scanTimeout: string | undefined): Promise<Located> {
  const seconds = parseNumber('--scan-timeout', scanTimeout, 0.1, 3600) ?? 10;
  const located = await ctx.fleet.locate(target, {
    timeoutMs: seconds * 1000,
    signal: ctx.interrupted,
    ...(adapter === undefined ? {} : { adapterId: adapter }),
  });
  const ad = located.advertisement;
  const others = located.sightings.slice(1).map((s) => `${s.server} (rssi ${rssiText(s.advertisement.rssi)})`);
  ctx.out.line(
    `device ${ad.address?.value ?? '?'}${ad.name === '' ? '' : ` "${ad.name}"`} seen by server ${located.server} (rssi ${rssiText(ad.rssi)})` +
      (others.length === 0 ? '' : `; also seen by ${others.join(', ')}`),
  );
  ctx.out.record({
    type: 'located',
    server: located.server,
    advertisement: Advertisement.toJSON(ad),
    sightings: located.sightings.map((s) => ({ server: s.server, rssi: s.advertisement.rssi })),
  });
  return located;
}

export async function fleetDfuCommand(ctx: FleetContext, file: string, flags: DfuFlags): Promise<ExitCode> {
  // Everything that can be checked locally is, before scanning the fleet.
  const prepared = await prepareDfu(ctx, file, flags);
  const located = await locate(ctx, prepared.target, flags.adapter, flags.scanTimeout);
  return runDfu(await routed(ctx, located.server), prepared, flags);
}

export async function fleetConnectCommand(ctx: FleetContext, flags: ConnectFlags): Promise<ExitCode> {
  const located = await locate(ctx, targetFrom(flags), flags.adapter, flags.scanTimeout);
  return connectCommand(await routed(ctx, located.server), flags);
}

export async function fleetListJobsCommand(ctx: FleetContext, flags: ListJobsFlags): Promise<ExitCode> {
  const r = await ctx.fleet.jobs({ activeOnly: flags.active === true, ...(flags.campaign === undefined ? {} : { campaignId: flags.campaign }), ...unary(ctx) });
  const failed = reportFailures(ctx, r);
  if (failed !== undefined) return failed;
  let count = 0;
  for (const { server, value } of r.results) {
    for (const job of value) {
      ctx.out.line(`${server}  ${jobSummary(job)}`);
      ctx.out.record({ type: 'job', server, job: jobJson(job) });
      count++;
    }
  }
  if (count === 0) ctx.out.line('no jobs');
  return EXIT.ok;
}

/** `<server>/<id>`, or the server that has the id. */
async function jobOn(ctx: FleetContext, text: string): Promise<JobRef> {
  const ref = parseJobRef(text);
  return 'server' in ref ? ref : ctx.fleet.findJob(ref.jobId, unary(ctx));
}

export async function fleetWatchCommand(ctx: FleetContext, id: string): Promise<ExitCode> {
  const ref = await jobOn(ctx, id);
  return watchCommand(await routed(ctx, ref.server), ref.jobId);
}

export async function fleetCancelJobCommand(ctx: FleetContext, id: string): Promise<ExitCode> {
  const ref = await jobOn(ctx, id);
  return cancelJobCommand(await routed(ctx, ref.server), ref.jobId);
}

export async function fleetJobCaptureCommand(ctx: FleetContext, id: string, file: string): Promise<ExitCode> {
  const ref = await jobOn(ctx, id);
  return jobCaptureCommand(await routed(ctx, ref.server), ref.jobId, file);
}

export async function fleetAuditCommand(ctx: FleetContext, flags: AuditFlags): Promise<ExitCode> {
  checkAuditOutput(ctx, flags);
  const query = auditQuery(flags);
  const call = unary(ctx);
  const r = await ctx.fleet.each(async (client) => {
    const records: AuditRecord[] = [];
    for await (const record of auditRecords(client, query, call)) records.push(record);
    return records;
  });
  const failed = reportFailures(ctx, r);
  if (failed !== undefined) return failed;
  // One log, oldest first, as with one server.
  const all = r.results
    .flatMap(({ server, value }) => value.map((record) => ({ server, record })))
    .sort((x, y) => (x.record.startedAt?.getTime() ?? 0) - (y.record.startedAt?.getTime() ?? 0));
  if (flags.csv === true) {
    for (const line of auditCsv(all, true)) ctx.out.line(line);
    return EXIT.ok;
  }
  for (const { server, record } of all) {
    ctx.out.line(`${server}  ${auditSummary(record)}`);
    ctx.out.record({ type: 'audit', server, record: auditRecordJson(record) });
  }
  if (all.length === 0) ctx.out.line('no audit records');
  return EXIT.ok;
}
