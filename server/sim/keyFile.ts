/**
 * A user's own key for the simulated bootloaders (`sim:?keyfile=PATH`): the PEM file of an ECDSA
 * P-256 key, public or private. A private key is accepted and its public half trusted, so the file
 * `bledfu keys generate k.pem` wrote signs packages and makes the simulator trust them alike.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BledfuError } from '../common/errors.js';

const REMEDY_CREATE = 'make a key with `bledfu keys generate <file>` and give its path, or give the path of an ECDSA P-256 PEM key (public or private)';

function invalid(path: string, what: string, cause?: unknown): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', `simulator key file ${path} ${what}`, {
    layer: 'sim',
    remedy: REMEDY_CREATE,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * The public key (SPKI PEM) of the P-256 key in PEM `text`; `path` names it in errors. Pure, so
 * the spec check and the tests use it without a file.
 */
export function trustedKeyFromPem(text: string, path: string): string {
  let key: KeyObject;
  try {
    // createPublicKey takes a private key PEM too and derives its public half.
    key = createPublicKey(text);
  } catch (cause) {
    throw invalid(path, 'holds no PEM key (expected "BEGIN PUBLIC KEY", "BEGIN EC PRIVATE KEY" or "BEGIN PRIVATE KEY")', cause);
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    const what = key.asymmetricKeyType === 'ec' ? `an EC key on ${curve ?? 'an unnamed curve'}` : `a key of type ${key.asymmetricKeyType ?? 'unknown'}`;
    throw invalid(path, `holds ${what}, but Secure DFU bootloaders verify ECDSA P-256 (prime256v1) signatures`);
  }
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/** Reads the file once and returns the public key (SPKI PEM) the simulated bootloaders trust. */
export function trustedKeyFromFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw invalid(path, code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(cause)})`, cause);
  }
  return trustedKeyFromPem(text, path);
}
