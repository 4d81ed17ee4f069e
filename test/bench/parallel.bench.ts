/**
 * `npm run bench`: the throughput of one station dongle. N = 1, 2, 4, 8, 16 DFUs of the project's
 * ~100 KB application package (25 data objects, like Nordic's HRS example) on N simulated devices,
 * through the whole server as a station drives it: the package uploaded once (UploadPackage), N
 * StartDfu calls on its package_id at once, the job manager running N at a time, the Secure DFU
 * engine, the backend, the simulated dongle and air — on the accelerated simulator, for each kind of
 * dongle:
 *  - HCI, roomy: the virtual HCI controller as `sim:` opens it (8 × 251-byte LE ACL buffers),
 *    the adapter allowed 16 links;
 *  - HCI, Zephyr-like: `sim:?controller=zephyr` (hci_uart on an nRF52840 dongle: 7 × 27-byte
 *    buffers, 16 links, no public address);
 *  - nrf: the simulated Nordic connectivity dongle (`sim:?dongle=nrf&api=6`), asked for 16 links
 *    (its SoftDevice RAM holds 5 at ATT MTU 247, with a shorter write-command queue), and with the
 *    backend's default 4 links.
 * Prints, in modelled time: the makespan (first job's first event to the last job's end), devices
 * per hour per dongle (N / makespan), aggregate bytes per second (N × image bytes / makespan) and
 * the model's bound for the same N, with the ratio makespan / bound. Every configuration runs twice
 * in fresh servers, and the bench says whether both gave the same modelled per-job durations (they
 * must: one clock). Asserts nothing (speed goals are not tests); prints whether the issue's goal
 * holds (8 parallel on one HCI dongle with 16 links ≥ 6 × the single-DFU devices per hour, or
 * within 1.2 × of the shared radio/UART bound when that is lower).
 *
 * The bound for N parallel DFUs is the largest of
 *  (a) ceil(N / links the dongle holds) × one device's floor (deviceFloorMs): no parallelism
 *      shortens a device's own radio time and flash work, and a link carries its jobs one after
 *      the other;
 *  (b) N × the air time of every DP packet of one image (its LL PDUs at the controller's data
 *      length, each with the empty acknowledgement and two IFS) on ONE radio: the central's links
 *      take turns on it (server/sim/centralRadio.ts); plus the activation copy of the device whose
 *      last packet crossed last (its job cannot end before that);
 *  (c) the dongle's serial line, N × one image's worth of it at 10 bits a byte and 1 Mbaud: for HCI
 *      the H4 bytes of the DP packets' ATT Write Commands in L2CAP, fragmented to the controller's
 *      LE ACL buffer length; for nrf the line bound of dfu.bench.ts (write command, its response
 *      and the H5 ACKs per packet, one call at a time); plus the activation copy, as in (b).
 * Counted with the simulator's own numbers and the real codecs (radio.ts, flash.ts, the chip's
 * settings-page cost, the SLIP/H5 and serialization encoders), at the link every backend
 * negotiates with the simulated bootloader: 2M PHY, LL payload 251, ATT MTU 247, 15 ms interval.
 * Only DP packets count in (b) and (c), so they stay lower bounds. The simulator imposes all three:
 * one radio per central, the HCI UART at its baud rate (docs/sim-model.md).
 *
 * BENCH_PARALLEL_N (e.g. "1,8") and BENCH_PARALLEL_DONGLES (e.g. "hci,zephyr,nrf,nrf4") narrow it.
 */
import { startDfu, uploadPackage, type DfuEvent } from '../../clients/ts/index.js';
import { readPackage } from '../../server/dfu/package/package.js';
import { NRF52840_FLASH } from '../../server/sim/devices/flash.js';
import { DEFAULT_RADIO, pduAirTimeUs } from '../../server/sim/radio.js';
import { CONTROLLER_PROFILES, createSimWorld, DEFAULT_SIM_CONFIG, type SimConfig } from '../../server/sim/world.js';
import { ackPacket, h5Frame, vendorPacket } from '../../server/backends/nrf/h5.js';
import { commandPacket, encodeSerPacket } from '../../server/backends/nrf/serialization/packets.js';
import { encodeResponse } from '../../server/backends/nrf/serialization/responses.js';
import { addressTarget, drain, finished, startSimServer, type SimDongle } from '../helpers/sim-server.js';
import { projectZip } from '../helpers/project-packages.js';

interface DongleKind {
  readonly key: 'hci' | 'zephyr' | 'nrf' | 'nrf4';
  readonly label: string;
  readonly dongle: SimDongle;
  readonly sim: Partial<SimConfig>;
  /** The adapter's connection limit (max=); the dongle may hold fewer (ListAdapters' links column). */
  readonly maxConnections: number;
}
const LINKS = 16;
const DONGLES: readonly DongleKind[] = [
  { key: 'hci', label: 'HCI roomy (sim:, 8×251 ACL, max=16)', dongle: { kind: 'hci' }, sim: {}, maxConnections: LINKS },
  { key: 'zephyr', label: 'HCI Zephyr-like (controller=zephyr, 7×27 ACL, 16 links)', dongle: { kind: 'hci' }, sim: { ...CONTROLLER_PROFILES.zephyr }, maxConnections: LINKS },
  // The connectivity firmware's SoftDevice RAM does not hold 16 links at ATT MTU 247: setup halves
  // the write-command queue, then drops links, until it fits.
  { key: 'nrf', label: 'nrf (dongle=nrf&api=6, max=16 asked)', dongle: { kind: 'nrf', api: 6 }, sim: {}, maxConnections: LINKS },
  { key: 'nrf4', label: 'nrf (dongle=nrf&api=6, max=4, the default)', dongle: { kind: 'nrf', api: 6 }, sim: {}, maxConnections: 4 },
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
/** The bootloader's data object size (the simulated device's Select answer, like the SDK's 4096). */
const DATA_OBJECT_MAX = 4096;
const payload = LINK.mtu - 3;

/** What one object costs the device: its bytes, the flash work it causes, and its DP packets' values. */
interface ObjectWork {
  readonly kind: 'command' | 'data';
  /** DP packet value lengths: the engine cuts each object into MTU − 3 chunks. */
  readonly packets: readonly Uint8Array[];
  readonly eraseMs: number;
  readonly writeMs: number;
}
const objectsOfImage: readonly ObjectWork[] = [
  { kind: 'command', packets: chunks(image.dat), eraseMs: 0, writeMs: 0 },
  ...Array.from({ length: Math.ceil(image.bin.length / DATA_OBJECT_MAX) }, (_, i): ObjectWork => {
    const bytes = image.bin.subarray(i * DATA_OBJECT_MAX, (i + 1) * DATA_OBJECT_MAX);
    return {
      kind: 'data',
      packets: chunks(bytes),
      eraseMs: Math.ceil(bytes.length / NRF52840_FLASH.pageSize) * NRF52840_FLASH.pageEraseMs,
      writeMs: Math.ceil(bytes.length / 4) * NRF52840_FLASH.wordWriteMs,
    };
  }),
];
const dataObjects = objectsOfImage.length - 1;
const allPackets = objectsOfImage.flatMap((o) => o.packets);

function chunks(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += payload) out.push(bytes.subarray(at, at + payload));
  return out;
}

/**
 * One DP packet on the air: its ATT Write Command in L2CAP, cut into LL PDUs of at most
 * `llPayload` octets (251 with DLE; 27 on a controller that stops there), each with the peer's
 * empty acknowledgement and two IFS.
 */
function packetAirUs(valueLength: number, llPayload: number = DEFAULT_RADIO.maxDataLength): number {
  let us = 0;
  for (let rest = valueLength + 3 + 4; rest > 0; rest -= llPayload) {
    us += pduAirTimeUs(Math.min(rest, llPayload), LINK.phy) + DEFAULT_RADIO.ifsUs + pduAirTimeUs(0, LINK.phy) + DEFAULT_RADIO.ifsUs;
  }
  return us;
}

/** Every DP packet's air time, back to back (what one shared radio must carry per image). */
const airPerImageMs = (llPayload: number): number => allPackets.reduce((ms, p) => ms + packetAirUs(p.length, llPayload) / 1000, 0);

/** Connection events one object's packets need on their own link: packed greedily into the peripheral's event length. */
function eventsFor(packets: readonly Uint8Array[]): number {
  const budgetUs = DEFAULT_RADIO.eventLengthMs * 1000;
  let events = 0;
  let usedUs = budgetUs;
  for (const p of packets) {
    const us = packetAirUs(p.length);
    if (usedUs + us > budgetUs) {
      events++;
      usedUs = 0;
    }
    usedUs += us;
  }
  return events;
}

/** The device floor's parts (module comment). */
interface DeviceFloor {
  /** Every object's packets packed into connection events on its own link. */
  readonly radio: number;
  /** The bootloader's flash queue: page erases and word writes, a settings page per Execute, the final hash. */
  readonly flash: number;
  /** After the activating reset: the image copied from bank 1 into place (erases and writes). */
  readonly activation: number;
  readonly total: number;
}

/**
 * (a) One device alone, as the simulated bootloader works (server/sim/devices/dfuTarget.ts, after
 * the SDK's nrf_dfu_req_handler.c): Create queues its page erase and answers at once, the packets
 * stream in while the flash queue works, CRC answers from RAM, Execute answers once the queue is
 * idle and then saves the settings page. So the transfer takes at least the longer of its radio
 * time and its flash work (dfu.bench.ts's floor). After the activating reset the bootloader copies
 * the image into place before the application runs and answers the final read: that flash work
 * follows the transfer. Round trips, the event grid, scans, connections and boots are left out, so
 * this stays a lower bound of the whole job.
 */
function deviceFloorMs(settingsSaveMs: number): DeviceFloor {
  let radio = 0;
  let imageFlash = 0;
  for (const o of objectsOfImage) {
    radio += eventsFor(o.packets) * LINK.intervalMs;
    imageFlash += o.eraseMs + o.writeMs;
  }
  const flash = imageFlash + dataObjects * settingsSaveMs + image!.bin.length / DEFAULT_SIM_CONFIG.sha256BytesPerMs;
  const activation = imageFlash;
  return { radio, flash, activation, total: Math.max(radio, flash) + activation };
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
  for (const p of allPackets) {
    const l2cap = 4 + 3 + p.length;
    bytes += l2cap + Math.ceil(l2cap / aclLength) * (H4_TYPE + ACL_HEADER);
  }
  return bytes;
}

/** The nrf dongle's serial line per image (dfu.bench.ts): write command, ACK, response, ACK per DP packet. */
function nrfSerialMsPerImage(): number {
  let bytes = 0;
  const ack = h5Frame(ackPacket(1)).length;
  const response = h5Frame(vendorPacket(0, 0, encodeSerPacket({ kind: 'response', body: encodeResponse(6, { kind: 'gattcWrite', result: 0 }) }))).length;
  for (const value of allPackets) {
    const command = commandPacket(6, { kind: 'gattcWrite', connHandle: 0, params: { writeOp: 2, flags: 0, handle: 0x10, offset: 0, value } });
    bytes += h5Frame(vendorPacket(0, 0, command)).length + ack + response + ack;
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
function boundMs(kind: DongleKind, n: number, links: number, floor: DeviceFloor): Bound {
  // With fewer links than devices, some link carries ceil(N / links) jobs one after the other.
  const device = Math.ceil(n / Math.max(1, links)) * floor.total;
  // The last DP packet crosses the shared radio (or line) no sooner than all N images' worth of
  // it; that device then still copies its image into place before its job can end.
  const radio = n * airPerImageMs(kind.sim.controllerMaxDataLength ?? DEFAULT_RADIO.maxDataLength) + floor.activation;
  const aclLength = kind.sim.aclDataLength ?? DEFAULT_SIM_CONFIG.aclDataLength;
  const line = (kind.dongle.kind === 'nrf' ? n * nrfSerialMsPerImage() : (n * h4BytesPerImage(aclLength) * BITS_PER_BYTE * 1000) / BAUD) + floor.activation;
  const ms = Math.max(device, radio, line);
  return { device, radio, line, ms, by: ms === device ? 'device' : ms === radio ? 'radio' : 'line' };
}

interface Run {
  readonly makespanMs: number;
  /** Each job's modelled duration, in device order. */
  readonly durationsMs: readonly number[];
  readonly failures: number;
  /** The longest job's TRANSFERRING → ACTIVATING. */
  readonly transferMs: number;
  readonly cpuMs: number;
  /** Links the opened dongle holds at once (the adapter's maxConnections after its setup). */
  readonly links: number;
}

const ms = (d: { readonly seconds: number; readonly nanos: number } | undefined): number => (d === undefined ? Number.NaN : d.seconds * 1000 + d.nanos / 1e6);
const at = (e: DfuEvent | undefined): number => e?.time?.getTime() ?? Number.NaN;
const stateAt = (events: readonly DfuEvent[], state: string): number => at(events.find((e) => e.type === 'state' && e.stateName === state));

async function run(kind: DongleKind, n: number): Promise<Run> {
  const s = await startSimServer(
    { ...kind.sim, devices: Array.from({ length: n }, () => ({})) },
    // A station: the package uploaded once, N jobs started on it at once (StartDfu calls beyond
    // the server's upload slots wait for one: the default 8 serves N = 16).
    { maxConcurrentDfus: n, packageStoreBytes: 64 * 1024 * 1024 },
    kind.dongle,
    {},
    { maxConnections: kind.maxConnections },
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
      transferMs: Math.max(...jobs.map((j) => stateAt(j.events, 'ACTIVATING') - stateAt(j.events, 'TRANSFERRING'))),
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

/** What saving the settings page costs the simulated chip (its own figure, not a copy of it). */
async function settingsSaveMs(): Promise<number> {
  const world = createSimWorld({ devices: [{}] });
  try {
    return world.devices[0]?.device.chip.saveSettings() ?? Number.NaN;
  } finally {
    await world.close();
  }
}

const floor = deviceFloorMs(await settingsSaveMs());
console.log(`bledfu bench — parallel DFUs per dongle: the project's app package (${image.bin.length} B image + ${image.dat.length} B init packet, ${dataObjects} data objects), accelerated simulator, modelled time`);
console.log(`  bound = max(ceil(N / links) × device floor ${s1(floor.total)} s [max(radio ${s1(floor.radio)}, flash queue ${s1(floor.flash)}) + activation copy ${s1(floor.activation)}],`);
console.log(`              N × one radio ${s1(airPerImageMs(DEFAULT_RADIO.maxDataLength))} s (LL 251; ${s1(airPerImageMs(27))} s at LL 27) + activation copy, N × line: HCI ×251 ${s1((h4BytesPerImage(251) * BITS_PER_BYTE * 1000) / BAUD)} s, HCI ×27 ${s1((h4BytesPerImage(27) * BITS_PER_BYTE * 1000) / BAUD)} s, nrf ${s1(nrfSerialMsPerImage())} s at 1 Mbaud, + activation copy)`);
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
    const b = boundMs(kind, n, first.links, floor);
    const failed = first.failures + second.failures > 0 ? ` (${first.failures + second.failures} failed)` : '';
    console.log(
      `  ${col([n, first.links, s1(first.makespanMs), perHour.toFixed(0), ((n * imageBytes) / (first.makespanMs / 1000)).toFixed(0), s1(b.ms), b.by, (first.makespanMs / b.ms).toFixed(2), same ? 'yes' : 'NO', ((first.cpuMs + second.cpuMs) / 2000).toFixed(1)], WIDTHS)}${failed}`,
    );
    if (n === 1) {
      const transferFloor = Math.max(floor.radio, floor.flash);
      console.log(`       single: transfer ${s1(first.transferMs)} s = ${(first.transferMs / transferFloor).toFixed(2)} × the transfer floor ${s1(transferFloor)} s; whole job ${s1(first.makespanMs)} s = ${(first.makespanMs / floor.total).toFixed(2)} × the device floor`);
    }
    if (!same) console.log(`       run 1: ${first.durationsMs.map(s1).join(' ')}\n       run 2: ${second.durationsMs.map(s1).join(' ')}`);
    if (n === 8 && single !== undefined) {
      // The goal: ≥ 6 × the single DFU's devices per hour, or within 1.2 × of the shared
      // radio/UART bound when that allows less than 6 ×. Judged for an HCI dongle holding 16 links.
      const shared = Math.max(b.radio, b.line);
      const goal = Math.min(6 * single, (8 / (1.2 * shared)) * 3_600_000);
      const judged = kind.dongle.kind === 'hci' && first.links >= LINKS ? `goal ${goal.toFixed(0)} dev/h ${perHour >= goal ? 'holds' : 'NOT met'}` : `goal not judged (for an HCI dongle with ${LINKS} links)`;
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
