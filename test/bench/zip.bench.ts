/**
 * `npm run bench` (issue 12 item 3): a valid package plus 700 000 empty entries (~69 MB, zip64),
 * the upload that used to block the event loop for seconds. Prints numbers; asserts nothing.
 *
 *  - time to refuse it: readPackage in-process (the CLI's path), the server's package readers
 *    (container check on the calling thread, worker threads behind it) and the package store as
 *    UploadPackage calls it (SHA-256 for de-duplication first, on the thread pool);
 *  - the server's event-loop delay (perf_hooks.monitorEventLoopDelay) while 8 such uploads arrive
 *    at once by gRPC (from a child process) at the server on the accelerated simulator while a DFU
 *    runs, and the DFU's progress events meanwhile;
 *  - with `--before`: what JSZip alone takes to parse the archive (what readPackage did before
 *    checking the container itself), for comparison. Slow (seconds, over a GB): not in npm run bench.
 */
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import JSZip from 'jszip';
import { hasCode } from '../../server/common/errors.js';
import { readPackage } from '../../server/dfu/package/package.js';
import { startPackageReaders } from '../../server/jobs/packageReaders.js';
import { PackageStore } from '../../server/jobs/packageStore.js';
import { createBledfuClient, decodeError, startDfu, uploadPackage } from '../../clients/ts/index.js';
import { projectZip } from '../helpers/project-packages.js';
import { addressTarget, startSimServer } from '../helpers/sim-server.js';
import { buildZip, emptyEntries, zipEntries } from '../helpers/zip-builder.js';

const MiB = 1024 * 1024;
const UPLOADS = 8;
const CLIENT_FLAG = '--uploading-client';
/** Upload chunk size; default the TS client's (256 KiB). BENCH_CHUNK_KIB=4096: fewer, larger messages. */
const CHUNK_BYTES = process.env['BENCH_CHUNK_KIB'] === undefined ? undefined : Number(process.env['BENCH_CHUNK_KIB']) * 1024;
const app = await projectZip('app');
const huge = buildZip([...(await zipEntries(app)), ...emptyEntries(700_000)]);

if (process.argv.includes(CLIENT_FLAG)) {
  // The child: UPLOADS uploads at once to the server at the address given, codes as JSON on stdout.
  const address = process.argv[process.argv.indexOf(CLIENT_FLAG) + 1] as string;
  process.stdout.write('sending\n');
  const codes = await Promise.all(
    Array.from({ length: UPLOADS }, () => {
      const client = createBledfuClient(address);
      return uploadPackage(client, huge, CHUNK_BYTES === undefined ? {} : { chunkSize: CHUNK_BYTES }).then(
        () => 'accepted',
        (e: unknown) => decodeError(e).code,
      ).finally(() => client.close());
    }),
  );
  process.stdout.write(`${JSON.stringify(codes)}\n`);
  process.exit(0);
}
const ms = (x: number): string => `${x.toFixed(x < 10 ? 2 : 0)} ms`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function refusalMs(refuse: () => Promise<unknown>, runs = 5): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const ok = await refuse().then(
      () => false,
      (e: unknown) => hasCode(e, 'PACKAGE_INVALID'),
    );
    out.push(performance.now() - t);
    if (!ok) throw new Error('the 700 000-entry zip was not refused PACKAGE_INVALID');
  }
  return out;
}

console.log(`bledfu zip bench — the project's app package + 700 000 empty entries: ${(huge.length / MiB).toFixed(1)} MiB`);
const inProcess = await refusalMs(() => readPackage(huge));
console.log(`  refused by readPackage in-process:            median ${ms(median(inProcess))} (${inProcess.map(ms).join(', ')})`);
const readers = startPackageReaders({ threads: 1, queue: 8 });
const byReaders = await refusalMs(() => readers.read(huge));
console.log(`  refused by the server's package readers:      median ${ms(median(byReaders))}`);
const store = new PackageStore({ readPackage: readers.read, screen: readers.screen, maxTotalBytes: 256 * MiB });
const byStore = await refusalMs(() => store.put(huge));
console.log(`  refused by the package store (as bledfud):    median ${ms(median(byStore))}`);

// Eight uploads at once over gRPC while a DFU runs on the simulator. The uploading client runs in
// a child process, so the delay measured here is the server's own.
// Room for the eight uploads and the DFUs' own StartDfu beside them (--max-concurrent-uploads, default 8).
const s = await startSimServer(
  {},
  { maxRequestBytes: 96 * MiB, packageStoreBytes: 256 * MiB, maxConcurrentUploads: UPLOADS + 1 },
  { kind: 'hci' },
  { packageReaders: readers },
);
const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), CLIENT_FLAG, s.address], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (d: Buffer) => (out += d.toString()));
const exited = new Promise((resolve) => child.on('exit', resolve));
// The child builds its zip first (a second or two), then says "sending".
await new Promise<void>((resolve) => child.stdout.on('data', () => out.includes('sending') && resolve()));
let uploading = true;
let progress = 0;
let dfus = 0;
// DFUs one after another on the simulated device for as long as the uploads last.
const dfuLoop = (async () => {
  while (uploading) {
    for await (const e of startDfu(s.client, { package: { data: app }, target: addressTarget(s.device().address.value) })) {
      if (e.type === 'progress' && uploading) progress++;
      if (e.type === 'finished' && e.result.success) dfus++;
    }
  }
})();
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
const t0 = performance.now();
await exited;
const wall = performance.now() - t0;
uploading = false;
delay.disable();
await dfuLoop;
await s.close();
await readers.close();
const codes = (JSON.parse(out.slice(out.indexOf('['))) as string[]);
console.log(`  ${UPLOADS} uploads at once over gRPC during DFUs:   (chunks of ${CHUNK_BYTES === undefined ? 'the client default' : `${CHUNK_BYTES / 1024} KiB`}) ${codes.filter((c) => c === 'PACKAGE_INVALID').length}/${UPLOADS} refused PACKAGE_INVALID in ${ms(wall)} wall`);
console.log(`  the server's event-loop delay meanwhile:      max ${ms(delay.max / 1e6)}, p99 ${ms(delay.percentile(99) / 1e6)}, mean ${ms(delay.mean / 1e6)}`);
console.log(`  DFUs meanwhile (one after another):           ${dfus} succeeded, ${progress} progress events`);

if (process.argv.includes('--before')) {
  const rss = process.memoryUsage().rss;
  const t = performance.now();
  const zip = await JSZip.loadAsync(huge);
  console.log(
    `  before (JSZip parses it all): ${ms(performance.now() - t)}, ${Object.keys(zip.files).length} entries, RSS +${((process.memoryUsage().rss - rss) / MiB).toFixed(0)} MiB`,
  );
}
