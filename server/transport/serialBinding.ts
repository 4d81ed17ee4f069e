/**
 * serialport's native binding with one fix: a read that returns 0 bytes means the tty hung up.
 *
 * When a USB serial device is unplugged (or a pty's master exits) the kernel hangs the tty up;
 * from then on read() returns 0 (end of file). serialport 13's unix read retries a 0-byte read at
 * once, forever: a read issued after the hangup spins a libuv thread at full CPU and the port
 * never reports the disconnect (reproduced here by killing socat before the first read). This
 * read reports it as a disconnect instead, which makes serialport close the port and emit 'close'
 * with a DisconnectedError. Everything else is the platform binding unchanged.
 */
import { read as fsRead } from 'node:fs';
import { promisify } from 'node:util';
import { SerialPort } from 'serialport';

const readAsync = promisify(fsRead);

interface ReadResult {
  buffer: Buffer;
  bytesRead: number;
}

/** The parts of serialport's unix port binding (Linux, macOS) this fix relies on. */
interface UnixPortBinding {
  readonly isOpen: boolean;
  readonly fd: number | null;
  readonly poller: { once(event: 'readable', callback: (error: Error | null) => void): unknown };
  read(buffer: Buffer, offset: number, length: number): Promise<ReadResult>;
}

interface PortBinding {
  read(buffer: Buffer, offset: number, length: number): Promise<ReadResult>;
}

interface Binding {
  list(): Promise<unknown[]>;
  open(options: object): Promise<PortBinding>;
}

function isUnixPort(port: PortBinding): port is UnixPortBinding {
  const p = port as Partial<UnixPortBinding>;
  return 'fd' in port && typeof p.poller?.once === 'function';
}

/** serialport treats a read error with `canceled` as "closed by us", anything else as a disconnect. */
function canceled(): Error {
  return Object.assign(new Error('Port is not open'), { canceled: true });
}

function readable(port: UnixPortBinding): Promise<void> {
  return new Promise((resolve, reject) => port.poller.once('readable', (e) => (e === null ? resolve() : reject(e))));
}

async function readUntilHangup(port: UnixPortBinding, buffer: Buffer, offset: number, length: number): Promise<ReadResult> {
  for (;;) {
    if (!port.isOpen || port.fd === null) throw canceled();
    try {
      const { bytesRead } = await readAsync(port.fd, buffer, offset, length, null);
      if (bytesRead === 0) throw Object.assign(new Error('the port hung up (end of file)'), { disconnect: true });
      return { buffer, bytesRead };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK' && code !== 'EINTR') throw e;
      // Closed while the read was in the thread pool: the poller is destroyed, and polling a
      // destroyed poller crashes the process (segfault in the native part).
      if (!port.isOpen || port.fd === null) throw canceled();
      await readable(port);
    }
  }
}

const detected = SerialPort.binding as unknown as Binding;

export const hangupAwareBinding: Binding = {
  list: () => detected.list(),
  async open(options: object): Promise<PortBinding> {
    const port = await detected.open(options);
    if (isUnixPort(port)) port.read = (buffer, offset, length) => readUntilHangup(port, buffer, offset, length);
    return port;
  },
};

export type SerialPortOptions = ConstructorParameters<typeof SerialPort>[0];

/** A SerialPort stream over the fixed binding (serialport's options type leaves `binding` out, but honours it). */
export function createSerialPort(options: SerialPortOptions): SerialPort {
  return new SerialPort({ ...options, binding: hangupAwareBinding } as unknown as SerialPortOptions);
}
