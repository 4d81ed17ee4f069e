import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { BledfuError, hasCode } from '../../../server/common/errors.js';
import type { DfuPackage } from '../../../server/dfu/types.js';
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

const held = (pkg: DfuPackage): number => pkg.images.reduce((n, i) => n + i.bin.length + i.dat.length, 0);

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
