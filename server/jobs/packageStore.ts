/**
 * The server's one copy of every package's unpacked images, addressed by the SHA-256 of the .zip:
 * packages uploaded ahead of StartDfu, and the packages of queued and running jobs (sent inline
 * or by id), however many jobs use one. Bounded in total size, counted as unpacked images: a job
 * holds a lease on its package while it may still send it, so a leased package is never dropped;
 * the least recently used of the others make room for new ones, and when the leased ones alone
 * leave no room a new package is refused (PACKAGE_STORE_FULL) rather than held outside the budget.
 * Every package is validated on the way in, so a stored id always names something a DFU can be
 * started with.
 */
import { createHash } from 'node:crypto';
import { BledfuError, isBledfuError } from '../common/errors.js';
import { quoteInput } from '../common/quote.js';
import type { AnyDfuPackage } from '../dfu/types.js';

export type ReadPackage = (bytes: Uint8Array) => Promise<AnyDfuPackage>;

export interface StoredPackage {
  readonly id: string;
  readonly sha256: string;
  readonly size: number;
  readonly pkg: AnyDfuPackage;
}

/**
 * A job's hold on a stored package's images: the package stays in the store (and counted in its
 * budget) until every lease on it has been released.
 */
export interface PackageLease {
  readonly pkg: AnyDfuPackage;
  /** Gives the hold back; only the first call counts. */
  release(): void;
}

/** What the store holds now, for metrics, benches and tests (the budget is `maxTotalBytes`). */
export interface PackageStoreUsage {
  /** Packages held, leased or not. */
  readonly packages: number;
  /** Their unpacked images, in bytes: what counts against the budget. */
  readonly totalBytes: number;
  /** Of those, the bytes of packages some job holds a lease on (not evictable). */
  readonly leasedBytes: number;
  /** Leases not yet released, over all packages. */
  readonly leases: number;
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

interface Entry {
  readonly stored: StoredPackage;
  readonly heldBytes: number;
  /** Leases not yet released: while above 0 the entry is never evicted. */
  leases: number;
}

export class PackageStore {
  readonly #opts: PackageStoreOptions;
  /** Insertion order is recency order: a hit is re-inserted at the end. */
  readonly #packages = new Map<string, Entry>();
  /**
   * Packages being parsed, by SHA-256: many calls sending the same bytes at once share one parse
   * (and one transient copy of the images) instead of each unpacking its own.
   */
  readonly #parsing = new Map<string, Promise<AnyDfuPackage>>();
  #totalBytes = 0;

  constructor(options: PackageStoreOptions) {
    this.#opts = options;
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  usage(): PackageStoreUsage {
    let leasedBytes = 0;
    let leases = 0;
    for (const e of this.#packages.values()) {
      if (e.leases > 0) leasedBytes += e.heldBytes;
      leases += e.leases;
    }
    return { packages: this.#packages.size, totalBytes: this.#totalBytes, leasedBytes, leases };
  }

  /** Validates and stores a package; returns the existing entry when the same bytes were stored before. */
  async put(bytes: Uint8Array): Promise<StoredPackage> {
    return (await this.#add(bytes)).stored;
  }

  /**
   * Stores a package (as put) and leases it, in one step: nothing can evict it in between. For
   * a package sent inline with StartDfu.
   */
  async acquire(bytes: Uint8Array): Promise<PackageLease> {
    const entry = await this.#add(bytes);
    // #add resolves with an entry still in the map (see there); this runs in the same turn.
    return this.#lease(entry);
  }

  /** Leases an uploaded package by its id. Throws PACKAGE_NOT_FOUND. */
  lease(id: string): PackageLease {
    return this.#lease(this.#entry(id));
  }

  get(id: string): StoredPackage {
    return this.#entry(id).stored;
  }

  #entry(id: string): Entry {
    const entry = this.#packages.get(id.toLowerCase());
    if (entry === undefined) {
      throw new BledfuError('PACKAGE_NOT_FOUND', `no uploaded package with id ${quoteInput(id)}`, {
        layer: 'jobs',
        remedy: 'upload the package again (the server keeps uploads in memory only, and drops old ones when full)',
      });
    }
    this.#touch(entry);
    return entry;
  }

  #lease(entry: Entry): PackageLease {
    entry.leases++;
    let released = false;
    return {
      pkg: entry.stored.pkg,
      release: () => {
        if (released) return;
        released = true;
        entry.leases--;
      },
    };
  }

  /**
   * The entry for these bytes, parsed and stored if new. Resolves with an entry that is in the
   * store: the caller may lease it before yielding.
   */
  async #add(bytes: Uint8Array): Promise<Entry> {
    // Unpacked images are at least as large as a .zip that is mostly firmware: refuse early.
    if (bytes.length > this.#opts.maxTotalBytes) throw this.#tooLarge(`package of ${bytes.length} bytes exceeds`);
    this.#opts.screen?.(bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const existing = this.#packages.get(sha256);
    if (existing !== undefined) {
      this.#touch(existing);
      return existing;
    }
    let parsing = this.#parsing.get(sha256);
    if (parsing === undefined) {
      parsing = validatePackage(this.#opts.readPackage, bytes).finally(() => this.#parsing.delete(sha256));
      this.#parsing.set(sha256, parsing);
    }
    const pkg = await parsing;
    // Another call with the same bytes may have stored them while this one waited.
    const stored = this.#packages.get(sha256);
    if (stored !== undefined) {
      this.#touch(stored);
      return stored;
    }
    const heldBytes = pkg.images.reduce((n, i) => n + i.bin.length + i.dat.length, 0);
    if (heldBytes > this.#opts.maxTotalBytes) {
      throw this.#tooLarge(`package of ${bytes.length} bytes unpacks to ${heldBytes} bytes of images, more than`);
    }
    this.#makeRoom(heldBytes, bytes.length);
    const entry: Entry = { stored: { id: sha256, sha256, size: bytes.length, pkg }, heldBytes, leases: 0 };
    this.#packages.set(sha256, entry);
    this.#totalBytes += heldBytes;
    return entry;
  }

  /**
   * Drops unleased packages, least recently used first, until `bytes` more fit; refuses when the
   * leased ones alone leave no room. Drops nothing when it refuses.
   */
  #makeRoom(bytes: number, zipSize: number): void {
    const budget = this.#opts.maxTotalBytes;
    let evictable = 0;
    for (const e of this.#packages.values()) if (e.leases === 0) evictable += e.heldBytes;
    if (this.#totalBytes - evictable + bytes > budget) {
      const leased = this.#totalBytes - evictable;
      throw new BledfuError(
        'PACKAGE_STORE_FULL',
        `package of ${zipSize} bytes unpacks to ${bytes} bytes of images; queued and running jobs hold ${leased} of the package store's ${budget} bytes`,
        {
          layer: 'jobs',
          remedy:
            'wait for queued jobs to finish or cancel some (each distinct package a job uses stays in memory until the job ends), ' +
            "or raise the server's package store size (--package-store-bytes, BLEDFU_PACKAGE_STORE_BYTES)",
        },
      );
    }
    for (const [id, e] of this.#packages) {
      if (this.#totalBytes + bytes <= budget) return;
      if (e.leases > 0) continue;
      this.#packages.delete(id);
      this.#totalBytes -= e.heldBytes;
    }
  }

  #tooLarge(what: string): BledfuError {
    return new BledfuError('PACKAGE_TOO_LARGE', `${what} the package store's capacity of ${this.#opts.maxTotalBytes} bytes`, {
      layer: 'jobs',
      remedy: "check that this is the right file, or raise the server's package store size (--package-store-bytes, BLEDFU_PACKAGE_STORE_BYTES)",
    });
  }

  #touch(entry: Entry): void {
    const id = entry.stored.id;
    if (this.#packages.get(id) !== entry) return;
    this.#packages.delete(id);
    this.#packages.set(id, entry);
  }
}

/**
 * Runs the package reader and guarantees a typed error: a reader bug on hostile input must still
 * reach the client as "this package is invalid", never as an internal failure.
 */
export async function validatePackage(readPackage: ReadPackage, bytes: Uint8Array): Promise<AnyDfuPackage> {
  let pkg: AnyDfuPackage;
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
