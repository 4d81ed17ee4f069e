/**
 * BlueZ's controller emulator (btvirt) as a test fixture: every startEmulator() runs its own
 * btvirt in a private temporary directory; each addController() is one emulated LE controller,
 * reached through a pty (socat) like a UART dongle, or straight through btvirt's unix socket.
 * Controllers of one emulator can see and connect to each other; emulators are separate worlds.
 *
 * btvirt runs unmodified under our LD_PRELOAD library (btvirt-preload.c, built with cc once per
 * process), which lets it create LE controllers without kernel AF_ALG, keeps its sockets in the
 * private directory, makes it exit with this process and repairs two ways it loses data.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeReturnParameters } from '../../../server/host/hci/commands.js';
import { decodeEvent } from '../../../server/host/hci/events.js';
import { decodeEventPacket } from '../../../server/host/hci/packets.js';
import { H4Parser } from '../../../server/transport/h4.js';
import { socketDuplex } from '../../../server/transport/socket.js';
import type { ByteDuplex } from '../../../server/transport/types.js';

const REQUIRED_TOOLS = ['btvirt', 'socat', 'cc'] as const;
/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;
const LONGEST_SERVER_SOCKET = 'bt-server-bredrle';
/** How long btvirt may stall on a host that does not read before it drops the packet. */
const SEND_WAIT_MS = 2_000;
const READY_TIMEOUT_MS = 5_000;

export interface PtyController {
  /** The pty to open as a serial port (a symlink in the emulator's directory). */
  readonly path: string;
  /** Public BD_ADDR, e.g. 00:AA:01:00:00:42 for btvirt's first slot. */
  readonly address: string;
  /** Destroys the controller (its relay exits; btvirt forgets it without telling its peers). */
  stop(): Promise<void>;
}

export interface SocketController {
  readonly transport: ByteDuplex;
  readonly address: string;
}

export interface Emulator {
  readonly dir: string;
  /** btvirt's listening socket for LE-only controllers: each connection is a new controller. */
  readonly socketPath: string;
  /** A controller behind a pty, for code that opens serial ports. Created one at a time. */
  addController(): Promise<PtyController>;
  /** A controller on a direct socket connection: no relay process. */
  connectController(): Promise<SocketController>;
  /** btvirt's own output so far (for failure messages). */
  log(): Promise<string>;
  /** Process ids of btvirt and the running socat relays (a benchmark reads their CPU time). */
  processIds(): { readonly btvirt: number | undefined; readonly relays: readonly number[] };
  /** Stops the relays, then btvirt, each by its pid; removes the directory. Idempotent. */
  stop(): Promise<void>;
}

/** Tools missing on this machine (btvirt from bluez-test-tools, socat, a C compiler). */
export function missingTools(): string[] {
  return REQUIRED_TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0);
}

/**
 * The reason to skip btvirt tests, or undefined to run them. Skipping is allowed only outside CI:
 * under CI a missing tool throws, so the suite fails loudly instead of passing without testing.
 */
export function btvirtSkipReason(): string | undefined {
  const missing = missingTools();
  if (missing.length === 0) return undefined;
  const message = `btvirt tests need ${missing.join(', ')} (apt-get install bluez-test-tools bluez socat gcc libc6-dev)`;
  if (process.env.CI !== undefined && process.env.CI !== '') throw new Error(`${message}; CI must not skip them`);
  return message;
}

// The preload library is compiled once per test process; each emulator gets a copy in its own
// directory, so nothing outlives the emulator that used it.
let preloadBuild: Promise<Uint8Array> | undefined;

function compilePreload(dir: string): Promise<Uint8Array> {
  preloadBuild ??= (async () => {
    const source = fileURLToPath(new URL('./btvirt-preload.c', import.meta.url));
    const out = join(dir, 'btvirt-preload-build.so');
    const cc = await run('cc', ['-shared', '-fPIC', '-O2', '-Wall', '-o', out, source, '-ldl']);
    if (cc.code !== 0) throw new Error(`building the btvirt preload library failed:\n${cc.output}`);
    const bytes = new Uint8Array(await readFile(out));
    await rm(out, { force: true });
    return bytes;
  })();
  // A failed build is not cached: the next emulator reports the compiler's output again.
  preloadBuild.catch(() => {
    preloadBuild = undefined;
  });
  return preloadBuild;
}

async function installPreload(dir: string): Promise<string> {
  const path = join(dir, 'btvirt-preload.so');
  await writeFile(path, await compilePreload(dir), { mode: 0o755 });
  return path;
}

function run(command: string, args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM, then SIGKILL if the process lingers; resolves once it is gone. */
async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = exited(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
  await gone;
  clearTimeout(timer);
}

async function pollUntil(what: string, done: () => boolean | Promise<boolean>, check: () => void): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (await done()) return;
    check();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Whether a unix socket at `path` is listening (/proc/net/unix flag __SO_ACCEPTCON). */
async function listening(path: string): Promise<boolean> {
  const table = await readFile('/proc/net/unix', 'utf8');
  return table.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    return f[7] === path && f[3] === '00010000';
  });
}

/**
 * Asks a fresh controller for its BD_ADDR on the raw socket, leaving any byte after the answer
 * unread. btvirt says nothing before the host speaks, so the answer is the first thing to come.
 */
function readBdAddr(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const parser = new H4Parser();
    const onData = (chunk: Buffer): void => {
      // Byte by byte: the parser's first complete packet tells us where the answer ends.
      for (let i = 0; i < chunk.length; i++) {
        const [packet] = parser.feed(chunk.subarray(i, i + 1));
        if (packet === undefined) continue;
        cleanup();
        socket.pause();
        if (i + 1 < chunk.length) socket.unshift(chunk.subarray(i + 1));
        const event = decodeEvent(decodeEventPacket(packet.bytes));
        if (event.kind !== 'commandComplete' || event.opcode !== 0x1009) {
          reject(new Error(`unexpected first packet from btvirt: ${event.kind}`));
          return;
        }
        const r = decodeReturnParameters('readBdAddr', event.returnParameters);
        if (r.value === undefined) reject(new Error(`Read BD_ADDR failed with status 0x${r.status.toString(16)}`));
        else resolve(r.value.address);
        return;
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('btvirt closed the controller at once (is the preload library loaded?)'));
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
    socket.write(Uint8Array.of(0x01, 0x09, 0x10, 0x00));
  });
}

function connectRaw(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ path });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

export interface EmulatorOptions {
  /**
   * How many of the first controllers created answer Read BD_ADDR with 00:00:00:00:00:00, as a
   * Zephyr hci_uart controller does (btvirt-preload.c, 8). The dongle is created first.
   */
  readonly withoutPublicAddress?: number;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const dir = await mkdtemp(join(tmpdir(), 'bledfu-btvirt-'));
  const socketPath = join(dir, 'bt-server-le');
  const relays = new Set<ChildProcess>();
  const sockets = new Set<Socket>();
  let btvirt: ChildProcess | undefined;
  let stopped = false;
  // Controllers are created one after another: btvirt gives each the lowest free slot.
  let creation: Promise<unknown> = Promise.resolve();

  // A test process that exits without stop() (process.exit, a runner giving up) still leaves
  // nothing behind: btvirt and the relays are signalled by pid, the directory removed.
  const onExit = (): void => {
    for (const child of [...relays, btvirt]) child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', onExit);
    for (const s of sockets) s.destroy();
    await Promise.all([...relays].map((r) => terminate(r)));
    if (btvirt !== undefined) await terminate(btvirt);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    if (join(dir, LONGEST_SERVER_SOCKET).length > MAX_SOCKET_PATH) {
      throw new Error(`socket paths under ${dir} would exceed ${MAX_SOCKET_PATH} bytes; set TMPDIR to a shorter directory (e.g. /tmp)`);
    }
    const preload = await installPreload(dir);
    const logPath = join(dir, 'btvirt.log');
    await writeFile(logPath, '');
    const logFd = openSync(logPath, 'a');
    const child = spawn('btvirt', ['-s'], {
      stdio: ['ignore', logFd, logFd],
      env: {
        ...process.env,
        LD_PRELOAD: preload,
        BLEDFU_BTVIRT_DIR: dir,
        BLEDFU_BTVIRT_PARENT: String(process.pid),
        BLEDFU_BTVIRT_SEND_WAIT_MS: String(SEND_WAIT_MS),
        BLEDFU_BTVIRT_NO_PUBLIC_ADDRESS: String(options.withoutPublicAddress ?? 0),
      },
    });
    closeSync(logFd);
    btvirt = child;
    child.once('error', () => undefined);
    await pollUntil('btvirt to listen', () => listening(socketPath), () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`btvirt exited (${child.exitCode ?? child.signalCode})`);
    });
  } catch (e) {
    await stop();
    throw e;
  }

  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const next = creation.then(work);
    creation = next.catch(() => undefined);
    return next;
  };
  const checkRunning = (): void => {
    if (stopped) throw new Error('the emulator was stopped');
    if (btvirt?.exitCode !== null || btvirt.signalCode !== null) throw new Error('btvirt is not running');
  };

  const newController = async (): Promise<{ socket: Socket; address: string }> => {
    checkRunning();
    const socket = await connectRaw(socketPath);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    try {
      return { socket, address: await readBdAddr(socket) };
    } catch (e) {
      socket.destroy();
      throw e;
    }
  };

  return {
    dir,
    socketPath,
    log: () => readFile(join(dir, 'btvirt.log'), 'utf8').catch(() => ''),
    processIds: () => ({ btvirt: btvirt?.pid, relays: [...relays].flatMap((r) => (r.pid === undefined ? [] : [r.pid])) }),
    stop,
    connectController: () =>
      inTurn(async () => {
        const { socket, address } = await newController();
        const transport = socketDuplex(socket, `btvirt controller ${address}`);
        socket.resume();
        return { transport, address };
      }),
    addController: () =>
      inTurn(async () => {
        const { socket, address } = await newController();
        const link = join(dir, `tty-${address.replace(/:/g, '').toLowerCase()}`);
        // socat relays the connection we already made (fd 3) to a new pty; the controller is
        // ours before socat runs, so its address is known for certain.
        const relay = spawn('socat', ['-d', '-d', 'FD:3', `PTY,link=${link},rawer`], {
          stdio: ['ignore', 'ignore', 'pipe', socket],
        });
        relays.add(relay);
        let relayLog = '';
        relay.stderr?.on('data', (c: Buffer) => (relayLog += c.toString()));
        relay.once('error', () => undefined);
        relay.once('exit', () => relays.delete(relay));
        // The child holds its own copy of the connection; ours must neither read nor keep it.
        socket.destroy();
        try {
          await pollUntil(`socat to create ${link}`, () => existsSync(link), () => {
            if (relay.exitCode !== null || relay.signalCode !== null) throw new Error(`socat exited:\n${relayLog}`);
          });
        } catch (e) {
          await terminate(relay);
          throw e;
        }
        return { path: link, address, stop: () => terminate(relay) };
      }),
  };
}
