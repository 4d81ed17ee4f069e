/**
 * The campaign limits campaign.proto states in words stay equal to the code's: a change of a
 * bound that forgets the contract fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { MAX_ACTIVE_CAMPAIGNS, MAX_DEVICES_PER_CAMPAIGN, RETAIN_ENDED_CAMPAIGNS, DEFAULT_RETRY_POLICY } from '../../../server/campaigns/types.js';
import { CAMPAIGN_LIMITS } from '../../../server/rpc/mapCampaigns.js';
import { CAMPAIGN_REQUEST_LIMITS, STRING_LIMITS } from '../../../server/rpc/validate.js';

const PROTO = readFileSync(new URL('../../../proto/bledfu/v1/campaign.proto', import.meta.url), 'utf8').replace(/\n\s*\/\/\s?/g, ' ');

describe('campaign limits stated in campaign.proto', () => {
  it('match the code', () => {
    assert.match(PROTO, new RegExp(`at most ${MAX_ACTIVE_CAMPAIGNS} run \\(or stop\\) at once, the ${RETAIN_ENDED_CAMPAIGNS} most recent ended`));
    assert.match(PROTO, new RegExp(`A campaign takes at most ${MAX_DEVICES_PER_CAMPAIGN} devices`));
    assert.match(PROTO, new RegExp(`1 to ${CAMPAIGN_LIMITS.parallelPerAdapter}; 0 means 1`));
    assert.match(PROTO, new RegExp(`up to ${CAMPAIGN_LIMITS.maxDevices}\\)`));
    assert.match(PROTO, new RegExp(`1 to ${CAMPAIGN_LIMITS.maxAttempts} \\(1: never retry\\); unset means ${DEFAULT_RETRY_POLICY.maxAttempts}`));
    assert.match(PROTO, new RegExp(`default ${DEFAULT_RETRY_POLICY.delayMs / 1000} s when unset`));
    assert.equal(CAMPAIGN_LIMITS.retryDelay.maxMs, 3_600_000, '"0 to 1 h"');
    assert.equal(CAMPAIGN_LIMITS.duration.maxMs, 7 * 86_400_000, '"at most 7 days"');
    assert.match(PROTO, new RegExp(`at most ${CAMPAIGN_REQUEST_LIMITS.addresses} addresses of at most ${STRING_LIMITS.address} bytes`));
    assert.match(PROTO, new RegExp(`at most ${CAMPAIGN_REQUEST_LIMITS.adapterIds} ids of at most ${STRING_LIMITS.adapterId} bytes`));
    assert.match(PROTO, new RegExp(`at most ${CAMPAIGN_REQUEST_LIMITS.manufacturerDataPrefixBytes} bytes`));
    assert.match(PROTO, new RegExp(`at most ${STRING_LIMITS.campaignName} bytes`));
  });
});
