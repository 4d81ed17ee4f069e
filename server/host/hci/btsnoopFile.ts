/**
 * Writes HCI traffic to a btsnoop file without ever holding up the radio path: records are
 * queued to the file stream and written behind it. A disk slower than the traffic costs records
 * (counted in the format's cumulative-drops field), never memory without bound; a write error is
 * logged once and ends the capture, never the adapter.
 *
 * An existing capture file of the same format is appended to, not replaced: after a reopened
 * dongle or a server restart, the traffic that led there is what one wants to look at.
 */
import { closeSync, createWriteStream, openSync, readSync, type WriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import type { Logger } from '../../common/logger.js';
import { encodeBtsnoopHeader, encodeBtsnoopRecord, type HciTrafficPacket } from './btsnoop.js';

/** Bytes queued behind a slow disk before records are dropped. */
export const DEFAULT_MAX_QUEUED_BYTES = 8 * 1024 * 1024;

export interface BtsnoopFileOptions {
  readonly logger: Logger;
  readonly maxQueuedBytes?: number;
}

export class BtsnoopFileWriter {
  readonly path: string;
  readonly #log: Logger;
  readonly #maxQueued: number;
  #stream: WriteStream | undefined;
  #drops = 0;
  #records = 0;
  #closing: Promise<void> | undefined;

  /** Creates (or empties) the file; failing to is reported like any later write error. */
  constructor(path: string, options: BtsnoopFileOptions) {
    this.path = path;
    this.#log = options.logger;
    this.#maxQueued = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    const header = encodeBtsnoopHeader();
    const append = startsWith(path, header);
    const stream = createWriteStream(path, { flags: append ? 'a' : 'w' });
    this.#stream = stream;
    // Kept for the stream's life: a second error with no listener would crash the process.
    stream.on('error', (e) => this.#fail(e));
    if (!append) stream.write(header);
    this.#log.info({ path, append }, 'HCI capture to file');
  }

  /** False once the capture has stopped for an error or been closed. */
  get active(): boolean {
    return this.#stream !== undefined && this.#closing === undefined;
  }

  /** Records dropped because the disk fell behind. */
  get drops(): number {
    return this.#drops;
  }

  write(traffic: HciTrafficPacket): void {
    const stream = this.#stream;
    if (stream === undefined || this.#closing !== undefined) return;
    if (stream.writableLength > this.#maxQueued) {
      if (this.#drops++ === 0) this.#log.warn({ path: this.path }, 'HCI capture: the disk is not keeping up; dropping packets');
      return;
    }
    this.#records++;
    stream.write(encodeBtsnoopRecord(traffic, this.#drops));
  }

  /** Flushes what is queued and closes the file. Never rejects. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const stream = this.#stream;
      if (stream === undefined) return;
      stream.end();
      try {
        await finished(stream);
        this.#log.info({ path: this.path, records: this.#records, drops: this.#drops }, 'HCI capture closed');
      } catch {
        // already reported by the error listener
      }
    })();
    return this.#closing;
  }

  #fail(error: Error): void {
    const stream = this.#stream;
    if (stream === undefined) return;
    this.#stream = undefined;
    stream.destroy();
    this.#log.error(
      { err: error, path: this.path },
      'HCI capture stopped: cannot write the capture file (the adapter keeps working); check the path and free space',
    );
  }
}

/** Whether the file exists and begins with these bytes (read once, when the adapter opens). */
function startsWith(path: string, prefix: Uint8Array): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = new Uint8Array(prefix.length);
    return readSync(fd, head, 0, head.length, 0) === head.length && Buffer.compare(head, prefix) === 0;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
