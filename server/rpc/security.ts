/**
 * How the server faces the network: TLS (optionally mutual) from certificate files, bearer
 * tokens, and the refusal to listen beyond loopback with neither unless the operator insists.
 */
import { isIP } from 'node:net';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { SecureServerOptions } from 'node:http2';
import { ServerCredentials } from '@grpc/grpc-js';
import { BledfuError } from '../common/errors.js';
import { DEFAULT_CONFIG, type TLS_VERSIONS } from '../config/settings.js';
import { parseTokens, type TokenTable } from './auth.js';

export interface SecuritySettings {
  readonly listen: string;
  /** PEM files; '' = not set. */
  readonly tlsCert: string;
  readonly tlsKey: string;
  /** PEM CA bundle; set = clients must present a certificate it signed (mutual TLS). */
  readonly tlsClientCa: string;
  /** Tokens file ('' = no token auth), lines "<role> <token>". */
  readonly tokensFile: string;
  readonly insecure: boolean;
  /** Oldest TLS version accepted; default DEFAULT_CONFIG.tlsMinVersion (TLS 1.2). */
  readonly tlsMinVersion?: TlsVersion;
  /** OpenSSL cipher list; default DEFAULT_CONFIG.tlsCiphers (ECDHE with AEAD only). */
  readonly tlsCiphers?: string;
}

export interface ServerSecurity {
  readonly credentials: ServerCredentials;
  readonly tokens: TokenTable | undefined;
  readonly tls: boolean;
  readonly mutualTls: boolean;
  /** Listening beyond loopback with neither TLS nor tokens, allowed by --insecure. */
  readonly exposedInsecurely: boolean;
}

export type TlsVersion = (typeof TLS_VERSIONS)[number];

/**
 * TLS credentials with our policy. grpc-js's createSsl offers OpenSSL's default suites (CBC,
 * SHA-1 MACs and static RSA key exchange among them, under TLS 1.2) and takes no version or
 * cipher setting; its ServerCredentials constructor takes the http2 server options and the
 * secure context options directly, so this subclass sets both.
 */
class PolicyServerCredentials extends ServerCredentials {
  constructor(serverOptions: SecureServerOptions, contextOptions: SecureContextOptions) {
    super(serverOptions, contextOptions);
  }
  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

function configError(message: string, remedy: string, cause?: unknown): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', message, { layer: 'config', remedy, ...(cause === undefined ? {} : { cause }) });
}

/** True when host only ever accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h.toLowerCase() === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./i.test(h);
  // Any other name may resolve to anything.
  return false;
}

function hostOf(listen: string): string {
  return listen.slice(0, listen.lastIndexOf(':'));
}

/**
 * Reads the certificate and token files and decides whether `listen` may be served. Throws
 * INVALID_ARGUMENT for incomplete TLS settings, unreadable files, or an unprotected non-loopback
 * address without `insecure`.
 */
export function loadServerSecurity(s: SecuritySettings, readFile: (path: string) => Buffer): ServerSecurity {
  const read = (setting: string, path: string): Buffer => {
    try {
      return readFile(path);
    } catch (e) {
      throw configError(`cannot read ${setting} ${path}: ${(e as Error).message}`, `check the path given as ${setting}`, e);
    }
  };
  if ((s.tlsCert === '') !== (s.tlsKey === '')) {
    throw configError('tlsCert and tlsKey go together: one is set without the other', 'give both --tls-cert and --tls-key (PEM files)');
  }
  const tls = s.tlsCert !== '';
  if (!tls && s.tlsClientCa !== '') {
    throw configError('tlsClientCa (mutual TLS) needs TLS: tlsCert and tlsKey are not set', 'give --tls-cert and --tls-key too');
  }
  const mutualTls = tls && s.tlsClientCa !== '';
  const tokens = s.tokensFile === '' ? undefined : parseTokens(read('tokensFile', s.tokensFile).toString('utf8'), s.tokensFile);

  let credentials: ServerCredentials;
  if (tls) {
    const minVersion = s.tlsMinVersion ?? (DEFAULT_CONFIG.tlsMinVersion as TlsVersion);
    const ciphers = s.tlsCiphers ?? DEFAULT_CONFIG.tlsCiphers;
    const context: SecureContextOptions = {
      cert: read('tlsCert', s.tlsCert),
      key: read('tlsKey', s.tlsKey),
      ...(mutualTls ? { ca: read('tlsClientCa', s.tlsClientCa) } : {}),
      minVersion,
      ciphers,
      // Our order, not the client's: the strongest suite both sides have.
      honorCipherOrder: true,
    };
    try {
      // Fails here, at startup, on unreadable PEM or a cipher list OpenSSL cannot use.
      createSecureContext(context);
    } catch (e) {
      throw configError(
        `TLS settings rejected: ${(e as Error).message}`,
        'tlsCert, tlsKey and tlsClientCa must be PEM files, and --tls-ciphers an OpenSSL cipher list (see --help for the default)',
        e,
      );
    }
    credentials = new PolicyServerCredentials({ requestCert: mutualTls, rejectUnauthorized: mutualTls, minVersion, ciphers, honorCipherOrder: true }, context);
  } else {
    credentials = ServerCredentials.createInsecure();
  }

  const loopback = isLoopbackHost(hostOf(s.listen));
  const protectedSomehow = tls || tokens !== undefined;
  if (!loopback && !protectedSomehow && !s.insecure) {
    throw configError(
      `refusing to listen on ${s.listen} without TLS or token auth: anyone who can reach it could flash firmware`,
      'set --tls-cert/--tls-key and/or --tokens-file, listen on 127.0.0.1, or pass --insecure on a network you trust',
    );
  }
  return { credentials, tokens, tls, mutualTls, exposedInsecurely: !loopback && !protectedSomehow };
}
