/**
 * The server's package reader: readAnyPackage (unzip, inflate, hash, check every image against its
 * init packet) run on worker threads, so a large or hostile upload costs those threads' time and
 * never the event loop that drives the radio and every running DFU.
 *
 * Before a package is handed to a thread, its zip container is checked here (readZipDirectory:
 * bounded by the entry limit, not by the file's size), so the commonest hostile upload, a zip
 * with a huge number of entries, is refused at once without copying it anywhere. Threads start
 * on first use; a bounded queue holds packages waiting for one, and one more is refused
 * PACKAGE_READERS_BUSY (RESOURCE_EXHAUSTED) rather than piling up memory. Errors come back with
 * the codes readPackage gives in-process.
 */
import { Worker } from 'node:worker_threads';
import { BledfuError } from '../common/errors.js';
import { readZipDirectory } from '../dfu/package/zipArchive.js';
import type { AnyDfuPackage } from '../dfu/types.js';
import { revivedError, type ReaderReply, type ReaderRequest } from './packageReaderProtocol.js';
import type { ReadPackage } from './packageStore.js';

export interface PackageReadersOptions {
  /** Worker threads, each reading one package at a time. */
  readonly threads: number;
  /** Packages that may wait for a free thread; one more is refused PACKAGE_READERS_BUSY. */
  readonly queue: number;
}

export interface PackageReaders {
  /** readAnyPackage's contract (a Secure DFU or legacy package) (same result, same error codes), off the calling thread. */
  readonly read: ReadPackage;
  /**
   * The zip container check read() starts with (bounded by the entry limit, not the size): for
   * callers that spend time per byte before reading (the package store's hash).
   */
  readonly screen: (bytes: Uint8Array) => void;
  /** Packages being read plus those waiting. */
  readonly pending: number;
  /** Threads started so far (they start on first use). */
  readonly threads: number;
  /** Ends the threads; packages being read or waiting fail CANCELLED. */
  close(): Promise<void>;
}

interface Task {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly resolve: (pkg: AnyDfuPackage) => void;
  readonly reject: (e: unknown) => void;
}

interface Thread {
  readonly worker: Worker;
  task: Task | undefined;
}

/**
 * Starts a reader thread. From TypeScript sources (tests, bin/ in a checkout) the thread does not
 * inherit the tsx loader the main thread was started with (Node 20 runs loader hooks per thread,
 * and --import in a worker's execArgv is ignored), so a small bootstrap registers tsx in the
 * thread before importing the worker module. From compiled JavaScript the worker is plain .js.
 */
export function spawnPackageWorker(): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./packageWorker.js', self));
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./packageWorker.ts', self).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, { eval: true });
}

function cancelled(): BledfuError {
  return new BledfuError('CANCELLED', 'the server is stopping; the package was not read', { layer: 'jobs', remedy: 'send it again once the server is back' });
}

export function startPackageReaders(options: PackageReadersOptions, spawn: () => Worker = spawnPackageWorker): PackageReaders {
  const threads: Thread[] = [];
  const queue: Task[] = [];
  let nextId = 1;
  let closed = false;

  const busy = (): number => threads.filter((t) => t.task !== undefined).length;

  const finish = (thread: Thread, settle: (task: Task) => void): void => {
    const task = thread.task;
    thread.task = undefined;
    // An idle thread must not keep the process alive (a CLI, a test, a server shutting down).
    thread.worker.unref();
    if (task !== undefined) settle(task);
    pump();
  };

  const retire = (thread: Thread, why: unknown): void => {
    const at = threads.indexOf(thread);
    if (at < 0) return;
    threads.splice(at, 1);
    const task = thread.task;
    thread.task = undefined;
    if (task !== undefined) {
      // A thread that died mid-read (out of memory, a crash): the package is at fault or the
      // reader is; either way it was not read. A fresh thread takes the next one.
      const oom = (why as { code?: unknown } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      task.reject(
        closed
          ? cancelled()
          : new BledfuError(oom ? 'PACKAGE_INVALID' : 'INTERNAL', oom ? 'reading the package needed more memory than a package can' : 'the package reader stopped while reading the package', {
              layer: 'jobs',
              remedy: oom ? 'check that this is an nrfutil DFU package' : 'send the package again; report this if it persists',
              cause: why,
            }),
      );
    }
    pump();
  };

  const start = (): Thread => {
    const thread: Thread = { worker: spawn(), task: undefined };
    thread.worker.unref();
    thread.worker.on('message', (reply: ReaderReply) => {
      if (thread.task?.id !== reply.id) return;
      finish(thread, (task) => (reply.ok ? task.resolve(reply.pkg) : task.reject(revivedError(reply.error))));
    });
    thread.worker.on('error', (e) => retire(thread, e));
    thread.worker.on('exit', (code) => retire(thread, new Error(`package reader thread exited with code ${code}`)));
    threads.push(thread);
    return thread;
  };

  function pump(): void {
    while (!closed && queue.length > 0) {
      const thread = threads.find((t) => t.task === undefined) ?? (threads.length < options.threads ? start() : undefined);
      if (thread === undefined) return;
      const task = queue.shift() as Task;
      thread.task = task;
      thread.worker.ref();
      const request: ReaderRequest = { id: task.id, bytes: task.bytes };
      thread.worker.postMessage(request, [task.bytes.buffer as ArrayBuffer]);
    }
  }

  return {
    read(bytes: Uint8Array): Promise<AnyDfuPackage> {
      if (closed) return Promise.reject(cancelled());
      try {
        // Bounded work on this thread, and most hostile zips end here.
        readZipDirectory(bytes);
      } catch (e) {
        return Promise.reject(e);
      }
      if (busy() + queue.length >= options.threads + options.queue) {
        return Promise.reject(
          new BledfuError('PACKAGE_READERS_BUSY', `the server is already reading ${options.threads + options.queue} packages, as many as it reads or queues at once`, {
            layer: 'jobs',
            remedy: 'send the package again in a few seconds; an operator can raise --package-readers or --package-read-queue',
          }),
        );
      }
      return new Promise<AnyDfuPackage>((resolve, reject) => {
        // A copy in a buffer of its own: the caller keeps its bytes, the thread gets this buffer
        // transferred (never a slice of a shared one).
        queue.push({ id: nextId++, bytes: new Uint8Array(bytes), resolve, reject });
        pump();
      });
    },
    screen(bytes: Uint8Array): void {
      readZipDirectory(bytes);
    },
    get pending() {
      return busy() + queue.length;
    },
    get threads() {
      return threads.length;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const task of queue.splice(0)) task.reject(cancelled());
      await Promise.all(threads.map((t) => t.worker.terminate()));
    },
  };
}
