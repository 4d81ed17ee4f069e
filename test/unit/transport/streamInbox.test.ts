import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { StreamInbox } from '../../../server/transport/streamInbox.js';

/** A PassThrough that records when the inbox pauses and resumes it. */
function source(): { stream: PassThrough; log: string[] } {
  const stream = new PassThrough();
  const log: string[] = [];
  const pause = stream.pause.bind(stream);
  const resume = stream.resume.bind(stream);
  stream.pause = () => {
    log.push('pause');
    return pause();
  };
  stream.resume = () => {
    log.push('resume');
    return resume();
  };
  return { stream, log };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('StreamInbox', () => {
  it('delivers chunks in order, then the end', async () => {
    const { stream } = source();
    const inbox = new StreamInbox(stream, 'test');
    stream.write(Buffer.from([1, 2]));
    stream.write(Buffer.from([3]));
    await turn();
    inbox.end();
    const got: number[] = [];
    for await (const chunk of inbox.readable()) got.push(...chunk);
    assert.deepEqual(got, [1, 2, 3]);
  });

  it('pauses the source when the reader falls 256 chunks behind and resumes it once drained to 16', async () => {
    const { stream, log } = source();
    const inbox = new StreamInbox(stream, 'test');
    // Attaching the 'data' listener resumes the stream itself; only the inbox's calls count.
    log.length = 0;
    for (let i = 0; i < 300; i++) stream.write(Buffer.from([i & 0xff]));
    await turn();
    // The source is paused after the 256th chunk; PassThrough keeps the rest in its own buffer.
    assert.deepEqual(log.filter((e) => e === 'pause'), ['pause']);
    const reader = inbox.readable()[Symbol.asyncIterator]();
    let read = 0;
    while (!log.includes('resume')) {
      const r = await reader.next();
      assert.equal(r.done, false);
      read++;
    }
    // 256 queued; resumed when the reader had taken enough to leave 16 waiting.
    assert.equal(read, 256 - 16);
    inbox.end();
    let rest = 0;
    for (;;) {
      const r = await reader.next();
      if (r.done === true) break;
      rest++;
    }
    assert.ok(rest >= 16, `the chunks queued before the end are delivered (${rest})`);
  });

  it('hands the failure to the reader after what was queued', async () => {
    const { stream } = source();
    const inbox = new StreamInbox(stream, 'test');
    stream.write(Buffer.from([7]));
    await turn();
    inbox.fail(new Error('far end gone'));
    const reader = inbox.readable()[Symbol.asyncIterator]();
    assert.deepEqual([...((await reader.next()).value as Uint8Array)], [7]);
    await assert.rejects(reader.next(), /far end gone/);
  });

  it('refuses a second reader', () => {
    const inbox = new StreamInbox(source().stream, 'serial');
    inbox.readable();
    assert.throws(() => inbox.readable(), /serial transport readable\(\) called twice/);
  });
});
