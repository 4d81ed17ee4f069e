/**
 * Packages uploaded ahead of StartDfu, kept in memory and addressed by the SHA-256 of the .zip
 * (so uploading the same file twice costs nothing). Bounded in total size: the least recently
 * used packages make room for new ones. Every package is validated on the way in, so a stored
 * id always names something a DFU can be started with.
 */
import { createHash } from 'node:crypto';
import { BledfuError, isBledfuError } from '../common/errors.js';
import type { DfuPackage } from '../dfu/types.js';

export type ReadPackage = (bytes: Uint8Array) => Promise<DfuPackage>;

export interface StoredPackage {
  readonly id: string;
  readonly sha256: string;
  readonly size: number;
  readonly pkg: DfuPackage;
}

export interface PackageStoreOptions {
  readonly readPackage: ReadPackage;
  /** Sum of .zip sizes kept at once. */
  readonly maxTotalBytes: number;
}

export class PackageStore {
  readonly #opts: PackageStoreOptions;
  /** Insertion order is recency order: a hit is re-inserted at the end. */
  readonly #packages = new Map<string, StoredPackage>();
  #totalBytes = 0;

  constructor(options: PackageStoreOptions) {
    this.#opts = options;
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  /** Validates and stores a package; returns the existing entry when the same bytes were stored before. */
  async put(bytes: Uint8Array): Promise<StoredPackage> {
    if (bytes.length > this.#opts.maxTotalBytes) {
      throw new BledfuError(
        'PACKAGE_TOO_LARGE',
        `package of ${bytes.length} bytes exceeds the package store's capacity of ${this.#opts.maxTotalBytes} bytes`,
        { layer: 'jobs', remedy: 'send the package inline with StartDfu or raise the server\'s package store size' },
      );
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const existing = this.#packages.get(sha256);
    if (existing !== undefined) {
      this.#touch(existing);
      return existing;
    }
    const pkg = await validatePackage(this.#opts.readPackage, bytes);
    const stored: StoredPackage = { id: sha256, sha256, size: bytes.length, pkg };
    // Another upload of the same file may have finished while this one was being parsed.
    if (!this.#packages.has(sha256)) {
      while (this.#totalBytes + stored.size > this.#opts.maxTotalBytes) this.#evictOldest();
      this.#packages.set(sha256, stored);
      this.#totalBytes += stored.size;
    }
    return this.#packages.get(sha256) as StoredPackage;
  }

  get(id: string): StoredPackage {
    const stored = this.#packages.get(id.toLowerCase());
    if (stored === undefined) {
      throw new BledfuError('PACKAGE_NOT_FOUND', `no uploaded package with id "${id}"`, {
        layer: 'jobs',
        remedy: 'upload the package again (the server keeps uploads in memory only, and drops old ones when full)',
      });
    }
    this.#touch(stored);
    return stored;
  }

  #touch(stored: StoredPackage): void {
    this.#packages.delete(stored.id);
    this.#packages.set(stored.id, stored);
  }

  #evictOldest(): void {
    const oldest = this.#packages.values().next();
    if (oldest.done === true) return;
    this.#packages.delete(oldest.value.id);
    this.#totalBytes -= oldest.value.size;
  }
}

/**
 * Runs the package reader and guarantees a typed error: a reader bug on hostile input must still
 * reach the client as "this package is invalid", never as an internal failure.
 */
export async function validatePackage(readPackage: ReadPackage, bytes: Uint8Array): Promise<DfuPackage> {
  let pkg: DfuPackage;
  try {
    pkg = await readPackage(bytes);
  } catch (e) {
    if (isBledfuError(e)) throw e;
    throw new BledfuError('PACKAGE_INVALID', 'not a valid nrfutil DFU package (.zip)', {
      layer: 'package',
      remedy: 'build the package with `nrfutil pkg generate` and send the .zip file unchanged',
      cause: e,
    });
  }
  if (pkg.images.length === 0) {
    throw new BledfuError('PACKAGE_INVALID', 'the package contains no firmware image', {
      layer: 'package',
      remedy: 'build the package with `nrfutil pkg generate` including at least one image',
    });
  }
  return pkg;
}
