/**
 * Campaign metrics, fed by the campaign manager's event listener: campaigns not yet ended, and
 * campaign devices by outcome. Labels are enumerations only: never a campaign id, a name or a
 * label (their values are unbounded in number).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CampaignListener } from '../campaigns/manager.js';
import { FINAL_DEVICE_STATES, type CampaignSnapshot } from '../campaigns/types.js';

/** What the campaign metrics need of the campaign manager. */
export interface CampaignSource {
  onEvent(listener: CampaignListener): () => void;
  list(filter?: { readonly activeOnly?: boolean }): readonly CampaignSnapshot[];
}

export function observeCampaigns(registry: Registry, campaigns: CampaignSource): () => void {
  new Gauge({
    name: 'bledfu_campaigns',
    help: 'Campaigns not yet ended, by state (running, stopping).',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const active = campaigns.list({ activeOnly: true });
      this.set({ state: 'running' }, active.filter((c) => c.state === 'running').length);
      this.set({ state: 'stopping' }, active.filter((c) => c.state === 'stopping').length);
    },
  });
  const devices = new Counter({
    name: 'bledfu_campaign_devices_total',
    help: 'Campaign devices that reached their outcome (succeeded, up-to-date, failed, not-done).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  for (const outcome of FINAL_DEVICE_STATES) devices.inc({ outcome }, 0);
  // A device reaches its outcome once (the states are final) and the campaign says so in one event.
  return campaigns.onEvent((event) => {
    if (event.kind === 'device' && FINAL_DEVICE_STATES.includes(event.device.state)) devices.inc({ outcome: event.device.state });
  });
}
