/**
 * chooseDataDir: --data-dir is used as given or refused; without it the system directory when
 * writable, else the per-user XDG state directory, and an error naming both when neither is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBledfuError } from '../../../server/common/errors.js';
import { chooseDataDir, userStateDir } from '../../../server/config/dataDir.js';

/** A prepare() that accepts only the listed directories, as a permission check would. */
function writableOnly(...dirs: string[]): (dir: string) => void {
  return (dir) => {
    if (!dirs.includes(dir)) throw new Error(`EACCES: permission denied, mkdir '${dir}'`);
  };
}

const SYSTEM = '/srv/system/bledfu';

describe('chooseDataDir', () => {
  it('uses the system directory when this user can write there', () => {
    const c = chooseDataDir({ configured: '', systemDir: SYSTEM, xdgStateHome: undefined, homeDir: '/home/u', prepare: writableOnly(SYSTEM, '/home/u/.local/state/bledfu') });
    assert.deepEqual([c.dir, c.source], [SYSTEM, 'system']);
  });

  it('falls back to ~/.local/state/bledfu, saying why, when the system directory is not writable', () => {
    const c = chooseDataDir({ configured: '', systemDir: SYSTEM, xdgStateHome: undefined, homeDir: '/home/u', prepare: writableOnly('/home/u/.local/state/bledfu') });
    assert.deepEqual([c.dir, c.source], ['/home/u/.local/state/bledfu', 'user']);
    assert.match(c.why, /system directory \/srv\/system\/bledfu is not writable by this user \(EACCES/);
  });

  it('prefers an absolute $XDG_STATE_HOME and ignores a relative one (as the XDG spec says)', () => {
    assert.equal(userStateDir('/xdg/state', '/home/u'), '/xdg/state/bledfu');
    assert.equal(userStateDir('relative/state', '/home/u'), '/home/u/.local/state/bledfu');
    assert.equal(userStateDir('', '/home/u'), '/home/u/.local/state/bledfu');
    assert.equal(userStateDir(undefined, ''), undefined);
    const c = chooseDataDir({ configured: '', systemDir: SYSTEM, xdgStateHome: '/xdg/state', homeDir: '/home/u', prepare: writableOnly('/xdg/state/bledfu') });
    assert.equal(c.dir, '/xdg/state/bledfu');
  });

  it('never replaces an explicit --data-dir: an unwritable one is refused with a remedy', () => {
    const ok = chooseDataDir({ configured: '/data', systemDir: SYSTEM, xdgStateHome: undefined, homeDir: '/home/u', prepare: writableOnly('/data', SYSTEM) });
    assert.deepEqual([ok.dir, ok.source], ['/data', 'setting']);
    assert.throws(
      () => chooseDataDir({ configured: '/data', systemDir: SYSTEM, xdgStateHome: undefined, homeDir: '/home/u', prepare: writableOnly(SYSTEM, '/home/u/.local/state/bledfu') }),
      (e: unknown) =>
        isBledfuError(e) &&
        e.code === 'INVALID_ARGUMENT' &&
        /cannot write to the data directory \/data \(--data-dir\): EACCES/.test(e.message) &&
        /point --data-dir at a directory it can write/.test(e.remedy ?? ''),
    );
  });

  it('names both candidates when neither is writable', () => {
    assert.throws(
      () => chooseDataDir({ configured: '', systemDir: SYSTEM, xdgStateHome: undefined, homeDir: '/home/u', prepare: writableOnly() }),
      (e: unknown) =>
        isBledfuError(e) &&
        e.message.includes(`${SYSTEM}: EACCES`) &&
        e.message.includes('/home/u/.local/state/bledfu: EACCES') &&
        /--data-dir/.test(e.remedy ?? ''),
    );
  });
});
