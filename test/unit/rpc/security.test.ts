import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hasCode } from '../../../server/common/errors.js';
import { accessRefusal, bearerToken, mayCall, parseTokens } from '../../../server/rpc/auth.js';
import { certificateName } from '../../../server/rpc/clientCertificate.js';
import { estimateTokenBits, MIN_TOKEN_BITS, tokenWeakness } from '../../../server/rpc/tokenStrength.js';
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

  it('names tokens: a third field is the name; a token without one is named by its fingerprint', () => {
    const table = parseTokens(`admin ${T1} alice@lab\noperate ${T2}\n`, 'f');
    assert.deepEqual(table.holderOf(T1), { role: 'admin', name: 'alice@lab', named: true });
    const fingerprint = createHash('sha256').update(T2).digest('hex').slice(0, 8);
    assert.deepEqual(table.holderOf(T2), { role: 'operate', name: `token:${fingerprint}`, named: false });
    assert.equal(table.holderOf(`${T2}x`), undefined);
  });

  it('refuses files with no tokens, malformed lines, bad or repeated names, and a token given twice', () => {
    assert.throws(() => parseTokens('# nothing\n', 'f'), /holds no token/);
    assert.throws(() => parseTokens(`operate ${T1} name extra\n`, 'f'), /f:1: expected "<role> <token> \[<name>\]"/);
    assert.throws(() => parseTokens(`operate ${T1} token:abc\n`, 'f'), /f:1: name "token:abc" is not allowed/);
    assert.throws(() => parseTokens(`operate ${T1} ${'n'.repeat(65)}\n`, 'f'), /f:1: name "n{64}" is not allowed/);
    assert.throws(() => parseTokens(`operate ${T1} bob\nobserve ${T2} bob\n`, 'f'), /f:2: the name "bob" is on line 1 too/);
    assert.throws(() => parseTokens(`operate ${T1} bob\nobserve ${T1} carol\n`, 'f'), /f:2: the same token is on line 1 too/);
  });

  it('refuses the placeholders of the example files and low-entropy tokens, saying how to make a good one', () => {
    const refused = (token: string, why: RegExp): void => {
      assert.throws(
        () => parseTokens(`operate ${token}\n`, 'tokens'),
        (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && why.test(e.message) && /openssl rand -hex 32/.test(e.remedy ?? '') && !e.message.includes(token),
        token,
      );
    };
    // Every token line of the shipped examples is refused as it is.
    const examples = [
      readFileSync(new URL('../../../deploy/compose/tokens.example', import.meta.url), 'utf8'),
      readFileSync(new URL('../../../deploy/kubernetes/secret-tokens.example.yaml', import.meta.url), 'utf8'),
    ];
    const placeholders = examples.flatMap((t) => [...t.matchAll(/^\s*(?:observe|operate|admin) (\S+)/gm)].map((m) => m[1] ?? ''));
    assert.ok(placeholders.length >= 4, placeholders.join());
    for (const p of placeholders) assert.throws(() => parseTokens(`operate ${p}\n`, 'tokens'), /placeholder|shorter than 16/, p);
    refused('REPLACE-WITH-A-RANDOM-TOKEN-OF-32-HEX-BYTES', /placeholder/);
    refused('changeme-changeme-changeme', /placeholder/);
    refused('<your-operate-token-here>', /placeholder/);
    refused('x'.repeat(40), /placeholder/);
    refused('a'.repeat(64), /too predictable \(about 0 bits/);
    refused('abcdefghijklmnopqrstuvwxyz0123456789', /too predictable/);
    refused('operate-operate-operate-operate', /too predictable/);
    refused('letmeinletmeinletmein', /too predictable/);
    refused('Zq9#k2', /shorter than 16/);
  });

  it('accepts random tokens of 128 bits in every usual encoding', () => {
    for (let i = 0; i < 200; i++) {
      for (const token of [randomBytes(16).toString('hex'), randomBytes(16).toString('base64'), randomBytes(18).toString('base64url'), randomUUID(), randomBytes(32).toString('hex')]) {
        assert.equal(tokenWeakness(token), undefined, token);
        assert.ok(estimateTokenBits(token) >= MIN_TOKEN_BITS, token);
      }
    }
  });

  it('observe may only read; operate and admin may call anything, including methods added later', () => {
    for (const m of ['ListAdapters', 'ListSerialPorts', 'Scan', 'ListJobs', 'GetJob', 'WatchJob', 'ListAuditRecords', 'ListCampaigns', 'GetCampaign', 'WatchCampaign']) {
      assert.equal(mayCall('observe', m), true, m);
    }
    for (const m of ['Connect', 'UploadPackage', 'StartDfu', 'CancelJob', 'GetJobCapture', 'StartCampaign', 'StopCampaign', 'SomeFutureMethod']) {
      assert.equal(mayCall('observe', m), false, m);
      assert.equal(mayCall('operate', m), true, m);
      assert.equal(mayCall('admin', m), true, m);
    }
  });
});

describe('client certificate names', () => {
  it('take the subject CN, else the first subjectAltName, printable and bounded', () => {
    assert.equal(certificateName({ subject: { CN: 'station-3' } as never, subjectaltname: 'DNS:x.example' }), 'station-3');
    assert.equal(certificateName({ subject: {} as never, subjectaltname: 'URI:spiffe://lab/ci, DNS:ci.example' }), 'spiffe://lab/ci');
    assert.equal(certificateName({ subject: { CN: 'bad name\n' } as never, subjectaltname: '' }), 'badname');
    assert.equal(certificateName({ subject: { CN: 'c'.repeat(500) } as never, subjectaltname: '' })?.length, 128);
    assert.equal(certificateName({ subject: {} as never, subjectaltname: '' }), undefined);
    assert.equal(certificateName(undefined), undefined);
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
