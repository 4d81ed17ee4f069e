import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { hasCode } from '../../../server/common/errors.js';
import { linkSignals, withLinkedSignal } from '../../../server/common/signals.js';

describe('linkSignals', () => {
  it('aborts with the reason of the first source that aborts', () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = linkSignals(a.signal, undefined, b.signal);
    b.abort('b went first');
    a.abort('a later');
    assert.equal(linked.signal.aborted, true);
    assert.equal(linked.signal.reason, 'b went first');
  });

  it('is aborted at once when a source already is', () => {
    const a = new AbortController();
    a.abort('gone');
    assert.equal(linkSignals(a.signal).signal.reason, 'gone');
  });

  it('leaves no listener on a long-lived source after dispose, however many times it is linked', () => {
    const longLived = new AbortController();
    for (let i = 0; i < 1000; i++) linkSignals(longLived.signal, new AbortController().signal).dispose();
    assert.equal(getEventListeners(longLived.signal, 'abort').length, 0);
    const linked = linkSignals(longLived.signal);
    linked.dispose();
    longLived.abort();
    assert.equal(linked.signal.aborted, false, 'a disposed link no longer follows its sources');
  });

  it('withLinkedSignal detaches when the work settles, and refuses to start when already aborted', async () => {
    const longLived = new AbortController();
    assert.equal(await withLinkedSignal([longLived.signal], async (s) => (s.aborted ? 'aborted' : 'ran')), 'ran');
    await assert.rejects(withLinkedSignal([longLived.signal], async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(getEventListeners(longLived.signal, 'abort').length, 0);
    const cancelled = new AbortController();
    cancelled.abort();
    await assert.rejects(withLinkedSignal([longLived.signal, cancelled.signal], async () => 'ran'), (e: unknown) => hasCode(e, 'CANCELLED'));
  });
});
