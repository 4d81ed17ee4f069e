/**
 * The audit log's files on disk: the active file (the configured path) and the rotated ones
 * beside it, `<path>.<n>`, numbered from 1 in the order they were rotated (1 is the oldest) and
 * never renumbered, so a name always means the same records. And the one durability step files
 * need beyond fsync of their bytes: a new or renamed directory entry is durable only once its
 * directory is synced.
 */
import { closeSync, fsyncSync, openSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Rotated files of the log at `path`, oldest first. */
export function rotatedFiles(path: string): { path: string; number: number }[] {
  const dir = dirname(path);
  const prefix = `${basename(path)}.`;
  const found: { path: string; number: number }[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix)) continue;
    const suffix = name.slice(prefix.length);
    if (!/^[1-9]\d{0,8}$/.test(suffix)) continue;
    found.push({ path: join(dir, name), number: Number(suffix) });
  }
  return found.sort((a, b) => a.number - b.number);
}

export function rotatedName(path: string, number: number): string {
  return `${path}.${number}`;
}

/** Makes the directory's entries (a file created, renamed or removed in it) durable. */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
