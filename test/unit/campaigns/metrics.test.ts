import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { parseAddress } from '../../../server/ble/address.js';
import type { CampaignListener } from '../../../server/campaigns/manager.js';
import type { CampaignDevice, CampaignDeviceState, CampaignId, CampaignSnapshot } from '../../../server/campaigns/types.js';
import { observeCampaigns } from '../../../server/metrics/campaignMetrics.js';

const COUNTS = { found: 0, waiting: 0, running: 0, retryWait: 0, succeeded: 0, upToDate: 0, failed: 0, notDone: 0, jobs: 0 };

function device(state: CampaignDeviceState): CampaignDevice {
  return { address: parseAddress('F0:00:00:00:00:01'), name: 'S-1', foundInBootloader: false, rssi: -50, state, jobIds: [], adapterId: 'a0', foundAt: 0, endedAt: undefined, lastError: undefined, deviceInfo: undefined, firmwareRevision: undefined };
}

describe('campaign metrics', () => {
  it('count devices by final outcome only, and gauge the campaigns not ended, with no campaign id as a label', async () => {
    const listeners = new Set<CampaignListener>();
    const active: Partial<CampaignSnapshot>[] = [{ state: 'running' }, { state: 'running' }, { state: 'stopping' }];
    const registry = new Registry();
    const stop = observeCampaigns(registry, {
      onEvent: (l) => (listeners.add(l), () => listeners.delete(l)),
      list: () => active as CampaignSnapshot[],
    });
    const emit = (state: CampaignDeviceState): void => {
      for (const l of listeners) l({ kind: 'device', campaignId: 'c-1' as CampaignId, time: 0, device: device(state), counts: COUNTS });
    };
    for (const s of ['waiting', 'running', 'retry-wait', 'running', 'succeeded', 'up-to-date', 'failed', 'succeeded'] as const) emit(s);
    const text = await registry.metrics();
    assert.match(text, /bledfu_campaign_devices_total\{outcome="succeeded"\} 2/);
    assert.match(text, /bledfu_campaign_devices_total\{outcome="up-to-date"\} 1/);
    assert.match(text, /bledfu_campaign_devices_total\{outcome="failed"\} 1/);
    assert.match(text, /bledfu_campaign_devices_total\{outcome="not-done"\} 0/);
    assert.match(text, /bledfu_campaigns\{state="running"\} 2/);
    assert.match(text, /bledfu_campaigns\{state="stopping"\} 1/);
    assert.doesNotMatch(text, /c-1/);
    stop();
    assert.equal(listeners.size, 0);
  });
});
