/**
 * Which directory holds the server's files across restarts (audit log, devices.json,
 * station-addresses.json). A service account owns the system directory; a developer trying the
 * server as themselves cannot write there, so without --data-dir the server falls back to the
 * user's XDG state directory instead of refusing to start. A --data-dir the user named is never
 * replaced: writing somewhere else than asked would hide the audit log from whoever looks for it.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { BledfuError } from '../common/errors.js';

export type DataDirSource =
  /** --data-dir (flag, environment or config file) */
  | 'setting'
  /** SYSTEM_DATA_DIR, writable by this process */
  | 'system'
  /** $XDG_STATE_HOME/bledfu or ~/.local/state/bledfu, the system directory being unwritable */
  | 'user';

export interface DataDirChoice {
  readonly dir: string;
  readonly source: DataDirSource;
  /** One sentence for the startup log: why this directory. */
  readonly why: string;
}

export interface DataDirInputs {
  /** The dataDir setting; '' when not given. */
  readonly configured: string;
  /** SYSTEM_DATA_DIR (settings.ts) in production; a test points it somewhere unwritable. */
  readonly systemDir: string;
  /** XDG_STATE_HOME from the environment ('' or undefined when unset). */
  readonly xdgStateHome: string | undefined;
  /** The user's home directory ('' when unknown). */
  readonly homeDir: string;
  /** Creates `dir` if absent and checks that this process may write there; throws otherwise. */
  readonly prepare?: (dir: string) => void;
}

/** mkdir -p, then a write-and-enter access check (an existing read-only directory fails here). */
export function prepareWritableDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  accessSync(dir, constants.W_OK | constants.X_OK);
}

/**
 * The per-user state directory of the XDG Base Directory spec: $XDG_STATE_HOME/bledfu when that
 * is an absolute path (the spec says to ignore a relative one), else ~/.local/state/bledfu;
 * undefined without either.
 */
export function userStateDir(xdgStateHome: string | undefined, homeDir: string): string | undefined {
  if (xdgStateHome !== undefined && isAbsolute(xdgStateHome)) return join(xdgStateHome, 'bledfu');
  if (homeDir !== '' && isAbsolute(homeDir)) return join(homeDir, '.local', 'state', 'bledfu');
  return undefined;
}

function reasonOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Throws BledfuError INVALID_ARGUMENT (layer config) when no candidate is writable. */
export function chooseDataDir(inputs: DataDirInputs): DataDirChoice {
  const prepare = inputs.prepare ?? prepareWritableDir;
  if (inputs.configured !== '') {
    try {
      prepare(inputs.configured);
    } catch (e) {
      throw new BledfuError('INVALID_ARGUMENT', `cannot write to the data directory ${inputs.configured} (--data-dir): ${reasonOf(e)}`, {
        layer: 'config',
        cause: e,
        remedy: `give the user the server runs as write access to ${inputs.configured}, or point --data-dir at a directory it can write`,
      });
    }
    return { dir: inputs.configured, source: 'setting', why: 'set by --data-dir' };
  }
  let systemFailure: string;
  try {
    prepare(inputs.systemDir);
    return { dir: inputs.systemDir, source: 'system', why: `the system directory, writable by this user (--data-dir not set)` };
  } catch (e) {
    systemFailure = reasonOf(e);
  }
  const user = userStateDir(inputs.xdgStateHome, inputs.homeDir);
  let userFailure = 'neither XDG_STATE_HOME nor HOME is an absolute path';
  if (user !== undefined) {
    try {
      prepare(user);
      return {
        dir: user,
        source: 'user',
        why: `the per-user state directory: --data-dir is not set and the system directory ${inputs.systemDir} is not writable by this user (${systemFailure})`,
      };
    } catch (e) {
      userFailure = `${user}: ${reasonOf(e)}`;
    }
  }
  throw new BledfuError('INVALID_ARGUMENT', `no writable data directory: ${inputs.systemDir}: ${systemFailure}; ${userFailure}`, {
    layer: 'config',
    remedy: `point --data-dir at a directory this user can write, or create ${inputs.systemDir} owned by the user the server runs as`,
  });
}
