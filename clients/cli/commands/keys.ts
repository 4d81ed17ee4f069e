/**
 * `bledfu keys generate` and `bledfu keys display`: ECDSA P-256 signing keys as nrfutil makes and
 * shows them. No server is involved.
 */
import type { KeyObject } from 'node:crypto';
import { generateSigningKey, loadSigningKey, publicKeyCode, publicKeyPem } from '../../ts/index.js';
import { UsageError, type CliBase } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';

/**
 * `bledfu keys generate <file>`: a new private key (SEC1 PEM, "BEGIN EC PRIVATE KEY", like
 * `nrfutil keys generate`), readable by its owner only. Never overwrites: losing a signing key
 * strands every device whose bootloader trusts it.
 */
export async function keysGenerateCommand(ctx: CliBase, file: string): Promise<ExitCode> {
  const { privatePem, publicPem } = generateSigningKey();
  try {
    await ctx.writeFile(file, new TextEncoder().encode(privatePem), { how: 'new', private: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UsageError(
        `${file} exists; bledfu keys generate never overwrites a key`,
        `give a new file name; if you really mean to replace that key, delete ${file} first (devices whose bootloader trusts it will refuse packages signed with the new one)`,
      );
    }
    throw new UsageError(`cannot write ${file}: ${(e as Error).message}`, 'give a path in a directory you can write to');
  }
  ctx.out.line(`wrote a new private signing key (ECDSA P-256) to ${file}; keep it secret`);
  ctx.out.line(`sign packages with:            bledfu pkg generate --key-file ${file} …`);
  ctx.out.line(`build the bootloader with:     bledfu keys display --key pk --format code ${file} > dfu_public_key.c`);
  ctx.out.line(`let the simulator trust it:    bledfud --adapters 'sim:?keyfile=${file}'`);
  ctx.out.record({ type: 'key', file, publicKeyPem: publicPem });
  return EXIT.ok;
}

export interface KeysDisplayFlags {
  /** pk: the public key; sk: the private key (nrfutil's names). */
  readonly key: 'pk' | 'sk';
  readonly format: 'pem' | 'code';
}

/**
 * The private key in a PEM file, as nrfutil's `keys display` reads it. A public key file is
 * refused with its own words: the public key is shown *from* the private key file.
 */
function loadKey(text: string, file: string): KeyObject {
  if (/-----BEGIN PUBLIC KEY-----/.test(text) && !/PRIVATE KEY-----/.test(text)) {
    throw new UsageError(
      `${file} holds a public key; keys display reads the private key file (as nrfutil does) and shows either half of it`,
      'give the file bledfu keys generate (or nrfutil keys generate) wrote',
    );
  }
  return loadSigningKey(text, file);
}

/**
 * `bledfu keys display --key pk|sk --format pem|code <file>`: the public key as PEM or as the
 * `pk[]` C array a bootloader build needs (dfu_public_key.c); the private key as PEM.
 */
/**
 * The text of a PEM key file, for `keys display` and `pkg generate --key-file`: a missing file
 * is told how to make one (and how to build the bootloader that trusts it).
 */
export async function readKeyText(ctx: CliBase, file: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await ctx.readFile(file);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new UsageError(
      missing ? `key file ${file} does not exist` : `cannot read key file ${file}: ${(e as Error).message}`,
      missing
        ? `make a signing key with: bledfu keys generate ${file} (and build the bootloader with its public key: bledfu keys display --key pk --format code ${file}), or give the path of your existing key`
        : 'give the path of a PEM key file you can read',
    );
  }
  return new TextDecoder().decode(bytes);
}

export async function keysDisplayCommand(ctx: CliBase, file: string, flags: KeysDisplayFlags): Promise<ExitCode> {
  if (flags.key === 'sk' && flags.format === 'code') {
    throw new UsageError(
      'the private key is not shown as C code: no build needs it (the bootloader is built with the public key)',
      `for the bootloader: bledfu keys display --key pk --format code ${file}`,
    );
  }
  const key = loadKey(await readKeyText(ctx, file), file);
  const text =
    flags.key === 'sk'
      ? key.export({ type: 'sec1', format: 'pem' }).toString()
      : flags.format === 'code'
        ? publicKeyCode(key)
        : publicKeyPem(key);
  // The key itself is the output, so that `> dfu_public_key.c` works; --json wraps it in a record.
  if (ctx.out.json) ctx.out.record({ type: 'key', file, key: flags.key, format: flags.format, text });
  else ctx.out.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  return EXIT.ok;
}
