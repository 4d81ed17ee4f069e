/**
 * A ByteDuplex over a serial port (USB CDC ACM dongle, USB-UART bridge, pty) through the npm
 * `serialport` package. Every way opening or using a port can fail ends in a BledfuError a user
 * can act on (serialErrors.ts); nothing the port does can throw past this module.
 */
import { realpath, stat } from 'node:fs/promises';
import type { SerialPort } from 'serialport';
import { abortReason, BledfuError, throwIfAborted } from '../common/errors.js';
import { findPortHolders } from './portHolders.js';
import { createSerialPort } from './serialBinding.js';
import { listSerialPorts, pathExists } from './ports.js';
import {
  inspectDeviceAccess,
  openFailedError,
  permissionDeniedError,
  portBusyError,
  portClosedError,
  portGoneError,
  portNotFoundError,
  runningInContainer,
} from './serialErrors.js';
import { realClock, type Clock, type Timer } from '../common/clock.js';
import { StreamInbox } from './streamInbox.js';
import { LinePace } from './linePace.js';
import type { ByteDuplex } from './types.js';

export interface SerialOptions {
  readonly path: string;
  readonly baudRate: number;
  /** Hardware flow control (RTS/CTS). */
  readonly rtscts: boolean;
  /** Set DTR after opening; Nordic's USB connectivity firmware only talks while DTR is asserted. */
  readonly dtr?: boolean;
  /** The server's clock (a real port runs on the real clock): the flush limit when closing. Default real. */
  readonly clock?: Clock;
}

/** Zephyr hci_uart on an nRF52840 Dongle: 1 Mbaud with RTS/CTS. A pty ignores both. */
export const DEFAULT_SERIAL_SETTINGS = { baudRate: 1_000_000, rtscts: true } as const;

/** How long close() lets writes already handed to serialport reach the OS. */
const CLOSE_FLUSH_MS = 1_000;

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function invalid(message: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', message, { layer: 'transport' });
}

async function isPty(path: string): Promise<boolean> {
  const target = await realpath(path).catch(() => path);
  return target.startsWith('/dev/pts/');
}

class SerialDuplex implements ByteDuplex {
  readonly #port: SerialPort;
  readonly #path: string;
  readonly #clock: Clock;
  // A paused port lets the OS buffer fill, and with RTS/CTS the device then waits.
  readonly #inbox: StreamInbox;
  readonly #closed = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #failWrites = new Set<(e: BledfuError) => void>();
  readonly #portClosed: Promise<void>;

  // The UART's pace (8N1 at the port's baud rate), so a write resolves when its bytes are nearly on the wire.
  readonly #pace: LinePace;

  constructor(port: SerialPort, path: string, clock: Clock, baudRate: number) {
    this.#clock = clock;
    this.#pace = new LinePace(baudRate);
    this.#port = port;
    this.#path = path;
    this.#portClosed = new Promise((resolve) => port.once('close', () => resolve()));
    this.#inbox = new StreamInbox(port, 'serial');
    // serialport closes the port itself on a read/write error it considers a disconnect (EIO when a
    // USB device is unplugged or a pty's master exits) and reports it through 'close'.
    port.once('close', (e: unknown) => this.#gone(e ?? undefined));
    // Every call below passes a callback, so an 'error' event is something unexpected: the port
    // is no longer usable either way.
    port.on('error', (e: unknown) => this.#gone(e));
  }

  get closed(): AbortSignal {
    return this.#closed.signal;
  }

  readable(): AsyncIterable<Uint8Array> {
    return this.#inbox.readable();
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#closed.signal.aborted) return Promise.reject(this.#closed.signal.reason);
    const done = new Promise<void>((resolve, reject) => {
      const fail = (e: BledfuError): void => {
        this.#failWrites.delete(fail);
        reject(e);
      };
      this.#failWrites.add(fail);
      // The caller keeps its buffer until we resolve, which is after serialport wrote it: no copy.
      // Paced from the moment the write is issued: the OS sends in order, at the baud rate at best.
      const paceMs = this.#pace.wrote(bytes.length, this.#clock.now());
      this.#port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (e) => {
        if (e === undefined || e === null) {
          if (paceMs <= 0) {
            if (this.#failWrites.delete(fail)) resolve();
            return;
          }
          // On the wire soon: until then the writer keeps what comes next (a close fails it).
          this.#clock.setTimer(paceMs, () => {
            if (this.#failWrites.delete(fail)) resolve();
          });
          return;
        }
        if (!this.#failWrites.delete(fail)) return;
        this.#gone(e);
        reject(this.#closed.signal.reason);
      });
    });
    this.#inFlight.add(done);
    const forget = (): void => {
      this.#inFlight.delete(done);
    };
    done.then(forget, forget);
    return done;
  }

  async close(): Promise<void> {
    if (!this.#closed.signal.aborted) {
      const reason = portClosedError(this.#path);
      this.#closed.abort(reason);
      this.#inbox.end();
      await this.#settleWrites(reason);
      if (this.#port.isOpen) this.#port.close(() => undefined);
    }
    if (this.#port.isOpen || this.#port.closing) await this.#portClosed;
  }

  async #settleWrites(reason: BledfuError): Promise<void> {
    if (this.#inFlight.size > 0) {
      let timer: Timer | undefined;
      const limit = new Promise<void>((resolve) => {
        timer = this.#clock.setTimer(CLOSE_FLUSH_MS, resolve, { label: 'serial: close flush' });
      });
      await Promise.race([Promise.allSettled([...this.#inFlight]), limit]);
      timer?.cancel();
    }
    // Writes still queued inside the stream would wait for a reopen that never comes.
    for (const fail of [...this.#failWrites]) fail(reason);
  }

  #gone(cause: unknown): void {
    if (this.#closed.signal.aborted) return;
    const error = portGoneError(this.#path, cause);
    this.#closed.abort(error);
    this.#inbox.fail(error);
    for (const fail of [...this.#failWrites]) fail(error);
    if (this.#port.isOpen) this.#port.close(() => undefined);
  }
}

async function notFound(path: string, reason: 'missing' | 'not-a-tty' | 'no-device', cause?: unknown): Promise<BledfuError> {
  const ports = await listSerialPorts();
  const withoutNode = new Set<string>();
  for (const p of ports) if (!(await pathExists(p.path))) withoutNode.add(p.path);
  return portNotFoundError(path, ports, { reason, withoutNode, inContainer: await runningInContainer(), ...(cause === undefined ? {} : { cause }) });
}

/** Turns what serialport/the OS said about a failed open into an error naming the fix. */
export async function diagnoseOpenFailure(path: string, cause: unknown): Promise<BledfuError> {
  const detail = errorText(cause);
  if (/permission denied|EACCES|EPERM|operation not permitted/i.test(detail)) {
    const device = await realpath(path).catch(() => path);
    const port = (await listSerialPorts()).find((p) => p.path === device);
    return permissionDeniedError(path, await inspectDeviceAccess(path), {
      ...(port?.vendorId === undefined ? {} : { vendorId: port.vendorId }),
      inContainer: await runningInContainer(),
      cause,
    });
  }
  if (!(await pathExists(path))) return notFound(path, 'missing', cause);
  // serialport takes flock(LOCK_EX|LOCK_NB) on open: "Cannot lock port" (EWOULDBLOCK). EBUSY comes
  // from a port another program opened exclusively (TIOCEXCL).
  const locked = /cannot lock port|resource temporarily unavailable/i.test(detail);
  if (locked || /device or resource busy|EBUSY/i.test(detail)) {
    return portBusyError(path, await findPortHolders(path), { locked, cause });
  }
  if (/inappropriate ioctl|not a typewriter|ENOTTY/i.test(detail)) return notFound(path, 'not-a-tty', cause);
  // A node left behind by an unplugged device (a static /dev in a container, a stale mknod).
  if (/no such device|ENXIO|ENODEV/i.test(detail)) return notFound(path, 'no-device', cause);
  return openFailedError(path, detail, cause);
}

function openPort(port: SerialPort, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      reject(abortReason(signal as AbortSignal));
      // The native open cannot be interrupted; close the port once it is there.
      port.once('open', () => port.close(() => undefined));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    port.open((e) => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) return;
      if (e === null || e === undefined) resolve();
      else reject(e);
    });
  });
}

function closePort(port: SerialPort): Promise<void> {
  return new Promise((resolve) => {
    if (!port.isOpen) resolve();
    else port.close(() => resolve());
  });
}

function setLines(port: SerialPort, lines: { dtr: boolean }): Promise<void> {
  return new Promise((resolve, reject) => port.set(lines, (e) => (e === null || e === undefined ? resolve() : reject(e))));
}

/**
 * Opens a serial port for exclusive use. Fails with SERIAL_PORT_NOT_FOUND (listing the ports that
 * exist), SERIAL_PERMISSION_DENIED (naming the group to join), SERIAL_PORT_BUSY (naming the
 * process holding it, also one that did not lock it) or ADAPTER_UNAVAILABLE for anything else.
 */
export async function openSerialPort(options: SerialOptions, signal?: AbortSignal): Promise<ByteDuplex> {
  throwIfAborted(signal);
  const { path, baudRate, rtscts } = options;
  if (typeof path !== 'string' || path.trim() === '') throw invalid('serial port path is empty');
  if (!Number.isInteger(baudRate) || baudRate <= 0) throw invalid(`baud rate must be a positive integer, got ${String(baudRate)}`);
  const node = await stat(path).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
  if (node instanceof Error) throw await diagnoseOpenFailure(path, node);
  // serialport would "open" a regular file too, then spin reading its end forever.
  if (!node.isCharacterDevice()) throw await notFound(path, 'not-a-tty');
  // Touching a port someone else uses already changes its line settings under them: look first.
  const before = await findPortHolders(path);
  if (before.holders.length > 0) throw portBusyError(path, before);
  throwIfAborted(signal);
  let port: SerialPort;
  try {
    port = createSerialPort({ path, baudRate, rtscts, autoOpen: false, lock: true, hupcl: true });
  } catch (e) {
    throw invalid(`cannot open serial port ${path}: ${errorText(e)}`);
  }
  // An 'error' event without a listener would crash the process.
  const swallow = (): void => undefined;
  port.on('error', swallow);
  try {
    await openPort(port, signal);
  } catch (e) {
    throw e instanceof BledfuError ? e : await diagnoseOpenFailure(path, e);
  }
  try {
    // A holder that did not take the lock (cat, screen, a script) would still steal bytes.
    const after = await findPortHolders(path);
    if (after.holders.length > 0) throw portBusyError(path, after);
    if (options.dtr !== undefined) {
      await setLines(port, { dtr: options.dtr }).catch(async (e: unknown) => {
        // A pty has no modem lines; there is nothing to assert.
        if (!(await isPty(path))) throw openFailedError(path, `cannot set DTR: ${errorText(e)}`, e);
      });
    }
    throwIfAborted(signal);
  } catch (e) {
    await closePort(port);
    throw e;
  }
  port.off('error', swallow);
  return new SerialDuplex(port, path, options.clock ?? realClock, baudRate);
}
