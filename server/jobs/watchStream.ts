/**
 * One watcher's view of a job. Progress events are coalesced while the watcher is behind (only
 * the newest matters), so a slow client cannot make the server buffer a whole transfer's worth
 * of progress; state changes and the final event are never dropped, and there are few of them.
 */
import { CoalescingStream } from '../common/coalescingStream.js';
import type { JobEvent } from './types.js';

export class WatchStream extends CoalescingStream<JobEvent> {
  constructor(signal: AbortSignal, onClose: () => void) {
    super(signal, onClose, {
      coalesce: (pending, event) => {
        const last = pending[pending.length - 1];
        if (event.kind === 'progress' && last?.kind === 'progress') pending[pending.length - 1] = event;
        else pending.push(event);
      },
      isLast: (event) => event.kind === 'finished',
    });
  }
}
