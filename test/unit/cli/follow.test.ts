import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { follow, type Following } from '../../../clients/cli/commands/dfu.js';
import type { CliContext } from '../../../clients/cli/context.js';
import { EXIT } from '../../../clients/cli/exitCodes.js';
import { Output } from '../../../clients/cli/output.js';
import type { BledfuClient, DfuEvent } from '../../../clients/ts/index.js';
import { DeviceState, Job, JobResult } from '../../../proto/gen/bledfu/v1/dfu.js';

function context(json = true): { ctx: CliContext; stdout: string[] } {
  const stdout: string[] = [];
  const sink = (into: string[]) => new Writable({ write: (chunk, _enc, done) => (into.push(String(chunk)), done()) });
  const ctx: CliContext = {
    client: {} as BledfuClient,
    out: new Output({ stdout: sink(stdout), stderr: sink([]) }, json),
    interrupted: new AbortController().signal,
    forced: new AbortController().signal,
    readFile: async () => new Uint8Array(),
    writeFile: async () => undefined,
  };
  return { ctx, stdout };
}

/** `dfu`'s own job, not detached. */
const STARTED: Following = { kind: 'started', detach: false };

async function* events(list: DfuEvent[]): AsyncIterable<DfuEvent> {
  yield* list;
}

describe('bledfu dfu: following a job stream', () => {
  it('a stream that ends without a result is not a success', async () => {
    const { ctx, stdout } = context();
    const snapshot: DfuEvent = { type: 'snapshot', jobId: 'j1', time: new Date(), job: Job.fromPartial({ jobId: 'j1' }) };
    const code = await follow(ctx, events([snapshot]), STARTED);
    assert.notEqual(code, EXIT.ok);
    const last = JSON.parse(stdout.at(-1) ?? '{}') as { type?: string; code?: string; message?: string };
    assert.equal(last.type, 'error');
    assert.equal(last.code, 'NO_RESULT');
    assert.match(last.message ?? '', /job j1/);
  });

  it('a failed job\'s outcome is its finished event\'s error, also when the stream then ends without a status', async () => {
    const { ctx, stdout } = context();
    const failed: DfuEvent[] = [
      { type: 'snapshot', jobId: 'j1', time: new Date(), job: Job.fromPartial({ jobId: 'j1' }) },
      {
        type: 'finished',
        jobId: 'j1',
        time: new Date(),
        result: JobResult.fromPartial({ success: false }),
        error: { code: 'DFU_REMOTE_ERROR', grpcCode: 9, grpcCodeName: 'FAILED_PRECONDITION', message: 'init packet rejected', metadata: {} },
      },
    ];
    assert.equal(await follow(ctx, events(failed), STARTED), EXIT.deviceRejected);
    const last = JSON.parse(stdout.at(-1) ?? '{}') as { type?: string; code?: string };
    assert.equal(last.type, 'error');
    assert.equal(last.code, 'DFU_REMOTE_ERROR');
  });

  const finishedIn = (deviceState: DeviceState, firmwareRevision = ''): DfuEvent[] => [
    { type: 'snapshot', jobId: 'j1', time: new Date(), job: Job.fromPartial({ jobId: 'j1' }) },
    { type: 'finished', jobId: 'j1', time: new Date(), result: JobResult.fromPartial({ success: true, duration: { seconds: 3, nanos: 0 }, firmwareRevision, deviceState }), error: undefined },
  ];

  it('the final line says where the device ended: its application, or DFU mode without one', async () => {
    const app = context(false);
    assert.equal(await follow(app.ctx, events(finishedIn(DeviceState.DEVICE_STATE_APPLICATION, 'app v1 6375973b')), STARTED), EXIT.ok);
    assert.match(app.stdout.join(''), /^done in .*, application running, firmware app v1 6375973b$/m);
    const dfuMode = context(false);
    assert.equal(await follow(dfuMode.ctx, events(finishedIn(DeviceState.DEVICE_STATE_DFU_MODE)), STARTED), EXIT.ok);
    assert.match(dfuMode.stdout.join(''), /^done in .*, the device stays in DFU mode without an application: send an application package next$/m);
  });

  it('--json: the finished record names the device state, UNSPECIFIED included', async () => {
    for (const [state, name] of [
      [DeviceState.DEVICE_STATE_DFU_MODE, 'DEVICE_STATE_DFU_MODE'],
      [DeviceState.DEVICE_STATE_UNSPECIFIED, 'DEVICE_STATE_UNSPECIFIED'],
    ] as const) {
      const { ctx, stdout } = context();
      assert.equal(await follow(ctx, events(finishedIn(state)), STARTED), EXIT.ok);
      const records = stdout.map((l) => JSON.parse(l) as { type?: string; deviceState?: string });
      assert.equal(records.find((r) => r.type === 'finished')?.deviceState, name);
    }
  });
});
