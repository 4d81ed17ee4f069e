/**
 * `npm run bench`: the project's ~100 KB application package (25 objects, like Nordic's HRS example) updated on the accelerated
 * simulator through every real layer, once per backend side by side: the HCI backend on the
 * virtual HCI controller, and the nrf backend on the simulated Nordic connectivity dongle (SLIP/H5
 * over a 1 Mbaud line modelled in time). Prints numbers; asserts nothing (speed goals are not tests).
 *
 *  - modelled time of the transfer (first Create to last Execute answer) and of the whole job
 *    (buttonless entry, scans, reconnects, activation included), vs a lower bound from the same
 *    radio and flash model, with no round trips at all: the larger of the radio time (every DP
 *    packet packed into connection events at the link's PHY and data length) and the device's
 *    flash work (every page erase and word write of the image, plus the settings page the
 *    bootloader writes after each object when it saves progress in flash). The bootloader streams
 *    into its buffers while its flash queue works (sim/devices/dfuTarget.ts, after the SDK's
 *    nrf_dfu_req_handler.c), so the two overlap; radio + image flash one after the other, the
 *    bound this bench printed before, is printed too for comparison;
 *  - modelled time per phase of the job (server/dfu/phases.ts);
 *    for the nrf backend also the serial line's own bound: every write command, its response and
 *    their acknowledgements, one after another at 1 Mbaud (one call at a time, H5 window 1);
 *  - host CPU time per MB transferred, in-process through the gRPC service and client;
 *  - peak memory.
 */
import { createApp } from '../../server/app.js';
import { openAdapters } from '../../server/backends/registry.js';
import { findDevice } from '../../server/ble/discovery.js';
import { silentLogger } from '../../server/common/logger.js';
import { readPackage } from '../../server/dfu/package/package.js';
import { runSecureDfu } from '../../server/dfu/secure/engine.js';
import { runDfu } from '../../server/dfu/engine.js';
import { DEFAULT_DFU_OPTIONS, type DfuEvent } from '../../server/dfu/types.js';
import { DFU_PHASES, PhaseClock, sumPhaseTimes, type PhaseTimes } from '../../server/dfu/phases.js';
import { DEFAULT_RADIO, pduAirTimeUs } from '../../server/sim/radio.js';
import { NRF52840_FLASH } from '../../server/sim/devices/flash.js';
import { createBledfuClient } from '../../clients/ts/index.js';
import { projectZip } from '../helpers/project-packages.js';
import { ackPacket, h5Frame, vendorPacket } from '../../server/backends/nrf/h5.js';
import { commandPacket, encodeSerPacket } from '../../server/backends/nrf/serialization/packets.js';
import { encodeResponse } from '../../server/backends/nrf/serialization/responses.js';

interface Backend {
  readonly label: string;
  readonly spec: string;
  /** The simulated bootloader saves progress in flash after each object (NRF_DFU_SAVE_PROGRESS_IN_FLASH=1, the simulator's default). */
  readonly savesProgress: boolean;
  readonly serialLine: boolean;
}
const BACKENDS: readonly Backend[] = [
  { label: 'HCI backend', spec: 'sim:', savesProgress: true, serialLine: false },
  { label: 'nrf backend', spec: 'sim:?dongle=nrf&api=6', savesProgress: true, serialLine: true },
  // The SDK 16–17 default build (NRF_DFU_SAVE_PROGRESS_IN_FLASH=0): no settings page per object.
  { label: 'HCI, SDK 16+ default build', spec: 'sim:?progress=reload', savesProgress: false, serialLine: false },
];
const NRF_BAUD = 1_000_000;

/** The project's application package (demo firmware, signed with the demo key the simulator trusts by default). */
const PACKAGE = "the project's app package";
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const logger = silentLogger();

let peakHeap = 0;
const sampler = setInterval(() => {
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}, 50);

const zip = await projectZip('app');
const pkg = await readPackage(zip);
const image = pkg.images[0];
if (!image) throw new Error('package has no image');
const bytes = image.bin.length + image.dat.length;

/**
 * The model's parts of a floor: radio time of every DP packet, fully packed; the image's flash
 * work (page erases and word writes); the settings page written after every object but the last
 * when the bootloader saves progress in flash (its write after the last Execute falls after the
 * transfer).
 */
function lowerBoundMs(phy: '1M' | '2M', intervalMs: number, mtu: number): { radio: number; flash: number; settingsPerObject: number; objects: number } {
  const payload = mtu - 3;
  const llPayload = payload + 3 + 4; // ATT header + L2CAP header
  const perPacketUs = pduAirTimeUs(llPayload, phy) + DEFAULT_RADIO.ifsUs + pduAirTimeUs(0, phy) + DEFAULT_RADIO.ifsUs;
  const perEvent = Math.max(1, Math.floor((DEFAULT_RADIO.eventLengthMs * 1000) / perPacketUs));
  const packets = Math.ceil(image!.bin.length / payload) + Math.ceil(image!.dat.length / payload);
  const radio = Math.ceil(packets / perEvent) * intervalMs;
  const pages = Math.ceil(image!.bin.length / NRF52840_FLASH.pageSize);
  const words = Math.ceil(image!.bin.length / 4);
  const flash = pages * NRF52840_FLASH.pageEraseMs + words * NRF52840_FLASH.wordWriteMs;
  // chip.ts saveSettings(): one page erase and the settings' 0x5C bytes.
  const settingsPerObject = NRF52840_FLASH.pageEraseMs + Math.ceil(0x5c / 4) * NRF52840_FLASH.wordWriteMs;
  return { radio, flash, settingsPerObject, objects: pages };
}

/**
 * The serial line's floor for the nrf backend: per DP packet the write command frame, the
 * device's ACK and response frames and our ACK, back to back (10 bits per byte), as the firmware
 * takes one call at a time. Frames built with the real codecs over the real image bytes (SLIP
 * escapes included).
 */
function serialBoundMs(mtu: number): number {
  const payload = mtu - 3;
  const data = [image!.dat, image!.bin];
  let bytes = 0;
  const ack = h5Frame(ackPacket(1)).length;
  const response = h5Frame(vendorPacket(0, 0, encodeSerPacket({ kind: 'response', body: encodeResponse(6, { kind: 'gattcWrite', result: 0 }) }))).length;
  for (const part of data) {
    for (let at = 0; at < part.length; at += payload) {
      const value = part.subarray(at, at + payload);
      const command = commandPacket(6, { kind: 'gattcWrite', connHandle: 0, params: { writeOp: 2, flags: 0, handle: 0x10, offset: 0, value } });
      bytes += h5Frame(vendorPacket(0, 0, command)).length + ack + response + ack;
    }
  }
  return (bytes * 10 * 1000) / NRF_BAUD;
}

async function modelledRun(spec: string): Promise<{ transferMs: number; jobMs: number; phases: PhaseTimes }> {
  const registry = await openAdapters([spec], logger);
  const adapter = registry.get('sim0');
  const world = registry.simWorld('sim0');
  if (!world) throw new Error('no simulated world');
  const device = world.devices[0];
  if (!device) throw new Error('no simulated device');
  const t0 = world.nowMs();
  const phases = new PhaseClock(() => registry.clock.now());
  let transferStart = Number.NaN;
  let transferEnd = Number.NaN;
  const onEvent = (e: DfuEvent): void => {
    if (e.kind === 'phase' && e.phase === 'transferring' && Number.isNaN(transferStart)) transferStart = world.nowMs();
    if (e.kind === 'phase' && e.phase === 'activating') transferEnd = world.nowMs();
  };
  await runSecureDfu(adapter, pkg, { kind: 'address', address: device.address }, DEFAULT_DFU_OPTIONS, {
    signal: new AbortController().signal,
    clock: registry.clock,
    logger,
    onEvent,
    phases,
  });
  const jobMs = world.nowMs() - t0;
  const times = phases.stop();
  await registry.close();
  return { transferMs: transferEnd - transferStart, jobMs, phases: times };
}

async function grpcRun(spec: string): Promise<{ cpuMs: number; wallMs: number }> {
  const registry = await openAdapters([spec], logger);
  const app = createApp(
    {
      listen: '127.0.0.1:0',
      maxConcurrentDfus: 4,
      maxRequestBytes: 64 * 1024 * 1024,
      packageStoreBytes: 64 * 1024 * 1024,
      jobRetention: 10,
      shutdownGraceMs: 5_000,
    },
    { adapters: registry, clock: registry.clock, runner: runDfu, readPackage, findDevice, listSerialPorts: async () => [], logger },
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
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const mb = bytes / 1e6;

interface Result {
  readonly modelled: { transferMs: number; jobMs: number; phases: PhaseTimes };
  readonly cpuPerMb: number[];
  readonly wallMs: number[];
}
const results: Result[] = [];
for (const backend of BACKENDS) {
  const modelled = await modelledRun(backend.spec);
  const grpc: { cpuMs: number; wallMs: number }[] = [];
  for (let i = 0; i < RUNS; i++) grpc.push(await grpcRun(backend.spec));
  results.push({ modelled, cpuPerMb: grpc.map((g) => g.cpuMs / mb), wallMs: grpc.map((g) => g.wallMs) });
}
clearInterval(sampler);

// The bootloader asks for 15 ms; both backends negotiate 2M PHY, DLE 251 and MTU 247.
const bound = lowerBoundMs('2M', 15, 247);
const serial = serialBoundMs(247);
// Radio and serial line work side by side (the SoftDevice queues write commands), and both
// side by side with the device's flash queue.
const flashOf = (b: Backend): number => bound.flash + (b.savesProgress ? (bound.objects - 1) * bound.settingsPerObject : 0);
const bounds = BACKENDS.map((b) => Math.max(b.serialLine ? Math.max(bound.radio, serial) : bound.radio, flashOf(b)));
const oldBounds = BACKENDS.map((b) => (b.serialLine ? Math.max(bound.radio, serial) : bound.radio) + bound.flash);

const row = (name: string, cells: readonly string[]): string => `  ${name.padEnd(30)}${cells.map((c) => c.padEnd(34)).join('')}`;
console.log(`bledfu bench — ${PACKAGE} (${image.bin.length} B image + ${image.dat.length} B init packet), simulator accelerated`);
console.log(row('', BACKENDS.map((b) => b.label)));
console.log(row('modelled transfer time', results.map((r) => fmt(r.modelled.transferMs))));
console.log(row('model lower bound', bounds.map((b) => fmt(b))));
console.log(row('ratio transfer / bound', results.map((r, i) => (r.modelled.transferMs / (bounds[i] as number)).toFixed(2))));
console.log(row('radio + flash in series', oldBounds.map((b, i) => `${fmt(b)}, ratio ${((results[i]?.modelled.transferMs ?? Number.NaN) / b).toFixed(2)}`)));
console.log(row('modelled whole job', results.map((r) => fmt(r.modelled.jobMs))));
console.log(row('whole job − transfer', results.map((r) => fmt(r.modelled.jobMs - r.modelled.transferMs))));
console.log(row('host CPU per MB (via gRPC)', results.map((r) => `${median(r.cpuPerMb).toFixed(0)} ms/MB (${r.cpuPerMb.map((c) => c.toFixed(0)).join(', ')})`)));
console.log(row('wall time per DFU (via gRPC)', results.map((r) => `${median(r.wallMs).toFixed(0)} ms`)));
console.log('');
console.log('  modelled time per phase (server/dfu/phases.ts)');
for (const p of DFU_PHASES) console.log(row(`    ${p}`, results.map((r) => fmt(r.modelled.phases[p]))));
console.log(row('    sum of the phases', results.map((r) => `${fmt(sumPhaseTimes(r.modelled.phases))} (whole job ${fmt(r.modelled.jobMs)})`)));
console.log('');
console.log(`  transfer: first Select/Create to final Execute answer; whole job: buttonless entry, rescans, reconnects, activation, reading the new revision`);
console.log(
  `  bounds: the larger of radio ${fmt(bound.radio)} at 2M/DLE 251/15 ms (nrf: or the 1 Mbaud serial line, ${fmt(serial)}: write command + response + ACKs per packet, one at a time) and flash: image ${fmt(bound.flash)}, plus ${bound.objects - 1} settings pages × ${bound.settingsPerObject.toFixed(1)} ms = ${fmt(flashOf(BACKENDS[0] as Backend))} when the bootloader saves progress in flash`,
);
console.log(`  CPU: median of ${RUNS} runs; server, client and simulator (for nrf: the simulated dongle's codecs and line too) share the process`);
console.log(`  peak memory                  heap ${(peakHeap / 2 ** 20).toFixed(1)} MiB, RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MiB`);
