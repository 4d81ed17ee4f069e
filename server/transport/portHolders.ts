/**
 * Which processes have a serial device open, found the way fuser/lsof do it: by scanning the
 * /proc/<pid>/fd symlinks. Used to name the culprit when a port is busy, and after opening a port
 * to refuse sharing it with a process that did not take serialport's flock (a second reader on a
 * UART steals bytes at random, which breaks any protocol on it).
 */
import { readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { join } from 'node:path';

export interface PortHolder {
  readonly pid: number;
  /** /proc/<pid>/comm: the executable's name as the kernel reports it (e.g. "nrfutil", "sleep"). */
  readonly command: string;
}

export interface PortHolders {
  readonly holders: readonly PortHolder[];
  /** Processes whose fds we could not read (another user's, without root): they may hold it too. */
  readonly uninspectable: number;
  /** This process has it open already (another adapter of this server uses the port). */
  readonly self: boolean;
}

export interface FindPortHoldersOptions {
  /** Where procfs is mounted; tests point it elsewhere. */
  readonly procRoot?: string;
  /** Processes that do not count (ours, by default). */
  readonly excludePids?: readonly number[];
}

const PTY_SLAVE = /^\/dev\/pts\/(\d+)$/;

async function listPids(procRoot: string): Promise<number[]> {
  const entries = await readdir(procRoot).catch(() => [] as string[]);
  return entries
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .sort((a, b) => a - b);
}

async function fdTargets(procRoot: string, pid: number): Promise<{ fd: string; target: string }[] | undefined> {
  const dir = join(procRoot, String(pid), 'fd');
  let fds: string[];
  try {
    fds = await readdir(dir);
  } catch (e) {
    // ENOENT: the process exited meanwhile, nothing to report. EACCES: someone else's process.
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? [] : undefined;
  }
  const out: { fd: string; target: string }[] = [];
  for (const fd of fds) {
    const target = await readlink(join(dir, fd)).catch(() => undefined);
    if (target !== undefined) out.push({ fd, target });
  }
  return out;
}

/**
 * A pseudo-terminal's master side (socat, a terminal emulator, a test harness) is the far end of
 * the wire, not a competitor: it also keeps the slave open, so it must not count as a holder.
 * The master's fdinfo names the pty it drives ("tty-index: N").
 */
async function holdsPtyMaster(procRoot: string, pid: number, fds: readonly { fd: string; target: string }[], index: string): Promise<boolean> {
  for (const { fd, target } of fds) {
    if (target !== '/dev/ptmx' && target !== '/dev/pts/ptmx') continue;
    const info = await readFile(join(procRoot, String(pid), 'fdinfo', fd), 'utf8').catch(() => '');
    if (new RegExp(`^tty-index:\\s*${index}\\s*$`, 'm').test(info)) return true;
  }
  return false;
}

async function commandOf(procRoot: string, pid: number): Promise<string> {
  const comm = await readFile(join(procRoot, String(pid), 'comm'), 'utf8').catch(() => '');
  return comm.trim() || '?';
}

/** The processes other than ours that have `devicePath` (or what its symlinks point to) open. */
export async function findPortHolders(devicePath: string, options: FindPortHoldersOptions = {}): Promise<PortHolders> {
  const procRoot = options.procRoot ?? '/proc';
  const exclude = new Set(options.excludePids ?? [process.pid]);
  // by-id names and socat's links are symlinks; /proc shows the device node itself.
  const device = await realpath(devicePath).catch(() => devicePath);
  const ptyIndex = PTY_SLAVE.exec(device)?.[1];
  const holders: PortHolder[] = [];
  let uninspectable = 0;
  let self = false;
  // "(deleted)" marks a node that was removed while open (an unplugged USB device).
  const isDevice = ({ target }: { target: string }): boolean => target === device || target === `${device} (deleted)`;
  for (const pid of await listPids(procRoot)) {
    const fds = await fdTargets(procRoot, pid);
    if (exclude.has(pid)) {
      if (pid === process.pid && fds?.some(isDevice) === true) self = true;
      continue;
    }
    if (fds === undefined) {
      uninspectable += 1;
      continue;
    }
    if (!fds.some(isDevice)) continue;
    if (ptyIndex !== undefined && (await holdsPtyMaster(procRoot, pid, fds, ptyIndex))) continue;
    holders.push({ pid, command: await commandOf(procRoot, pid) });
  }
  return { holders, uninspectable, self };
}

/** "nrfutil (pid 4242), sleep (pid 77)" */
export function describeHolders(holders: readonly PortHolder[]): string {
  return holders.map((h) => `${h.command} (pid ${h.pid})`).join(', ');
}

