/**
 * The server's package readers (server/jobs/packageReaders.ts): readPackage on worker threads,
 * with the same results and error codes as in-process, a bounded queue, and hostile zips refused
 * before any thread is involved.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { hasCode, isBledfuError } from '../../../server/common/errors.js';
import { readPackage } from '../../../server/dfu/package/package.js';
import { readAnyPackage } from '../../../server/dfu/package/anyPackage.js';
import { isLegacyPackage } from '../../../server/dfu/package/images.js';
import { makeLegacyPackage } from '../../../server/dfu/package/legacyGenerate.js';
import { Worker } from 'node:worker_threads';
import { spawnPackageWorker, startPackageReaders, type PackageReaders } from '../../../server/jobs/packageReaders.js';
import { projectZip } from '../../helpers/project-packages.js';
import { buildZip, emptyEntries, zipEntries, type BuildEntry } from '../../helpers/zip-builder.js';

describe('package readers (worker threads)', () => {
  let zip: Uint8Array;
  let entries: BuildEntry[];
  const open: PackageReaders[] = [];
  const readers = (threads: number, queue: number): PackageReaders => {
    const r = startPackageReaders({ threads, queue });
    open.push(r);
    return r;
  };
  before(async () => {
    zip = await projectZip('app');
    entries = await zipEntries(zip);
  });
  after(async () => {
    await Promise.all(open.map((r) => r.close()));
  });

  it('reads a package on a thread to exactly what readPackage reads in-process, leaving the caller its bytes', async () => {
    const r = readers(1, 4);
    const copy = new Uint8Array(zip);
    const onThread = await r.read(copy);
    assert.equal(r.threads, 1);
    assert.deepEqual(onThread, await readPackage(zip));
    assert.deepEqual(copy, zip, 'the caller\'s bytes are untouched (the thread got a copy)');
    assert.equal(r.pending, 0);
  });

  it('reads a legacy package on a thread to exactly what readAnyPackage reads in-process (the job layer then runs the legacy engine)', async () => {
    const r = readers(1, 4);
    const application = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
    const legacy = await makeLegacyPackage({ application, deviceType: 0x0052 });
    const onThread = await r.read(legacy);
    assert.ok(isLegacyPackage(onThread));
    assert.deepEqual(onThread, await readAnyPackage(legacy));
    assert.deepEqual(onThread.images[0]?.bin, application);
  });

  it('gives the in-process error codes, messages and remedies', async () => {
    const r = readers(1, 4);
    const bin = entries.find((e) => e.name.endsWith('.bin'));
    assert.ok(bin);
    const damaged = buildZip(entries.map((e) => (e === bin ? { ...e, statedCrc: 7 } : e)));
    const inProcess = await readPackage(damaged).then(
      () => assert.fail('accepted'),
      (e: unknown) => e,
    );
    await assert.rejects(r.read(damaged), (e: unknown) => {
      assert.ok(isBledfuError(e) && isBledfuError(inProcess));
      assert.deepEqual([e.code, e.layer, e.message, e.remedy], [inProcess.code, inProcess.layer, inProcess.message, inProcess.remedy]);
      return hasCode(e, 'PACKAGE_INVALID') && /damaged/.test(e.message);
    });
  });

  it('refuses a 700 000-entry zip by its entry count without starting a thread', async () => {
    const r = readers(1, 4);
    await assert.rejects(r.read(buildZip([...entries, ...emptyEntries(700_000)])), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && /has 700003 entries/.test(e.message));
    assert.equal(r.threads, 0);
    assert.equal(r.pending, 0);
  });

  it('bounds what waits: one more package than threads + queue is refused PACKAGE_READERS_BUSY', async () => {
    const r = readers(1, 1);
    const first = r.read(zip);
    const second = r.read(zip);
    assert.equal(r.pending, 2);
    await assert.rejects(r.read(zip), (e: unknown) => hasCode(e, 'PACKAGE_READERS_BUSY') && e.remedy !== undefined && /--package-read-queue/.test(e.remedy));
    assert.equal((await first).images.length, 1);
    assert.equal((await second).images.length, 1);
    assert.equal(r.threads, 1);
    assert.equal((await r.read(zip)).images.length, 1, 'room again once read');
  });

  it('a thread that dies mid-read fails that read INTERNAL, and a fresh thread reads the next', async () => {
    let spawned = 0;
    // The first thread exits as soon as it starts, with the package it was given.
    const spawn = (): Worker => (spawned++ === 0 ? new Worker('process.exit(3)', { eval: true }) : spawnPackageWorker());
    const r = startPackageReaders({ threads: 1, queue: 1 }, spawn);
    open.push(r);
    await assert.rejects(r.read(zip), (e: unknown) => hasCode(e, 'INTERNAL') && /reader stopped/.test(e.message));
    assert.equal((await r.read(zip)).images.length, 1);
    assert.equal(spawned, 2);
    assert.equal(r.threads, 1);
  });

  it('close ends what is being read or waits with CANCELLED, and refuses later reads', async () => {
    const r = readers(1, 2);
    const outcomes = [r.read(zip), r.read(zip)].map((p) => p.then(() => 'read', (e: unknown) => (hasCode(e, 'CANCELLED') ? 'cancelled' : e)));
    await r.close();
    assert.deepEqual(await Promise.all(outcomes), ['cancelled', 'cancelled']);
    await assert.rejects(r.read(zip), (e: unknown) => hasCode(e, 'CANCELLED'));
  });
});
