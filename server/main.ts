/**
 * The server process: the only module that touches process.* (argv, env, signals, exit code)
 * or reads the config file. Everything else is built by createApp from what this file hands it.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AuditLog } from './audit/log.js';
import { isBledfuError } from './common/errors.js';
import { chooseDataDir, type DataDirChoice } from './config/dataDir.js';
import { loadConfig } from './config/load.js';
import { SYSTEM_DATA_DIR } from './config/settings.js';
import { DEVICE_MEMORY_FILE, FileDeviceMemory } from './jobs/deviceMemory.js';
import { loadServerSecurity, type ServerSecurity } from './rpc/security.js';

/**
 * BLEDFU_SYSTEM_DATA_DIR moves the system data directory that an unset --data-dir tries first: for
 * tests (which cannot make /var/lib/bledfu unwritable to root) and packagers with another layout.
 * Not a setting: --data-dir is the way to choose a directory.
 */
const SYSTEM_DATA_DIR_ENV = 'BLEDFU_SYSTEM_DATA_DIR';

/** A setting the user got wrong: one line on stderr, exit code 2. */
function refuseSetting(e: unknown): number {
  process.stderr.write(`bledfud: ${isBledfuError(e) ? `${e.message}${e.remedy ? ` (${e.remedy})` : ''}` : String(e)}\n`);
  return 2;
}

async function main(): Promise<number> {
  let loaded;
  try {
    loaded = loadConfig({ argv: process.argv.slice(2), env: process.env, readFile: (p) => readFileSync(p, 'utf8') });
  } catch (e) {
    return refuseSetting(e);
  }
  if (loaded.kind === 'help') {
    process.stdout.write(loaded.text);
    return 0;
  }
  const config = loaded.config;
  const logger = pino({ level: config.logLevel, base: { service: 'bledfud' } });
  logger.info({ config }, 'starting');
  let security: ServerSecurity;
  try {
    security = loadServerSecurity(config, (p) => readFileSync(p));
  } catch (e) {
    return refuseSetting(e);
  }
  if (security.exposedInsecurely) {
    process.stderr.write(`bledfud: WARNING: ${config.listen} is served with neither TLS nor tokens (--insecure)\n`);
    logger.warn(
      { listen: config.listen },
      'INSECURE: listening beyond loopback with neither TLS nor tokens (--insecure): anyone who can reach this port can flash firmware',
    );
  }

  // Loaded only now so that --help and config errors work even when a backend cannot load
  // (e.g. the serial port's native binding is missing on this machine).
  const [{ createApp }, { checkAdapterSpecs, openAdapters }, { findDevice }, { startPackageReaders }, { runDfu }, { listSerialPorts }] = await Promise.all([
    import('./app.js'),
    import('./backends/registry.js'),
    import('./ble/discovery.js'),
    import('./jobs/packageReaders.js'),
    import('./dfu/engine.js'),
    import('./transport/ports.js'),
  ]);
  try {
    await checkAdapterSpecs(config.adapters);
  } catch (e) {
    return refuseSetting(e);
  }
  let data: DataDirChoice;
  try {
    data = chooseDataDir({
      configured: config.dataDir,
      systemDir: process.env[SYSTEM_DATA_DIR_ENV] || SYSTEM_DATA_DIR,
      xdgStateHome: process.env['XDG_STATE_HOME'],
      homeDir: homedir(),
    });
  } catch (e) {
    return refuseSetting(e);
  }
  const dataDir = data.dir;
  logger.info({ dataDir, source: data.source, why: data.why }, `data directory ${dataDir}: ${data.why}`);
  let audit: AuditLog;
  try {
    const opened = AuditLog.open(config.auditLog === '' ? join(dataDir, 'audit.jsonl') : config.auditLog, undefined, {
      rotateBytes: config.auditRotateBytes,
      rotateAgeMs: config.auditRotateAgeHours * 3_600_000,
      maxRecordBytes: config.auditMaxRecordBytes,
    });
    audit = opened.log;
    const { damaged, damagedCount } = opened.recovery;
    for (const d of damaged) logger.warn({ auditLog: d.file ?? audit.path, ...d }, 'audit log: damaged line (a torn last line is removed, others skipped)');
    if (damagedCount > damaged.length) logger.warn({ auditLog: audit.path, damagedCount, reported: damaged.length }, 'audit log: more damaged lines skipped than reported one by one');
    logger.info({ auditLog: audit.path, files: audit.files.length, jobs: audit.jobCount }, 'audit log indexed');
    for (const r of opened.recovery.interrupted) logger.warn({ jobId: r.jobId, address: r.deviceAddress }, 'audit log: job interrupted by the previous server stop, recorded as INTERRUPTED');
  } catch (e) {
    return refuseSetting(e);
  }
  // Never fatal: a damaged file is logged and ignored (the memory only saves retries).
  const adapters = await openAdapters(config.adapters, logger.child({ component: 'adapters' }), { dataDir });
  const devices = FileDeviceMemory.open(join(dataDir, DEVICE_MEMORY_FILE), logger.child({ component: 'devices' }), { now: () => adapters.clock.now() });
  // Uploaded packages are read on worker threads: no upload can stall the radio's event loop.
  const packageReaders = startPackageReaders({ threads: config.packageReaders, queue: config.packageReadQueue });
  // The registry decides the server's one clock (the accelerated simulator's modelled time, or real time).
  const app = createApp(config, {
    adapters,
    clock: adapters.clock,
    runner: runDfu,
    readPackage: packageReaders.read,
    screenPackage: packageReaders.screen,
    findDevice,
    listSerialPorts,
    logger,
    security,
    audit,
    devices,
  });
  try {
    await app.start();
  } catch (e) {
    logger.fatal({ err: e, listen: config.listen, metricsListen: config.metricsListen || undefined }, 'cannot listen');
    process.stderr.write(`bledfud: cannot start: ${isBledfuError(e) ? `${e.message}${e.remedy ? ` (${e.remedy})` : ''}` : e instanceof Error ? e.message : String(e)}\n`);
    await packageReaders.close();
    await adapters.close();
    audit.close();
    return 1;
  }

  const signalled = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  logger.info({ signal: signalled }, 'shutting down (a second signal exits at once)');
  const force = (): never => process.exit(1);
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  await app.stop();
  await packageReaders.close();
  await adapters.close();
  audit.close();
  logger.info('bye');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bledfud: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
