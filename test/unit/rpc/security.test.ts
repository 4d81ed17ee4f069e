import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accessRefusal, bearerToken, mayCall, parseTokens } from '../../../server/rpc/auth.js';
import { isLoopbackHost, loadServerSecurity } from '../../../server/rpc/security.js';
import { loadConfig } from '../../../server/config/load.js';

const T1 = 'a-token-of-enough-length-1';
const T2 = 'a-token-of-enough-length-2';

describe('listen exposure', () => {
  it('knows loopback hosts from the rest', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '[::1]', '::1']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['0.0.0.0', '[::]', '192.168.1.10', 'example.org', '[fe80::1]', '128.0.0.1']) assert.equal(isLoopbackHost(h), false, h);
  });

  it('refuses a non-loopback listen without protection unless insecure, and says so', () => {
    const base = { listen: '[::]:50051', tlsCert: '', tlsKey: '', tlsClientCa: '', tokensFile: '', insecure: false };
    const files: Record<string, string> = { tokens: `operate ${T1}\n` };
    const read = (p: string): Buffer => Buffer.from(files[p] ?? '');
    assert.throws(() => loadServerSecurity(base, read), /refusing to listen on \[::\]:50051/);
    assert.equal(loadServerSecurity({ ...base, insecure: true }, read).exposedInsecurely, true);
    const withTokens = loadServerSecurity({ ...base, tokensFile: 'tokens' }, read);
    assert.equal(withTokens.exposedInsecurely, false);
    assert.equal(withTokens.tokens?.size, 1);
    assert.equal(loadServerSecurity({ ...base, listen: '127.0.0.1:0' }, read).exposedInsecurely, false);
  });
});

describe('the authorization header', () => {
  it('takes exactly one "Bearer <token>" value: none, two, a comma-joined pair or another scheme is no token', () => {
    assert.equal(bearerToken([`Bearer ${T1}`]), T1);
    assert.equal(bearerToken([`bearer   ${T1} `]), T1);
    assert.equal(bearerToken([]), undefined);
    assert.equal(bearerToken([`Bearer ${T1}`, `Bearer ${T2}`]), undefined);
    assert.equal(bearerToken([`Bearer ${T1}, Bearer ${T2}`]), undefined);
    assert.equal(bearerToken([`Basic ${T1}`]), undefined);
    assert.equal(bearerToken([Buffer.from(`Bearer ${T1}`)]), undefined);
  });

  it('refuses two authorization values UNAUTHENTICATED even when both are valid, logging why but no token', () => {
    const tokens = parseTokens(`operate ${T1}\noperate ${T2}\n`, 'tokens');
    const logged: Record<string, unknown>[] = [];
    const refusal = accessRefusal(tokens, 'StartDfu', [`Bearer ${T1}`, `Bearer ${T1}`], 'peer', (f) => logged.push(f));
    assert.equal(refusal?.code, 'UNAUTHENTICATED');
    assert.match(refusal?.message ?? '', /more than one authorization header/);
    assert.deepEqual(logged, [{ method: 'StartDfu', peer: 'peer', token: 'repeated' }]);
    assert.equal(accessRefusal(tokens, 'StartDfu', [`Bearer ${T2}`], 'peer', () => undefined), undefined);
  });
});

describe('tokens', () => {
  it('maps each token to its role and nothing else to any role', () => {
    const table = parseTokens(`# comment\n\nobserve ${T1}\r\noperate   ${T2}\n`, 'f');
    assert.equal(table.roleOf(T1), 'observe');
    assert.equal(table.roleOf(T2), 'operate');
    assert.equal(table.roleOf(T1.slice(0, -1)), undefined);
    assert.equal(table.roleOf(''), undefined);
  });

  it('refuses files with no tokens or malformed lines', () => {
    assert.throws(() => parseTokens('# nothing\n', 'f'), /holds no token/);
    assert.throws(() => parseTokens(`operate ${T1} extra\n`, 'f'), /f:1: expected "<role> <token>"/);
  });

  it('observe may only read; operate may call anything, including methods added later', () => {
    for (const m of ['ListAdapters', 'ListSerialPorts', 'Scan', 'ListJobs', 'GetJob', 'WatchJob', 'ListAuditRecords']) {
      assert.equal(mayCall('observe', m), true, m);
    }
    for (const m of ['Connect', 'UploadPackage', 'StartDfu', 'CancelJob', 'GetJobCapture', 'SomeFutureMethod']) {
      assert.equal(mayCall('observe', m), false, m);
      assert.equal(mayCall('operate', m), true, m);
    }
  });
});

describe('security settings', () => {
  it('--insecure is a bare switch; env and file take true/false', () => {
    const load = (argv: string[], env: Record<string, string> = {}, file?: string) => {
      const r = loadConfig({ argv, env, readFile: () => file ?? '{}' });
      assert.equal(r.kind, 'config');
      return r.config;
    };
    assert.equal(load([]).insecure, false);
    assert.equal(load(['--insecure', '--listen', '0.0.0.0:1']).insecure, true);
    assert.equal(load(['--insecure=false']).insecure, false);
    assert.equal(load([], { BLEDFU_INSECURE: 'true' }).insecure, true);
    assert.equal(load(['--config', 'c.json'], {}, '{"insecure": true, "tlsCert": "s.pem"}').tlsCert, 's.pem');
    assert.throws(() => load([], { BLEDFU_INSECURE: 'maybe' }), /must be true or false/);
    assert.equal(load(['--tokens-file', 'tokens']).tokensFile, 'tokens');
  });
});
