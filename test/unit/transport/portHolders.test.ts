import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeHolders, findPortHolders } from '../../../server/transport/portHolders.js';

/** A fake procfs: /proc/<pid>/{comm, fd/<n> -> target, fdinfo/<n>}. */
async function fakeProcess(proc: string, pid: number, comm: string, fds: Record<string, string>, fdinfo: Record<string, string> = {}): Promise<void> {
  await mkdir(join(proc, String(pid), 'fd'), { recursive: true });
  await mkdir(join(proc, String(pid), 'fdinfo'), { recursive: true });
  await writeFile(join(proc, String(pid), 'comm'), `${comm}\n`);
  for (const [fd, target] of Object.entries(fds)) await symlink(target, join(proc, String(pid), 'fd', fd));
  for (const [fd, info] of Object.entries(fdinfo)) await writeFile(join(proc, String(pid), 'fdinfo', fd), info);
}

describe('findPortHolders (/proc scan)', () => {
  let root: string;
  let proc: string;
  let device: string;
  let alias: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'bledfu-proc-'));
    proc = join(root, 'proc');
    device = join(root, 'ttyACM0');
    alias = join(root, 'by-id-link');
    await writeFile(device, '');
    await symlink(device, alias);
    await fakeProcess(proc, 100, 'nrfutil', { '0': '/dev/null', '7': device });
    await fakeProcess(proc, 200, 'bash', { '0': '/dev/pts/3', '1': '/dev/pts/3' });
    await fakeProcess(proc, 300, 'sleep', { '3': `${device} (deleted)` });
    await fakeProcess(proc, process.pid, 'node', { '21': device });
    // A process whose fds cannot be listed (someone else's, without root).
    await mkdir(join(proc, '400'), { recursive: true });
    await writeFile(join(proc, '400', 'fd'), 'not a directory');
    await mkdir(join(proc, 'self'), { recursive: true });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('names every other process with the device open, through symlinks, and notes our own', async () => {
    const found = await findPortHolders(alias, { procRoot: proc });
    assert.deepEqual(found.holders, [
      { pid: 100, command: 'nrfutil' },
      { pid: 300, command: 'sleep' },
    ]);
    assert.equal(found.uninspectable, 1);
    assert.equal(found.self, true);
    assert.equal(describeHolders(found.holders), 'nrfutil (pid 100), sleep (pid 300)');
  });

  it('does not count the master side of a pty (socat, a terminal) as a holder of its slave', async () => {
    const ptyProc = join(root, 'proc-pty');
    await fakeProcess(ptyProc, 10, 'socat', { '5': '/dev/ptmx', '6': '/dev/pts/97', '7': '/dev/ptmx', '8': '/dev/pts/98' }, {
      '5': 'pos:\t0\nflags:\t02100002\nmnt_id:\t24\ntty-index:\t97\n',
      '7': 'pos:\t0\nflags:\t02100002\nmnt_id:\t24\ntty-index:\t98\n',
    });
    await fakeProcess(ptyProc, 11, 'screen', { '4': '/dev/pts/97' });
    // Holds the master of another pty only: still a holder of pts/97.
    await fakeProcess(ptyProc, 12, 'cat', { '3': '/dev/pts/97', '4': '/dev/ptmx' }, { '4': 'tty-index:\t5\n' });
    const found = await findPortHolders('/dev/pts/97', { procRoot: ptyProc });
    assert.deepEqual(
      found.holders.map((h) => h.command),
      ['screen', 'cat'],
    );
    assert.equal(found.self, false);
  });

  it('finds nothing where nothing holds the port', async () => {
    const found = await findPortHolders(join(root, 'ttyUSB9'), { procRoot: proc });
    assert.deepEqual(found.holders, []);
  });
});
