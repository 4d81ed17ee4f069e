/**
 * The receive side shared by the stream-backed transports (serial port, socket): chunks from a
 * Node stream queued for exactly one reader, with backpressure. When the reader falls behind
 * the stream is paused, so the peer blocks in its writes as on a serial line with flow control,
 * instead of the queue growing without bound.
 */
import { AsyncQueue } from '../common/asyncQueue.js';
import { BledfuError } from '../common/errors.js';

/** The part of a Node readable stream the inbox drives. */
export interface PausableSource {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** Chunks buffered for a reader that does not keep up before the source is paused. */
const PAUSE_AT_CHUNKS = 256;
const RESUME_AT_CHUNKS = 16;

export class StreamInbox {
  readonly #source: PausableSource;
  readonly #what: string;
  readonly #queue = new AsyncQueue<Uint8Array>();
  #readerTaken = false;
  #paused = false;

  /** `what` names the transport in the error for a second reader. */
  constructor(source: PausableSource, what: string) {
    this.#source = source;
    this.#what = what;
    source.on('data', (chunk: Buffer) => {
      this.#queue.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      if (!this.#paused && this.#queue.size >= PAUSE_AT_CHUNKS) {
        this.#paused = true;
        source.pause();
      }
    });
  }

  /** The one reader's view; a second call is a programming error. */
  readable(): AsyncIterable<Uint8Array> {
    if (this.#readerTaken) {
      throw new BledfuError('INTERNAL', `${this.#what} transport readable() called twice`, { layer: 'transport' });
    }
    this.#readerTaken = true;
    return this.#read();
  }

  /** The reader sees the end after what is queued. */
  end(): void {
    this.#queue.end();
  }

  /** The reader gets `error` after what is queued. */
  fail(error: Error): void {
    this.#queue.fail(error);
  }

  async *#read(): AsyncGenerator<Uint8Array> {
    for await (const chunk of this.#queue) {
      if (this.#paused && this.#queue.size <= RESUME_AT_CHUNKS) {
        this.#paused = false;
        this.#source.resume();
      }
      yield chunk;
    }
  }
}
