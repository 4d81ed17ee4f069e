/**
 * Security of the gRPC endpoint, through a real server and the TypeScript client: TLS and mutual
 * TLS with openssl-made certificates, bearer tokens with observe/operate roles, and bledfud's
 * refusal to listen beyond loopback unprotected.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../server/common/logger.js';
import { loadServerSecurity, type SecuritySettings } from '../../server/rpc/security.js';
import { Status, type BledfuClient, type BledfuClientOptions } from '../../clients/ts/index.js';
import { startHarness } from '../helpers/rpc-harness.js';
import { makeTestPki, opensslMissing, type TestPki } from '../helpers/tls-certs.js';
import { EXIT } from '../../clients/cli/exitCodes.js';
import { connect as tlsConnect } from 'node:tls';
import { drain, failure } from '../helpers/rpc-outcome.js';
import { cliInProcess, type InProcessRun } from '../helpers/cli-in-process.js';

const BLEDFUD = fileURLToPath(new URL('../../bin/bledfud.js', import.meta.url));
const OBSERVE_TOKEN = 'observe-token-0123456789abcdef';
const OPERATE_TOKEN = 'operate-token-0123456789abcdef';

const missing = opensslMissing();
// Under CI a missing openssl is a broken setup, not a reason to skip.
if (missing !== undefined && process.env['CI']) throw new Error(`security tests need openssl under CI: ${missing}`);
const skip = missing === undefined ? false : `${missing}; install it (Debian: apt-get install openssl)`;

const NO_SECURITY: SecuritySettings = { listen: '127.0.0.1:0', tlsCert: '', tlsKey: '', tlsClientCa: '', tokensFile: '', insecure: false };

interface Served {
  readonly address: string;
  client(options?: BledfuClientOptions): BledfuClient;
  close(): Promise<void>;
}

async function serve(settings: Partial<SecuritySettings>): Promise<Served> {
  const security = loadServerSecurity({ ...NO_SECURITY, ...settings }, (p) => readFileSync(p));
  const h = await startHarness({ maxConcurrentDfus: 1, jobRetention: 10, shutdownGraceMs: 2_000 }, silentLogger(), { security });
  return { address: h.address, client: (options = {}) => h.newClient(options), close: () => h.close() };
}

const quick = (): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(10_000) });

describe('TLS and mutual TLS', { skip }, () => {
  let pki: TestPki;
  before(() => {
    pki = makeTestPki();
  });
  after(() => pki?.remove());

  it('a client trusting the CA is served; one trusting another CA or speaking plaintext is refused', async () => {
    const s = await serve({ tlsCert: pki.files.serverCert, tlsKey: pki.files.serverKey });
    try {
      const ok = await s.client({ ca: pki.read(pki.files.ca) }).listAdapters({}, quick());
      assert.deepEqual(ok.adapters.map((a) => a.id), ['fake0']);

      const untrusted = await failure(s.client({ ca: pki.read(pki.files.otherCa) }).listAdapters({}, quick()));
      assert.equal(untrusted.grpcCode, Status.UNAVAILABLE, untrusted.message);
      const plaintext = await failure(s.client().listAdapters({}, quick()));
      assert.equal(plaintext.grpcCode, Status.UNAVAILABLE, plaintext.message);
    } finally {
      await s.close();
    }
  });

  it('with a client CA, a client without a certificate is refused and one with a signed certificate is served', async () => {
    const s = await serve({ tlsCert: pki.files.serverCert, tlsKey: pki.files.serverKey, tlsClientCa: pki.files.ca });
    try {
      const noCert = await failure(s.client({ ca: pki.read(pki.files.ca) }).listAdapters({}, quick()));
      assert.equal(noCert.grpcCode, Status.UNAVAILABLE, noCert.message);
      const withCert = s.client({ ca: pki.read(pki.files.ca), cert: pki.read(pki.files.clientCert), key: pki.read(pki.files.clientKey) });
      assert.equal((await withCert.listAdapters({}, quick())).adapters.length, 1);
    } finally {
      await s.close();
    }
  });

  it('incomplete TLS settings are refused before listening', () => {
    assert.throws(() => loadServerSecurity({ ...NO_SECURITY, tlsCert: pki.files.serverCert }, (p) => readFileSync(p)), /tlsCert and tlsKey go together/);
    assert.throws(() => loadServerSecurity({ ...NO_SECURITY, tlsClientCa: pki.files.ca }, (p) => readFileSync(p)), /needs TLS/);
  });
});

/** A raw TLS handshake with the server, offering only `ciphers` up to `maxVersion`. */
async function handshake(address: string, ca: Buffer, ciphers: string, maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<{ ok: true; cipher: string; version: string } | { ok: false; error: string }> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, ciphers, maxVersion, ALPNProtocols: ['h2'] });
    socket.once('secureConnect', () => {
      resolve({ ok: true, cipher: socket.getCipher().name, version: socket.getProtocol() ?? '' });
      socket.destroy();
    });
    socket.once('error', (e) => resolve({ ok: false, error: e.message }));
  });
}

describe('TLS policy', { skip }, () => {
  let pki: TestPki;
  before(() => {
    pki = makeTestPki();
  });
  after(() => pki?.remove());

  it('by default TLS 1.2 offers only ECDHE with AEAD: a CBC-SHA1 suite is refused, GCM and TLS 1.3 are served', async () => {
    const s = await serve({ tlsCert: pki.files.serverCert, tlsKey: pki.files.serverKey });
    try {
      const ca = pki.read(pki.files.ca);
      const cbc = await handshake(s.address, ca, 'ECDHE-ECDSA-AES128-SHA', 'TLSv1.2');
      assert.equal(cbc.ok, false, JSON.stringify(cbc));
      const cbc256 = await handshake(s.address, ca, 'ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256', 'TLSv1.2');
      assert.equal(cbc256.ok, false, JSON.stringify(cbc256));
      const gcm = await handshake(s.address, ca, 'ECDHE-ECDSA-AES128-GCM-SHA256', 'TLSv1.2');
      assert.deepEqual(gcm, { ok: true, cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256', version: 'TLSv1.2' });
      const tls13 = await handshake(s.address, ca, 'ECDHE-ECDSA-AES128-GCM-SHA256', 'TLSv1.3');
      assert.equal(tls13.ok && tls13.version, 'TLSv1.3');
    } finally {
      await s.close();
    }
  });

  it('--tls-ciphers and --tls-min-version change the policy; a cipher list OpenSSL cannot use is refused at startup', async () => {
    const ca = pki.read(pki.files.ca);
    const legacy = await serve({ tlsCert: pki.files.serverCert, tlsKey: pki.files.serverKey, tlsCiphers: 'ECDHE-ECDSA-AES128-SHA' });
    try {
      const cbc = await handshake(legacy.address, ca, 'ECDHE-ECDSA-AES128-SHA', 'TLSv1.2');
      assert.equal(cbc.ok && cbc.cipher, 'ECDHE-ECDSA-AES128-SHA');
    } finally {
      await legacy.close();
    }
    const only13 = await serve({ tlsCert: pki.files.serverCert, tlsKey: pki.files.serverKey, tlsMinVersion: 'TLSv1.3' });
    try {
      const tls12 = await handshake(only13.address, ca, 'ECDHE-ECDSA-AES128-GCM-SHA256', 'TLSv1.2');
      assert.equal(tls12.ok, false, JSON.stringify(tls12));
    } finally {
      await only13.close();
    }
    assert.throws(
      () => loadServerSecurity({ ...NO_SECURITY, tlsCert: pki.files.serverCert, tlsKey: pki.files.serverKey, tlsCiphers: 'NO-SUCH-CIPHER' }, (p) => readFileSync(p)),
      /TLS settings rejected/,
    );
  });
});

describe('bearer tokens', () => {
  let dir: string;
  let tokensFile: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bledfu-tokens-'));
    tokensFile = join(dir, 'tokens');
    writeFileSync(tokensFile, `# role token\nobserve ${OBSERVE_TOKEN}\noperate ${OPERATE_TOKEN}\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('no token or a wrong one: UNAUTHENTICATED; observe may list but not start a DFU; operate may', async () => {
    const s = await serve({ tokensFile });
    try {
      const none = await failure(s.client().listAdapters({}, quick()));
      assert.equal(none.grpcCode, Status.UNAUTHENTICATED);
      assert.equal(none.code, 'UNAUTHENTICATED');
      assert.match(none.remedy ?? '', /--token/);
      const wrong = await failure(s.client({ token: `${OPERATE_TOKEN}x` }).listAdapters({}, quick()));
      assert.equal(wrong.code, 'UNAUTHENTICATED');

      const observer = s.client({ token: OBSERVE_TOKEN });
      assert.equal((await observer.listAdapters({}, quick())).adapters.length, 1);
      const denied = await failure(drain(observer.startDfu({}, quick())));
      assert.equal(denied.grpcCode, Status.PERMISSION_DENIED);
      assert.equal(denied.code, 'PERMISSION_DENIED');
      assert.equal(denied.metadata['context_method'], 'StartDfu');
      const deniedCapture = await failure(drain(observer.getJobCapture({ jobId: 'nope' }, quick())));
      assert.equal(deniedCapture.code, 'PERMISSION_DENIED');

      // operate reaches the handlers: they judge the request itself.
      const operator = s.client({ token: OPERATE_TOKEN });
      assert.equal((await operator.listAdapters({}, quick())).adapters.length, 1);
      const badRequest = await failure(drain(operator.startDfu({}, quick())));
      assert.equal(badRequest.grpcCode, Status.INVALID_ARGUMENT, badRequest.message);
      const unknownJob = await failure(operator.cancelJob({ jobId: 'no-such-job' }, quick()));
      assert.equal(unknownJob.code, 'JOB_NOT_FOUND');
    } finally {
      await s.close();
    }
  });

  it('a malformed tokens file is refused with the line at fault', () => {
    writeFileSync(join(dir, 'bad'), `observe ${OBSERVE_TOKEN}\nsuperuser ${OPERATE_TOKEN}\n`);
    assert.throws(() => loadServerSecurity({ ...NO_SECURITY, tokensFile: join(dir, 'bad') }, (p) => readFileSync(p)), /bad:2: unknown role "superuser"/);
    writeFileSync(join(dir, 'short'), 'operate abc\n');
    assert.throws(() => loadServerSecurity({ ...NO_SECURITY, tokensFile: join(dir, 'short') }, (p) => readFileSync(p)), /shorter than 16/);
  });
});

/** Runs the CLI in-process (real reads, no writes); returns its exit code and what it printed. */
function cli(argv: readonly string[], env: Record<string, string>): Promise<InProcessRun> {
  return cliInProcess(argv, env, { writeFile: async () => undefined });
}

describe('the CLI against a TLS server with tokens', { skip }, () => {
  let pki: TestPki;
  let dir: string;
  before(() => {
    pki = makeTestPki();
    dir = mkdtempSync(join(tmpdir(), 'bledfu-tokens-'));
    writeFileSync(join(dir, 'tokens'), `observe ${OBSERVE_TOKEN}\n`);
  });
  after(() => {
    pki?.remove();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('--ca and BLEDFU_TOKEN get through; a missing or too weak token exits 8 (not authorised)', async () => {
    const s = await serve({ tlsCert: pki.files.serverCert, tlsKey: pki.files.serverKey, tokensFile: join(dir, 'tokens') });
    try {
      const ok = await cli(['--server', s.address, '--ca', pki.files.ca, '--json', 'adapters'], { BLEDFU_TOKEN: OBSERVE_TOKEN });
      assert.equal(ok.code, EXIT.ok, ok.stderr);
      assert.match(ok.stdout, /fake0/);
      const noToken = await cli(['--server', s.address, '--json', 'adapters'], { BLEDFU_CA: pki.files.ca, BLEDFU_TOKEN: '' });
      assert.equal(noToken.code, EXIT.notAuthorised);
      assert.match(noToken.stdout + noToken.stderr, /UNAUTHENTICATED/);
      const denied = await cli(['--server', s.address, '--ca', pki.files.ca, '--token', OBSERVE_TOKEN, 'jobs', 'cancel', 'some-job'], {});
      assert.equal(denied.code, EXIT.notAuthorised);
      assert.match(denied.stdout + denied.stderr, /CancelJob needs the operate role/);
    } finally {
      await s.close();
    }
  });

  it('bledfu health needs TLS but no token: SERVING with --ca, no server for a plaintext attempt', async () => {
    const s = await serve({ tlsCert: pki.files.serverCert, tlsKey: pki.files.serverKey, tokensFile: join(dir, 'tokens') });
    try {
      const ok = await cli(['--server', s.address, '--ca', pki.files.ca, '--json', 'health'], { BLEDFU_TOKEN: '' });
      assert.equal(ok.code, EXIT.ok, ok.stdout + ok.stderr);
      assert.deepEqual(JSON.parse(ok.stdout), { type: 'health', service: '', status: 'SERVING' });
      const plaintext = await cli(['--server', s.address, '--json', 'health'], {});
      assert.equal(plaintext.code, EXIT.serverUnreachable, plaintext.stdout + plaintext.stderr);
    } finally {
      await s.close();
    }
  });
});

describe('bledfud beyond loopback', () => {
  it('refuses 0.0.0.0 with neither TLS nor tokens, saying how to fix it', () => {
    const r = spawnSync(process.execPath, [BLEDFUD, '--listen', '0.0.0.0:0', '--log-level', 'silent', '--adapters', 'sim:'], {
      encoding: 'utf8',
      timeout: 20_000,
      killSignal: 'SIGKILL',
    });
    assert.equal(r.status, 2, `stderr: ${r.stderr}`);
    assert.match(r.stderr, /^bledfud: refusing to listen on 0\.0\.0\.0:0 without TLS or token auth/m);
    assert.match(r.stderr, /--insecure/);
  });

  it('starts on 0.0.0.0 with --insecure, warning on stderr and in the log', async () => {
    // Its own data dir: the default one may not be writable for the user running the tests.
    const dataDir = mkdtempSync(join(tmpdir(), 'bledfu-insecure-'));
    const child = spawn(
      process.execPath,
      [BLEDFUD, '--listen', '0.0.0.0:0', '--insecure', '--log-level', 'info', '--adapters', 'sim:', '--data-dir', dataDir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "listening" within 20 s; stderr: ${stderr}`)), 20_000);
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (/"msg":"listening"/.test(stdout)) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`bledfud exited ${code}; stderr: ${stderr}`));
        });
      });
      assert.match(stderr, /WARNING: 0\.0\.0\.0:0 is served with neither TLS nor tokens/);
      assert.match(stdout, /"level":40.*INSECURE/);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited.catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
