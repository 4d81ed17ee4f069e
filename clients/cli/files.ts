/**
 * How the CLI writes files on the real file system. Commands see only the CliEnvironment's
 * readFile/writeFile, so tests can give them another file system; this is the real one.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface WriteOptions {
  /**
   * - `replace` (default): create or overwrite in place.
   * - `atomic`: write a temporary file beside the target and rename it over the target, so
   *   the target is either the old file or the complete new one, never a torn one.
   * - `new`: create only; fails with EEXIST when the file exists (a key must never be lost to a
   *   typo).
   */
  readonly how?: 'replace' | 'atomic' | 'new';
  /** Readable by its owner only (0600): a private key. */
  readonly private?: boolean;
}

export type WriteFile = (path: string, data: Uint8Array, options?: WriteOptions) => Promise<void>;
export type ReadFile = (path: string) => Promise<Uint8Array>;

export const readLocalFile: ReadFile = async (path) => readFile(path);

export const writeLocalFile: WriteFile = async (path, data, options = {}) => {
  const mode = options.private === true ? 0o600 : 0o666;
  switch (options.how ?? 'replace') {
    case 'replace':
      return writeFile(path, data, { mode });
    case 'new':
      return writeFile(path, data, { mode, flag: 'wx' });
    case 'atomic': {
      // Same directory, so the rename stays on one file system (and is atomic there).
      const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
      try {
        await writeFile(temp, data, { mode, flag: 'wx' });
        await rename(temp, path);
      } catch (e) {
        await rm(temp, { force: true });
        throw e;
      }
    }
  }
};
