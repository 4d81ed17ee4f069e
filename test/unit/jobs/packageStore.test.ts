import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { BledfuError, hasCode } from '../../../server/common/errors.js';
import type { AnyDfuPackage, DfuPackage } from '../../../server/dfu/types.js';
import { PackageStore } from '../../../server/jobs/packageStore.js';
import { fakeImage } from '../../helpers/fake-adapter-runner.js';

/** A package whose first byte says how many KiB of firmware it unpacks to (a .zip is compressed). */
function zip(unpackedKiB: number, salt: number): Uint8Array {
  return new Uint8Array([unpackedKiB, salt, 0, 0, 0, 0, 0, 0]);
}

async function readPackage(bytes: Uint8Array): Promise<DfuPackage> {
  const image = fakeImage('application', (bytes[0] as number) * 1024);
  return { images: [image], sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
}

const held = (pkg: AnyDfuPackage): number => pkg.images.reduce((n, i) => n + i.bin.length + i.dat.length, 0);

describe('PackageStore', () => {
  it('accounts for the memory a stored package holds (its unpacked images), not the size of its .zip', async () => {
    const store = new PackageStore({ readPackage, maxTotalBytes: 10 * 1024 });
    const a = await store.put(zip(4, 1));
    assert.equal(a.size, 8, 'size stays the .zip size the client sent');
    assert.equal(store.totalBytes, held(a.pkg));
    const b = await store.put(zip(4, 2));
    assert.equal(store.totalBytes, held(a.pkg) + held(b.pkg));
    // 4 + 4 + 4 KiB of images do not fit in 10 KiB: the least recently used goes.
    const c = await store.put(zip(4, 3));
    assert.ok(store.totalBytes <= 10 * 1024, `holds ${store.totalBytes} bytes`);
    assert.throws(() => store.get(a.id), (e: unknown) => hasCode(e, 'PACKAGE_NOT_FOUND'));
    assert.equal(store.get(b.id).id, b.id);
    assert.equal(store.get(c.id).id, c.id);
  });

  it('refuses a small .zip that unpacks to more than the whole store', async () => {
    const store = new PackageStore({ readPackage, maxTotalBytes: 10 * 1024 });
    const kept = await store.put(zip(2, 1));
    await assert.rejects(store.put(zip(64, 2)), (e: unknown) => hasCode(e, 'PACKAGE_TOO_LARGE') && /unpack/.test(e.message));
    assert.equal(store.get(kept.id).id, kept.id, 'nothing was evicted for a package that could never fit');
    assert.equal(store.totalBytes, held(kept.pkg));
  });

  it('stores the same bytes once', async () => {
    const store = new PackageStore({ readPackage, maxTotalBytes: 10 * 1024 });
    const [x, y] = await Promise.all([store.put(zip(3, 1)), store.put(zip(3, 1))]);
    assert.equal(x.id, y.id);
    assert.equal(store.totalBytes, held(x.pkg));
  });

  it('screens an upload before reading it: a refused one is never read, and the store is unchanged', async () => {
    let reads = 0;
    const store = new PackageStore({
      readPackage: (bytes) => {
        reads++;
        return readPackage(bytes);
      },
      // bledfud screens with the zip container check; here: salt 9 is "hostile".
      screen: (bytes) => {
        if (bytes[1] === 9) throw new BledfuError('PACKAGE_INVALID', 'hostile', { layer: 'package' });
      },
      maxTotalBytes: 10 * 1024,
    });
    await assert.rejects(store.put(zip(1, 9)), (e: unknown) => hasCode(e, 'PACKAGE_INVALID'));
    assert.equal(reads, 0);
    assert.equal(store.totalBytes, 0);
    await store.put(zip(1, 1));
    assert.equal(reads, 1);
  });
});

describe('PackageStore leases (the packages of queued and running jobs)', () => {
  /** A reader that counts its calls and can be held, to see what concurrent calls share. */
  function countingReader() {
    const state = { calls: 0 };
    const read = async (bytes: Uint8Array): Promise<DfuPackage> => {
      state.calls++;
      return readPackage(bytes);
    };
    return { state, read };
  }

  it('many leases of the same bytes share one copy of the images, parsed once, counted once', async () => {
    const reader = countingReader();
    const store = new PackageStore({ readPackage: reader.read, maxTotalBytes: 10 * 1024 });
    const leases = await Promise.all(Array.from({ length: 50 }, () => store.acquire(zip(4, 1))));
    assert.equal(reader.state.calls, 1, 'fifty calls with the same bytes at once parse them once');
    assert.ok(leases.every((l) => l.pkg === leases[0]?.pkg), 'every lease holds the same images');
    const pkg = leases[0]?.pkg as DfuPackage;
    assert.deepEqual(store.usage(), { packages: 1, totalBytes: held(pkg), leasedBytes: held(pkg), leases: 50 });
    // Leasing by id (a package uploaded first) adds to the same entry.
    const byId = store.lease(pkg.sha256);
    assert.equal(byId.pkg, pkg);
    assert.equal(store.usage().leases, 51);
    for (const l of [...leases, byId]) l.release();
    byId.release();
    assert.deepEqual(store.usage(), { packages: 1, totalBytes: held(pkg), leasedBytes: 0, leases: 0 }, 'a second release of a lease counts for nothing');
  });

  it('never drops a leased package; one that does not fit beside them is refused PACKAGE_STORE_FULL, and fits once they are released', async () => {
    const store = new PackageStore({ readPackage, maxTotalBytes: 10 * 1024 });
    const a = await store.acquire(zip(4, 1));
    const b = await store.acquire(zip(4, 2));
    await assert.rejects(
      store.acquire(zip(4, 3)),
      (e: unknown) => hasCode(e, 'PACKAGE_STORE_FULL') && /jobs hold \d+ of the package store's 10240 bytes/.test(e.message) && /--package-store-bytes/.test(e.remedy ?? ''),
    );
    await assert.rejects(store.put(zip(4, 3)), (e: unknown) => hasCode(e, 'PACKAGE_STORE_FULL'), 'an upload is refused the same way');
    assert.equal(store.get(a.pkg.sha256).pkg, a.pkg, 'the leased packages were kept');
    assert.equal(store.get(b.pkg.sha256).pkg, b.pkg);
    assert.equal(store.totalBytes, held(a.pkg) + held(b.pkg), 'the refused package holds nothing');
    // Released, a package stays as a cache entry until room is needed: then it goes first.
    a.release();
    const c = await store.acquire(zip(4, 3));
    assert.throws(() => store.get(a.pkg.sha256), (e: unknown) => hasCode(e, 'PACKAGE_NOT_FOUND'));
    assert.deepEqual(store.usage(), { packages: 2, totalBytes: held(b.pkg) + held(c.pkg), leasedBytes: held(b.pkg) + held(c.pkg), leases: 2 });
  });

  it('a package bigger than the whole store stays PACKAGE_TOO_LARGE (no retry can help), whatever is leased', async () => {
    const store = new PackageStore({ readPackage, maxTotalBytes: 10 * 1024 });
    await store.acquire(zip(8, 1));
    await assert.rejects(store.acquire(zip(12, 2)), (e: unknown) => hasCode(e, 'PACKAGE_TOO_LARGE'));
  });
});
