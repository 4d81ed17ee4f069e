/**
 * Everything an adapter records of its HCI traffic: an optional btsnoop file for the adapter's
 * whole life, and in-memory recordings started and stopped on demand (one per DFU job that asked
 * for one). Recordings begin with the controller's setup exchange (Reset, version, buffer sizes,
 * features) kept from when the adapter opened, so each file is readable on its own.
 */
import type { HciCapture, HciCaptureOptions } from '../../ble/types.js';
import { BledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { encodeBtsnoopHeader, encodeBtsnoopRecord, type HciTrafficPacket } from './btsnoop.js';
import { BtsnoopFileWriter } from './btsnoopFile.js';

/** Where the packets come from (HciHost.onTraffic). */
export interface HciTrafficSource {
  onTraffic(tap: (traffic: HciTrafficPacket) => void): () => void;
}

export interface HciCaptureHubOptions {
  readonly logger: Logger;
  /** btsnoop file receiving all traffic until close(). */
  readonly file?: string;
}

/** Recordings grow in blocks of this size: few allocations, and each block is one download chunk. */
export const CAPTURE_BLOCK_BYTES = 64 * 1024;
/** The setup exchange is well under this; the cap only guards against a hub never sealed. */
const PRELUDE_MAX_BYTES = 16 * 1024;

/** An in-memory btsnoop file, append-only, stopping for good at its size limit. */
export class BtsnoopRecording implements HciCapture {
  readonly #maxBytes: number;
  readonly #onStop: () => void;
  readonly #blocks: Uint8Array[] = [];
  #current: Uint8Array;
  #filled = 0;
  #size = 0;
  #truncated = false;
  #recording = true;

  constructor(maxBytes: number, onStop: () => void = () => undefined) {
    this.#maxBytes = maxBytes;
    this.#onStop = onStop;
    this.#current = new Uint8Array(Math.min(CAPTURE_BLOCK_BYTES, maxBytes));
  }

  get size(): number {
    return this.#size;
  }
  get truncated(): boolean {
    return this.#truncated;
  }
  get recording(): boolean {
    return this.#recording;
  }

  /** Appends whole records only: one that would pass the limit ends the recording instead. */
  append(bytes: Uint8Array): void {
    if (!this.#recording) return;
    if (this.#size + bytes.length > this.#maxBytes) {
      this.#truncated = true;
      this.stop();
      return;
    }
    let at = 0;
    while (at < bytes.length) {
      if (this.#filled === this.#current.length) {
        this.#blocks.push(this.#current);
        this.#current = new Uint8Array(Math.min(CAPTURE_BLOCK_BYTES, this.#maxBytes - this.#size));
        this.#filled = 0;
      }
      const n = Math.min(bytes.length - at, this.#current.length - this.#filled);
      this.#current.set(bytes.subarray(at, at + n), this.#filled);
      this.#filled += n;
      this.#size += n;
      at += n;
    }
  }

  chunks(): readonly Uint8Array[] {
    const tail = this.#current.subarray(0, this.#filled);
    return tail.length === 0 ? [...this.#blocks] : [...this.#blocks, tail];
  }

  stop(): void {
    if (!this.#recording) return;
    this.#recording = false;
    // Nothing will be appended: give back the unused end of the last block.
    this.#current = this.#current.slice(0, this.#filled);
    this.#onStop();
  }
}

export class HciCaptureHub {
  readonly #source: HciTrafficSource;
  readonly #file: BtsnoopFileWriter | undefined;
  readonly #recordings = new Set<BtsnoopRecording>();
  #prelude: Uint8Array[] = [];
  #preludeBytes = 0;
  #sealed = false;
  #closed = false;
  #untap: (() => void) | undefined;

  constructor(source: HciTrafficSource, options: HciCaptureHubOptions) {
    this.#source = source;
    this.#file = options.file === undefined ? undefined : new BtsnoopFileWriter(options.file, { logger: options.logger });
    this.#updateTap();
  }

  /** Ends the setup exchange that heads every recording; call once the controller is set up. */
  sealPrelude(): void {
    this.#sealed = true;
    this.#updateTap();
  }

  /** Starts an in-memory recording; it runs until stopped, full, or the hub closes. */
  record(options: HciCaptureOptions): HciCapture {
    if (this.#closed) {
      throw new BledfuError('ADAPTER_UNAVAILABLE', 'the adapter is closed: nothing to capture', { layer: 'hci' });
    }
    const recording = new BtsnoopRecording(options.maxBytes, () => {
      this.#recordings.delete(recording);
      this.#updateTap();
    });
    recording.append(encodeBtsnoopHeader());
    for (const record of this.#prelude) recording.append(record);
    if (recording.recording) this.#recordings.add(recording);
    this.#updateTap();
    return recording;
  }

  /** Stops every recording and closes the file (flushing it). Never rejects. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const r of [...this.#recordings]) r.stop();
    this.#updateTap();
    await this.#file?.close();
  }

  /** Tapping costs a timestamp and a call per packet: only while something records. */
  #updateTap(): void {
    const wanted =
      !this.#closed && (!this.#sealed || this.#recordings.size > 0 || (this.#file !== undefined && this.#file.active));
    if (wanted && this.#untap === undefined) this.#untap = this.#source.onTraffic((t) => this.#onPacket(t));
    else if (!wanted && this.#untap !== undefined) {
      this.#untap();
      this.#untap = undefined;
    }
  }

  #onPacket(traffic: HciTrafficPacket): void {
    this.#file?.write(traffic);
    if (this.#sealed && this.#recordings.size === 0) {
      // Only the file is left, and it may have just failed.
      this.#updateTap();
      return;
    }
    const record = encodeBtsnoopRecord(traffic);
    if (!this.#sealed && this.#preludeBytes + record.length <= PRELUDE_MAX_BYTES) {
      this.#prelude.push(record);
      this.#preludeBytes += record.length;
    }
    for (const r of [...this.#recordings]) r.append(record);
  }
}
