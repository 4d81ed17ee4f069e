/**
 * The server's memory of devices met in their bootloader (dfu/types.ts DeviceMemory): which
 * bootloader address and name each device was sent to, so that a retry by the application's name
 * or address finds it there — also after a restart, since the file-backed memory lives in the
 * data directory. Bounded (the most recent entries are kept), written atomically (temp file and
 * rename, so a crash leaves the old or the new file, never half of one), and a file that cannot
 * be read is logged and ignored: losing this memory costs a retry, never the server's start.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomically } from '../common/atomicFile.js';
import { parseAddress, type DeviceAddress } from '../ble/address.js';
import type { Logger } from '../common/logger.js';
import type { DeviceMemory, DfuTarget, RememberedDevice } from '../dfu/types.js';

export const DEFAULT_DEVICE_MEMORY_ENTRIES = 4096;
/** The file in the data directory. */
export const DEVICE_MEMORY_FILE = 'devices.json';
const FILE_VERSION = 1;

/**
 * The name every SDK bootloader advertises unless told otherwise: shared by all devices, so it
 * identifies none and is never used to recall one.
 */
const DEFAULT_BOOTLOADER_NAME = 'DfuTarg';

export interface DeviceMemoryOptions {
  /** Entries kept; the least recently met are forgotten first. */
  readonly maxEntries?: number;
  /** Milliseconds clock for the entries' timestamps. */
  readonly now?: () => number;
}

/** The memory itself, without persistence (tests, and the core of the file-backed one). */
export class InMemoryDeviceMemory implements DeviceMemory {
  /** Most recent first. */
  #entries: RememberedDevice[] = [];
  /**
   * Entries by "a:<address>" and "n:<name>", most recent first: the job layer recalls for every
   * queued and running job each time one ends, so a recall must not walk thousands of entries.
   */
  #index = new Map<string, RememberedDevice[]>();
  readonly #max: number;
  readonly #now: () => number;

  constructor(options: DeviceMemoryOptions = {}, initial: readonly RememberedDevice[] = []) {
    this.#max = Math.max(1, options.maxEntries ?? DEFAULT_DEVICE_MEMORY_ENTRIES);
    this.#now = options.now ?? Date.now;
    this.#set([...initial].sort((a, b) => b.at - a.at).slice(0, this.#max));
  }

  protected get entries(): readonly RememberedDevice[] {
    return this.#entries;
  }

  #set(entries: RememberedDevice[]): void {
    this.#entries = entries;
    const index = new Map<string, RememberedDevice[]>();
    const add = (key: string, e: RememberedDevice): void => {
      const list = index.get(key);
      if (list === undefined) index.set(key, [e]);
      else if (!list.includes(e)) list.push(e);
    };
    for (const e of entries) {
      add(`a:${e.bootloaderAddress.value}`, e);
      if (e.appAddress !== undefined) add(`a:${e.appAddress.value}`, e);
      if (e.appName !== undefined) add(`n:${e.appName}`, e);
      if (e.bootloaderName !== undefined && e.bootloaderName !== DEFAULT_BOOTLOADER_NAME) add(`n:${e.bootloaderName}`, e);
    }
    this.#index = index;
  }

  get size(): number {
    return this.#entries.length;
  }

  all(): readonly RememberedDevice[] {
    return [...this.#entries];
  }

  recall(target: DfuTarget): readonly RememberedDevice[] {
    const key = target.kind === 'address' ? `a:${target.address.value}` : `n:${target.name}`;
    return [...(this.#index.get(key) ?? [])];
  }

  remember(entry: Omit<RememberedDevice, 'at'>): void {
    const same = (e: RememberedDevice): boolean =>
      e.bootloaderAddress.value === entry.bootloaderAddress.value ||
      (entry.appAddress !== undefined && e.appAddress?.value === entry.appAddress.value);
    const old = this.#entries.find(same);
    const merged: RememberedDevice = {
      appAddress: entry.appAddress ?? old?.appAddress,
      appName: entry.appName ?? old?.appName,
      bootloaderAddress: entry.bootloaderAddress,
      bootloaderName: entry.bootloaderName ?? old?.bootloaderName,
      at: this.#now(),
    };
    if (old !== undefined && sameEntry(old, merged)) {
      // Nothing new but the time: refresh in place, without a write for every sighting.
      this.#set([merged, ...this.#entries.filter((e) => !same(e))]);
      this.changed(false);
      return;
    }
    this.#set([merged, ...this.#entries.filter((e) => !same(e))].slice(0, this.#max));
    this.changed(true);
  }

  /** Called after every change; `material` is false when only a timestamp moved. */
  protected changed(_material: boolean): void {}
}

function sameEntry(a: RememberedDevice, b: RememberedDevice): boolean {
  return (
    a.appAddress?.value === b.appAddress?.value &&
    a.appName === b.appName &&
    a.bootloaderAddress.value === b.bootloaderAddress.value &&
    a.bootloaderName === b.bootloaderName
  );
}

interface StoredEntry {
  appAddress?: { value: string; type: string };
  appName?: string;
  bootloaderAddress: { value: string; type: string };
  bootloaderName?: string;
  at: number;
}

function storeEntry(e: RememberedDevice): StoredEntry {
  return {
    ...(e.appAddress === undefined ? {} : { appAddress: { value: e.appAddress.value, type: e.appAddress.type } }),
    ...(e.appName === undefined ? {} : { appName: e.appName }),
    bootloaderAddress: { value: e.bootloaderAddress.value, type: e.bootloaderAddress.type },
    ...(e.bootloaderName === undefined ? {} : { bootloaderName: e.bootloaderName }),
    at: e.at,
  };
}

function readAddress(x: unknown): DeviceAddress | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const { value, type } = x as { value?: unknown; type?: unknown };
  if (typeof value !== 'string' || (type !== 'public' && type !== 'random')) return undefined;
  try {
    return parseAddress(value, type);
  } catch {
    return undefined;
  }
}

function readEntry(x: unknown): RememberedDevice | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const o = x as Record<string, unknown>;
  const bootloaderAddress = readAddress(o['bootloaderAddress']);
  const appAddress = o['appAddress'] === undefined ? undefined : readAddress(o['appAddress']);
  const at = o['at'];
  const appName = o['appName'];
  const bootloaderName = o['bootloaderName'];
  if (bootloaderAddress === undefined || typeof at !== 'number' || !Number.isFinite(at)) return undefined;
  if (o['appAddress'] !== undefined && appAddress === undefined) return undefined;
  if (appName !== undefined && typeof appName !== 'string') return undefined;
  if (bootloaderName !== undefined && typeof bootloaderName !== 'string') return undefined;
  return { appAddress, appName, bootloaderAddress, bootloaderName, at };
}

/** Reads a memory file; throws with a short reason when it is not one. */
function parseFile(text: string): { entries: RememberedDevice[]; skipped: number } {
  const doc: unknown = JSON.parse(text);
  if (typeof doc !== 'object' || doc === null) throw new Error('not a JSON object');
  const { version, devices } = doc as { version?: unknown; devices?: unknown };
  if (version !== FILE_VERSION) throw new Error(`unknown version ${JSON.stringify(version)}`);
  if (!Array.isArray(devices)) throw new Error('no "devices" list');
  const entries: RememberedDevice[] = [];
  let skipped = 0;
  for (const d of devices) {
    const e = readEntry(d);
    if (e === undefined) skipped++;
    else entries.push(e);
  }
  return { entries, skipped };
}

/** The memory kept in one JSON file, rewritten (atomically) on every material change. */
export class FileDeviceMemory extends InMemoryDeviceMemory {
  readonly path: string;
  readonly #logger: Logger;

  private constructor(path: string, logger: Logger, options: DeviceMemoryOptions, initial: readonly RememberedDevice[]) {
    super(options, initial);
    this.path = path;
    this.#logger = logger;
  }

  /** Loads `path` if it exists; a file that cannot be read or parsed is logged and ignored (it is replaced on the next change). */
  static open(path: string, logger: Logger, options: DeviceMemoryOptions = {}): FileDeviceMemory {
    let initial: RememberedDevice[] = [];
    let text: string | undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        logger.warn({ path, err: (e as Error).message }, 'device memory: cannot read the file; starting with no devices remembered');
      }
    }
    if (text !== undefined) {
      try {
        const parsed = parseFile(text);
        initial = parsed.entries;
        if (parsed.skipped > 0) logger.warn({ path, skipped: parsed.skipped }, 'device memory: unreadable entries skipped');
      } catch (e) {
        logger.warn({ path, err: (e as Error).message }, 'device memory: the file is damaged; ignoring it (it is rewritten on the next change)');
      }
    }
    const memory = new FileDeviceMemory(path, logger, options, initial);
    logger.debug({ path, devices: memory.size }, 'device memory loaded');
    return memory;
  }

  protected override changed(material: boolean): void {
    if (material) this.#write();
  }

  /** Temp file, fsync, rename: a crash leaves the old file or the new one. A failed write is logged; the memory stays in RAM. */
  #write(): void {
    const text = `${JSON.stringify({ version: FILE_VERSION, devices: this.entries.map(storeEntry) })}\n`;
    try {
      writeFileAtomically(this.path, text);
    } catch (e) {
      this.#logger.warn({ path: this.path, err: (e as Error).message }, 'device memory: cannot write the file; kept in memory only');
    }
  }
}
