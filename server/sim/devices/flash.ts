/**
 * nRF52840 flash: 1 MB in 4096-byte pages, erased to 0xFF, written a 32-bit word at a time.
 * Each operation returns what it costs in modelled milliseconds so the caller can delay its
 * answers accordingly (spec §8.3: ≈85 ms per page erase, ≈41 µs per word write on nRF52840,
 * marked UNVERIFIED there; the nRF52810 figures are the same).
 *
 * A Flash object belongs to one simulated chip and outlives its resets: it is the only state
 * that persists across a simulated reboot.
 */
import { BledfuError } from '../../common/errors.js';

export interface FlashGeometry {
  readonly size: number;
  readonly pageSize: number;
  readonly pageEraseMs: number;
  readonly wordWriteMs: number;
}

export const NRF52840_FLASH = {
  size: 1024 * 1024,
  pageSize: 4096,
  pageEraseMs: 85,
  wordWriteMs: 0.041,
} as const satisfies FlashGeometry;

export class Flash {
  readonly geometry: FlashGeometry;
  readonly #bytes: Uint8Array;
  /** Erase/write operations so far, for tests that check the flash was really used. */
  #pageErases = 0;
  #wordWrites = 0;

  constructor(geometry: FlashGeometry = NRF52840_FLASH) {
    this.geometry = geometry;
    this.#bytes = new Uint8Array(geometry.size).fill(0xff);
  }

  get stats(): { readonly pageErases: number; readonly wordWrites: number } {
    return { pageErases: this.#pageErases, wordWrites: this.#wordWrites };
  }

  pageOf(address: number): number {
    return Math.floor(address / this.geometry.pageSize);
  }

  /** Erases every page touched by [address, address+length); returns the cost in ms. */
  erase(address: number, length: number): number {
    if (length <= 0) return 0;
    this.#check(address, length);
    const first = this.pageOf(address);
    const last = this.pageOf(address + length - 1);
    for (let p = first; p <= last; p++) {
      this.#bytes.fill(0xff, p * this.geometry.pageSize, (p + 1) * this.geometry.pageSize);
    }
    const pages = last - first + 1;
    this.#pageErases += pages;
    return pages * this.geometry.pageEraseMs;
  }

  /**
   * Programs bytes. Like NOR flash, programming can only clear bits, so writing over data that
   * was not erased yields the AND of old and new: a missing erase shows up as corrupt data
   * rather than silently working.
   */
  write(address: number, data: Uint8Array): number {
    if (data.length === 0) return 0;
    this.#check(address, data.length);
    for (let i = 0; i < data.length; i++) {
      const at = address + i;
      this.#bytes[at] = (this.#bytes[at] as number) & (data[i] as number);
    }
    const words = Math.ceil(((address % 4) + data.length) / 4);
    this.#wordWrites += words;
    return words * this.geometry.wordWriteMs;
  }

  /** Erase then write, the usual way images and settings are stored. */
  program(address: number, data: Uint8Array): number {
    return this.erase(address, data.length) + this.write(address, data);
  }

  /** A copy of the bytes (callers must not be able to change flash without paying for it). */
  read(address: number, length: number): Uint8Array {
    this.#check(address, length);
    return this.#bytes.slice(address, address + length);
  }

  readU32(address: number): number {
    const b = this.read(address, 4);
    return new DataView(b.buffer).getUint32(0, true);
  }

  #check(address: number, length: number): void {
    if (address < 0 || length < 0 || address + length > this.geometry.size) {
      throw new BledfuError('INTERNAL', `flash access 0x${address.toString(16)}+${length} outside the ${this.geometry.size}-byte flash`, {
        layer: 'sim',
      });
    }
  }
}
