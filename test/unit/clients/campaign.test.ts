/** The TS client's campaign events and names (clients/ts/campaign.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Campaign,
  CampaignCounts,
  CampaignDevice,
  campaignDeviceStateName,
  CampaignDeviceState,
  CampaignState,
  campaignStateName,
  campaignStopReasonName,
  CampaignStopReason,
  NO_COUNTS,
  toCampaignWatchEvent,
} from '../../../clients/ts/index.js';

describe('TS client: campaign events', () => {
  it('turns each kind into a typed event with its counts; an event without counts has zero counts; an unknown kind is skipped', () => {
    const c = Campaign.fromPartial({ campaignId: 'c1' });
    const counts = CampaignCounts.fromPartial({ found: 2, running: 1, succeeded: 1, jobs: 2 });
    const time = new Date('2026-12-07T10:00:00Z');
    assert.deepEqual(toCampaignWatchEvent({ campaignId: 'c1', time, kind: { $case: 'snapshot', snapshot: c }, counts }), { type: 'snapshot', campaignId: 'c1', time, counts, campaign: c });
    const d = CampaignDevice.fromPartial({ name: 'SENSOR-1', state: CampaignDeviceState.CAMPAIGN_DEVICE_STATE_RUNNING });
    assert.deepEqual(toCampaignWatchEvent({ campaignId: 'c1', time, kind: { $case: 'device', device: d }, counts }), { type: 'device', campaignId: 'c1', time, counts, device: d });
    assert.equal(toCampaignWatchEvent({ campaignId: 'c1', time, kind: { $case: 'stopping', stopping: c }, counts })?.type, 'stopping');
    const ended = toCampaignWatchEvent({ campaignId: 'c1', time: undefined, kind: { $case: 'ended', ended: c }, counts: undefined });
    assert.equal(ended?.type, 'ended');
    assert.deepEqual(ended?.counts, NO_COUNTS);
    assert.equal(toCampaignWatchEvent({ campaignId: 'c1', time, kind: undefined, counts }), undefined);
  });

  it('spells states and stop reasons without their prefixes; a running campaign has no stop reason', () => {
    assert.equal(campaignStateName(CampaignState.CAMPAIGN_STATE_STOPPING), 'STOPPING');
    assert.equal(campaignDeviceStateName(CampaignDeviceState.CAMPAIGN_DEVICE_STATE_UP_TO_DATE), 'UP_TO_DATE');
    assert.equal(campaignStopReasonName(CampaignStopReason.CAMPAIGN_STOP_REASON_MAX_DEVICES), 'MAX_DEVICES');
    assert.equal(campaignStopReasonName(CampaignStopReason.CAMPAIGN_STOP_REASON_UNSPECIFIED), '');
  });
});
