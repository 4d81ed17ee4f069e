/**
 * Small state files the server keeps in its data directory (device memory, station addresses):
 * written to a temp file, fsync'd, then renamed over the old one, so a crash leaves the old file
 * or the new one, never half of either. Throws what the file system throws; callers decide
 * whether a failed write is fatal.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeFileAtomically(path: string, text: string, mode = 0o640): void {
  const tmp = `${path}.tmp`;
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
