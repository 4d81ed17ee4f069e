/**
 * Adapter metrics, read from the adapter directory when scraped (so they cannot drift from what
 * ListAdapters says), plus a counter of reopenings fed by its change listener.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AdapterState } from '../ble/types.js';
import type { AdapterDirectory } from '../jobs/types.js';

const ADAPTER_STATES: readonly AdapterState[] = ['opening', 'ready', 'failed', 'closed'];

/**
 * Registers the adapter metrics on `registry`. Returns the function that stops listening for
 * adapter changes.
 */
export function observeAdapters(registry: Registry, adapters: AdapterDirectory): () => void {
  new Gauge({
    name: 'bledfu_adapter_up',
    help: '1 while the adapter is ready for work, 0 while it is opening, failed (dongle unplugged or not answering) or closed.',
    labelNames: ['adapter', 'kind'] as const,
    registers: [registry],
    collect() {
      // reset first: an auto: adapter's kind is that of whatever it last opened as.
      this.reset();
      for (const a of adapters.list()) {
        const info = a.info();
        this.set({ adapter: info.id, kind: info.kind }, info.state === 'ready' ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'bledfu_adapter_state',
    help: 'The adapter\'s state: 1 for the current one (opening, ready, failed, closed), 0 for the others.',
    labelNames: ['adapter', 'kind', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const a of adapters.list()) {
        const info = a.info();
        for (const state of ADAPTER_STATES) this.set({ adapter: info.id, kind: info.kind, state }, info.state === state ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'bledfu_adapter_links',
    help: 'Bluetooth LE links the adapter holds now (DFUs and Connect calls).',
    labelNames: ['adapter'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const a of adapters.list()) this.set({ adapter: a.id }, a.info().activeConnections);
    },
  });
  new Gauge({
    name: 'bledfu_adapter_max_links',
    help: 'Links the adapter can hold at once (an hci: or nrf: spec\'s max=); 0 when it is not known.',
    labelNames: ['adapter'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const a of adapters.list()) this.set({ adapter: a.id }, a.info().maxConnections);
    },
  });
  const reopens = new Counter({
    name: 'bledfu_adapter_reopens_total',
    help: 'Times the adapter became ready again after having failed (a dongle replugged, or one that failed to open at startup answering later).',
    labelNames: ['adapter'] as const,
    registers: [registry],
  });

  const last = new Map<string, AdapterState>();
  for (const a of adapters.list()) {
    last.set(a.id, a.info().state);
    reopens.inc({ adapter: a.id }, 0);
  }
  // The listener says that something changed, not what: compare every adapter with its last state.
  return (
    adapters.onChange?.(() => {
      for (const a of adapters.list()) {
        const state = a.info().state;
        if (state === 'ready' && last.get(a.id) === 'failed') reopens.inc({ adapter: a.id });
        last.set(a.id, state);
      }
    }) ?? (() => undefined)
  );
}
