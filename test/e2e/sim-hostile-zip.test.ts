/**
 * Issue 12 item 3: a zip with hundreds of thousands of entries must not stall the server. A DFU
 * runs on the accelerated simulator, with packages read as bledfud reads them (worker threads,
 * server/jobs/packageReaders.ts), while four uploads of a valid package padded with 700 000
 * empty entries (~69 MB each) arrive by UploadPackage. Each is refused by
 * its entry count, the DFU keeps reporting progress while they are being refused, and ends
 * with every byte on the device.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeError, startDfu, uploadPackage, type DfuEvent } from '../../clients/ts/index.js';
import { startPackageReaders, type PackageReaders } from '../../server/jobs/packageReaders.js';
import { projectFacts } from '../helpers/project-packages.js';
import { addressTarget, startSimServer } from '../helpers/sim-server.js';
import { buildZip, emptyEntries, zipEntries } from '../helpers/zip-builder.js';

const APP = await projectFacts('app');
const MiB = 1024 * 1024;

describe('hostile zips on a running server (simulator, worker-thread package readers)', () => {
  it('four 700 000-entry uploads are refused while a DFU keeps progressing to success', { timeout: 120_000 }, async () => {
    const huge = buildZip([...(await zipEntries(APP.zip)), ...emptyEntries(700_000)]);
    assert.ok(huge.length > 60 * MiB, `${huge.length} bytes`);
    const readers = startPackageReaders({ threads: 1, queue: 8 });
    const s = await startSimServer({}, { maxRequestBytes: 96 * MiB, packageStoreBytes: 128 * MiB }, { kind: 'hci' }, { packageReaders: readers });
    try {
      // One ordered record of what the test saw: the job's progress and each upload's refusal.
      const log: string[] = [];
      const dfu = startDfu(s.client, { package: { data: APP.zip }, target: addressTarget(s.device().address.value) }, { signal: AbortSignal.timeout(100_000) });
      let firstProgress!: () => void;
      const progressing = new Promise<void>((resolve) => (firstProgress = resolve));
      const events: DfuEvent[] = [];
      const job = (async () => {
        for await (const e of dfu) {
          events.push(e);
          if (e.type === 'progress') {
            log.push('progress');
            firstProgress();
          }
        }
      })();
      await progressing;
      log.push('uploads start');
      const refusals = await Promise.all(
        Array.from({ length: 4 }, async () => {
          // UploadPackage, whose call reaches the handler at once: an inline StartDfu holds the
          // simulator's modelled time until its whole message has crossed loopback
          // (server/clockHold.ts), which would pause the DFU for a reason that is the test's own.
          const call = uploadPackage(s.newClient(), huge, { chunkSize: 4 * MiB });
          try {
            await call;
            return 'accepted';
          } catch (e) {
            log.push('refused');
            const d = decodeError(e);
            return `${d.code}: ${/has 700003 entries/.test(d.message) ? 'by its entry count' : d.message}`;
          }
        }),
      );
      await job;

      assert.deepEqual(refusals, Array(4).fill('PACKAGE_INVALID: by its entry count'));
      const done = events.at(-1);
      assert.equal(done?.type === 'finished' && done.result.success, true, 'the DFU succeeded');
      assert.equal(s.observed().dataBytes, APP.size, 'every byte reached the device once');
      // The DFU reported progress after the uploads started and before the last was refused.
      const start = log.indexOf('uploads start');
      const lastRefusal = log.lastIndexOf('refused');
      assert.ok(log.slice(start, lastRefusal).includes('progress'), log.join(' '));
      // None of them got as far as a reader thread: only the DFU's own package was read there.
      assert.equal(readers.threads, 1);
      assert.equal(readers.pending, 0);
    } finally {
      await s.close();
      await readers.close();
    }
  });

  it('modelled time stands still while a package is read on a worker thread (the simulator cannot see that work)', { timeout: 60_000 }, async () => {
    const readers = startPackageReaders({ threads: 1, queue: 1 });
    const moved: number[] = [];
    let clock: { now(): number } | undefined;
    const timed: PackageReaders = {
      ...readers,
      read: async (bytes) => {
        const before = clock?.now() ?? 0;
        try {
          return await readers.read(bytes);
        } finally {
          moved.push((clock?.now() ?? 0) - before);
        }
      },
      screen: readers.screen,
    };
    const s = await startSimServer({}, {}, { kind: 'hci' }, { packageReaders: timed });
    clock = s.clock;
    try {
      // A timer pending in modelled time: an idle-looking process would run the clock to it.
      s.clock.setTimer(60_000, () => undefined);
      const uploaded = await uploadPackage(s.client, APP.zip);
      assert.equal(uploaded.images.length, 1);
      assert.deepEqual(moved, [0]);
      assert.equal(readers.threads, 1, 'it was read on a thread');
    } finally {
      await s.close();
      await readers.close();
    }
  });
});
