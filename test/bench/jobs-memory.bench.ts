/**
 * `npm run bench`: what DFU jobs cost the server in memory (issue 12, item 1). A small unsigned
 * debug package whose .zip is a few KB but unpacks to ~12 MiB (a deflated run of 0xFF bytes) is
 * sent inline with StartDfu 250 times through the real gRPC service, job manager, package store
 * and package reader. The adapter is a fake whose one DFU slot is taken by the first job, which
 * runs until cancelled, so the other 249 wait in QUEUED. Then every job is cancelled; then 250
 * more jobs fail at once (a runner that refuses at once: the finished jobs the server retains).
 *
 * Prints the process's RSS and heap+external after a full GC at each point, and the package
 * store's accounting. Asserts nothing (memory numbers belong here, not in tests). Run with
 * `node --expose-gc --import tsx test/bench/jobs-memory.bench.ts`; BENCH_JOBS sets the count.
 */
import JSZip from 'jszip';
import { createApp } from '../../server/app.js';
import { abortReason, BledfuError } from '../../server/common/errors.js';
import { silentLogger } from '../../server/common/logger.js';
import { generatePackage } from '../../server/dfu/package/generate.js';
import { readPackage } from '../../server/dfu/package/package.js';
import type { DfuRunner } from '../../server/dfu/types.js';
import { createBledfuClient, decodeError, startDfu } from '../../clients/ts/index.js';
import { FakeAdapter, FakeAdapterDirectory } from '../helpers/fake-adapter.js';
import { addressTarget } from '../helpers/job-events.js';

const JOBS = Number(process.env['BENCH_JOBS'] ?? '250');
/** Per image, as large as the package reader allows (4 MiB), a word short of it. */
const IMAGE = 4 * 1024 * 1024 - 4;
const UNPACKED = 3 * IMAGE;
const MiB = 1024 * 1024;

/**
 * An unsigned debug package of a SoftDevice, a bootloader and an application, each just under
 * the reader's 4 MiB per-image limit, of erased flash (0xFF): UNPACKED bytes in all, deflated to
 * a few KB. The writer joins a SoftDevice and a bootloader into one image, so the three come from
 * three single-image packages under one manifest (as nrfutil's manifest format allows).
 */
async function bigSmallPackage(): Promise<Uint8Array> {
  const erased = (name: string): { name: string; bin: Uint8Array } => ({ name, bin: new Uint8Array(IMAGE).fill(0xff) });
  const base = { hwVersion: 52, sdReq: [], debugMode: true } as const;
  const parts = await Promise.all([
    generatePackage({ ...base, softdevice: erased('sd.bin') }),
    generatePackage({ ...base, bootloader: erased('bl.bin') }),
    generatePackage({ ...base, application: erased('app.bin') }),
  ]);
  const zip = new JSZip();
  const manifest: Record<string, { bin_file: string; dat_file: string }> = {};
  for (const image of parts.flatMap((p) => p.images)) {
    manifest[image.kind] = { bin_file: image.binFile, dat_file: image.datFile };
    zip.file(image.binFile, image.bin);
    zip.file(image.datFile, image.dat);
  }
  zip.file('manifest.json', JSON.stringify({ manifest }, null, 4));
  return zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE', compressionOptions: { level: 9 } });
}

/** Holds its adapter's slot until cancelled (mode 'hold'), or fails at once (mode 'fail'). */
let mode: 'hold' | 'fail' = 'hold';
const runner: DfuRunner = (_adapter, _pkg, _target, _options, context) =>
  new Promise((_resolve, reject) => {
    if (mode === 'fail') {
      reject(new BledfuError('DEVICE_NOT_FOUND', 'no such device (bench)', { layer: 'ble' }));
      return;
    }
    const onAbort = (): void => reject(abortReason(context.signal));
    if (context.signal.aborted) onAbort();
    else context.signal.addEventListener('abort', onAbort, { once: true });
  });

function gc(): void {
  const run = (globalThis as { gc?: () => void }).gc;
  if (run === undefined) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) run();
}

const mb = (n: number): string => `${(n / MiB).toFixed(0).padStart(6)} MB`;

function measure(label: string): void {
  gc();
  const m = process.memoryUsage();
  const store = app.packages.usage();
  console.log(
    `  ${label.padEnd(42)} RSS ${mb(m.rss)}   heap+external ${mb(m.heapUsed + m.external)}` +
      `   package store ${mb(store.totalBytes)} in ${store.packages} package(s), ${store.leases} lease(s)`,
  );
}

const zip = await bigSmallPackage();
const adapter = new FakeAdapter('fake0');
const app = createApp(
  {
    listen: '127.0.0.1:0',
    maxConcurrentDfus: 1,
    maxRequestBytes: 64 * MiB,
    packageStoreBytes: 256 * MiB,
    jobRetention: 200,
    shutdownGraceMs: 5_000,
  },
  {
    adapters: new FakeAdapterDirectory([adapter]),
    runner,
    readPackage,
    findDevice: async () => {
      throw new BledfuError('DEVICE_NOT_FOUND', 'bench', { layer: 'ble' });
    },
    listSerialPorts: async () => [],
    logger: silentLogger(),
  },
);
const { address } = await app.start();
const client = createBledfuClient(address);
const target = addressTarget('F0:12:34:56:78:9A');

console.log(`\njobs memory: ${JOBS} StartDfu of a ${zip.length}-byte package that unpacks to ${(UNPACKED / MiB).toFixed(1)} MiB (sent in all: ${((zip.length * JOBS) / MiB).toFixed(1)} MB)`);
measure('server up, nothing sent');

/** Starts a job and returns its id once the server has answered with its snapshot. */
async function start(): Promise<string | undefined> {
  const events = startDfu(client, { package: { data: zip }, target })[Symbol.asyncIterator]();
  try {
    const first = await events.next();
    const id = first.done === true ? undefined : first.value.jobId;
    // The call's stream is not needed: the job belongs to the server.
    void events.return(undefined);
    return id;
  } catch (e) {
    return `refused: ${decodeError(e).code}`;
  }
}

const ids: string[] = [];
const refused = new Map<string, number>();
for (let i = 0; i < JOBS; i++) {
  const r = await start();
  if (r === undefined) continue;
  if (r.startsWith('refused: ')) refused.set(r, (refused.get(r) ?? 0) + 1);
  else ids.push(r);
}
const queued = (await client.listJobs({ activeOnly: true })).jobs.length;
measure(`${ids.length} jobs active (${queued} listed), 1 running`);
if (refused.size > 0) console.log(`  ${[...refused].map(([k, v]) => `${k} × ${v}`).join(', ')}`);

for (const id of ids) await client.cancelJob({ jobId: id });
for (const id of ids) await app.jobs.whenDone(id);
measure('after cancelling them all');

mode = 'fail';
let failed = 0;
for (let i = 0; i < JOBS; i++) {
  const id = await start();
  if (id !== undefined && !id.startsWith('refused: ')) {
    await app.jobs.whenDone(id);
    failed++;
  }
}
measure(`after ${failed} more jobs failed at once (retained 200)`);

client.close();
await app.stop();
