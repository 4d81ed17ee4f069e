/**
 * A package reader thread (started by packageReaders.ts): reads one package at a time with the
 * same readAnyPackage the CLI uses (Secure DFU or legacy), and sends back the package or the error. The images go back
 * transferred, not copied.
 */
import { parentPort } from 'node:worker_threads';
import { readAnyPackage } from '../dfu/package/anyPackage.js';
import type { AnyDfuPackage } from '../dfu/types.js';
import { sendableError, type ReaderReply, type ReaderRequest } from './packageReaderProtocol.js';

const port = parentPort;
if (port === null) throw new Error('packageWorker.ts runs as a worker thread (see packageReaders.ts)');

/** A view that owns its whole buffer, so the buffer can be transferred without taking anything else along. */
function owned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ? bytes : new Uint8Array(bytes);
}

port.on('message', (request: ReaderRequest) => {
  readAnyPackage(request.bytes).then(
    (read: AnyDfuPackage) => {
      // The same object with the images' buffers owned (either protocol: only bin and dat change).
      const pkg = { ...read, images: read.images.map((i) => ({ ...i, bin: owned(i.bin), dat: owned(i.dat) })) } as AnyDfuPackage;
      const reply: ReaderReply = { id: request.id, ok: true, pkg };
      port.postMessage(reply, pkg.images.flatMap((i) => [i.bin.buffer as ArrayBuffer, i.dat.buffer as ArrayBuffer]));
    },
    (e: unknown) => {
      const reply: ReaderReply = { id: request.id, ok: false, error: sendableError(e) };
      port.postMessage(reply);
    },
  );
});
