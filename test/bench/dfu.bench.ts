/**
 * `npm run bench`: the hrs application package (98 944 B, 25 objects) updated on the accelerated
 * simulator through every real layer. Prints numbers; asserts nothing (speed goals are not tests).
 *
 *  - modelled time of the transfer (first Create to last Execute answer) and of the whole job
 *    (buttonless entry, scans, reconnects, activation included), vs a lower bound from the same
 *    radio and flash model: every DP packet packed into connection events at the link's PHY and
 *    data length, plus every page erase and word write, with no round trips at all;
 *  - host CPU time per MB transferred, in-process through the gRPC service and client;
 *  - peak memory.
 */
import { readFileSync } from 'node:fs';
import { createApp } from '../../server/app.js';
import { openAdapters } from '../../server/backends/registry.js';
import { findDevice } from '../../server/ble/discovery.js';
import { silentLogger } from '../../server/common/logger.js';
import { readPackage } from '../../server/dfu/package/package.js';
import { runSecureDfu } from '../../server/dfu/secure/engine.js';
import { DEFAULT_DFU_OPTIONS, type DfuEvent } from '../../server/dfu/types.js';
import { DEFAULT_RADIO, pduAirTimeUs } from '../../server/sim/radio.js';
import { NRF52840_FLASH } from '../../server/sim/devices/flash.js';
import { createBledfuClient } from '../../clients/ts/index.js';

const PACKAGE = 'test/fixtures/dfu/sdk17.0.2_hrs_application_s140.zip';
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const logger = silentLogger();

let peakHeap = 0;
const sampler = setInterval(() => {
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}, 50);

const zip = new Uint8Array(readFileSync(PACKAGE));
const pkg = await readPackage(zip);
const image = pkg.images[0];
if (!image) throw new Error('package has no image');
const bytes = image.bin.length + image.dat.length;

/** The model's floor: radio time of every DP packet, fully packed, plus all flash work. */
function lowerBoundMs(phy: '1M' | '2M', intervalMs: number, mtu: number): { radio: number; flash: number } {
  const payload = mtu - 3;
  const llPayload = payload + 3 + 4; // ATT header + L2CAP header
  const perPacketUs = pduAirTimeUs(llPayload, phy) + DEFAULT_RADIO.ifsUs + pduAirTimeUs(0, phy) + DEFAULT_RADIO.ifsUs;
  const perEvent = Math.max(1, Math.floor((DEFAULT_RADIO.eventLengthMs * 1000) / perPacketUs));
  const packets = Math.ceil(image!.bin.length / payload) + Math.ceil(image!.dat.length / payload);
  const radio = Math.ceil(packets / perEvent) * intervalMs;
  const pages = Math.ceil(image!.bin.length / NRF52840_FLASH.pageSize);
  const words = Math.ceil(image!.bin.length / 4);
  const flash = pages * NRF52840_FLASH.pageEraseMs + words * NRF52840_FLASH.wordWriteMs;
  return { radio, flash };
}

async function modelledRun(): Promise<{ transferMs: number; jobMs: number }> {
  const registry = await openAdapters(['sim:'], logger);
  const adapter = registry.get('sim0');
  const world = registry.simWorld('sim0');
  if (!world) throw new Error('no simulated world');
  const device = world.devices[0];
  if (!device) throw new Error('no simulated device');
  const t0 = world.nowMs();
  let transferStart = Number.NaN;
  let transferEnd = Number.NaN;
  const onEvent = (e: DfuEvent): void => {
    if (e.kind === 'phase' && e.phase === 'transferring' && Number.isNaN(transferStart)) transferStart = world.nowMs();
    if (e.kind === 'phase' && e.phase === 'activating') transferEnd = world.nowMs();
  };
  await runSecureDfu(adapter, pkg, { kind: 'address', address: device.address }, DEFAULT_DFU_OPTIONS, {
    signal: new AbortController().signal,
    logger,
    onEvent,
  });
  const jobMs = world.nowMs() - t0;
  await registry.close();
  return { transferMs: transferEnd - transferStart, jobMs };
}

async function grpcRun(): Promise<{ cpuMs: number; wallMs: number }> {
  const registry = await openAdapters(['sim:'], logger);
  const app = createApp(
    {
      listen: '127.0.0.1:0',
      maxConcurrentDfus: 4,
      maxRequestBytes: 64 * 1024 * 1024,
      packageStoreBytes: 64 * 1024 * 1024,
      jobRetention: 10,
      shutdownGraceMs: 5_000,
    },
    { adapters: registry, runner: runSecureDfu, readPackage, findDevice, listSerialPorts: async () => [], logger },
  );
  const { address } = await app.start();
  const client = createBledfuClient(address);
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  let ok = false;
  for await (const r of client.startDfu({
    package: { $case: 'packageData', packageData: Buffer.from(zip) },
    target: { selector: { $case: 'name', name: 'bledfu-sim-1' } },
  })) {
    if (r.event?.kind?.$case === 'finished') ok = r.event.kind.finished.success;
  }
  const wallMs = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  client.close();
  await app.stop();
  await registry.close();
  if (!ok) throw new Error('DFU did not succeed');
  return { cpuMs: (cpu.user + cpu.system) / 1000, wallMs };
}

const fmt = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const modelled = await modelledRun();
const grpc: { cpuMs: number; wallMs: number }[] = [];
for (let i = 0; i < RUNS; i++) grpc.push(await grpcRun());
clearInterval(sampler);

// The bootloader asks for 15 ms; the HCI backend negotiates 2M PHY, DLE 251 and MTU 247.
const bound = lowerBoundMs('2M', 15, 247);
const boundMs = bound.radio + bound.flash;
const mb = bytes / 1e6;
const cpuPerMb = grpc.map((g) => g.cpuMs / mb).sort((a, b) => a - b);
const median = (xs: number[]): number => xs[Math.floor(xs.length / 2)] ?? Number.NaN;

console.log(`bledfu bench — ${PACKAGE} (${image.bin.length} B image + ${image.dat.length} B init packet), simulator accelerated`);
console.log(`  modelled transfer time       ${fmt(modelled.transferMs)}  (first Select/Create to final Execute answer)`);
console.log(`  model lower bound            ${fmt(boundMs)}  (radio ${fmt(bound.radio)} at 2M/DLE 251/15 ms + flash ${fmt(bound.flash)})`);
console.log(`  ratio transfer / bound       ${(modelled.transferMs / boundMs).toFixed(2)}`);
console.log(`  modelled whole job           ${fmt(modelled.jobMs)}  (buttonless entry, rescans, reconnects, activation, reading the new revision)`);
console.log(`  host CPU per MB (via gRPC)   ${median(cpuPerMb).toFixed(0)} ms/MB  (median of ${RUNS}; runs: ${cpuPerMb.map((c) => c.toFixed(0)).join(', ')}; server, client and simulator share the process)`);
console.log(`  wall time per DFU (via gRPC) ${median(grpc.map((g) => g.wallMs).sort((a, b) => a - b)).toFixed(0)} ms`);
console.log(`  peak memory                  heap ${(peakHeap / 2 ** 20).toFixed(1)} MiB, RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MiB`);
