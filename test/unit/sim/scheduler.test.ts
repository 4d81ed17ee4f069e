/**
 * The accelerated clock runs one pump: events that schedule events (advertising, retransmissions)
 * or report host activity from inside an event must not start pumps of their own beside it, or
 * their number grows every event-loop turn while the world stays live (modelled time races far
 * ahead of the host and pending immediates pile up until the process runs out of memory).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimScheduler } from '../../../server/sim/scheduler.js';

// One event-loop turn, with an unref'd immediate: a ref'd one of the test would count as work the
// process still has to do, and the scheduler would (rightly) not move time meanwhile.
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve).unref());

describe('scheduler (accelerated)', () => {
  for (const fromEvent of ['schedules its successor', 'schedules its successor and reports host activity'] as const) {
    it(`runs at most one event per event-loop turn when every event ${fromEvent}`, async () => {
      const s = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
      s.addLivenessProbe(() => true);
      let runs = 0;
      const periodic = (): void => {
        runs++;
        s.after(100, periodic, 'periodic');
        if (fromEvent !== 'schedules its successor') s.noteHostActivity();
      };
      s.after(100, periodic, 'periodic');
      try {
        const turns = 20;
        for (let i = 0; i < turns; i++) await turn();
        assert.ok(runs > 0, 'a live world moves on');
        assert.ok(runs <= turns, `${runs} events ran in ${turns} turns`);
        assert.equal(s.nowMs(), runs * 100);
        assert.equal(s.pendingCount(), 1);
      } finally {
        s.close();
      }
    });
  }

  it('an event closing the scheduler stops the pump', async () => {
    const s = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
    s.addLivenessProbe(() => true);
    let later = false;
    s.after(10, () => {
      s.after(10, () => (later = true), 'after close');
      s.close();
    });
    // Real-time waits: once closed, nothing of the scheduler keeps the process alive.
    for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 1));
    assert.equal(later, false);
    assert.equal(s.pendingCount(), 0);
  });
});
