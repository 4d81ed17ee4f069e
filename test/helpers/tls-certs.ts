/**
 * Throwaway certificates made with the openssl command: a CA, a server certificate for
 * 127.0.0.1/localhost and a client certificate it signed, plus a second, unrelated CA. Needs
 * openssl; without it the tests skip on a developer machine and fail under CI.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  /** Paths of the PEM files. */
  readonly files: { readonly ca: string; readonly otherCa: string; readonly serverCert: string; readonly serverKey: string; readonly clientCert: string; readonly clientKey: string };
  read(path: string): Buffer;
  remove(): void;
}

/** Why the tests cannot run here, or undefined when openssl is available. */
export function opensslMissing(): string | undefined {
  const r = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'openssl is not installed';
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'bledfu-pki-'));
  try {
    const p = (name: string): string => join(dir, name);
    const ssl = (...args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    };
    const ca = (name: string): void =>
      ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', p(`${name}.key`), '-out', p(`${name}.pem`));
    const leaf = (name: string, ext: string): void => {
      writeFileSync(p(`${name}.ext`), ext);
      ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`));
      ssl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', p(`${name}.ext`), '-out', p(`${name}.pem`));
    };
    ca('ca');
    ca('other-ca');
    leaf('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    leaf('client', 'extendedKeyUsage=clientAuth\n');
    return {
      dir,
      files: {
        ca: p('ca.pem'),
        otherCa: p('other-ca.pem'),
        serverCert: p('server.pem'),
        serverKey: p('server.key'),
        clientCert: p('client.pem'),
        clientKey: p('client.key'),
      },
      read: (path) => readFileSync(path),
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
