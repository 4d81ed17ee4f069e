import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { follow } from '../../../clients/cli/commands/dfu.js';
import type { CliContext } from '../../../clients/cli/context.js';
import { EXIT } from '../../../clients/cli/exitCodes.js';
import { Output } from '../../../clients/cli/output.js';
import type { BledfuClient, DfuEvent } from '../../../clients/ts/index.js';
import { Job } from '../../../proto/gen/bledfu/v1/dfu.js';

function context(): { ctx: CliContext; stdout: string[] } {
  const stdout: string[] = [];
  const sink = (into: string[]) => new Writable({ write: (chunk, _enc, done) => (into.push(String(chunk)), done()) });
  const ctx: CliContext = {
    client: {} as BledfuClient,
    out: new Output({ stdout: sink(stdout), stderr: sink([]) }, true),
    interrupted: new AbortController().signal,
    forced: new AbortController().signal,
    readFile: async () => new Uint8Array(),
    writeFile: async () => undefined,
  };
  return { ctx, stdout };
}

async function* events(list: DfuEvent[]): AsyncIterable<DfuEvent> {
  yield* list;
}

describe('bledfu dfu: following a job stream', () => {
  it('a stream that ends without a result is not a success', async () => {
    const { ctx, stdout } = context();
    const snapshot: DfuEvent = { type: 'snapshot', jobId: 'j1', time: new Date(), job: Job.fromPartial({ jobId: 'j1' }) };
    const code = await follow(ctx, events([snapshot]), false);
    assert.notEqual(code, EXIT.ok);
    const last = JSON.parse(stdout.at(-1) ?? '{}') as { type?: string; code?: string; message?: string };
    assert.equal(last.type, 'error');
    assert.equal(last.code, 'NO_RESULT');
    assert.match(last.message ?? '', /job j1/);
  });
});
