/**
 * Packages uploaded ahead of StartDfu, kept in memory and addressed by the SHA-256 of the .zip
 * (so uploading the same file twice costs nothing). Bounded in total size: the least recently
 * used packages make room for new ones. Every package is validated on the way in, so a stored
 * id always names something a DFU can be started with.
 */
import { webcrypto } from 'node:crypto';
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
  /**
   * Memory for stored packages: the sum of their unpacked images (.bin and .dat), which is what
   * the store holds; the .zip itself is not kept, and is smaller (it is compressed).
   */
  readonly maxTotalBytes: number;
  /**
   * A cheap check whose work does not grow with the package's size (bledfud: the zip container
   * check), run before anything that costs time per byte: a hostile zip is refused before it is
   * hashed. Throws the refusal.
   */
  readonly screen?: (bytes: Uint8Array) => void;
}

export class PackageStore {
  readonly #opts: PackageStoreOptions;
  /** Insertion order is recency order: a hit is re-inserted at the end. */
  readonly #packages = new Map<string, { readonly stored: StoredPackage; readonly heldBytes: number }>();
  #totalBytes = 0;

  constructor(options: PackageStoreOptions) {
    this.#opts = options;
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  /** Validates and stores a package; returns the existing entry when the same bytes were stored before. */
  async put(bytes: Uint8Array): Promise<StoredPackage> {
    // Unpacked images are at least as large as a .zip that is mostly firmware: refuse early.
    if (bytes.length > this.#opts.maxTotalBytes) throw this.#tooLarge(`package of ${bytes.length} bytes exceeds`);
    this.#opts.screen?.(bytes);
    // WebCrypto hashes on libuv's thread pool: a 64 MiB upload does not hold the event loop
    // (that drives running DFUs) for the tens of milliseconds node:crypto's createHash would.
    const sha256 = Buffer.from(await webcrypto.subtle.digest('SHA-256', bytes)).toString('hex');
    const existing = this.#packages.get(sha256);
    if (existing !== undefined) {
      this.#touch(existing.stored);
      return existing.stored;
    }
    const pkg = await validatePackage(this.#opts.readPackage, bytes);
    const heldBytes = pkg.images.reduce((n, i) => n + i.bin.length + i.dat.length, 0);
    if (heldBytes > this.#opts.maxTotalBytes) {
      throw this.#tooLarge(`package of ${bytes.length} bytes unpacks to ${heldBytes} bytes of images, more than`);
    }
    // Another upload of the same file may have finished while this one was being parsed.
    if (!this.#packages.has(sha256)) {
      while (this.#totalBytes + heldBytes > this.#opts.maxTotalBytes) this.#evictOldest();
      this.#packages.set(sha256, { stored: { id: sha256, sha256, size: bytes.length, pkg }, heldBytes });
      this.#totalBytes += heldBytes;
    }
    return this.get(sha256);
  }

  get(id: string): StoredPackage {
    const stored = this.#packages.get(id.toLowerCase())?.stored;
    if (stored === undefined) {
      throw new BledfuError('PACKAGE_NOT_FOUND', `no uploaded package with id "${id}"`, {
        layer: 'jobs',
        remedy: 'upload the package again (the server keeps uploads in memory only, and drops old ones when full)',
      });
    }
    this.#touch(stored);
    return stored;
  }

  #tooLarge(what: string): BledfuError {
    return new BledfuError('PACKAGE_TOO_LARGE', `${what} the package store's capacity of ${this.#opts.maxTotalBytes} bytes`, {
      layer: 'jobs',
      remedy: 'send the package inline with StartDfu or raise the server\'s package store size (BLEDFU_PACKAGE_STORE_BYTES)',
    });
  }

  #touch(stored: StoredPackage): void {
    const entry = this.#packages.get(stored.id);
    if (entry === undefined) return;
    this.#packages.delete(stored.id);
    this.#packages.set(stored.id, entry);
  }

  #evictOldest(): void {
    const oldest = this.#packages.values().next();
    if (oldest.done === true) return;
    this.#packages.delete(oldest.value.stored.id);
    this.#totalBytes -= oldest.value.heldBytes;
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
