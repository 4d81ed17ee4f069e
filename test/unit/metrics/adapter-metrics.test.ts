/**
 * Adapter metrics follow the adapter directory: up/state read at scrape time, reopenings counted
 * from its change listener.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { Adapter, AdapterInfo, AdapterKind, AdapterState } from '../../../server/ble/types.js';
import { BledfuError } from '../../../server/common/errors.js';
import type { AdapterDirectory } from '../../../server/jobs/types.js';
import { observeAdapters } from '../../../server/metrics/adapterMetrics.js';
import { parseExposition, type Exposition } from '../../helpers/prom-text.js';

/** An adapter whose info() the test sets; the directory tells listeners when it changes. */
class StubAdapter implements Adapter {
  readonly failed = new AbortController().signal;
  state: AdapterState = 'ready';
  kind: AdapterKind = 'hci-uart';
  links = 0;
  constructor(
    readonly id: string,
    readonly maxLinks = 4,
  ) {}
  info(): AdapterInfo {
    return { id: this.id, kind: this.kind, spec: `x:${this.id}`, state: this.state, identity: '', activeConnections: this.links, maxConnections: this.maxLinks };
  }
  scan(): AsyncIterable<never> {
    throw new BledfuError('INTERNAL', 'not in this test', { layer: 'backend' });
  }
  async connect(): Promise<never> {
    throw new BledfuError('INTERNAL', 'not in this test', { layer: 'backend' });
  }
  async close(): Promise<void> {}
}

function directory(adapters: StubAdapter[]) {
  const listeners = new Set<() => void>();
  const dir: AdapterDirectory = {
    list: () => adapters,
    get: (id) => adapters.find((a) => a.id === id) ?? (adapters[0] as StubAdapter),
    onChange: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const set = (a: StubAdapter, state: AdapterState): void => {
    a.state = state;
    for (const l of listeners) l();
  };
  return { dir, set, listeners };
}

async function read(registry: Registry): Promise<Exposition> {
  return parseExposition(await registry.metrics());
}

describe('adapter metrics', () => {
  it('up, state and links per adapter; a dongle that fails flips them, one that comes back counts a reopening', async () => {
    const hci = new StubAdapter('hci0', 2);
    const nrf = new StubAdapter('nrf0', 0);
    nrf.kind = 'nordic-connectivity';
    const { dir, set } = directory([hci, nrf]);
    const registry = new Registry();
    observeAdapters(registry, dir);

    hci.links = 1;
    let m = await read(registry);
    assert.equal(m.value('bledfu_adapter_up', { adapter: 'hci0', kind: 'hci-uart' }), 1);
    assert.equal(m.value('bledfu_adapter_up', { adapter: 'nrf0', kind: 'nordic-connectivity' }), 1);
    assert.equal(m.value('bledfu_adapter_state', { adapter: 'hci0', state: 'ready' }), 1);
    assert.equal(m.value('bledfu_adapter_state', { adapter: 'hci0', state: 'failed' }), 0);
    assert.equal(m.sum('bledfu_adapter_state', { adapter: 'hci0' }), 1, 'exactly one state is current');
    assert.equal(m.value('bledfu_adapter_links', { adapter: 'hci0' }), 1);
    assert.equal(m.value('bledfu_adapter_max_links', { adapter: 'hci0' }), 2);
    assert.equal(m.value('bledfu_adapter_max_links', { adapter: 'nrf0' }), 0);
    assert.equal(m.value('bledfu_adapter_reopens_total', { adapter: 'hci0' }), 0);

    hci.links = 0;
    set(hci, 'failed');
    m = await read(registry);
    assert.equal(m.value('bledfu_adapter_up', { adapter: 'hci0' }), 0);
    assert.equal(m.value('bledfu_adapter_state', { adapter: 'hci0', state: 'failed' }), 1);
    assert.equal(m.value('bledfu_adapter_state', { adapter: 'hci0', state: 'ready' }), 0);
    assert.equal(m.value('bledfu_adapter_up', { adapter: 'nrf0' }), 1, 'the other adapter is unaffected');

    // Reopening attempts that fail keep it failed; the one that works counts once.
    set(hci, 'failed');
    set(hci, 'ready');
    set(nrf, 'ready');
    m = await read(registry);
    assert.equal(m.value('bledfu_adapter_up', { adapter: 'hci0' }), 1);
    assert.equal(m.value('bledfu_adapter_reopens_total', { adapter: 'hci0' }), 1);
    assert.equal(m.value('bledfu_adapter_reopens_total', { adapter: 'nrf0' }), 0);
  });

  it('an adapter that changes kind (auto:) has one series, of its current kind', async () => {
    const auto = new StubAdapter('auto0');
    const { dir } = directory([auto]);
    const registry = new Registry();
    observeAdapters(registry, dir);
    await read(registry);
    auto.kind = 'nordic-connectivity';
    const m = await read(registry);
    assert.deepEqual(
      m.samples.filter((s) => s.name === 'bledfu_adapter_up').map((s) => s.labels['kind']),
      ['nordic-connectivity'],
    );
  });

  it('stops listening when told to', () => {
    const { dir, listeners } = directory([new StubAdapter('hci0')]);
    const stop = observeAdapters(new Registry(), dir);
    assert.equal(listeners.size, 1);
    stop();
    assert.equal(listeners.size, 0);
  });
});
