/**
 * `npm run bench`: the throughput of one station dongle. N = 1, 2, 4, 8, 16 DFUs of the project's
 * ~100 KB application package (25 data objects, like Nordic's HRS example) started at once on N
 * simulated devices through the whole server (gRPC, job manager with maxConcurrentDfus = N, Secure
 * DFU engine, backend, simulated dongle and air), on the accelerated simulator, for each dongle kind:
 *  - HCI, roomy: the virtual HCI controller as `sim:` opens it (8 × 251-byte LE ACL buffers),
 *    the adapter allowed 16 links;
 *  - HCI, Zephyr-like: `sim:?controller=zephyr` (hci_uart on an nRF52840 dongle: 7 × 27-byte
 *    buffers, 16 links, no public address);
 *  - nrf: the simulated Nordic connectivity dongle (`sim:?dongle=nrf&api=6`), the SoftDevice
 *    configured for 16 central links.
 * Prints, in modelled time: the makespan (first job's first event to last job's end), devices per
 * hour per dongle (N / makespan), aggregate bytes per second (N × image bytes / makespan) and the
 * model's bound for the same N, with the ratio makespan / bound. Every configuration runs twice in
 * fresh servers and the bench says whether both runs gave the same modelled per-job durations (they
 * must: one clock). Asserts nothing (speed goals are not tests); prints whether the issue's goal
 * holds (8 parallel on one HCI dongle with 16 links ≥ 6 × the single-DFU devices per hour, or
 * within 1.2 × of the shared radio/UART bound when that is lower).
 *
 * The bound for N parallel DFUs is the larger of
 *  (a) one device's floor, which no amount of parallelism shortens: its flash work (every page
 *      erased, every word written, NRF52840_FLASH) + its DP packets' radio time on its own link
 *      (packed into connection events at 2M PHY, LL payload 251, ATT MTU 247, a 15 ms interval, the
 *      peripheral's 7.5 ms event length) + the round trips the protocol cannot avoid: per object
 *      (the init packet's and each data object) Create, Calculate Checksum and Execute, each a
 *      request whose response cannot come before the next connection event: one interval each;
 *  (b) the capacity the N links share: N × the air time of every DP packet of one image (the packet,
 *      its empty acknowledgement, two IFS) on ONE radio — the central's links take turns; and for
 *      HCI N × the H4 bytes the host sends the controller for one image's DP packets (ATT Write
 *      Commands in L2CAP, fragmented to the controller's LE ACL buffer length, each fragment an H4
 *      ACL packet) at 10 bits a byte on a 1 Mbaud UART; for nrf N × the serial line's own bound of
 *      dfu.bench.ts (write command, response and H5 ACKs per packet, one call at a time).
 * Counted with the real codecs and numbers (radio.ts, flash.ts, the H4/ACL and SLIP/H5 encoders).
 * Only the DP packets count in (b): control-point traffic and the rest of the job are left out, so
 * it stays a lower bound. Until the simulated central shares one radio between its links and the HCI
 * line has a speed, (b) is a bound the simulator does not yet impose: a ratio below 1 says so.
 *
 * BENCH_PARALLEL_N (e.g. "1,8") and BENCH_PARALLEL_DONGLES (e.g. "hci,zephyr,nrf") narrow the run.
 */
import { startDfu, uploadPackage, type DfuEvent } from '../../clients/ts/index.js';
import { readPackage } from '../../server/dfu/package/package.js';
import { NRF52840_FLASH } from '../../server/sim/devices/flash.js';
import { DEFAULT_RADIO, pduAirTimeUs } from '../../server/sim/radio.js';
import { CONTROLLER_PROFILES, DEFAULT_SIM_CONFIG, type SimConfig } from '../../server/sim/world.js';
import { ackPacket, h5Frame, vendorPacket } from '../../server/backends/nrf/h5.js';
import { commandPacket, encodeSerPacket } from '../../server/backends/nrf/serialization/packets.js';
import { encodeResponse } from '../../server/backends/nrf/serialization/responses.js';
import { addressTarget, drain, finished, startSimServer, type SimDongle } from '../helpers/sim-server.js';
import { projectZip } from '../helpers/project-packages.js';

interface DongleKind {
  readonly key: 'hci' | 'zephyr' | 'nrf';
  readonly label: string;
  readonly dongle: SimDongle;
  readonly sim: Partial<SimConfig>;
}
const LINKS = 16;
const DONGLES: readonly DongleKind[] = [
  { key: 'hci', label: 'HCI roomy (sim:, 8×251 ACL, max=16)', dongle: { kind: 'hci' }, sim: {} },
  { key: 'zephyr', label: 'HCI Zephyr-like (controller=zephyr, 7×27 ACL, 16 links)', dongle: { kind: 'hci' }, sim: { ...CONTROLLER_PROFILES.zephyr } },
  { key: 'nrf', label: 'nrf (dongle=nrf&api=6, 16 links)', dongle: { kind: 'nrf', api: 6 }, sim: {} },
];
const NS = (process.env['BENCH_PARALLEL_N'] ?? '1,2,4,8,16').split(',').map(Number);
const ONLY = process.env['BENCH_PARALLEL_DONGLES']?.split(',');

/** The link every backend negotiates with the simulated bootloader (dfu.bench.ts). */
const LINK = { phy: '2M', intervalMs: 15, mtu: 247 } as const;
const BAUD = 1_000_000;
const BITS_PER_BYTE = 10;

const zip = await projectZip('app');
const pkg = await readPackage(zip);
const image = pkg.images[0];
if (image === undefined) throw new Error('package has no image');
const imageBytes = image.bin.length + image.dat.length;
const parts = [image.dat, image.bin];
const dataObjects = Math.ceil(image.bin.length / 4096);
const objects = dataObjects + 1;
const payload = LINK.mtu - 3;
const packets = parts.reduce((n, p) => n + Math.ceil(p.length / payload), 0);

/** One DP packet exchange on the air: the central's PDU (ATT + L2CAP headers), the empty ack, two IFS. */
function packetAirUs(valueLength: number): number {
  return pduAirTimeUs(valueLength + 3 + 4, LINK.phy) + DEFAULT_RADIO.ifsUs + pduAirTimeUs(0, LINK.phy) + DEFAULT_RADIO.ifsUs;
}

/** Every DP packet's air time, back to back (what one shared radio must carry per image). */
const airPerImageMs = parts.reduce((ms, p) => {
  for (let at = 0; at < p.length; at += payload) ms += packetAirUs(Math.min(payload, p.length - at)) / 1000;
  return ms;
}, 0);

/** (a) One device alone: radio packed into its connection events + flash + the protocol's round trips. */
function deviceFloorMs(): { radio: number; flash: number; roundTrips: number } {
  const perEvent = Math.max(1, Math.floor((DEFAULT_RADIO.eventLengthMs * 1000) / packetAirUs(payload)));
  const radio = Math.ceil(packets / perEvent) * LINK.intervalMs;
  const pages = Math.ceil(image!.bin.length / NRF52840_FLASH.pageSize);
  const words = Math.ceil(image!.bin.length / 4);
  const flash = pages * NRF52840_FLASH.pageEraseMs + words * NRF52840_FLASH.wordWriteMs;
  // Create, Calculate Checksum, Execute per object: one connection interval each at least.
  const roundTrips = objects * 3 * LINK.intervalMs;
  return { radio, flash, roundTrips };
}

/**
 * H4 bytes the host sends an HCI controller whose LE ACL buffers hold `aclLength` bytes, for one
 * image's DP packets: each ATT Write Command (opcode + handle + value) in an L2CAP basic frame
 * (length + CID), cut into ACL fragments of at most `aclLength`, each with the H4 type byte and the
 * ACL header (handle/flags, length).
 */
function h4BytesPerImage(aclLength: number): number {
  const H4_TYPE = 1;
  const ACL_HEADER = 4;
  let bytes = 0;
  for (const p of parts) {
    for (let at = 0; at < p.length; at += payload) {
      const l2cap = 4 + 3 + Math.min(payload, p.length - at);
      const fragments = Math.ceil(l2cap / aclLength);
      bytes += l2cap + fragments * (H4_TYPE + ACL_HEADER);
    }
  }
  return bytes;
}

/** The nrf dongle's serial line per image (dfu.bench.ts): write command, ACK, response, ACK per DP packet. */
function nrfSerialMsPerImage(): number {
  let bytes = 0;
  const ack = h5Frame(ackPacket(1)).length;
  const response = h5Frame(vendorPacket(0, 0, encodeSerPacket({ kind: 'response', body: encodeResponse(6, { kind: 'gattcWrite', result: 0 }) }))).length;
  for (const p of parts) {
    for (let at = 0; at < p.length; at += payload) {
      const value = p.subarray(at, at + payload);
      const command = commandPacket(6, { kind: 'gattcWrite', connHandle: 0, params: { writeOp: 2, flags: 0, handle: 0x10, offset: 0, value } });
      bytes += h5Frame(vendorPacket(0, 0, command)).length + ack + response + ack;
    }
  }
  return (bytes * BITS_PER_BYTE * 1000) / BAUD;
}

interface Bound {
  readonly device: number;
  readonly radio: number;
  readonly line: number;
  readonly ms: number;
  readonly by: 'device' | 'radio' | 'line';
}

/** The bound for N parallel DFUs on a dongle holding `links` links at once (module comment). */
function boundMs(kind: DongleKind, n: number, links: number): Bound {
  const f = deviceFloorMs();
  // With fewer links than devices, some link carries ceil(N / links) jobs one after the other.
  const device = Math.ceil(n / Math.max(1, links)) * (f.radio + f.flash + f.roundTrips);
  const radio = n * airPerImageMs;
  const aclLength = kind.sim.aclDataLength ?? DEFAULT_SIM_CONFIG.aclDataLength;
  const line = kind.key === 'nrf' ? n * nrfSerialMsPerImage() : (n * h4BytesPerImage(aclLength) * BITS_PER_BYTE * 1000) / BAUD;
  const ms = Math.max(device, radio, line);
  return { device, radio, line, ms, by: ms === device ? 'device' : ms === radio ? 'radio' : 'line' };
}

interface Run {
  readonly makespanMs: number;
  /** Each job's modelled duration, in device order. */
  readonly durationsMs: readonly number[];
  readonly failures: number;
  readonly cpuMs: number;
  /** Links the opened dongle holds at once (the adapter's maxConnections after its setup). */
  readonly links: number;
}

const ms = (d: { readonly seconds: number; readonly nanos: number } | undefined): number => (d === undefined ? Number.NaN : d.seconds * 1000 + d.nanos / 1e6);
const at = (e: DfuEvent | undefined): number => e?.time?.getTime() ?? Number.NaN;

async function run(kind: DongleKind, n: number): Promise<Run> {
  const s = await startSimServer(
    { ...kind.sim, devices: Array.from({ length: n }, () => ({})) },
    // A station: the package uploaded once, N jobs started on it at once (a StartDfu holds an
    // upload slot until its request has arrived, so the slots must cover N too).
    { maxConcurrentDfus: n, maxConcurrentUploads: n, packageStoreBytes: 64 * 1024 * 1024 },
    kind.dongle,
    {},
    { maxConnections: LINKS },
  );
  const cpu0 = process.cpuUsage();
  try {
    const links = s.registry.list()[0]?.info().maxConnections ?? 0;
    const { packageId } = await uploadPackage(s.client, zip);
    const jobs = await Promise.all(
      Array.from({ length: n }, (_, i) => drain(startDfu(s.client, { package: { packageId }, target: addressTarget(s.device(i).address.value) }))),
    );
    const cpu = process.cpuUsage(cpu0);
    const starts = jobs.map((j) => at(j.events[0]));
    const ends = jobs.map((j) => at(j.events.at(-1)));
    return {
      makespanMs: Math.max(...ends) - Math.min(...starts),
      durationsMs: jobs.map((j) => ms(finished(j.events)?.result.duration)),
      failures: jobs.filter((j) => finished(j.events)?.result.success !== true).length,
      cpuMs: (cpu.user + cpu.system) / 1000,
      links,
    };
  } finally {
    await s.close();
  }
}

const s1 = (x: number): string => (x / 1000).toFixed(2);
const col = (cells: readonly (string | number)[], widths: readonly number[]): string => cells.map((c, i) => String(c).padStart(widths[i] ?? 10)).join(' ');
const WIDTHS = [4, 6, 11, 8, 9, 9, 7, 6, 5, 6];

const floor = deviceFloorMs();
console.log(`bledfu bench — parallel DFUs per dongle: the project's app package (${image.bin.length} B image + ${image.dat.length} B init packet, ${dataObjects} data objects), accelerated simulator, modelled time`);
console.log(`  bound = max(device floor ${s1(floor.radio + floor.flash + floor.roundTrips)} s [radio ${s1(floor.radio)} + flash ${s1(floor.flash)} + ${objects}×3 round trips ${s1(floor.roundTrips)}],`);
console.log(`              N × one radio ${s1(airPerImageMs)} s, N × line: HCI 8×251 ${s1((h4BytesPerImage(251) * BITS_PER_BYTE * 1000) / BAUD)} s, HCI ×27 ${s1((h4BytesPerImage(27) * BITS_PER_BYTE * 1000) / BAUD)} s, nrf ${s1(nrfSerialMsPerImage())} s at 1 Mbaud)`);
const verdicts: string[] = [];
let deterministic = true;
for (const kind of DONGLES) {
  if (ONLY !== undefined && !ONLY.includes(kind.key)) continue;
  console.log('');
  console.log(`  ${kind.label}`);
  console.log(`  ${col(['N', 'links', 'makespan s', 'dev/h', 'agg B/s', 'bound s', 'by', 'ratio', 'same', 'CPU s'], WIDTHS)}`);
  let single: number | undefined;
  for (const n of NS) {
    const first = await run(kind, n);
    const second = await run(kind, n);
    const same = first.failures === 0 && Object.is(first.makespanMs, second.makespanMs) && first.durationsMs.every((d, i) => Object.is(d, second.durationsMs[i]));
    deterministic &&= same;
    const perHour = (n / first.makespanMs) * 3_600_000;
    if (n === 1) single = perHour;
    const b = boundMs(kind, n, first.links);
    const failed = first.failures + second.failures > 0 ? ` (${first.failures + second.failures} failed)` : '';
    console.log(
      `  ${col([n, first.links, s1(first.makespanMs), perHour.toFixed(0), ((n * imageBytes) / (first.makespanMs / 1000)).toFixed(0), s1(b.ms), b.by, (first.makespanMs / b.ms).toFixed(2), same ? 'yes' : 'NO', ((first.cpuMs + second.cpuMs) / 2000).toFixed(1)], WIDTHS)}${failed}`,
    );
    if (!same) console.log(`       run 1: ${first.durationsMs.map(s1).join(' ')}\n       run 2: ${second.durationsMs.map(s1).join(' ')}`);
    if (n === 8 && single !== undefined) {
      // The goal: ≥ 6 × the single DFU's devices per hour, or within 1.2 × of the shared
      // radio/UART bound when that allows less than 6 ×. Judged for an HCI dongle holding 16 links.
      const shared = Math.max(b.radio, b.line);
      const goal = Math.min(6 * single, (8 / (1.2 * shared)) * 3_600_000);
      const judged = kind.key !== 'nrf' && first.links >= LINKS ? `goal ${goal.toFixed(0)} dev/h ${perHour >= goal ? 'holds' : 'NOT met'}` : `goal not judged (for an HCI dongle with ${LINKS} links)`;
      verdicts.push(`  ${kind.key.padEnd(7)} single ${single.toFixed(0)} dev/h; 8 parallel ${perHour.toFixed(0)} dev/h = ${(perHour / single).toFixed(2)} × single; ${judged}`);
    }
  }
}
console.log('');
console.log('  makespan: first job\'s first event to the last job\'s end; dev/h = N / makespan per dongle; agg B/s = N × (image + init packet) / makespan');
console.log('  ratio = makespan / bound; same = a second run in a fresh server gave the same modelled per-job durations; CPU s = host CPU per run');
console.log('  goal (issue 14): 8 parallel on one HCI dongle with 16 links ≥ 6 × single devices/hour, or within 1.2 × of the radio/UART bound if lower');
for (const v of verdicts) console.log(v);
console.log(`  deterministic: ${deterministic ? 'yes, every configuration gave the same modelled numbers twice' : 'NO — see the runs above'}`);
