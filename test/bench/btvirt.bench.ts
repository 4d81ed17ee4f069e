/**
 * `npm run bench`, second part: the hrs application package DFU'd through a serial HCI dongle —
 * the real server (`hci:<pty>` spec → registry → gRPC service) and its client in this process,
 * BlueZ's btvirt behind a socat pty as the dongle's controller, and the simulated device on its
 * own emulated controller in a separate process. Prints numbers; asserts nothing.
 *
 * Measured per run: wall time of StartDfu until the job finished; this process's CPU (server +
 * client, nothing else) per MB transferred; how busy its event loop was; the device process's,
 * btvirt's and socat's CPU. One extra run under V8's sampling profiler splits the host's wall
 * time by layer; it is kept apart so the profiler does not slow the timed runs.
 *
 * Skipped, not failed, when btvirt, socat or a C compiler is missing.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { startDfu } from '../../clients/ts/index.js';
import { silentLogger } from '../../server/common/logger.js';
import { readPackage } from '../../server/dfu/package/package.js';
import { APP_PACKAGE } from '../helpers/btvirt/dfu.js';
import { missingTools } from '../helpers/btvirt/emulator.js';
import { startBtvirtServer, type BtvirtServer } from '../helpers/btvirt/server.js';
import { addressTarget, drain, finished } from '../helpers/job-events.js';
import { LAYERS, profileLayers, type LayerShares } from './layers.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PARALLEL = 3;
const DEVICE_ADDRESSES = ['F0:0D:C0:DE:00:01', 'F0:0D:C0:DE:00:03', 'F0:0D:C0:DE:00:05'] as const;
const logger = silentLogger();

const missing = missingTools();
if (missing.length > 0) {
  console.log(`\nbledfu bench over btvirt — skipped: ${missing.join(', ')} not installed (apt-get install bluez-test-tools bluez socat gcc libc6-dev)`);
  process.exit(0);
}

const zip = APP_PACKAGE.zip;
const pkg = await readPackage(zip);
/** Bytes that cross the link: every image and its init packet. */
const transferred = pkg.images.reduce((n, i) => n + i.bin.length + i.dat.length, 0);

/** Clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
const CLK_TCK = Number((spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout ?? '').trim()) || 100;

/** User + system CPU of a process so far, in ms (0 once it is gone). */
function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

interface Sample {
  readonly wallMs: number;
  readonly transferMs: number;
  readonly hostCpuMs: number;
  /** Share of the wall time this process's event loop was running code (not waiting). */
  readonly eventLoopBusy: number;
  /** The same from the first TRANSFERRING to the last ACTIVATING: no reboot pauses or scans. */
  readonly transferEventLoopBusy: number;
  readonly deviceCpuMs: number;
  readonly btvirtCpuMs: number;
  readonly socatCpuMs: number;
  readonly bytes: number;
}

async function measure(s: BtvirtServer, devices: number): Promise<Sample> {
  const ids = s.emu.processIds();
  const emuCpu = (): { btvirt: number; socat: number } => ({
    btvirt: ids.btvirt === undefined ? 0 : procCpuMs(ids.btvirt),
    socat: ids.relays.reduce((n, pid) => n + procCpuMs(pid), 0),
  });
  const device0 = await s.devices.cpuUsage();
  const emu0 = emuCpu();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let transferStart = Number.NaN;
  let transferEnd = Number.NaN;
  let eluAtTransfer = elu0;
  let eluAtEnd = elu0;
  const runs = await Promise.all(
    DEVICE_ADDRESSES.slice(0, devices).map(async (address) => {
      const events = startDfu(s.client, { package: { data: zip }, target: addressTarget(address) }, { signal: AbortSignal.timeout(120_000) });
      const seen = (async function* () {
        for await (const e of events) {
          if (e.type === 'state' && e.stateName === 'TRANSFERRING' && Number.isNaN(transferStart)) {
            transferStart = performance.now();
            eluAtTransfer = performance.eventLoopUtilization();
          }
          if (e.type === 'state' && e.stateName === 'ACTIVATING') {
            transferEnd = performance.now();
            eluAtEnd = performance.eventLoopUtilization();
          }
          yield e;
        }
      })();
      return drain(seen);
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  const emu1 = emuCpu();
  const device1 = await s.devices.cpuUsage();
  for (const r of runs) {
    const f = finished(r.events);
    if (f?.result.success !== true) throw new Error(`the DFU failed: ${f?.error?.message ?? String(r.error)}`);
    if (f.result.firmwareRevision !== APP_PACKAGE.revision) throw new Error(`unexpected revision ${f.result.firmwareRevision}`);
  }
  return {
    wallMs,
    transferMs: transferEnd - transferStart,
    hostCpuMs: (cpu.user + cpu.system) / 1000,
    eventLoopBusy: elu.utilization,
    transferEventLoopBusy: performance.eventLoopUtilization(eluAtEnd, eluAtTransfer).utilization,
    deviceCpuMs: (device1.user + device1.system - device0.user - device0.system) / 1000,
    btvirtCpuMs: emu1.btvirt - emu0.btvirt,
    socatCpuMs: emu1.socat - emu0.socat,
    bytes: transferred * devices,
  };
}

/** A fresh emulator, dongle, server and device(s) per run; only the DFU itself is measured. */
async function run<T>(devices: number, measured: (s: BtvirtServer) => Promise<T>): Promise<T> {
  const s = await startBtvirtServer({
    devices: DEVICE_ADDRESSES.slice(0, devices).map(() => ({})),
    spec: { max: String(devices) },
    app: { maxConcurrentDfus: devices },
    logger,
  });
  try {
    return await measured(s);
  } finally {
    await s.close();
  }
}

const samples: Sample[] = [];
for (let i = 0; i < RUNS; i++) samples.push(await run(1, (s) => measure(s, 1)));
const parallel = await run(PARALLEL, (s) => measure(s, PARALLEL));
const profiled = await run(1, (s) => profileLayers(() => measure(s, 1)));

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const perMb = (s: Sample): number => s.hostCpuMs / (s.bytes / 1e6);

interface Row {
  readonly label: string;
  readonly value: (s: Sample) => number;
  readonly unit: string;
  readonly digits?: number;
}
const ROWS: readonly Row[] = [
  { label: 'wall time, StartDfu → finished', value: (s) => s.wallMs, unit: 'ms' },
  { label: '  of which TRANSFERRING → ACTIVATING', value: (s) => s.transferMs, unit: 'ms' },
  { label: 'host CPU (this process: server + client)', value: (s) => s.hostCpuMs, unit: 'ms' },
  { label: 'host CPU per MB transferred', value: perMb, unit: 'ms/MB' },
  { label: 'host event loop busy / wall', value: (s) => 100 * s.eventLoopBusy, unit: '%' },
  { label: 'host waiting (event loop idle) / wall', value: (s) => 100 * (1 - s.eventLoopBusy), unit: '%' },
  { label: '  during the transfer: event loop busy', value: (s) => 100 * s.transferEventLoopBusy, unit: '%' },
  { label: 'host process CPU / wall (all threads)', value: (s) => (100 * s.hostCpuMs) / s.wallMs, unit: '%' },
  { label: 'device process CPU (simulated nRF5)', value: (s) => s.deviceCpuMs, unit: 'ms' },
  { label: 'btvirt CPU', value: (s) => s.btvirtCpuMs, unit: 'ms' },
  { label: 'socat relay CPU (all relays)', value: (s) => s.socatCpuMs, unit: 'ms' },
];

const W = 50;
const cell = (v: number, digits = 0): string => v.toFixed(digits).padStart(8);
const header = `${'metric'.padEnd(W)}${samples.map((_, i) => `run ${i + 1}`.padStart(8)).join('')}${'median'.padStart(8)}${`${PARALLEL}×par`.padStart(8)}  unit`;

console.log(`\nbledfu bench over btvirt — ${APP_PACKAGE.name}, ${transferred} B per device (image + init packet)`);
console.log('server + client in this process → serialport → socat pty → btvirt → the device process (simulated nRF5 on its own emulated controller)');
console.log('emulator time over a pty, not radio time: btvirt delivers packets at once, with no connection events.\n');
console.log(header);
for (const r of ROWS) {
  const values = samples.map(r.value);
  console.log(`${r.label.padEnd(W)}${values.map((v) => cell(v, r.digits)).join('')}${cell(median(values), r.digits)}${cell(r.value(parallel), r.digits)}  ${r.unit}`);
}
console.log(`(${PARALLEL}×par: ${PARALLEL} devices updated at once through the one dongle, ${PARALLEL} jobs; CPU per MB over all ${PARALLEL} transfers)`);

const shares: LayerShares = profiled.shares;
console.log(`\nwhere the host's main thread spent one DFU's wall time (${profiled.result.wallMs.toFixed(0)} ms; V8 sampling profile, 1 ms, separate run):`);
const busy = 1 - shares['waiting (event loop idle)'];
console.log(`  ${'layer'.padEnd(W)}${'of wall'.padStart(9)}${'of busy'.padStart(9)}`);
for (const layer of LAYERS) {
  const ofBusy = layer === 'waiting (event loop idle)' ? '' : `${((100 * shares[layer]) / busy).toFixed(1)} %`;
  console.log(`  ${layer.padEnd(W)}${`${(100 * shares[layer]).toFixed(1)} %`.padStart(9)}${ofBusy.padStart(9)}`);
}
console.log('"waiting" is time the host had nothing to run: a packet was on its way through the pty, socat and btvirt to the device or back,');
console.log('or the device process was computing. Everything else is the host busy, by the layer whose code (or whose call into Node) ran.');
