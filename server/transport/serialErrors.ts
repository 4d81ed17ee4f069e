/**
 * What went wrong with a serial port, told so a user can fix it: which ports do exist, which group
 * may open the device and how to join it, which process holds the port, that the dongle went
 * away. The facts are gathered here (stat, /etc/group, /etc/passwd); the messages are built from
 * them by pure functions so their wording is tested without a real device.
 */
import { readFile, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { BledfuError } from '../common/errors.js';
import { describeHolders, type PortHolders } from './portHolders.js';
import { describePort, type SerialPortInfo } from './ports.js';

/** Who may open a device node, and whether this process is among them. */
export interface DeviceAccess {
  /** ls-style, e.g. "crw-rw----". */
  readonly mode: string;
  readonly ownerUid: number;
  readonly gid: number;
  /** From /etc/group; absent when the gid has no name here (common inside containers). */
  readonly groupName?: string;
  /** Our user's name, or "uid N" when it has no passwd entry. */
  readonly user: string;
  /** /etc/group (or the passwd primary group) says the user belongs to the device's group. */
  readonly userListedInGroup: boolean;
  /** The running process actually has that group (false after a usermod without re-login). */
  readonly processHasGroup: boolean;
}

export interface InspectOptions {
  /** Where passwd/group live; tests use their own. */
  readonly etcRoot?: string;
}

function modeString(mode: number): string {
  const type = (mode & 0o170000) === 0o020000 ? 'c' : (mode & 0o170000) === 0o040000 ? 'd' : '-';
  const bits = 'rwxrwxrwx';
  let out = type;
  for (let i = 0; i < 9; i++) out += mode & (0o400 >> i) ? bits[i] : '-';
  return out;
}

function parseColonFile(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

function currentUser(): { name: string | undefined; uid: number; gid: number } {
  const uid = process.getuid?.() ?? -1;
  const gid = process.getgid?.() ?? -1;
  try {
    return { name: userInfo().username, uid, gid };
  } catch {
    // No passwd entry for our uid (a container started with --user 1234).
    return { name: undefined, uid, gid };
  }
}

export async function inspectDeviceAccess(path: string, options: InspectOptions = {}): Promise<DeviceAccess | undefined> {
  const etc = options.etcRoot ?? '/etc';
  const st = await stat(path).catch(() => undefined);
  if (st === undefined) return undefined;
  const me = currentUser();
  const groups = parseColonFile(await readFile(join(etc, 'group'), 'utf8').catch(() => ''));
  const passwd = parseColonFile(await readFile(join(etc, 'passwd'), 'utf8').catch(() => ''));
  const group = groups.find((g) => Number(g[2]) === st.gid);
  const members = (group?.[3] ?? '').split(',').map((m) => m.trim());
  const primaryGid = passwd.find((p) => p[0] === me.name)?.[3];
  const userListedInGroup = (me.name !== undefined && members.includes(me.name)) || Number(primaryGid) === st.gid || me.gid === st.gid;
  const processGroups = process.getgroups?.() ?? [];
  return {
    mode: modeString(st.mode),
    ownerUid: st.uid,
    gid: st.gid,
    ...(group?.[0] === undefined ? {} : { groupName: group[0] }),
    user: me.name ?? `uid ${me.uid}`,
    userListedInGroup,
    processHasGroup: me.gid === st.gid || processGroups.includes(st.gid),
  };
}

/** Docker, Podman and Kubernetes leave these marks; good enough to tailor the advice. */
export async function runningInContainer(root = '/'): Promise<boolean> {
  for (const marker of ['.dockerenv', 'run/.containerenv']) {
    if (await stat(join(root, marker)).then(() => true, () => false)) return true;
  }
  const cgroup = await readFile(join(root, 'proc', '1', 'cgroup'), 'utf8').catch(() => '');
  return /docker|kubepods|containerd|libpod/.test(cgroup);
}

function listPorts(ports: readonly SerialPortInfo[], withoutNode: ReadonlySet<string>): string {
  if (ports.length === 0) return 'no serial ports exist on this machine';
  const describe = (p: SerialPortInfo): string => describePort(p) + (withoutNode.has(p.path) ? ' [no device node here]' : '');
  return `serial ports here: ${ports.map(describe).join('; ')}`;
}

export interface PortNotFoundOptions {
  /** Why the path is no port: it does not exist (default), it is no tty, or no device is behind the node. */
  readonly reason?: 'missing' | 'not-a-tty' | 'no-device';
  /** Ports the kernel has (sysfs) whose /dev node is missing here: a container started without --device. */
  readonly withoutNode?: ReadonlySet<string>;
  readonly inContainer?: boolean;
  readonly cause?: unknown;
}

export function portNotFoundError(path: string, ports: readonly SerialPortInfo[], options: PortNotFoundOptions = {}): BledfuError {
  const withoutNode = options.withoutNode ?? new Set<string>();
  const what =
    options.reason === 'not-a-tty'
      ? `${path} is not a serial port`
      : options.reason === 'no-device'
        ? `no device is behind ${path} (unplugged?)`
        : `serial port ${path} does not exist`;
  const usable = ports.filter((p) => !withoutNode.has(p.path));
  const remedies = [
    usable.length > 0 ? 'use one of the ports listed (the /dev/serial/by-id names stay the same across replugs)' : 'plug the dongle in',
  ];
  if (options.inContainer === true || withoutNode.size > 0) {
    const hidden = ports.find((p) => withoutNode.has(p.path))?.path ?? path;
    remedies.push(`in a container, pass the device in (docker run --device ${hidden})`);
  }
  return new BledfuError('SERIAL_PORT_NOT_FOUND', `${what}; ${listPorts(ports, withoutNode)}`, {
    layer: 'transport',
    remedy: remedies.join('; '),
    facts: { context: { port: path, available: ports.map((p) => p.byIdPath ?? p.path).join(' ') } },
    ...(options.cause === undefined ? {} : { cause: options.cause }),
  });
}

export function permissionDeniedError(
  path: string,
  access: DeviceAccess | undefined,
  options: { readonly vendorId?: string; readonly inContainer?: boolean; readonly cause?: unknown } = {},
): BledfuError {
  const group = access?.groupName ?? (access === undefined ? 'dialout' : String(access.gid));
  const named = access?.groupName ?? 'dialout';
  const user = access?.user ?? 'this user';
  const vendor = options.vendorId ?? '1915';
  const udev = `SUBSYSTEM=="tty", ATTRS{idVendor}=="${vendor}", MODE="0660", GROUP="${named}"`;
  let situation: string;
  let fix: string;
  if (access === undefined) {
    situation = `permission denied opening ${path}`;
    fix = `give ${user} read/write access to it: sudo usermod -aG dialout ${user}, then log out and in again`;
  } else if (!access.userListedInGroup) {
    situation = `permission denied opening ${path} (${access.mode}, group ${group}): ${user} is not in group ${group}`;
    fix = `sudo usermod -aG ${group} ${user}, then log out and in again (or restart the service)`;
  } else if (!access.processHasGroup) {
    situation = `permission denied opening ${path} (${access.mode}, group ${group}): ${user} was added to group ${group} after this server started`;
    fix = 'log out and in again (or restart the service) so the new group takes effect';
  } else {
    situation = `permission denied opening ${path} (${access.mode}, group ${group}): the device's mode does not let group ${group} read and write`;
    fix = `make udev set the mode: add a rule such as ${udev} to /etc/udev/rules.d/99-bledfu.rules, then replug`;
  }
  const remedies = [fix];
  if (access === undefined || !access.userListedInGroup) remedies.push(`or add a udev rule such as ${udev} and replug`);
  if (options.inContainer === true || access?.groupName === undefined) {
    remedies.push(`in a container: docker run --device ${path} --group-add ${access?.gid ?? group}`);
  }
  return new BledfuError('SERIAL_PERMISSION_DENIED', situation, {
    layer: 'transport',
    remedy: remedies.join('; '),
    facts: {
      context: {
        port: path,
        ...(access === undefined ? {} : { mode: access.mode, group, user: access.user }),
      },
    },
    ...(options.cause === undefined ? {} : { cause: options.cause }),
  });
}

/** nrfutil and pc-ble-driver show a busy port as this, so users search for it. */
const NRFUTIL_SYMPTOM = 'nrfutil/pc-ble-driver report this situation as "Failed to open. Error code: 13"';

export function portBusyError(path: string, found: PortHolders, options: { readonly locked?: boolean; readonly cause?: unknown } = {}): BledfuError {
  const who =
    found.holders.length > 0
      ? `in use by ${describeHolders(found.holders)}`
      : found.self
        ? 'already open in this server (is another adapter configured on the same port?)'
        : options.locked === true
        ? `locked by another process${found.uninspectable > 0 ? ` (${found.uninspectable} processes could not be inspected; run as root to see which)` : ''}`
        : 'in use by another process';
  const stop =
    found.holders.length > 0
      ? `stop ${found.holders.map((h) => `${h.command} (kill ${h.pid})`).join(', ')} or use another port`
      : found.self
        ? 'configure each port for one adapter only'
        : 'close the program using it (a terminal, nrfutil, nRF Connect, ModemManager) or use another port';
  const why = found.self ? '' : "; two programs on one UART corrupt each other's data";
  return new BledfuError('SERIAL_PORT_BUSY', `serial port ${path} is ${who}${why}`, {
    layer: 'transport',
    remedy: `${stop}. ${NRFUTIL_SYMPTOM}`,
    facts: {
      context: {
        port: path,
        ...(found.holders.length === 0 ? {} : { holders: describeHolders(found.holders) }),
      },
    },
    ...(options.cause === undefined ? {} : { cause: options.cause }),
  });
}

/** The port vanished while open: a USB unplug, a reset that re-enumerates, the pty's far end exiting. */
export function portGoneError(path: string, cause?: unknown): BledfuError {
  return new BledfuError('TRANSPORT_CLOSED', `serial port ${path} went away (unplugged?)`, {
    layer: 'transport',
    remedy: 'check the USB connection and plug the dongle back in; the adapter has to be reopened',
    facts: { context: { port: path } },
    ...(cause === undefined ? {} : { cause }),
  });
}

export function portClosedError(path: string): BledfuError {
  return new BledfuError('TRANSPORT_CLOSED', `serial port ${path} closed (closed by this end)`, {
    layer: 'transport',
    facts: { context: { port: path } },
  });
}

/** Anything else the OS said when opening: kept verbatim, it is the best clue there is. */
export function openFailedError(path: string, detail: string, cause?: unknown): BledfuError {
  return new BledfuError('ADAPTER_UNAVAILABLE', `cannot open serial port ${path}: ${detail}`, {
    layer: 'transport',
    remedy: 'check the port settings (baud rate, flow control) and that the device works (replug it)',
    facts: { context: { port: path } },
    ...(cause === undefined ? {} : { cause }),
  });
}
