/**
 * The address a station scans and connects as, for a controller without a public address (HCI
 * Read BD_ADDR answers 00:00:00:00:00:00, as Zephyr's hci_uart does on an nRF52840 dongle). Like
 * BlueZ with such an "unconfigured" controller: the controller's own static address when it offers
 * one (Zephyr's vendor command), else a static random address made once and kept per dongle in the
 * data directory, so the devices see the same station across restarts.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFileAtomically } from '../../common/atomicFile.js';
import { addressFromBytes } from '../../ble/address.js';
import type { Logger } from '../../common/logger.js';


/** The file in the data directory. */
export const STATION_ADDRESS_FILE = 'station-addresses.json';
const FILE_VERSION = 1;

export const NO_PUBLIC_ADDRESS = '00:00:00:00:00:00';

/**
 * A dongle is its port (the by-id path users are told to write), whether opened as `hci:` or
 * `auto:`, without options (`?baud=…` may change; the port does not). `sim:` stays `sim:`.
 */
export const dongleKey = (spec: string): string => {
  const bare = spec.split('?')[0] ?? spec;
  return bare.replace(/^(hci|auto):(?=.)/, 'port:');
};
/** Generated static random addresses by dongle (its adapter spec: a stable by-id port path). */
export interface StationAddressStore {
  get(dongle: string): string | undefined;
  put(dongle: string, address: string): void;
}

/** A static random address (Core Vol 6, Part B, 1.3.2.1): two top bits 11, the rest random, neither all 0 nor all 1. */
export function generateStaticRandomAddress(random: (n: number) => Uint8Array = (n) => randomBytes(n)): string {
  for (;;) {
    const bytes = random(6).slice(0, 6); // least significant first, as on the air
    bytes[5] = ((bytes[5] as number) & 0x3f) | 0xc0;
    const rest = [...bytes.subarray(0, 5), (bytes[5] as number) & 0x3f];
    if (rest.every((b) => b === 0) || rest.every((b, i) => b === (i === 5 ? 0x3f : 0xff))) continue;
    return addressFromBytes(bytes, 'random').value;
  }
}

/** True for a static random address: the two most significant bits are 11. */
export function isStaticRandom(address: string): boolean {
  const top = Number.parseInt(address.slice(0, 2), 16);
  return (top & 0xc0) === 0xc0 && address !== 'FF:FF:FF:FF:FF:FF';
}

/**
 * A JSON file in the data directory, written atomically (temp file, fsync, rename) like the
 * device memory. A file that cannot be read or written is logged: the station then uses an
 * address for this run only (devices see a new station after a restart, nothing worse).
 */
export class FileStationAddressStore implements StationAddressStore {
  readonly path: string;
  readonly #logger: Logger;
  readonly #addresses = new Map<string, string>();

  constructor(path: string, logger: Logger) {
    this.path = path;
    this.#logger = logger;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ path, err: (e as Error).message }, 'station addresses: cannot read the file; new ones are made');
      return;
    }
    try {
      const parsed = JSON.parse(text) as { version?: unknown; addresses?: unknown };
      if (parsed.version !== FILE_VERSION || typeof parsed.addresses !== 'object' || parsed.addresses === null) throw new Error('not a version 1 file');
      for (const [dongle, address] of Object.entries(parsed.addresses as Record<string, unknown>)) {
        if (typeof address === 'string' && /^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/.test(address) && isStaticRandom(address)) this.#addresses.set(dongle, address);
      }
    } catch (e) {
      logger.warn({ path, err: (e as Error).message }, 'station addresses: damaged file ignored; new ones are made');
    }
  }

  get(dongle: string): string | undefined {
    return this.#addresses.get(dongle);
  }

  put(dongle: string, address: string): void {
    this.#addresses.set(dongle, address);
    const text = `${JSON.stringify({ version: FILE_VERSION, addresses: Object.fromEntries(this.#addresses) }, null, 2)}\n`;
    try {
      writeFileAtomically(this.path, text);
    } catch (e) {
      this.#logger.warn({ path: this.path, err: (e as Error).message }, 'station addresses: cannot write the file; the address holds for this run only');
    }
  }
}

/** Kept in memory only (no data directory given: tests, tools). */
export class MemoryStationAddressStore implements StationAddressStore {
  readonly #addresses = new Map<string, string>();
  get(dongle: string): string | undefined {
    return this.#addresses.get(dongle);
  }
  put(dongle: string, address: string): void {
    this.#addresses.set(dongle, address);
  }
}
