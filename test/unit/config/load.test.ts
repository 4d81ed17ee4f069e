import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../../../server/common/errors.js';
import { loadConfig, type ConfigSources } from '../../../server/config/load.js';
import { DEFAULT_CONFIG, envName, flagName, SETTINGS, type SettingName } from '../../../server/config/settings.js';

const sources = (over: Partial<ConfigSources> = {}): ConfigSources => ({
  argv: [],
  env: {},
  readFile: () => {
    throw new Error('no file expected');
  },
  ...over,
});

function load(over: Partial<ConfigSources> = {}) {
  const r = loadConfig(sources(over));
  assert.equal(r.kind, 'config');
  return r.kind === 'config' ? r.config : DEFAULT_CONFIG;
}

describe('config', () => {
  it('defaults to loopback, the simulator and a 64 MiB request limit, frozen', () => {
    const c = load();
    assert.equal(c.listen, '127.0.0.1:50051');
    assert.deepEqual(c.adapters, ['sim:']);
    assert.equal(c.maxRequestBytes, 64 * 1024 * 1024);
    assert.ok(Object.isFrozen(c));
  });

  it('derives flag and env names from the table', () => {
    assert.equal(flagName('maxRequestBytes'), '--max-request-bytes');
    assert.equal(envName('maxRequestBytes'), 'BLEDFU_MAX_REQUEST_BYTES');
    for (const name of Object.keys(SETTINGS) as SettingName[]) assert.ok(SETTINGS[name].description.length > 10, name);
  });

  it('applies file < env < flags', () => {
    const c = load({
      argv: ['--config', 'conf.json', '--log-level=debug', '--adapters', 'sim:,hci:/dev/ttyACM0?baud=1000000'],
      env: { BLEDFU_LOG_LEVEL: 'warn', BLEDFU_MAX_CONCURRENT_DFUS: '2', BLEDFU_MAX_REQUEST_BYTES: '8M' },
      readFile: (p) => {
        assert.equal(p, 'conf.json');
        return JSON.stringify({ logLevel: 'error', jobRetention: 5, maxConcurrentDfus: 7, listen: '0.0.0.0:6000' });
      },
    });
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.maxConcurrentDfus, 2);
    assert.equal(c.jobRetention, 5);
    assert.equal(c.listen, '0.0.0.0:6000');
    assert.equal(c.maxRequestBytes, 8 * 1024 * 1024);
    assert.deepEqual(c.adapters, ['sim:', 'hci:/dev/ttyACM0?baud=1000000']);
  });

  it('rejects unknown options, unknown file keys and bad values with INVALID_ARGUMENT', () => {
    const bad = (over: Partial<ConfigSources>): void =>
      assert.throws(() => loadConfig(sources(over)), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && e.layer === 'config');
    bad({ argv: ['--nope', '1'] });
    bad({ argv: ['--max-concurrent-dfus', '0'] });
    bad({ argv: ['--log-level', 'loud'] });
    bad({ env: { BLEDFU_MAX_REQUEST_BYTES: 'lots' } });
    bad({ argv: ['--listen'] });
    bad({ env: { BLEDFU_CONFIG: 'c.json' }, readFile: () => '{"colour":"blue"}' });
    bad({ env: { BLEDFU_CONFIG: 'c.json' }, readFile: () => 'not json' });
  });

  it('refuses a listen address that is not host:port with a port 0..65535, naming the setting', () => {
    for (const listen of ['foo', ':50051', 'localhost:', '127.0.0.1:99999', '127.0.0.1:50051x', '::1:50051']) {
      assert.throws(
        () => loadConfig(sources({ argv: ['--listen', listen] })),
        (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && e.message.includes('listen') && e.message.includes(listen),
        listen,
      );
    }
    for (const listen of ['0.0.0.0:0', 'localhost:6000', '[::1]:50051', '[::]:50051']) assert.equal(load({ argv: ['--listen', listen] }).listen, listen);
  });

  it('metrics: off by default; --metrics-listen, BLEDFU_METRICS_LISTEN or the file turn them on; an empty value turns them off; a bad address is refused', () => {
    assert.equal(flagName('metricsListen'), '--metrics-listen');
    assert.equal(envName('metricsListen'), 'BLEDFU_METRICS_LISTEN');
    assert.equal(load().metricsListen, '');
    assert.equal(load({ argv: ['--metrics-listen', '0.0.0.0:9464'] }).metricsListen, '0.0.0.0:9464');
    assert.equal(load({ env: { BLEDFU_METRICS_LISTEN: '[::]:9464' } }).metricsListen, '[::]:9464');
    assert.equal(load({ env: { BLEDFU_CONFIG: 'c.json' }, readFile: () => '{"metricsListen":"127.0.0.1:9464"}' }).metricsListen, '127.0.0.1:9464');
    assert.equal(load({ env: { BLEDFU_METRICS_LISTEN: '127.0.0.1:9464' }, argv: ['--metrics-listen='] }).metricsListen, '', 'the flag turns them off again');
    assert.equal(load({ env: { BLEDFU_CONFIG: 'c.json' }, readFile: () => '{"metricsListen":""}' }).metricsListen, '');
    for (const listen of ['9464', ':9464', '0.0.0.0:99999']) {
      assert.throws(
        () => loadConfig(sources({ argv: ['--metrics-listen', listen] })),
        (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && e.message.includes('metricsListen') && e.message.includes(listen),
        listen,
      );
    }
    // The empty value is for the optional address only: the gRPC address stays required.
    assert.throws(() => loadConfig(sources({ argv: ['--listen='] })), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'));
  });

  it('refuses an adapter spec with an unknown scheme, naming the known ones', () => {
    for (const spec of ['sin:', 'sim', '/dev/ttyACM0', 'usb:1']) {
      assert.throws(
        () => loadConfig(sources({ argv: ['--adapters', `sim:,${spec}`] })),
        (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && e.message.includes(`"${spec}"`) && e.message.includes('sim:'),
        spec,
      );
    }
    assert.throws(() => loadConfig(sources({ env: { BLEDFU_CONFIG: 'c.json' }, readFile: () => '{"adapters":["sin:"]}' })), /sin:/);
    assert.deepEqual(load({ argv: ['--adapters', 'SIM:?devices=2,hci:/dev/ttyACM0,nrf:COM3'] }).adapters, ['SIM:?devices=2', 'hci:/dev/ttyACM0', 'nrf:COM3']);
  });

  it('request limits and the TLS policy: defaults, flags, and refusals of bad values', () => {
    const d = DEFAULT_CONFIG;
    assert.equal(d.maxMessageBytes, 256 * 1024);
    assert.equal(d.maxConcurrentUploads, 8);
    assert.equal(d.tlsMinVersion, 'TLSv1.2');
    // No CBC, no SHA-1 MAC, no static RSA key exchange: every TLS 1.2 suite is ECDHE with an AEAD cipher.
    for (const suite of d.tlsCiphers.split(':').filter((c) => !c.startsWith('TLS_'))) assert.match(suite, /^ECDHE-(ECDSA|RSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/);
    const cfg = (argv: string[]) => load({ argv });
    const c = cfg(['--max-message-bytes', '64K', '--max-concurrent-uploads', '2', '--tls-min-version', 'TLSv1.3', '--tls-ciphers', 'TLS_AES_128_GCM_SHA256']);
    assert.equal(c.maxMessageBytes, 64 * 1024);
    assert.equal(c.maxConcurrentUploads, 2);
    assert.equal(c.tlsMinVersion, 'TLSv1.3');
    assert.equal(c.tlsCiphers, 'TLS_AES_128_GCM_SHA256');
    assert.throws(() => cfg(['--tls-min-version', 'TLSv1']), /tlsMinVersion .*must be one of TLSv1.2, TLSv1.3/);
    assert.throws(() => cfg(['--max-concurrent-uploads', '0']), /at least 1/);
  });

  it('--help returns the settings table with every flag, env name and default', () => {
    const r = loadConfig(sources({ argv: ['--help'] }));
    assert.equal(r.kind, 'help');
    if (r.kind !== 'help') return;
    for (const name of Object.keys(SETTINGS) as SettingName[]) {
      assert.ok(r.text.includes(flagName(name)), name);
      assert.ok(r.text.includes(envName(name)), name);
    }
    assert.ok(r.text.includes('127.0.0.1:50051'));
  });
});
