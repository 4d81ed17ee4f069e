/**
 * The bledfu command line, as a function of argv, streams and environment so it can be tested
 * in-process; main.ts binds it to the real process.
 */
import { Command, CommanderError, Option } from 'commander';
import { BledfuFleet, createBledfuClient, decodeError, DEFAULT_SERVER, type BledfuClientOptions } from '../ts/index.js';
import { adaptersCommand } from './commands/adapters.js';
import { auditCommand, type AuditFlags } from './commands/audit.js';
import { portsCommand } from './commands/ports.js';
import { jobCaptureCommand } from './commands/capture.js';
import { keysDisplayCommand, keysGenerateCommand, type KeysDisplayFlags } from './commands/keys.js';
import { BOOT_VALIDATIONS, collect, pkgDisplayCommand, pkgGenerateCommand, type PkgGenerateFlags } from './commands/pkg.js';
import { connectCommand, type ConnectFlags } from './commands/connect.js';
import { dfuCommand, watchCommand, type DfuFlags } from './commands/dfu.js';
import {
  fleetAdaptersCommand,
  fleetAuditCommand,
  fleetCancelJobCommand,
  fleetConnectCommand,
  fleetDfuCommand,
  fleetJobCaptureCommand,
  fleetListJobsCommand,
  fleetPortsCommand,
  fleetScanCommand,
  fleetWatchCommand,
} from './commands/fleet.js';
import {
  listCampaignsCommand,
  showCampaignCommand,
  startCampaignCommand,
  stopCampaignCommand,
  watchCampaignCommand,
  type CampaignStartFlags,
} from './commands/campaign.js';
import { healthCommand, type HealthFlags } from './commands/health.js';
import { cancelJobCommand, listJobsCommand, showJobCommand, type ListJobsFlags } from './commands/jobs.js';
import { inventoryCommand, type InventoryFlags } from './commands/inventory.js';
import { scanCommand, type ScanFlags } from './commands/scan.js';
import { parseNumber, usageError, UsageError, type CliBase, type CliContext, type FleetContext } from './context.js';
import { EXIT, type ExitCode } from './exitCodes.js';
import type { ReadFile, WriteFile } from './files.js';
import { Output, type Io } from './output.js';

export interface CliEnvironment {
  readonly io: Io;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: ReadFile;
  /** Must honour WriteOptions (atomic, new): `pkg generate` and `keys generate` rely on them. */
  readonly writeFile: WriteFile;
  readonly interrupted: AbortSignal;
  readonly forced: AbortSignal;
}

interface GlobalFlags {
  readonly server: string;
  readonly json?: boolean;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly token?: string;
  readonly timeout?: string;
}

/** TLS files and token from the flags (or their BLEDFU_* defaults) as client options. */
async function securityOptions(flags: GlobalFlags, readFile: (path: string) => Promise<Uint8Array>): Promise<BledfuClientOptions> {
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new UsageError('--cert and --key go together', 'give both (PEM files) for a server that requires client certificates');
  }
  const read = async (flag: string, path: string | undefined): Promise<Uint8Array | undefined> => {
    if (path === undefined) return undefined;
    try {
      return await readFile(path);
    } catch (e) {
      throw new UsageError(`cannot read ${flag} ${path}: ${(e as Error).message}`);
    }
  };
  const [ca, cert, key] = await Promise.all([read('--ca', flags.ca), read('--cert', flags.cert), read('--key', flags.key)]);
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined || key === undefined ? {} : { cert, key }),
    ...(flags.token === undefined ? {} : { token: flags.token }),
  };
}

/** gRPC target schemes passed through as given (unix:/path, dns:///host:port, …). */
const TARGET_SCHEME = /^(?:dns|unix|unix-abstract|ipv4|ipv6|vsock):/;
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

/**
 * The --server value as a channel target. A malformed one is a usage error: given to the channel
 * as is, an empty host makes grpc-js wait forever instead of failing.
 */
export function serverAddress(text: string): string {
  const value = text.trim();
  if (TARGET_SCHEME.test(value)) return value;
  const port = HOST_PORT.exec(value)?.[1];
  if (port === undefined || Number(port) < 1 || Number(port) > 65535) {
    throw new UsageError(
      `--server must be host:port, got "${text}"`,
      `for example --server ${DEFAULT_SERVER}, or set BLEDFU_SERVER (unset or empty means ${DEFAULT_SERVER})`,
    );
  }
  return value;
}

/**
 * The --server value: one address (a plain host:port talks to that server exactly as always), or
 * a fleet — several comma-separated entries, or any `dns:///name:port` entry, every address of
 * which is a server of its own.
 */
export function serverTargets(text: string): { readonly kind: 'single'; readonly address: string } | { readonly kind: 'fleet'; readonly targets: readonly string[] } {
  const entries = text.split(',').map((e) => e.trim());
  if (entries.some((e) => e === '')) {
    throw new UsageError(`--server has an empty entry: "${text}"`, 'separate servers with single commas: --server host1:50051,host2:50051');
  }
  const [only] = entries;
  if (entries.length === 1 && only !== undefined && !only.startsWith('dns:')) return { kind: 'single', address: serverAddress(only) };
  return {
    kind: 'fleet',
    targets: entries.map((e) => {
      if (!e.startsWith('dns:')) return serverAddress(e);
      if (!/^dns:\/\/\/[^/]+:\d{1,5}$/.test(e)) throw new UsageError(`--server entry "${e}" is not dns:///name:port`, 'for example dns:///bledfu.bledfu.svc.cluster.local:50051');
      return e;
    }),
  };
}

/** An empty variable is unset, as for BLEDFU_SERVER. */
function fromEnv(option: Option, value: string | undefined): Option {
  const v = value?.trim();
  return v === undefined || v === '' ? option : option.default(v, 'from the environment');
}

export async function runCli(argv: readonly string[], environment: CliEnvironment): Promise<ExitCode> {
  let exitCode: ExitCode = EXIT.ok;
  let close: (() => void) | undefined;
  const program = new Command('bledfu');

  /**
   * Wraps a command: builds the context for one server or for several, maps any failure to an
   * exit code. A command without a fleet version takes one server only.
   */
  const run =
    <A extends unknown[]>(single: (ctx: CliContext, ...args: A) => Promise<ExitCode>, fleet?: (ctx: FleetContext, ...args: A) => Promise<ExitCode>) =>
    async (...args: A): Promise<void> => {
      const flags = program.opts<GlobalFlags>();
      const out = new Output(environment.io, flags.json === true);
      try {
        const timeoutSeconds = parseNumber('--timeout', flags.timeout, 0.001, 86_400);
        const base: CliBase = {
          out,
          interrupted: environment.interrupted,
          forced: environment.forced,
          readFile: environment.readFile,
          writeFile: environment.writeFile,
          ...(timeoutSeconds === undefined ? {} : { timeoutMs: timeoutSeconds * 1000 }),
        };
        const servers = serverTargets(flags.server);
        const security = await securityOptions(flags, environment.readFile);
        if (servers.kind === 'single') {
          const client = createBledfuClient(servers.address, security);
          close = () => client.close();
          exitCode = await single({ ...base, client }, ...args);
        } else {
          if (fleet === undefined) throw new UsageError('this command talks to one server', 'give a single host:port in --server');
          const f = new BledfuFleet(servers.targets, security);
          close = () => f.close();
          exitCode = await fleet({ ...base, fleet: f }, ...args);
        }
      } catch (e) {
        exitCode = out.error(e instanceof UsageError ? e.decoded : decodeError(e));
      }
    };

  /** Wraps a command that needs no server (packages, keys): the same output and exit codes. */
  const local =
    <A extends unknown[]>(command: (ctx: CliBase, ...args: A) => Promise<ExitCode>) =>
    async (...args: A): Promise<void> => {
      const out = new Output(environment.io, program.opts<GlobalFlags>().json === true);
      try {
        exitCode = await command(
          { out, interrupted: environment.interrupted, forced: environment.forced, readFile: environment.readFile, writeFile: environment.writeFile },
          ...args,
        );
      } catch (e) {
        exitCode = out.error(e instanceof UsageError ? e.decoded : decodeError(e));
      }
    };

  program
    .description('Firmware-update Nordic nRF5 devices over Bluetooth LE through a bledfu server; make their DFU packages and signing keys')
    .addOption(
      // An empty BLEDFU_SERVER is unset, as for the server's own BLEDFU_* variables.
      new Option(
        '--server <host:port,...>',
        'bledfu server address (env BLEDFU_SERVER); several comma-separated, or dns:///name:port for every address of a name, make a fleet',
      ).default(
        environment.env['BLEDFU_SERVER']?.trim() || DEFAULT_SERVER,
      ),
    )
    .option('--json', 'print NDJSON records (one JSON object per line) instead of text')
    .option('--timeout <seconds>', 'deadline of each request-response call (listings, jobs show/cancel, audit, campaign show/stop, health); default none, except 3 for health; not of scan, connect, dfu, campaign start or watch')
    .addOption(fromEnv(new Option('--ca <file>', 'CA (PEM) to trust the server\'s TLS certificate with; turns TLS on (env BLEDFU_CA)'), environment.env['BLEDFU_CA']))
    .addOption(fromEnv(new Option('--cert <file>', 'client certificate (PEM) for mutual TLS; turns TLS on (env BLEDFU_CERT)'), environment.env['BLEDFU_CERT']))
    .addOption(fromEnv(new Option('--key <file>', 'private key (PEM) of --cert (env BLEDFU_KEY)'), environment.env['BLEDFU_KEY']))
    .addOption(
      // The environment keeps the token out of `ps` and shell history; the flag is for one-offs.
      fromEnv(new Option('--token <token>', 'bearer token for a server with a tokens file (env BLEDFU_TOKEN, preferred)'), environment.env['BLEDFU_TOKEN']),
    )
    .exitOverride()
    .configureOutput({
      writeOut: (s) => environment.io.stdout.write(s),
      writeErr: (s) => environment.io.stderr.write(s),
    })
    .showHelpAfterError();

  program
    .command('adapters')
    .description('list the server\'s Bluetooth adapters')
    .action(run((ctx) => adaptersCommand(ctx), (ctx) => fleetAdaptersCommand(ctx)));
  program
    .command('ports')
    .description('list the serial ports of the server\'s host (candidate dongles for hci:/nrf: adapter specs)')
    .action(run((ctx) => portsCommand(ctx), (ctx) => fleetPortsCommand(ctx)));

  program
    .command('scan')
    .description('list advertising devices')
    .option('--name <name>', 'exact advertised name')
    .option('--prefix <prefix>', 'advertised name prefix')
    .option('--address <address>', 'device address AA:BB:CC:DD:EE:FF')
    .option('--service <uuid>', 'advertised service UUID (16-bit "FE59" or 128-bit)')
    .option('--min-rssi <dBm>', 'minimum signal strength')
    .option('--duration <seconds>', 'how long to scan; 0 = until Ctrl-C', '10')
    .option('--dfu-only', 'only DFU bootloaders')
    .option('--active', 'send scan requests (to see names in scan responses)')
    .option('--duplicates', 'report every advertisement, not one per device')
    .option('--adapter <id>', 'adapter to use (default: the first ready one)')
    .action(run((ctx, flags: ScanFlags) => scanCommand(ctx, flags), (ctx, flags: ScanFlags) => fleetScanCommand(ctx, flags)));

  program
    .command('inventory')
    .description('list the devices in range and what each is (buttonless app, DFU bootloader and its app address, legacy, no DFU), to find units stranded in DFU mode')
    .option('--adapter <id>', 'adapter to listen with (repeatable; default every ready one)', collect)
    .option('--for <time>', 'how long to listen, 0.1s to 60s (e.g. 3s, 500ms; default 3s)')
    .option('--probe', 'connect to devices whose advertisement does not say what they are (kind, Device Information)')
    .option('--name-prefix <prefix>', 'advertised name prefix')
    .option('--min-rssi <dBm>', 'minimum signal strength')
    .action(run((ctx, flags: InventoryFlags) => inventoryCommand(ctx, flags)));

  program
    .command('connect')
    .description('connect to a device and show its GATT layout; Ctrl-C disconnects')
    .option('--address <address>', 'device address')
    .option('--name <name>', 'exact advertised name')
    .option('--adapter <id>', 'adapter to use')
    .option('--mtu <bytes>', 'ATT MTU to request')
    .option('--scan-timeout <seconds>', 'how long to look for the device')
    .option('--once', 'disconnect right after showing the layout')
    .action(run((ctx, flags: ConnectFlags) => connectCommand(ctx, flags), (ctx, flags: ConnectFlags) => fleetConnectCommand(ctx, flags)));

  program
    .command('dfu')
    .description('update a device with an nrfutil package (.zip); Ctrl-C cancels the job (a second Ctrl-C stops waiting for its end)')
    .argument('<package>', 'nrfutil DFU package (.zip)')
    .option('--address <address>', 'device address (the bootloader\'s address + 1 is handled by the server)')
    .option('--name <name>', 'exact advertised name')
    .option('--adapter <id>', 'adapter to use')
    .option('--prn <n>', 'packet receipt notification interval (0 = let the server choose: flow control, and one PRN at each object\'s last packet)')
    .option('--mtu <bytes>', 'ATT MTU to request (default 247)')
    .option('--retries <n>', 'resends of a damaged object and reconnects after a link loss, 0 to 100 (0: none; default 3)')
    .addOption(new Option('--buttonless <mode>', 'how to enter the bootloader').choices(['auto', 'required', 'off']))
    .option('--scan-timeout <seconds>', 'how long to look for the device and its bootloader (default 10)')
    .option('--no-resume', 'start from scratch even if the device could resume')
    .option(
      '--skip-if-firmware-revision <revision>',
      'leave the device alone (job succeeds, not updated) when its Device Information firmware revision is exactly this',
    )
    .option('--upload', 'upload the package first (UploadPackage), then start by id')
    .option('--detach', 'print the job id and exit once the job has started')
    .option('--label <key=value>', 'a label kept with the job and in its audit records, e.g. serial=SN-0042 (repeatable)', collect)
    .option(
      '--capture <file>',
      'record the adapter\'s HCI traffic during the job and save it (btsnoop) when the job ends, failed or not',
    )
    .action(
      run(
        (ctx, file: string, flags: DfuFlags) => dfuCommand(ctx, file, flags),
        (ctx, file: string, flags: DfuFlags) => fleetDfuCommand(ctx, file, flags),
      ),
    );

  const campaign = program
    .command('campaign')
    .description('update every matching device that comes by, each once (production line): start, watch, list, show, stop campaigns');
  campaign
    .command('start')
    .description(
      'upload the package, start a campaign and watch it (live table); Ctrl-C stops watching, never the campaign; exit 11 when devices failed, 12 when some were not done',
    )
    .argument('<package>', 'nrfutil DFU package (.zip)')
    .option(
      '--match <key=value>',
      'which devices (repeatable, all must hold): name=N, name-prefix=P, service=FE59, mfr=0x0059[:hexprefix], min-rssi=-70, address=AA:BB:CC:DD:EE:FF',
      collect,
    )
    .option('--addresses-file <file>', 'only the devices listed in this file (one address a line, # comments)')
    .option('--adapter <id>', 'adapter to watch and update with (repeatable; default: every adapter of the server)', collect)
    .option('--parallel <n>', 'jobs at once per adapter, 1 to 64 (default 1)')
    .option('--max-attempts <n>', 'jobs per device at most, first included, 1 to 20 (default 3)')
    .option('--retry-delay <duration>', 'pause before a failed device\'s next job, e.g. 5s (default 5s; at most 1h)')
    .option('--max-devices <n>', 'stop taking devices after this many')
    .option('--for <duration>', 'stop taking devices after this long, e.g. 2h (at most 7d)')
    .option('--include-bootloaders', "also take devices found waiting in a bootloader of the package's protocol (e.g. stranded by a failed update)")
    .option('--label <key=value>', 'a label of every job, kept in its audit records, e.g. work_order=WO-7 (repeatable)', collect)
    .option('--name <text>', 'a name for people, e.g. "line 3, WO-7"')
    .option('--skip-if-firmware-revision <revision>', 'leave devices whose Device Information firmware revision is exactly this alone (up to date)')
    .option('--prn <n>', 'packet receipt notification interval of every job (0 = let the server choose)')
    .option('--mtu <bytes>', 'ATT MTU to request (default 247)')
    .option('--retries <n>', 'resends and reconnects within one job, 0 to 100 (default 3)')
    .addOption(new Option('--buttonless <mode>', 'how to enter the bootloader').choices(['auto', 'required', 'off']))
    .option('--scan-timeout <seconds>', 'how long each job looks for its device and bootloader (default 10)')
    .option('--no-resume', 'every job starts from scratch even if its device could resume')
    .option('--detach', 'print the campaign id and exit once it has started')
    .action(run((ctx, file: string, flags: CampaignStartFlags) => startCampaignCommand(ctx, file, flags)));
  campaign
    .command('watch')
    .description('follow a campaign until it ends (live table); Ctrl-C stops watching and never stops the campaign')
    .argument('<id>', 'campaign id')
    .action(run((ctx, id: string) => watchCampaignCommand(ctx, id)));
  campaign
    .command('list')
    .description('list campaigns: running and stopping ones, then recently ended ones')
    .option('--active', 'only campaigns that have not ended')
    .action(run((ctx, flags: { active?: boolean }) => listCampaignsCommand(ctx, flags)));
  campaign
    .command('show')
    .description('one campaign: its settings and a row per device')
    .argument('<id>', 'campaign id')
    .action(run((ctx, id: string) => showCampaignCommand(ctx, id)));
  campaign
    .command('stop')
    .description('stop a campaign taking devices (its running jobs run to their end); exit 9 when it had already ended')
    .argument('<id>', 'campaign id')
    .option('--cancel-jobs', 'also cancel its running jobs (each device is left able to resume)')
    .action(run((ctx, id: string, flags: { cancelJobs?: boolean }) => stopCampaignCommand(ctx, id, flags)));

  const jobs = program.command('jobs').description('DFU jobs on the server');
  jobs
    .command('list')
    .description('list jobs')
    .option('--active', 'only jobs that have not ended')
    .option('--campaign <id>', 'only the jobs of this campaign')
    .action(
      run(
        (ctx, flags: ListJobsFlags) => listJobsCommand(ctx, flags),
        (ctx, flags: ListJobsFlags) => fleetListJobsCommand(ctx, flags),
      ),
    );
  jobs
    .command('show')
    .description('one job: its state, and once it ended its duration and the time per phase (scan, connect, … final read)')
    .argument('<id>', 'job id')
    .action(run((ctx, id: string) => showJobCommand(ctx, id)));
  jobs
    .command('watch')
    .description('follow a job until it ends; Ctrl-C stops watching and never cancels the job')
    .argument('<id>', 'job id (with several servers: <server>/<id>, or the id alone to search them)')
    .action(run((ctx, id: string) => watchCommand(ctx, id), (ctx, id: string) => fleetWatchCommand(ctx, id)));
  jobs
    .command('capture')
    .description('save a job\'s HCI capture (btsnoop file for Wireshark or btmon -r); the job must have been started with --capture')
    .argument('<id>', 'job id (with several servers: <server>/<id>, or the id alone to search them)')
    .argument('<file>', 'file to write')
    .action(
      run(
        (ctx, id: string, file: string) => jobCaptureCommand(ctx, id, file),
        (ctx, id: string, file: string) => fleetJobCaptureCommand(ctx, id, file),
      ),
    );
  jobs
    .command('cancel')
    .description('cancel a job (the device is left able to resume); exit 9 when it had already ended')
    .argument('<id>', 'job id (with several servers: <server>/<id>, or the id alone to search them)')
    .action(run((ctx, id: string) => cancelJobCommand(ctx, id), (ctx, id: string) => fleetCancelJobCommand(ctx, id)));

  program
    .command('health')
    .description('ask the server whether it can do radio work (gRPC health); exit 0 only when SERVING')
    .option('--service <name>', 'service to ask about: "" (the whole server) or bledfu.v1.BledfuService', '')
    .action(run((ctx, flags: HealthFlags) => healthCommand(ctx, program.opts<GlobalFlags>().server, flags)));

  program
    .command('audit')
    .description("the server's durable record of every DFU job (kept across restarts), oldest first")
    .option('--device <address>', 'only jobs on this device')
    .option('--since <time>', 'only jobs started at or after this ISO 8601 time')
    .option('--result <result>', 'only jobs that ended so: running, succeeded, failed, cancelled, interrupted')
    .option('--label <key=value>', 'only jobs with this label (exact; repeat: all must match)', collect)
    .option('--name <name>', 'only jobs that targeted this advertised name (exact)')
    .option('--campaign <id>', 'only the jobs of this campaign')
    .option('--csv', 'write a CSV line report, one line per job (columns: clients/cli/README.md)')
    .action(run((ctx, flags: AuditFlags) => auditCommand(ctx, flags), (ctx, flags: AuditFlags) => fleetAuditCommand(ctx, flags)));

  const pkg = program.command('pkg').description('make and read DFU packages (no server needed): nrfutil pkg, in bledfu');
  pkg
    .command('generate')
    .description('make a Secure DFU package (.zip) from Intel HEX or .bin images, as nrfutil pkg generate does; written only when complete')
    .argument('<zip>', 'package file to write (replaced atomically if it exists)')
    .option('--application <file>', 'application image (.hex or .bin)')
    .option('--application-version <n>', 'application version (decimal or 0x hex)')
    .option('--bootloader <file>', 'bootloader image (.hex or .bin)')
    .option('--bootloader-version <n>', 'bootloader version')
    .option('--softdevice <file>', 'SoftDevice image (.hex or .bin)')
    .option('--hw-version <n>', 'hardware version the bootloader checks (52 for nRF52 in the SDK)')
    .option('--sd-req <fwids>', 'FWID(s) of SoftDevices the images may be installed over, comma-separated or repeated (e.g. 0x0100); 0x00: none', collect)
    .option('--sd-id <fwids>', 'FWID(s) of the SoftDevice in the package (with --softdevice and --application)', collect)
    .option('--key-file <pem>', 'private key (ECDSA P-256 PEM) to sign with; without it the package is unsigned')
    .option('--debug-mode', 'mark the package as debug (a debug bootloader skips version checks)')
    .addOption(new Option('--app-boot-validation <type>', 'how the bootloader checks the application at boot').choices(BOOT_VALIDATIONS))
    .addOption(new Option('--sd-boot-validation <type>', 'how the bootloader checks the SoftDevice at boot').choices(BOOT_VALIDATIONS))
    .action(local((ctx, file: string, flags: PkgGenerateFlags) => pkgGenerateCommand(ctx, file, flags)));
  pkg
    .command('display')
    .description('show what a DFU package holds (any nrfutil Secure DFU package)')
    .argument('<zip>', 'DFU package (.zip)')
    .action(local((ctx, file: string) => pkgDisplayCommand(ctx, file)));

  const keys = program.command('keys').description('make and show DFU signing keys (no server needed): nrfutil keys, in bledfu');
  keys
    .command('generate')
    .description('make a new ECDSA P-256 private key (PEM); never overwrites a file')
    .argument('<file>', 'private key file to create')
    .action(local((ctx, file: string) => keysGenerateCommand(ctx, file)));
  keys
    .command('display')
    .description('show a key: the public key as PEM or as the C array a bootloader build needs (--format code)')
    .argument('<file>', 'private key PEM (as bledfu keys generate or nrfutil keys generate wrote it)')
    // Listed for the help only: the program's own --key (TLS client key) takes the value wherever
    // it stands on the line, so the action reads it from there (nrfutil's name is kept).
    .addOption(new Option('--key <which>', 'pk: the public key; sk: the private key (required)').choices(['pk', 'sk']))
    .addOption(new Option('--format <format>', 'pem, or code (dfu_public_key.c)').choices(['pem', 'code']).makeOptionMandatory())
    .action(
      local((ctx, file: string, flags: { key?: string; format: KeysDisplayFlags['format'] }) => {
        const which = flags.key ?? program.opts<GlobalFlags>().key;
        if (which !== 'pk' && which !== 'sk') {
          throw new UsageError('keys display needs --key pk (the public key) or --key sk (the private key)', `e.g. bledfu keys display --key pk --format code ${file}`);
        }
        return keysDisplayCommand(ctx, file, { key: which, format: flags.format });
      }),
    );

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are successful exits; everything else is a command-line mistake. The
      // parser has told a person on stderr; a script reading --json gets its error record too.
      if (e.exitCode === 0) return EXIT.ok;
      if (program.opts<GlobalFlags>().json === true || argv.includes('--json')) {
        return new Output(environment.io, true).error(usageError(e.message.replace(/^error: /, ''), 'run bledfu --help'));
      }
      return EXIT.usage;
    }
    throw e;
  } finally {
    close?.();
  }
  return exitCode;
}
