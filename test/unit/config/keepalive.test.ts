import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../../../server/common/errors.js';
import { loadConfig, type ConfigSources } from '../../../server/config/load.js';

const sources = (over: Partial<ConfigSources> = {}): ConfigSources => ({
  argv: [],
  env: {},
  readFile: () => {
    throw new Error('no file expected');
  },
  ...over,
});

describe('keepalive settings', () => {
  it('default to a ping a minute with 20 s to answer, and come from flags and env', () => {
    const d = loadConfig(sources());
    assert.equal(d.kind, 'config');
    if (d.kind !== 'config') return;
    assert.equal(d.config.keepaliveTimeMs, 60_000);
    assert.equal(d.config.keepaliveTimeoutMs, 20_000);

    const c = loadConfig(sources({ argv: ['--keepalive-time-ms', '5000'], env: { BLEDFU_KEEPALIVE_TIMEOUT_MS: '2500' } }));
    assert.equal(c.kind, 'config');
    if (c.kind !== 'config') return;
    assert.equal(c.config.keepaliveTimeMs, 5_000);
    assert.equal(c.config.keepaliveTimeoutMs, 2_500);
  });

  it('refuses a ping interval under a second (a flood of pings helps nobody)', () => {
    assert.throws(() => loadConfig(sources({ argv: ['--keepalive-time-ms', '10'] })), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'));
  });
});
