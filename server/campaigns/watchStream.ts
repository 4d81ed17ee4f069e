/**
 * One watcher's view of a campaign. Bounded without dropping what matters: a device event that
 * is still pending when a newer one for the same device arrives is replaced by it (only a
 * device's latest state matters, and every event carries the counts after it), so a slow client
 * holds at most one pending event per device — MAX_DEVICES_PER_CAMPAIGN plus the few campaign
 * events — however long it lags.
 */
import { CoalescingStream } from '../common/coalescingStream.js';
import type { CampaignEvent } from './types.js';

export class CampaignWatchStream extends CoalescingStream<CampaignEvent> {
  constructor(signal: AbortSignal, onClose: () => void) {
    super(signal, onClose, {
      coalesce: (pending, event) => {
        if (event.kind === 'device') {
          const key = event.device.address.value;
          const at = pending.findIndex((e) => e.kind === 'device' && e.device.address.value === key);
          if (at >= 0) pending.splice(at, 1);
        }
        pending.push(event);
      },
      isLast: (event) => event.kind === 'ended',
    });
  }
}
